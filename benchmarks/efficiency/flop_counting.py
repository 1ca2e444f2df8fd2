"""Measured FLOPs of the real model forward: torch's FlopCounterMode and fvcore, with flops.py's
conventions (matmuls only, a multiply-add = 2 FLOPs; fvcore counts multiply-adds, so its totals are doubled).

Three things the counters do not count by themselves, and what is done about each:

1. Attention. On CPU `F.scaled_dot_product_attention` runs `aten._scaled_dot_product_flash_attention_for_cpu`,
   for which FlopCounterMode has no formula; under fvcore's JIT trace `aten::scaled_dot_product_attention`
   has no handle. Both skip attention silently. Inside `counted_attention()` SDPA goes through one custom
   op, `ahn_bench::attention`, which runs the real SDPA and carries, as a plain integer argument, the
   number of (query, key) pairs its mask lets through (batch and heads included; causal pairs for
   `is_causal`). Both counters get a formula for it: 2 (D_qk + D_v) FLOPs per pair (q k^T and p v). The
   integer is read off the mask the kernel actually received, so the count checks the sink/window logic as
   executed; as an argument it is also a constant in fvcore's trace graph. The blocked kernel also
   multiplies masked pairs (up to block - 1 per query, ahn/attention.py): those are tallied apart as
   `dense_pairs` (all scores its blocks hold) and reported, not counted.

2. The AHN memory ops. `ahn.ops` picks a form per call: fla's Triton kernels on CUDA (invisible to both
   counters), the token-step recurrent form for one token, the chunked parallel form for many. The chunked
   form computes the same outputs with other matmuls and a triangular solve that neither counter counts.
   The cost model counts the recurrent form, as the paper's equations do. `memory_ops(mode)` chooses:
     "op"        (default) each call is one custom op (`ahn_bench::gated_delta_rule`, `::scalar_decay`)
                 that runs the default dispatch and is counted as torch counts its fused attention kernels:
                 a formula on the op's shapes, the recurrent form's matmuls (k S, the rank-1 write, q S for
                 the delta rules; the rank-1 write and q S for the scalar decay), 2 K V FLOPs each per token
                 and head;
     "recurrent" run the recurrent form and count its ops one by one: the check that the "op" formula is
                 what the recurrent form executes (tests), but ~15 dispatched ops per token and layer;
     "executed"  count, op by op, whatever the default dispatch runs (the chunked form for a CPU prefill).
   The gates, the output gate and the per-head W_o are ordinary modules and counted as such in every mode.

3. The rank-1 write in "recurrent" mode: k^T (beta (v - k S)) is a broadcast multiply
   `k[..., :, None] * u[..., None, :]`, elementwise to both counters. It is a K x 1 x V matmul (fused kernels
   run it as one; paper Eq. 5 writes it as a product), so a multiply whose operands are exactly a column
   [..., K, 1] and a row [..., 1, V] is counted as 2 K V FLOPs per batch element. No other multiply in the
   Llama/Qwen forward has that pattern (RoPE's `x * cos[:, :, None]`, norms and gates all have a full last
   dimension on one side).

fvcore traces the forward with torch.jit, and the tracer drops computations that do not reach the traced
outputs, so the traced function returns every logits row the LM head produced and every tensor the cache
ends up holding: nothing the forward computed is dropped.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import inspect
import math
import warnings
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from ahn.generate import decode_one_token, prefill

COUNTERS = ("torch", "fvcore")
MEMORY_MODES = ("op", "recurrent", "executed")
_ORIGINAL_SDPA = F.scaled_dot_product_attention


# --- 1. attention as one counted op --------------------------------------------------------------
@torch.library.custom_op("ahn_bench::attention", mutates_args=())
def _counted_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, attn_mask: torch.Tensor | None, scale: float,
    is_causal: bool, pairs: int,
) -> torch.Tensor:  # fmt: skip
    """SDPA on [B, H, T, D] tensors; `pairs` is there to be counted."""
    gqa = q.shape[1] != k.shape[1]
    return _ORIGINAL_SDPA(q, k, v, attn_mask=attn_mask, is_causal=is_causal, scale=scale, enable_gqa=gqa)


@_counted_attention.register_fake
def _(q, k, v, attn_mask, scale, is_causal, pairs):
    return q.new_empty(*q.shape[:-1], v.shape[-1])


@dataclass
class AttentionTally:
    """What the counted attention saw in one `counted_attention()` block (batch and heads included)."""

    pairs: int = 0  # (query, key) pairs the masks let through: what attention computes
    dense_pairs: int = 0  # scores the kernel's blocks hold, masked ones included
    calls: int = 0


def _allowed_pairs(q, k, attn_mask, is_causal) -> int:
    B, H, Lq, Lk = int(q.shape[0]), int(q.shape[1]), int(q.shape[2]), int(k.shape[2])
    if attn_mask is None:
        if not is_causal:
            return B * H * Lq * Lk
        # SDPA's causal mask is top-left aligned: query i sees keys 0..min(i, Lk - 1).
        m = min(Lq, Lk)
        return B * H * (m * (m + 1) // 2 + (Lq - m) * Lk)
    if attn_mask.device.type == "meta":
        raise RuntimeError("counting attention pairs needs the mask's values; a meta-device mask has none")
    allowed = attn_mask if attn_mask.dtype == torch.bool else attn_mask > float("-inf")
    return int(torch.broadcast_to(allowed, (B, H, Lq, Lk)).sum())


@contextlib.contextmanager
def counted_attention():
    """Route F.scaled_dot_product_attention through `ahn_bench::attention` (restored on exit);
    yields the block's AttentionTally."""
    tally = AttentionTally()

    def sdpa(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None, enable_gqa=False):
        if dropout_p:
            raise NotImplementedError("counted attention is for inference (dropout_p=0)")
        scale = query.shape[-1] ** -0.5 if scale is None else float(scale)
        with warnings.catch_warnings():  # under fvcore's trace, ints read off tensors become constants
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            pairs = _allowed_pairs(query, key, attn_mask, is_causal)
            # With an explicit mask the kernel scores every (query, key) of the block; with is_causal it
            # skips the tiles above the diagonal, so the causal pairs stand for its work (up to tiles).
            dense = math.prod(int(s) for s in query.shape[:3]) * int(key.shape[2])
            tally.dense_pairs += pairs if attn_mask is None and is_causal else dense
        tally.pairs += pairs
        tally.calls += 1
        return torch.ops.ahn_bench.attention(query, key, value, attn_mask, scale, bool(is_causal), pairs)

    F.scaled_dot_product_attention = sdpa
    try:
        yield tally
    finally:
        F.scaled_dot_product_attention = _ORIGINAL_SDPA


