"""Invariants every registered method must keep, parametrised over the registry (ahn.methods.METHODS), on
tiny random models; then what is particular to the Compressive Transformer and SnapKV, each against an
independent reference written here."""

import math

import pytest
import torch
from test_model import _ids, _logits, _perturb_output_projections, _stream, assert_streaming_equals_parallel

import ahn
from ahn.methods import METHODS, MethodSpec
from ahn.models import tiny_config
from benchmarks.efficiency import flop_counting, flops, memory
from benchmarks.efficiency.shapes import ModelShape

ALL = list(METHODS)
BOUNDED = [m for m in ALL if METHODS[m].bounded]
SMOL = ModelShape("smollm2", 30, 576, 1536, 9, 3, 64, 49152, True)
S, W = 4, 12  # tiny sizes: CT's matched FIFO is ceil(4 x 16 / (2 x 2)) = 16 entries; SnapKV observes 8


pytestmark = pytest.mark.usefixtures("one_thread")


def _model(method, arch="llama", **options):
    sizes = {} if not METHODS[method].windowed else {"window": W, "sinks": S}
    lm = ahn.tiny_model(arch, method, **sizes)
    if options:  # a non-default spec of the same method
        lm.model.ahn_attached.detach()
        ahn.attach_method(lm.model, MethodSpec(method, W, S, **options))
        lm.spec = lm.model.ahn_attached.spec
    if METHODS[method].trainable:
        _perturb_output_projections(lm.model)  # an untrained AHN would be swa
    return lm


def _tiny_shape(arch="llama"):
    return ModelShape.from_config(tiny_config(arch), f"tiny-{arch}")


def test_registry_names_labels_and_flags():
    assert ALL[:2] == ["full", "swa"] and {"ct-max", "ct-avg", "snapkv", "ahn-gdn"} <= set(ALL)
    for name, method in METHODS.items():
        assert method.name == name and method.label and method.colour.startswith("#")
        assert method.trainable == name.startswith("ahn-")
    assert [m for m in ALL if not METHODS[m].bounded] == ["full"]


@pytest.mark.parametrize("arch", ["llama", "qwen3"])
@pytest.mark.parametrize("method", ALL)
def test_budget_covering_the_input_equals_the_base_model(arch, method):
    # T = 48 <= sinks + window = 48: nothing leaves, nothing is pooled or evicted.
    sizes = {} if not METHODS[method].windowed else {"window": 40, "sinks": 8}
    lm = ahn.tiny_model(arch, method, **sizes)
    if METHODS[method].trainable:
        _perturb_output_projections(lm.model)
    ours = _logits(lm.model, _ids(48))
    lm.model.ahn_attached.detach()
    assert (ours - _logits(lm.model, _ids(48))).abs().max().item() <= 1e-4


STREAM_CASES = [(m, {}) for m in ALL] + [("ct-max", {"slots": 3}), ("ct-avg", {"compression": 3, "slots": 2})]


@pytest.mark.parametrize("method,options", STREAM_CASES, ids=lambda x: str(x) if x else "default")
def test_streaming_equals_parallel_forward(method, options):
    lm = _model(method, **options)
    ids = _ids(64)
    parallel = assert_streaming_equals_parallel(lm.model, ids)
    if method != "full":  # and the method really differs from full attention beyond its budget
        lm.model.ahn_attached.detach()
        assert (parallel - _logits(lm.model, ids)).abs().max().item() > 1e-3


@pytest.mark.parametrize("method", ALL)
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=str)
def test_analytic_cache_bytes_equal_what_the_cache_holds(method, dtype):
    sizes = {} if not METHODS[method].windowed else {"window": W, "sinks": S}
    lm = ahn.tiny_model("llama", method, dtype=dtype, **sizes)
    shape, ids = _tiny_shape(), _ids(90, B=1)
    for length, chunk in [(3, 2), (S + W, 8), (S + W + 1, 64), (37, 5), (70, 32), (90, 90)]:
        for decode in (0, 3):  # prefill only, and prefill then three decoded tokens
            _, cache = _stream(lm.model, ids[:, :length], chunk, prefill_len=length - decode)
            held, storage = memory.held_cache_bytes(cache)
            expected = memory.cache_bytes(shape, lm.spec, length, memory.dtype_bytes(dtype))
            assert held == expected.total == cache.nbytes(), (length, decode, expected)
            assert storage >= held


