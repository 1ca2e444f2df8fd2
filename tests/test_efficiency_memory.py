"""Cache bytes: what ahn.cache holds after a prefill equals the analytic count exactly; peak memory."""

import pytest
import torch

import ahn
from ahn.methods import MethodSpec
from ahn.models import tiny_config
from benchmarks.efficiency import memory
from benchmarks.efficiency.shapes import ModelShape

S, W = 4, 16


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def shape():
    return ModelShape.from_config(tiny_config("llama"), "tiny-llama")


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=str)
@pytest.mark.parametrize("method", ["full", "swa", "ahn-gdn", "ahn-dn", "ahn-mamba2"])
def test_measured_cache_bytes_equal_analytic(shape, method, dtype):
    lm = ahn.tiny_model("llama", method, window=W, sinks=S, dtype=dtype)  # full ignores window and sinks
    ids = torch.randint(0, 512, (1, 70), generator=torch.Generator().manual_seed(0))
    for length, chunk in [(3, 2), (S + W, 8), (S + W + 1, 64), (70, 32)]:  # sinks only .. past the window
        cache = ahn.new_cache(lm.model)
        ahn.prefill(lm.model, ids[:, :length], cache, chunk)
        held, storage = memory.held_cache_bytes(cache)
        expected = memory.cache_bytes(shape, lm.spec, length, memory.dtype_bytes(dtype))
        assert held == expected.total == cache.nbytes(), (length, expected)
        assert storage >= held


def test_analytic_cache_breakdown_and_paper_formula(shape):
    kv = 2 * shape.kv_heads * shape.head_dim * 2  # bytes of one token's K and V per layer, bf16
    full = memory.cache_bytes(shape, MethodSpec("full"), 1000, 2)
    assert full.as_dict() == {
        "kv": 2 * 1000 * kv,
        "write_scalars": 0,
        "state": 0,
        "observation": 0,
        "total": 2 * 1000 * kv,
    }
    assert full.total == memory.paper_cache_bytes(shape, MethodSpec("full"), 1000, 2)
    swa = MethodSpec("swa", W, S)
    assert memory.cache_bytes(shape, swa, 1000, 2).total == 2 * (S + W) * kv
    assert memory.cache_bytes(shape, swa, 1000, 2).total == memory.paper_cache_bytes(shape, swa, 1000, 2)
    gdn = memory.cache_bytes(shape, MethodSpec("ahn-gdn", W, S), 1000, 2)
    assert gdn.write_scalars == 2 * W * shape.q_heads * 2 * 4  # beta, log alpha of the W window tokens, fp32
    assert gdn.state == 2 * shape.q_heads * shape.head_dim**2 * 4  # per layer [Hq, D, D] fp32
    # The paper's formula keeps the state at the KV's precision and has no write scalars.
    paper = memory.paper_cache_bytes(shape, MethodSpec("ahn-gdn", W, S), 1000, 2)
    assert gdn.total - paper == gdn.write_scalars + gdn.state // 2
    # No state before the first eviction, and nothing grows after it.
    assert memory.cache_bytes(shape, MethodSpec("ahn-gdn", W, S), S + W, 2).state == 0
    assert memory.cache_bytes(shape, MethodSpec("ahn-gdn", W, S), 10**6, 2) == gdn


def test_peak_memory_sees_an_allocation_inside_the_block():
    with memory.PeakMemory("cpu") as peak:
        block = torch.ones(64 * 2**20 // 4)  # 64 MiB, touched
        del block
    assert peak.kind in ("rss_hwm", "rss_maxrss_lifetime")
    if peak.kind == "rss_hwm":
        assert peak.bytes - peak.baseline >= 60 * 2**20
    with memory.PeakMemory("cpu") as quiet:
        pass
    if quiet.kind == "rss_hwm":  # the mark was reset: the earlier 64 MiB is not in this block's peak
        assert quiet.bytes - quiet.baseline < 32 * 2**20
