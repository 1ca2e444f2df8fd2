"""Chunked parallel form of the (gated) delta rule: same signature and semantics as recurrent.py.

Formulas: the chunkwise WY/UT-transform form of Yang et al. 2024, "Parallelizing Linear Transformers with the
Delta Rule over Sequence Length" (arXiv:2406.06484), with the per-token scalar decay added as in Yang, Kautz &
Hatamizadeh 2024, "Gated Delta Networks" (arXiv:2412.06464). Within a chunk of C tokens, with S0 the
state entering the chunk, gamma_i the cumulative log decay from the chunk start through token i and
D[i, j] = exp(gamma_i - gamma_j) for j <= i, the recurrence
S_t = e^{g_t} (I - b_t k_t k_t^T) S_{t-1} + b_t k_t v_t^T unrolls to

    S_i = e^{gamma_i} S0 + sum_{j<=i} D[i, j] k_j u_j^T,
    u_i = b_i (v_i - e^{gamma_i} S0^T k_i - sum_{j<i} D[i, j] (k_i . k_j) u_j)

so (I + A) U = diag(b) (V - diag(e^gamma) K S0) with A = strictly-lower(diag(b) (K K^T * D)). With the UT
transform T = (I + A)^{-1} diag(b), computed for all chunks by one batched triangular solve:

    U = U~ - W S0,       U~ = T V,   W = T diag(e^gamma) K
    O = scale ((Q * e^gamma) S0 + (Q K^T * D) U)
    S_C = e^{gamma_C} S0 + (K * e^{gamma_C - gamma})^T U

Only U, the S0 term of O and the state update depend on S0, so only they run in the loop over chunks.
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
    state = initial_state_fp32(initial_state, B, H, K, V, like=q).reshape(B * H, K, V)
    C = max(1, min(chunk_size, T))  # a short sequence is one chunk of its own length: no padding work
    qc, kc, vc, bc = (
        to_chunks(x, C) for x in (q.float() * scale, k, v, beta)
    )  # (N, B*H, C, K|V), (N, B*H, C)
    if g is None:
        gamma = torch.zeros_like(bc)
        decay = torch.ones(C, C, device=q.device).tril()
    else:
        gamma, decay = chunk_decays(to_chunks(g, C))  # (N, B*H, C), (N, B*H, C, C)

    # UT transform. unitriangular=True reads only the strictly-lower part of `a`, so no tril is needed
    # (and the solve's gradient for `a` is strictly lower too). Solving against I and multiplying is
    # much faster on CPU than a solve with the [V | K] right-hand sides (batched trsm is slow).
    a = kc @ kc.mT * decay * bc[..., None]  # (N, B*H, C, C)
    eye = torch.eye(C, device=q.device).expand_as(a)
    t = torch.linalg.solve_triangular(a, eye, upper=False, unitriangular=True) * bc[..., None, :]
    rhs = torch.cat([vc, kc * gamma.exp()[..., None]], dim=-1)  # one wider matmul beats two: (N, B*H, C, V+K)
    u_tilde, w = (t @ rhs).split([V, K], dim=-1)  # (N, B*H, C, V), (N, B*H, C, K)

    # Everything else that does not depend on the state entering a chunk, also for all chunks at once.
    q_decayed = qc * gamma.exp()[..., None]  # (N, B*H, C, K)
    attn = qc @ kc.mT * decay  # (N, B*H, C, C), causal incl. the diagonal (read after write)
    chunk_decay = gamma[..., -1, None, None].exp()  # (N, B*H, 1, 1)
    k_to_end = (kc * (gamma[..., -1:] - gamma).exp()[..., None]).mT  # (N, B*H, K, C), decayed to chunk end

    # The inter-chunk recurrence: the only sequential part. o is computed here too, while S0 and U are hot
    # in cache: on CPU that beats stacking all states and doing two more all-chunk matmuls afterwards.
    outputs = []
    for n in range(qc.shape[0]):
        u = torch.baddbmm(u_tilde[n], w[n], state, alpha=-1)  # U = U~ - W S0: (B*H, C, V)
        outputs.append(torch.baddbmm(attn[n] @ u, q_decayed[n], state))
        state = torch.baddbmm(state * chunk_decay[n], k_to_end[n], u)
    final_state = state.reshape(B, H, K, V)
    if not outputs:  # T == 0
        return v.new_zeros(v.shape).to(q.dtype), final_state
    return from_chunks(torch.stack(outputs), B, H, T).to(q.dtype), final_state


def delta_rule_chunked(q, k, v, beta, scale=None, initial_state=None, chunk_size=64):
    """Delta rule (DeltaNet): the gated delta rule without decay."""
    return gated_delta_rule_chunked(q, k, v, beta, None, scale, initial_state, chunk_size)