@pytest.mark.parametrize("method", BOUNDED)
def test_cache_bytes_are_constant_beyond_the_budget(method):
    """Bounded methods: at lengths beyond the method's cycle start, one cycle apart, the same bytes."""
    lm = _model(method)
    L0, period = lm.spec.method.cache_cycle(lm.spec, _tiny_shape())
    assert L0 <= 2 * (S + W + 64)  # the bound is reached, and soon
    sizes = {}
    for length in (L0, L0 + period, L0 + 5 * period, L0 + 11 * period):
        _, cache = _stream(lm.model, _ids(length, B=1), prefill_chunk=7, prefill_len=length - 3)
        sizes[length] = cache.nbytes()
    assert len(set(sizes.values())) == 1, sizes


@pytest.mark.parametrize("method", ALL)
def test_measured_flops_equal_analytic(method):
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    config = tiny_config("qwen2")
    model = AutoModelForCausalLM.from_config(config, attn_implementation="sdpa").eval()
    shape = ModelShape.from_config(config, "tiny-qwen2")
    spec = MethodSpec.build(method, W, S)
    chunk = 32
    for length in (18, 90):  # inside and well beyond the budget
        ids = _ids(length, B=1)
        with ahn.attach_method(model, spec):
            new_cache = lambda: ahn.new_cache(model)  # noqa: E731
            counted = flop_counting.count_prefill("torch", model, ids, new_cache, chunk)
            cache = ahn.new_cache(model)
            logits = ahn.prefill(model, ids, cache, chunk)
            decoded = flop_counting.count_decode("torch", model, logits.argmax(-1), cache)
        analytic = flops.prefill_flops(shape, spec, length, flops.chunks(length, chunk))
        assert abs(counted.flops / analytic.total - 1) <= 0.02, (length, counted.flops, analytic)
        assert counted.attention_pairs * 4 * shape.head_dim == analytic.attention
        analytic_decode = flops.decode_flops(shape, spec, length)
        assert abs(decoded.flops / analytic_decode.total - 1) <= 0.02
        assert decoded.attention_pairs * 4 * shape.head_dim == analytic_decode.attention


def test_attention_pairs_closed_forms_match_the_per_query_sums():
    shape = _tiny_shape()
    for spec in [MethodSpec("ct-max", 5, 3), MethodSpec("ct-avg", 7, 0, compression=3, slots=2),
                 MethodSpec("snapkv", 20, 4), MethodSpec("snapkv", 3, 1)]:  # fmt: skip
        for t0, t1 in [(0, 0), (0, 1), (0, 9), (3, 20), (8, 9), (11, 140), (60, 61)]:
            brute = sum(flops.attended_keys(spec, t, shape) for t in range(t0, t1))
            assert flops.attention_pairs(spec, t0, t1, shape) == brute, (spec, t0, t1)


# --- Compressive Transformer ------------------------------------------------------------------------------
@pytest.mark.parametrize("arch", ["llama", "qwen2"])
@pytest.mark.parametrize("method", ["ct-max", "ct-avg"])
def test_ct_with_rate_one_and_room_for_everything_is_full_attention(arch, method):
    # c = 1: every evicted token is its own entry, pooled over itself; M beyond the tokens: none dropped.
    lm = ahn.tiny_model(arch, method, window=W, sinks=S)
    lm.model.ahn_attached.detach()
    base = _logits(lm.model, _ids(80))
    ahn.attach_method(lm.model, MethodSpec(method, W, S, compression=1, slots=1000))
    assert (_logits(lm.model, _ids(80)) - base).abs().max().item() <= 1e-4
    streamed, _ = _stream(lm.model, _ids(80), 9, 50)
    assert (streamed - base).abs().max().item() <= 1e-4


