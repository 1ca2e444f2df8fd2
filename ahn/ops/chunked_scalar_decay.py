"""Chunked parallel form of the scalar-decay linear recurrence S_t = e^{g_t} S_{t-1} + k_t v_t^T.

This is the chunked (block-decomposition) SSD algorithm of Dao & Gu 2024, "Transformers are SSMs"
(arXiv:2405.21060), in the linear-attention notation of recurrent.py. Within a chunk, with S0 the state
entering it, gamma_i the cumulative log decay from the chunk start through token i and
D[i, j] = exp(gamma_i - gamma_j) for j <= i:

    O = scale ((Q * e^gamma) S0 + (Q K^T * D) V)
    S_C = e^{gamma_C} S0 + (K * e^{gamma_C - gamma})^T V

Everything but the scalar-times-state update S <- e^{gamma_C} S + dS runs for all chunks at once.
"""

from __future__ import annotations

import torch

from ahn.ops.layout import check_shapes, chunk_decays, from_chunks, initial_state_fp32, to_chunks


def scalar_decay_chunked(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    g: torch.Tensor,
    scale: float | None = None,
    initial_state: torch.Tensor | None = None,
    chunk_size: int = 64,
) -> tuple[torch.Tensor, torch.Tensor]:
    """q, k: [B, T, H, K], v: [B, T, H, V], g: [B, T, H] (log decay <= 0), initial_state: [B, H, K, V].
    Returns (o [B, T, H, V] in q.dtype, final state [B, H, K, V] fp32)."""
    B, T, H, K, V = check_shapes(q, k, v, None, g, initial_state)
    scale = K**-0.5 if scale is None else scale
    state = initial_state_fp32(initial_state, B, H, K, V, like=q).reshape(B * H, K, V)
    C = max(1, min(chunk_size, T))
    qc, kc, vc = (to_chunks(x, C) for x in (q, k, v))  # (N, B*H, C, K|V)
    gamma, decay = chunk_decays(to_chunks(g, C))  # (N, B*H, C), (N, B*H, C, C)

    chunk_decay = gamma[..., -1, None, None].exp()  # (N, B*H, 1, 1)
    writes = (kc * (gamma[..., -1:] - gamma).exp()[..., None]).mT @ vc  # (N, B*H, K, V)
    states = []  # state entering each chunk
    for n in range(qc.shape[0]):
        states.append(state)
        state = state * chunk_decay[n] + writes[n]
    final_state = state.reshape(B, H, K, V)
    if not states:  # T == 0
        return v.new_zeros(v.shape).to(q.dtype), final_state

    o = (qc * gamma.exp()[..., None]) @ torch.stack(states) + (qc @ kc.mT * decay) @ vc
    return from_chunks(o * scale, B, H, T).to(q.dtype), final_state
