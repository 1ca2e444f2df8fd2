"""Chunked parallel form of the (gated) delta rule: same signature and semantics as recurrent.py.

Formulas: Yang et al. 2024, "Parallelizing Linear Transformers with the Delta Rule over Sequence Length"
(section 3, WY/UT transform), extended with a per-token scalar decay as in Yang, Kautz & Hatamizadeh 2024,
"Gated Delta Networks" (section 3.3). Within a chunk of C tokens, with S0 the state entering the chunk,
gamma_i the cumulative log decay from the chunk start through token i, and D[i, j] = exp(gamma_i - gamma_j)
for j <= i, the recurrence S_t = e^{g_t} (I - b_t k_t k_t^T) S_{t-1} + b_t k_t v_t^T unrolls to

    S_i = e^{gamma_i} S0 + sum_{j<=i} D[i, j] k_j u_j^T,
    u_i = b_i (v_i - e^{gamma_i} S0^T k_i - sum_{j<i} D[i, j] (k_i . k_j) u_j)

so (I + A) U = diag(b) V - diag(b e^gamma) K S0 with A = strictly-lower(diag(b) K K^T * D). With the UT
transform (I + A)^{-1} (one triangular solve per chunk, all chunks at once):

    U = U~ - W S0,       U~ = (I + A)^{-1} diag(b) V,   W = (I + A)^{-1} diag(b e^gamma) K
    O = scale ((Q * e^gamma) S0 + (Q K^T * D) U)
    S_C = e^{gamma_C} S0 + (K * e^{gamma_C - gamma})^T U

Only `U = U~ - W S0` and the state update depend on S0, so only they run in the loop over chunks.
"""

from __future__ import annotations

import torch

from ahn.ops.layout import check_shapes, chunk_decays, from_chunks, initial_state_fp32, to_chunks


def gated_delta_rule_chunked(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    beta: torch.Tensor,
    g: torch.Tensor | None,
    scale: float | None = None,
    initial_state: torch.Tensor | None = None,
    chunk_size: int = 64,
) -> tuple[torch.Tensor, torch.Tensor]:
    """q, k: [B, T, H, K], v: [B, T, H, V], beta, g: [B, T, H] (g: log decay <= 0, None = no decay),
    initial_state: [B, H, K, V]. Returns (o [B, T, H, V] in q.dtype, final state [B, H, K, V] fp32)."""
    B, T, H, K, V = check_shapes(q, k, v, beta, g, initial_state)
    scale = K**-0.5 if scale is None else scale
    state = initial_state_fp32(initial_state, B, H, K, V, like=q)
    C = max(1, min(chunk_size, T))  # a short sequence is one chunk of its own length: no padding work
    qc, kc, vc, bc = (to_chunks(x, C) for x in (q, k, v, beta))  # (N, B, H, C, K|V), bc: (N, B, H, C)
    if g is None:
        gamma = torch.zeros_like(bc)
        decay = torch.ones(C, C, device=q.device).tril().expand(*bc.shape, C)
    else:
        gamma, decay = chunk_decays(to_chunks(g, C))  # (N, B, H, C), (N, B, H, C, C)

    # UT transform for all chunks at once: one unit-lower-triangular solve with [V | K] right-hand sides.
    a = (kc @ kc.transpose(-1, -2) * decay * bc[..., None]).tril(-1)  # (N, B, H, C, C), strictly lower
    rhs = torch.cat([vc * bc[..., None], kc * (bc * gamma.exp())[..., None]], dim=-1)  # (N, B, H, C, V+K)
    u_tilde, w = torch.linalg.solve_triangular(a, rhs, upper=False, unitriangular=True).split([V, K], dim=-1)

    chunk_decay = gamma[..., -1].exp()[..., None, None]  # (N, B, H, 1, 1)
    k_to_end = kc * (gamma[..., -1:] - gamma).exp()[..., None]  # (N, B, H, C, K) decayed to the chunk end
    states, values = [], []  # state entering each chunk (B, H, K, V); pseudo-values U (B, H, C, V)
    for n in range(qc.shape[0]):
        states.append(state)
        u = u_tilde[n] - w[n] @ state
        values.append(u)
        state = state * chunk_decay[n] + k_to_end[n].transpose(-1, -2) @ u
    if not states:  # T == 0
        return v.new_zeros(v.shape).to(q.dtype), state

    s0, u = torch.stack(states), torch.stack(values)  # (N, B, H, K, V), (N, B, H, C, V)
    o = (qc * gamma.exp()[..., None]) @ s0 + (qc @ kc.transpose(-1, -2) * decay) @ u
    return from_chunks(o * scale, T).to(q.dtype), state


def delta_rule_chunked(q, k, v, beta, scale=None, initial_state=None, chunk_size=64):
    """Delta rule (DeltaNet): the gated delta rule without decay."""
    return gated_delta_rule_chunked(q, k, v, beta, None, scale, initial_state, chunk_size)
