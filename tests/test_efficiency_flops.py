"""Analytic FLOPs (benchmarks/efficiency/flops.py) against FlopCounterMode and fvcore on the real forward."""

import pytest
import torch

import ahn
from ahn.methods import MethodSpec
from ahn.models import tiny_config
from benchmarks.efficiency import flop_counting, flops
from benchmarks.efficiency.shapes import ModelShape

S, W, CHUNK = 4, 16, 32  # nothing is evicted up to 20 tokens; 3 prefill calls at 72 tokens
LENGTHS = (18, 72)  # below and beyond sinks + window
METHODS = ("full", "swa", "ahn-gdn", "ahn-dn", "ahn-mamba2")


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def base():
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    config = tiny_config("qwen2")  # q/k/v biases: not matmuls, must not be counted
    model = AutoModelForCausalLM.from_config(config, attn_implementation="sdpa").eval()
    return model, ModelShape.from_config(config, "tiny-qwen2")


def _spec(method):
    return MethodSpec.build(method, W, S)


def _ids(n, seed=0):
    return torch.randint(0, 512, (1, n), generator=torch.Generator().manual_seed(seed))


def _counts(model, spec, length, counter="torch", mode="op", prefill=True, decode=True):
    """(prefill count or None, decode count or None) of `spec` on `model` at `length` tokens."""
    ids = _ids(length)
    counted_prefill = counted_decode = None
    with ahn.attach_method(model, spec):
        if prefill:
            new_cache = lambda: ahn.new_cache(model)  # noqa: E731
            counted_prefill = flop_counting.count_prefill(counter, model, ids, new_cache, CHUNK, mode)
        if decode:
            cache = ahn.new_cache(model)
            logits = ahn.prefill(model, ids, cache, CHUNK)
            counted_decode = flop_counting.count_decode(counter, model, logits.argmax(-1), cache, mode)
    return counted_prefill, counted_decode


def _rel(measured, analytic):
    return abs(measured / analytic - 1)


@pytest.mark.parametrize(
    "spec", [MethodSpec("full"), MethodSpec("swa", 5, 3), MethodSpec("swa", 7, 0)], ids=str
)
def test_attention_pairs_closed_form_matches_brute_force(spec):
    for t0, t1 in [(0, 0), (0, 1), (0, 9), (3, 20), (8, 9), (11, 40)]:
        assert flops.attention_pairs(spec, t0, t1) == sum(flops.attended_keys(spec, t) for t in range(t0, t1))
    brute = sum(1 for j in range(12) if j < 3 or j > 11 - 5) if spec.windowed and spec.sinks == 3 else None
    if brute is not None:  # query 11 with 3 sinks + window 5: keys 0, 1, 2 and 7..11
        assert flops.attended_keys(spec, 11) == brute == 8


@pytest.mark.parametrize("length", LENGTHS)
@pytest.mark.parametrize("method", METHODS)
def test_torch_counter_matches_analytic(base, method, length):
    model, shape = base
    spec = _spec(method)
    prefill, decode = _counts(model, spec, length)
    analytic_prefill = flops.prefill_flops(shape, spec, length, flops.chunks(length, CHUNK))
    analytic_decode = flops.decode_flops(shape, spec, length)
    assert _rel(prefill.flops, analytic_prefill.total) <= 0.02
    assert _rel(decode.flops, analytic_decode.total) <= 0.02
    # The attention term mirrors the kernel's masks pair for pair (pairs are counted per head and layer).
    per_pair = 4 * shape.head_dim
    assert prefill.attention_pairs * per_pair == analytic_prefill.attention
    assert decode.attention_pairs * per_pair == analytic_decode.attention


