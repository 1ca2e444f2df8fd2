"""Token-step (recurrent) forms of the AHN memory updates: the readable reference for the chunked forms.

Layout everywhere: q, k: [B, T, H, K], v: [B, T, H, V], per-head scalars (beta, g): [B, T, H],
state: [B, H, K, V]. Arithmetic is fp32; `o` comes back in q's dtype, the state stays fp32.
`o_t = scale * q_t @ S_t`, where S_t already includes token t (read after write).
"""

from __future__ import annotations

import torch

from ahn.ops.layout import check_shapes, initial_state_fp32


def _prepare(q, k, v, beta, g, initial_state):
    B, T, H, K, V = check_shapes(q, k, v, beta, g, initial_state)
    state = initial_state_fp32(initial_state, B, H, K, V, like=q)
    return state, q.float(), k.float(), v.float()


def gated_delta_rule_recurrent(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    beta: torch.Tensor,
    g: torch.Tensor | None,
    scale: float | None = None,
    initial_state: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Gated delta rule, one token at a time (Yang et al. 2024, Gated DeltaNet eq. 10):
    S_t = exp(g_t) (I - beta_t k_t k_t^T) S_{t-1} + beta_t k_t v_t^T.  `g=None` is the plain delta rule."""
    scale = q.shape[-1] ** -0.5 if scale is None else scale
    state, qf, kf, vf = _prepare(q, k, v, beta, g, initial_state)
    betaf = beta.float()
    outputs = []
    for t in range(q.shape[1]):
        if g is not None:
            state = state * g[:, t].float().exp()[..., None, None]
        k_t = kf[:, t]  # (B, H, K)
        predicted = torch.einsum("bhk,bhkv->bhv", k_t, state)
        correction = (vf[:, t] - predicted) * betaf[:, t, :, None]  # (B, H, V)
        state = state + k_t[..., None] * correction[..., None, :]
        outputs.append(torch.einsum("bhk,bhkv->bhv", qf[:, t] * scale, state))
    o = torch.stack(outputs, dim=1) if outputs else vf.new_zeros(vf.shape)
    return o.to(q.dtype), state


def delta_rule_recurrent(q, k, v, beta, scale=None, initial_state=None):
    """Delta rule (DeltaNet): the gated delta rule without decay."""
    return gated_delta_rule_recurrent(q, k, v, beta, None, scale=scale, initial_state=initial_state)


def scalar_decay_recurrent(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    g: torch.Tensor,
    scale: float | None = None,
    initial_state: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Scalar-decay linear recurrence S_t = exp(g_t) S_{t-1} + k_t v_t^T, the form Mamba2's selective state
    update takes with k = dt * B, v = x, g = dt * A, q = C (Dao & Gu 2024, SSD section 3)."""
    scale = q.shape[-1] ** -0.5 if scale is None else scale
    state, qf, kf, vf = _prepare(q, k, v, None, g, initial_state)
    outputs = []
    for t in range(q.shape[1]):
        state = state * g[:, t].float().exp()[..., None, None] + kf[:, t, :, :, None] * vf[:, t, :, None, :]
        outputs.append(torch.einsum("bhk,bhkv->bhv", qf[:, t] * scale, state))
    o = torch.stack(outputs, dim=1) if outputs else vf.new_zeros(vf.shape)
    return o.to(q.dtype), state
