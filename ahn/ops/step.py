"""One-token (decode) forms: a rank-1 state update and a read, as batched matrix products with no loop,
stack or einsum. Same signature and semantics as recurrent.py at T = 1 (that form is their test oracle).

Layout: q, k: [B, 1, H, K], v: [B, 1, H, V], beta, g: [B, 1, H]; state: [B, H, K, V] fp32.
"""

from __future__ import annotations

import torch

from ahn.ops.layout import initial_state_fp32


def _heads(x: torch.Tensor) -> torch.Tensor:
    # [B, 1, H, D] -> [B*H, 1, D] fp32 (a view when B == 1 and already fp32)
    return x.float().reshape(-1, 1, x.shape[-1])


def gated_delta_rule_step(q, k, v, beta, g, scale=None, initial_state=None):
    """S = exp(g) (I - beta k k^T) S0 + beta k v^T, then o = scale q S (Gated DeltaNet eq. 10, one token).
    g=None: the delta rule. Returns (o [B, 1, H, V] in q.dtype, state [B, H, K, V] fp32)."""
    B, _, H, K = q.shape
    V = v.shape[-1]
    scale = K**-0.5 if scale is None else scale
    state = initial_state_fp32(initial_state, B, H, K, V, like=q).reshape(B * H, K, V)
    k_t = _heads(k)  # (B*H, 1, K)
    if g is not None:
        state = state * g.float().exp().reshape(B * H, 1, 1)
    correction = (_heads(v) - k_t @ state) * beta.float().reshape(B * H, 1, 1)  # (B*H, 1, V)
    state = torch.baddbmm(state, k_t.mT, correction)  # + k (beta (v - k S))^T
    o = (_heads(q) @ state) * scale  # (B*H, 1, V)
    return o.reshape(B, 1, H, V).to(q.dtype), state.reshape(B, H, K, V)


def scalar_decay_step(q, k, v, g, scale=None, initial_state=None):
    """S = exp(g) S0 + k v^T, then o = scale q S (Mamba2's selective state update, one token)."""
    B, _, H, K = q.shape
    V = v.shape[-1]
    scale = K**-0.5 if scale is None else scale
    state = initial_state_fp32(initial_state, B, H, K, V, like=q).reshape(B * H, K, V)
    state = torch.baddbmm(state * g.float().exp().reshape(B * H, 1, 1), _heads(k).mT, _heads(v))
    o = (_heads(q) @ state) * scale
    return o.reshape(B, 1, H, V).to(q.dtype), state.reshape(B, H, K, V)