def _attention_flops(q_shape, v_shape, pairs: int) -> int:
    return pairs * 2 * (q_shape[-1] + v_shape[-1])


# --- 2. the AHN memory ops as counted ops ----------------------------------------------------------
# Matmuls per token and head of the recurrent form, in units of 2 K V FLOPs (flops.py's accounting).
MEMORY_OP_MATMULS = {"gated_delta_rule": 3, "scalar_decay": 2}
_RUNS = {}  # ahn.ops function name -> the function a counted op runs (set while `memory_ops("op")`)


def _new(state: torch.Tensor, initial_state: torch.Tensor | None) -> torch.Tensor:
    return state.clone() if state is initial_state else state  # a custom op may not return its input


@torch.library.custom_op("ahn_bench::gated_delta_rule", mutates_args=())
def _counted_gated_delta_rule(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, beta: torch.Tensor, g: torch.Tensor | None,
    scale: float | None, initial_state: torch.Tensor | None,
) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
    o, state = _RUNS["gated_delta_rule"](q, k, v, beta, g, scale=scale, initial_state=initial_state)
    return o, _new(state, initial_state)


@torch.library.custom_op("ahn_bench::scalar_decay", mutates_args=())
def _counted_scalar_decay(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, g: torch.Tensor, scale: float | None,
    initial_state: torch.Tensor | None,
) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
    o, state = _RUNS["scalar_decay"](q, k, v, g, scale=scale, initial_state=initial_state)
    return o, _new(state, initial_state)


def _memory_fake(q, k, v, *args):
    B, T, H, K = q.shape
    return q.new_empty(B, T, H, v.shape[-1]), q.new_empty(B, H, K, v.shape[-1], dtype=torch.float32)


