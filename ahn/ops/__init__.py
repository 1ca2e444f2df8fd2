"""AHN memory ops. Layout: q, k: [B, T, H, K], v: [B, T, H, V], beta, g: [B, T, H]; state: [B, H, K, V].

Four forms with one semantics (recurrent.py is the reference): token-step `*_recurrent`, chunked parallel
`*_chunked` (pure PyTorch), the one-token decode step `*_step`, and fla's Triton chunk kernels on CUDA.
The dispatchers pick one by `mode`: "auto" = the step for a single token (decode: a rank-1 update and a
read, on any device), else fla on CUDA when importable, else chunked.
"""

from __future__ import annotations

import functools

import torch

from ahn.ops.chunked_delta_rule import delta_rule_chunked, gated_delta_rule_chunked
from ahn.ops.chunked_scalar_decay import scalar_decay_chunked
from ahn.ops.layout import check_shapes
from ahn.ops.recurrent import delta_rule_recurrent, gated_delta_rule_recurrent, scalar_decay_recurrent
from ahn.ops.step import gated_delta_rule_step, scalar_decay_step

MODES = ("auto", "recurrent", "chunked", "step", "fla")
# The chunked forms default to fla's chunk of 64 tokens; on CPU 32 is faster (half the C x C work, a 2x
# cheaper triangular solve, the loop over chunks stays cheap): see `python -m benchmarks.ops_speed`.
CPU_CHUNK_SIZE = 32


@functools.cache
def fla_kernels() -> dict | None:
    """fla's Triton chunk kernels by op name, or None where fla (or Triton) cannot be imported."""
    try:
        from fla.ops.delta_rule import chunk_delta_rule
        from fla.ops.gated_delta_rule import chunk_gated_delta_rule
        from fla.ops.simple_gla import chunk_simple_gla
    except Exception:  # ImportError, or Triton failing to initialise without a GPU
        return None
    return {"gdn": chunk_gated_delta_rule, "dn": chunk_delta_rule, "decay": chunk_simple_gla}


def _resolve(mode: str, q: torch.Tensor) -> str:
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    on_fla = q.is_cuda and q.shape[1] > 0 and fla_kernels() is not None
    if mode == "fla" and not on_fla:
        raise ValueError("mode='fla' needs CUDA tensors, T > 0 and an importable fla (pip install '.[fla]')")
    if mode == "step" and q.shape[1] != 1:
        raise ValueError(f"mode='step' takes one token, got T={q.shape[1]}")
    if mode == "auto":
        return "step" if q.shape[1] == 1 else "fla" if on_fla else "chunked"
    return mode


def gated_delta_rule(q, k, v, beta, g, scale=None, initial_state=None, mode: str = "auto"):
    """Gated delta rule (g=None: plain delta rule). Returns (o [B, T, H, V] in q.dtype, state fp32)."""
    check_shapes(q, k, v, beta, g, initial_state)
    mode = _resolve(mode, q)
    if mode == "step":
        return gated_delta_rule_step(q, k, v, beta, g, scale=scale, initial_state=initial_state)
    if mode == "recurrent":
        return gated_delta_rule_recurrent(q, k, v, beta, g, scale=scale, initial_state=initial_state)
    if mode == "chunked":
        chunk = 64 if q.is_cuda else CPU_CHUNK_SIZE
        return gated_delta_rule_chunked(q, k, v, beta, g, scale, initial_state, chunk_size=chunk)
    # fla: q, k arrive L2-normalised already, so use_qk_l2norm_in_kernel stays False (its default).
    h0 = None if initial_state is None else initial_state.float()
    if g is None:
        o, state = fla_kernels()["dn"](q, k, v, beta, scale=scale, initial_state=h0, output_final_state=True)
    else:
        o, state = fla_kernels()["gdn"](
            q, k, v, g, beta, scale=scale, initial_state=h0, output_final_state=True
        )
    return o.to(q.dtype), state.float()


def scalar_decay(q, k, v, g, scale=None, initial_state=None, mode: str = "auto"):
    """Scalar-decay linear recurrence (Mamba2/SSD). Returns (o [B, T, H, V] in q.dtype, state fp32)."""
    check_shapes(q, k, v, None, g, initial_state)
    mode = _resolve(mode, q)
    if mode == "step":
        return scalar_decay_step(q, k, v, g, scale=scale, initial_state=initial_state)
    if mode == "recurrent":
        return scalar_decay_recurrent(q, k, v, g, scale=scale, initial_state=initial_state)
    if mode == "chunked":
        chunk = 64 if q.is_cuda else CPU_CHUNK_SIZE
        return scalar_decay_chunked(q, k, v, g, scale, initial_state, chunk_size=chunk)
    h0 = None if initial_state is None else initial_state.float()
    o, state = fla_kernels()["decay"](q, k, v, g=g, scale=scale, initial_state=h0, output_final_state=True)
    return o.to(q.dtype), state.float()


__all__ = [
    "CPU_CHUNK_SIZE",
    "MODES",
    "check_shapes",
    "delta_rule_chunked",
    "delta_rule_recurrent",
    "fla_kernels",
    "gated_delta_rule",
    "gated_delta_rule_chunked",
    "gated_delta_rule_recurrent",
    "gated_delta_rule_step",
    "scalar_decay",
    "scalar_decay_chunked",
    "scalar_decay_recurrent",
    "scalar_decay_step",
]