@pytest.mark.parametrize("method", ["full", "swa", "ahn-gdn"])
def test_fvcore_matches_analytic(base, method):
    model, shape = base
    spec, length = _spec(method), LENGTHS[1]
    prefill, decode = _counts(model, spec, length, counter="fvcore")
    assert (
        _rel(prefill.flops, flops.prefill_flops(shape, spec, length, flops.chunks(length, CHUNK)).total)
        <= 0.02
    )
    assert _rel(decode.flops, flops.decode_flops(shape, spec, length).total) <= 0.02


@pytest.mark.parametrize("method", ["ahn-gdn", "ahn-dn", "ahn-mamba2"])
def test_memory_op_formula_is_what_the_recurrent_form_executes(base, method):
    """The "op" count (a formula on the memory op's shapes) equals counting the recurrent form op by op,
    rank-1 write included; the chunked form that a CPU prefill runs by default multiplies something else."""
    model, _ = base
    spec = _spec(method)
    as_op, _ = _counts(model, spec, 30, decode=False)
    recurrent, _ = _counts(model, spec, 30, mode="recurrent", decode=False)
    executed, _ = _counts(model, spec, 30, mode="executed", decode=False)
    assert recurrent.flops == as_op.flops
    assert executed.flops != as_op.flops


def test_full_prefill_grows_superlinearly_while_windowed_decode_is_flat(base):
    model, shape = base
    short, _ = _counts(model, _spec("full"), 64, decode=False)
    long, _ = _counts(model, _spec("full"), 128, decode=False)
    assert long.flops > 2 * short.flops  # attention is quadratic in L
    for method in ("full", "swa", "ahn-gdn"):  # beyond sinks + window windowed decode costs the same
        _, short = _counts(model, _spec(method), 36, prefill=False)
        _, long = _counts(model, _spec(method), 72, prefill=False)
        assert (long.flops > short.flops) if method == "full" else (long.flops == short.flops)
    # The same, analytically, on the default model's shape up to 64k tokens.
    smol = ModelShape("smollm2", 30, 576, 1536, 9, 3, 64, 49152, True)
    lengths = [1024, 4096, 16384, 65536]
    full = [flops.prefill_flops(smol, MethodSpec("full"), n).total for n in lengths]
    assert all(b / a > 4.2 for a, b in zip(full, full[1:]))  # 4x tokens, > 4x FLOPs
    for method in ("swa", "ahn-gdn"):
        spec = MethodSpec(method, 512, 32)
        assert len({flops.decode_flops(smol, spec, n).total for n in lengths}) == 1


def test_blocked_kernel_multiplies_more_pairs_than_it_attends(base):
    model, shape = base
    prefill, _ = _counts(model, _spec("swa"), 72)
    assert prefill.attention_pairs_dense > prefill.attention_pairs  # masked scores: reported, not counted
    assert prefill.attention_pairs / (72 * shape.layers * shape.q_heads) <= S + W  # keys per query


def test_counting_restores_sdpa_and_memory_ops():
    from ahn import ops

    sdpa, gdr = torch.nn.functional.scaled_dot_product_attention, ops.gated_delta_rule
    with flop_counting.counted_attention(), flop_counting.memory_ops("op"):
        assert torch.nn.functional.scaled_dot_product_attention is not sdpa
        assert ops.gated_delta_rule is not gdr
    assert torch.nn.functional.scaled_dot_product_attention is sdpa and ops.gated_delta_rule is gdr


def test_outer_product_rule_is_narrow():
    macs = flop_counting._outer_product_macs
    assert macs((2, 4, 16, 1), (2, 4, 1, 8)) == 2 * 4 * 16 * 8  # the rank-1 write
    assert macs((1, 7, 4, 16), (1, 7, 1, 16)) == 0  # RoPE: x * cos[:, :, None]
    assert macs((1, 7, 64), (1, 7, 1)) == 0  # RMSNorm
    assert macs((1, 1, 64), (1, 1, 1)) == 0  # RMSNorm, one token
    assert macs((1, 7, 1), (8,)) == 0  # rotary angles
    assert macs((1, 4, 16, 16), (1, 4, 1, 1)) == 0  # state decay