_counted_gated_delta_rule.register_fake(_memory_fake)
_counted_scalar_decay.register_fake(_memory_fake)


def _memory_op_flops(name: str, q_shape, v_shape) -> int:
    B, T, H, K = q_shape
    return MEMORY_OP_MATMULS[name] * 2 * B * T * H * K * v_shape[-1]


@contextlib.contextmanager
def memory_ops(mode: str):
    """How `ahn.ops.gated_delta_rule` / `ahn.ops.scalar_decay` run and are counted inside the block
    ("op", "recurrent" or "executed": see the module docstring); restored on exit."""
    from ahn import ops

    if mode not in MEMORY_MODES:
        raise ValueError(f"memory mode must be one of {MEMORY_MODES}, got {mode!r}")
    if mode == "executed":
        yield
        return
    originals = {name: getattr(ops, name) for name in MEMORY_OP_MATMULS}
    if mode == "recurrent":
        for name, fn in originals.items():
            if "mode" not in inspect.signature(fn).parameters:
                raise RuntimeError(f"ahn.ops.{name} takes no `mode`: cannot choose the recurrent form")
        patched = {name: functools.partial(fn, mode="recurrent") for name, fn in originals.items()}
    else:
        _RUNS.update(originals)

        def gated_delta_rule(q, k, v, beta, g, scale=None, initial_state=None):
            return torch.ops.ahn_bench.gated_delta_rule(q, k, v, beta, g, scale, initial_state)

        def scalar_decay(q, k, v, g, scale=None, initial_state=None):
            return torch.ops.ahn_bench.scalar_decay(q, k, v, g, scale, initial_state)

        patched = {"gated_delta_rule": gated_delta_rule, "scalar_decay": scalar_decay}
    for name, fn in patched.items():
        setattr(ops, name, fn)
    try:
        yield
    finally:
        for name, fn in originals.items():
            setattr(ops, name, fn)
        _RUNS.clear()


# --- 3. the rank-1 write -----------------------------------------------------------------------------
def _outer_product_macs(a_shape, b_shape) -> int:
    """Multiply-adds of a * b if it is a broadcast outer product [..., K, 1] * [..., 1, V], else 0."""
    if len(a_shape) < 2 or len(b_shape) < 2:
        return 0
    for col, row in ((a_shape, b_shape), (b_shape, a_shape)):
        if col[-1] == 1 and col[-2] > 1 and row[-2] == 1 and row[-1] > 1:
            return math.prod(torch.broadcast_shapes(tuple(col), tuple(row)))
    return 0


# --- torch.utils.flop_counter ---------------------------------------------------------------------
def _torch_attention(q_shape, k_shape, v_shape, attn_mask, scale, is_causal, pairs, *args, **kwargs) -> int:
    return _attention_flops(q_shape, v_shape, pairs)


def _torch_gated_delta_rule(q_shape, k_shape, v_shape, *args, **kwargs) -> int:
    return _memory_op_flops("gated_delta_rule", q_shape, v_shape)


def _torch_scalar_decay(q_shape, k_shape, v_shape, *args, **kwargs) -> int:
    return _memory_op_flops("scalar_decay", q_shape, v_shape)


def _torch_mul(a, b=None, *args, out_val=None, **kwargs) -> int:
    if not isinstance(a, torch.Tensor) or not isinstance(b, torch.Tensor):
        return 0
    return 2 * _outer_product_macs(tuple(a.shape), tuple(b.shape))


_torch_mul._get_raw = True  # FlopCounterMode hands "raw" formulas the tensors (here: scalars stay scalars)
TORCH_FORMULAS = {
    torch.ops.ahn_bench.attention: _torch_attention,
    torch.ops.ahn_bench.gated_delta_rule: _torch_gated_delta_rule,
    torch.ops.ahn_bench.scalar_decay: _torch_scalar_decay,
    torch.ops.aten.mul: _torch_mul,
}


def count_with_torch(fn, *args, **kwargs) -> tuple[int, AttentionTally, object]:
    """(FLOPs, attention tally, fn's result) of fn(*args, **kwargs) under FlopCounterMode."""
    with counted_attention() as tally, FlopCounterMode(display=False, custom_mapping=TORCH_FORMULAS) as fc:
        result = fn(*args, **kwargs)
    return fc.get_total_flops(), tally, result