def _ct_reference(q, k, v, S, W, c, M, pool, scale):
    """Query by query, from the whole sequence's k, v [B, T, H, D] (Hq == Hkv): the sinks, the last M
    complete groups of c evicted tokens pooled, and the window."""
    T, out = q.shape[1], torch.zeros_like(q)
    for t in range(T):
        evicted = max(0, t - S - W + 1)
        n = evicted // c
        parts_k, parts_v = [k[:, : min(S, t + 1)]], [v[:, : min(S, t + 1)]]
        for g in range(max(0, n - M), n):
            group = slice(S + g * c, S + (g + 1) * c)
            reduce = (lambda x: x.amax(1)) if pool == "max" else (lambda x: x.mean(1))
            parts_k.append(reduce(k[:, group])[:, None])
            parts_v.append(reduce(v[:, group])[:, None])
        parts_k.append(k[:, max(S, t - W + 1) : t + 1])
        parts_v.append(v[:, max(S, t - W + 1) : t + 1])
        keys, values = torch.cat(parts_k, 1), torch.cat(parts_v, 1)
        probs = (torch.einsum("bhd,bnhd->bhn", q[:, t], keys) * scale).softmax(-1)
        out[:, t] = torch.einsum("bhn,bnhd->bhd", probs, values)
    return out


@pytest.mark.parametrize("pool", ["max", "avg"])
@pytest.mark.parametrize("c,M", [(4, 3), (3, 100), (2, 1)])
def test_ct_layer_matches_a_per_query_reference(pool, c, M):
    from ahn.methods.compressive import CompressiveCacheLayer

    gen = torch.Generator().manual_seed(0)
    B, T, H, D, S_, W_ = 2, 70, 2, 8, 3, 6
    q, k, v = (torch.randn(B, T, H, D, generator=gen) for _ in range(3))
    spec = MethodSpec(f"ct-{pool}", W_, S_, compression=c, slots=M)
    scale = D**-0.5
    reference = _ct_reference(q, k, v, S_, W_, c, M, pool, scale)
    for chunk in (70, 1, 5, 16):
        layer = CompressiveCacheLayer(spec, spec.method)
        part = [slice(a, a + chunk) for a in range(0, T, chunk)]
        outs = [layer.process(q[:, p], k[:, p], v[:, p], None, None, scale) for p in part]
        torch.testing.assert_close(torch.cat(outs, 1), reference, rtol=1e-5, atol=1e-5, msg=f"chunk {chunk}")


def test_ct_matched_memory_size_follows_the_ahn_state():
    ct = METHODS["ct-max"]
    smollm2 = ModelShape("smollm2", 30, 576, 1536, 9, 3, 64, 49152, True)
    qwen3b = ModelShape("qwen2.5-3b", 36, 2048, 11008, 16, 2, 128, 151936, True)
    assert ct.slots(MethodSpec("ct-max", 256, 32), smollm2) == 96
    assert ct.slots(MethodSpec("ct-max", 32640, 128), qwen3b) == 512
    for shape in (smollm2, qwen3b):  # M entries of K and V: as many elements as one D x D state per head
        M = ct.slots(MethodSpec("ct-max", 256, 32), shape)
        assert 2 * M * shape.head_dim * shape.kv_heads >= shape.q_heads * shape.head_dim**2
        assert 2 * (M - 1) * shape.head_dim * shape.kv_heads < shape.q_heads * shape.head_dim**2