# --- fvcore ------------------------------------------------------------------------------------------
def _fvcore_attention(inputs, outputs) -> int:
    from fvcore.nn.jit_handles import get_shape

    return _attention_flops(get_shape(inputs[0]), get_shape(inputs[2]), inputs[6].toIValue()) // 2


def _fvcore_memory(name: str):
    def handle(inputs, outputs) -> int:
        from fvcore.nn.jit_handles import get_shape

        return _memory_op_flops(name, get_shape(inputs[0]), get_shape(inputs[2])) // 2

    return handle


def _fvcore_mul(inputs, outputs) -> int:
    from fvcore.nn.jit_handles import get_shape

    shapes = [get_shape(v) for v in inputs[:2]]
    return 0 if any(s is None for s in shapes) else _outer_product_macs(*shapes)


class _Call(nn.Module):
    """fvcore traces a module: this one runs `fn(model, ids)` and returns a tensor."""

    def __init__(self, model: nn.Module, fn):
        super().__init__()
        self.model, self.fn = model, fn

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.fn(self.model, ids)


def count_with_fvcore(model: nn.Module, fn, ids: torch.Tensor) -> tuple[int, AttentionTally]:
    """(FLOPs = 2 x fvcore's multiply-adds, attention tally) of fn(model, ids), traced once."""
    from fvcore.nn import FlopCountAnalysis

    with counted_attention() as tally, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        analysis = FlopCountAnalysis(_Call(model, fn), (ids,))
        analysis.set_op_handle(
            "ahn_bench::attention", _fvcore_attention,
            "ahn_bench::gated_delta_rule", _fvcore_memory("gated_delta_rule"),
            "ahn_bench::scalar_decay", _fvcore_memory("scalar_decay"),
            "aten::mul", _fvcore_mul,
        )  # fmt: skip
        analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False).tracer_warnings("none")
        macs = analysis.total()
    return 2 * int(macs), tally


# --- what the harness counts -----------------------------------------------------------------------
@dataclass
class CountResult:
    counter: str
    memory_mode: str
    flops: int
    attention_pairs: int
    attention_pairs_dense: int
    attention_calls: int


def _everything_computed(logits: list[torch.Tensor], cache) -> torch.Tensor:
    """One tensor that depends on every logits row and every tensor the cache holds (see docstring)."""
    held = [t.float().sum().reshape(1) for layer in cache.layers for t in layer.tensors()]
    return torch.cat([x.float().reshape(-1) for x in logits] + held)


def count_prefill(
    counter: str, model: nn.Module, ids: torch.Tensor, new_cache, chunk: int, memory_mode: str = "op"
) -> CountResult:
    """FLOPs of ahn.prefill(ids) (in `chunk`-token calls) into a fresh cache from `new_cache()`."""

    def run(m, x):
        logits: list[torch.Tensor] = []
        hook = m.get_output_embeddings().register_forward_hook(lambda mod, i, out: logits.append(out))
        try:
            cache = new_cache()
            prefill(m, x, cache, chunk)
        finally:
            hook.remove()
        return _everything_computed(logits, cache)

    return _count(counter, memory_mode, model, run, ids)


def count_decode(
    counter: str, model: nn.Module, token: torch.Tensor, cache, memory_mode: str = "op"
) -> CountResult:
    """FLOPs of one decode step (token [B]) on a copy of `cache`; `cache` itself does not advance."""

    def run(m, x):
        step_cache = copy.deepcopy(cache)
        logits = decode_one_token(m, x[:, 0], step_cache)
        return _everything_computed([logits], step_cache)

    return _count(counter, memory_mode, model, run, token[:, None])


def _count(counter: str, memory_mode: str, model, run, ids) -> CountResult:
    with torch.no_grad(), memory_ops(memory_mode):
        if counter == "torch":
            flops, tally, _ = count_with_torch(run, model, ids)
        elif counter == "fvcore":
            flops, tally = count_with_fvcore(model, run, ids)
        else:
            raise ValueError(f"unknown counter {counter!r}; known: {', '.join(COUNTERS)}")
    return CountResult(counter, memory_mode, int(flops), tally.pairs, tally.dense_pairs, tally.calls)