# --- SnapKV -----------------------------------------------------------------------------------------------
def _snapkv_reference(q, k, v, budget, n_obs, scale, kernel=5):
    """Position lists per KV head, block by block: attention to the kept positions and the block so far;
    at each block end over budget, SnapKV's scores from the block's queries (softmax over everything held)."""
    B, T, Hq, D = q.shape
    Hkv = k.shape[2]
    groups = Hq // Hkv
    kept = [[[] for _ in range(Hkv)] for _ in range(B)]  # positions held before the current block
    out = torch.zeros_like(q)
    for p0 in range(0, T, n_obs):
        block = list(range(p0, min(p0 + n_obs, T)))
        for b in range(B):
            for h in range(Hq):
                pos = kept[b][h // groups]
                for t in block:
                    keys = pos + list(range(p0, t + 1))
                    probs = (k[b, keys, h // groups] @ q[b, t, h] * scale).softmax(0)
                    out[b, t, h] = probs @ v[b, keys, h // groups]
        if len(block) < n_obs or len(kept[0][0]) + n_obs <= budget:
            for b in range(B):
                for g in range(Hkv):
                    kept[b][g] = kept[b][g] + block
            continue
        for b in range(B):
            for g in range(Hkv):
                pos = kept[b][g]
                head_scores = []
                for h in range(g * groups, (g + 1) * groups):
                    rows = []
                    for i, t in enumerate(block):
                        keys = pos + block[: i + 1]
                        probs = (k[b, keys, g] @ q[b, t, h] * scale).softmax(0)
                        rows.append(probs[: len(pos)])
                    mean = torch.stack(rows).mean(0)
                    padded = torch.nn.functional.pad(
                        mean, (kernel // 2, kernel // 2)
                    )  # zeros count, as avg_pool1d
                    head_scores.append(
                        torch.stack([padded[i : i + kernel].sum() / kernel for i in range(len(pos))])
                    )
                score = torch.stack(head_scores).mean(0)
                top = sorted(score.topk(budget - n_obs).indices.tolist())
                kept[b][g] = [pos[i] for i in top] + block
    return out


@pytest.mark.parametrize("budget_split,chunk", [((2, 10), 64), ((2, 10), 1), ((0, 16), 7), ((3, 9), 13)])
def test_snapkv_layer_matches_a_per_query_reference(budget_split, chunk):
    from ahn.methods.snapkv import SnapKVCacheLayer, observation_window

    gen = torch.Generator().manual_seed(1)
    B, T, Hq, Hkv, D = 2, 64, 4, 2, 8
    q = torch.randn(B, T, Hq, D, generator=gen)
    k, v = torch.randn(B, T, Hkv, D, generator=gen), torch.randn(B, T, Hkv, D, generator=gen)
    sinks, window = budget_split
    spec = MethodSpec("snapkv", window, sinks)
    n_obs = observation_window(spec)
    reference = _snapkv_reference(q, k, v, sinks + window, n_obs, D**-0.5)
    layer = SnapKVCacheLayer(spec)
    outs = [layer.process(q[:, a : a + chunk], k[:, a : a + chunk], v[:, a : a + chunk], None, None, D**-0.5)
            for a in range(0, T, chunk)]  # fmt: skip
    torch.testing.assert_close(torch.cat(outs, 1), reference, rtol=1e-5, atol=1e-5)
    assert layer.held <= sinks + window + n_obs


def test_snapkv_observation_window_and_budget():
    from ahn.methods.snapkv import observation_window

    assert observation_window(MethodSpec("snapkv", 256, 32)) == 64  # kvpress's default window
    assert observation_window(MethodSpec("snapkv", 12, 4)) == 8  # half the budget when that is smaller
    with pytest.raises(ahn.UserError, match="budget"):
        MethodSpec("snapkv", 1, 0)
    with pytest.raises(ahn.UserError, match="takes no compression"):
        MethodSpec("snapkv", 8, 2, compression=4)
    with pytest.raises(ahn.UserError, match="slots must be an integer >= 1"):
        MethodSpec("ct-max", 8, 2, slots=0)
    assert math.isfinite(flops.attention_pairs(MethodSpec("snapkv", 256, 32), 0, 4096))


@pytest.mark.parametrize("method", ["ct-max", "snapkv"])
def test_fvcore_counts_the_baselines_as_analytic(method):
    # fvcore traces the forward: the pooling, the FIFO's masks and SnapKV's scoring matmul as executed.
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    config = tiny_config("qwen2")
    model = AutoModelForCausalLM.from_config(config, attn_implementation="sdpa").eval()
    shape, spec = ModelShape.from_config(config, "tiny-qwen2"), MethodSpec.build(method, W, S)
    with ahn.attach_method(model, spec):
        counted = flop_counting.count_prefill(
            "fvcore", model, _ids(90, B=1), lambda: ahn.new_cache(model), 32
        )
    analytic = flops.prefill_flops(shape, spec, 90, flops.chunks(90, 32))
    assert analytic.scoring > 0 if method == "snapkv" else analytic.scoring == 0
    assert abs(counted.flops / analytic.total - 1) <= 0.02


@pytest.mark.parametrize("method", ALL)
def test_amortised_decode_flops_are_the_mean_over_one_cycle(method):
    for shape, spec in [
        (_tiny_shape(), MethodSpec.build(method, W, S)),
        (SMOL, MethodSpec.build(method, 512, 32)),
    ]:
        period = flops.cycle_period(shape, spec)
        for context in (3, 100, 4095, 4096, 5000):
            steps = [flops.decode_flops(shape, spec, context + i).total for i in range(period)]
            assert flops.amortised_decode_flops(shape, spec, context) == pytest.approx(sum(steps) / period)
    if method == "snapkv":  # at a block boundary the single step is the cycle's cheapest
        assert (
            period == 64
            and flops.amortised_decode_flops(SMOL, spec, 4096) > flops.decode_flops(SMOL, spec, 4096).total
        )


@pytest.mark.parametrize("method", BOUNDED)
def test_cycle_peak_cache_bytes_is_the_most_the_cache_holds_over_a_cycle(method):
    lm, shape = _model(method), _tiny_shape()
    L0, period = lm.spec.method.cache_cycle(lm.spec, shape)
    assert period == flops.cycle_period(shape, lm.spec)
    ids = _ids(L0 + 3 + 2 * period, B=1)
    cache, held = ahn.new_cache(lm.model), {}
    kv_bytes = memory.dtype_bytes(next(lm.model.parameters()).dtype)
    with torch.no_grad():
        lm.model(ids[:, :L0], cache=cache, use_cache=True)
        for t in range(L0, ids.shape[1]):
            held[t] = memory.held_cache_bytes(cache)[0]  # after t tokens
            lm.model(ids[:, t : t + 1], cache=cache, use_cache=True)
    for length in (L0, L0 + 3, L0 + period + 1):
        measured = max(held[t] for t in range(length, length + period))
        assert memory.cycle_peak_cache_bytes(shape, lm.spec, length, kv_bytes) == measured, length
    if period > 1:  # the cycle's bytes really vary, so a single length can miss the peak
        assert len({held[t] for t in range(L0, L0 + period)}) > 1


def test_ct_rows_record_the_effective_rate_and_slots():
    from benchmarks.efficiency.harness import Rows

    shape, rows = _tiny_shape(), Rows("run", None, {"tiny-llama": _tiny_shape()})
    matched = METHODS["ct-max"].slots(MethodSpec("ct-max", W, S), shape)
    for spec, expected in [
        (
            MethodSpec("ct-max", W, S),
            {"compression": METHODS["ct-max"].rate(MethodSpec("ct-max", W, S)), "slots": matched},
        ),
        (MethodSpec("ct-avg", W, S, compression=3, slots=2), {"compression": 3, "slots": 2}),
        (MethodSpec("swa", W, S), {}),
    ]:
        extra = rows.add("tiny-llama", spec, "decode", 40, "decode_flops_per_token", 1, "analytic").extra
        assert {k: extra[k] for k in ("compression", "slots") if k in extra} == expected
    assert MethodSpec("ct-avg", W, S, compression=3, slots=2).label() == f"ct-avg(S={S},W={W},c=3,M=2)"
