"""Shape checks and chunk reshaping shared by the recurrent and chunked forms.

Layout: q, k: [B, T, H, K], v: [B, T, H, V], beta, g: [B, T, H], state: [B, H, K, V].
Chunked forms work chunk-major and contiguous, [N, B*H, C, D] (N chunks of C tokens): batched matmuls then
need no hidden copies, and the inter-chunk loop slices contiguous [B*H, C, D] blocks.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def check_shapes(q, k, v, beta=None, g=None, initial_state=None) -> tuple[int, int, int, int, int]:
    """Validate the shared layout and return (B, T, H, K, V); raises ValueError naming the bad tensor."""
    if q.dim() != 4 or k.dim() != 4 or v.dim() != 4:
        raise ValueError(
            f"q, k, v must be 4-D [B, T, H, D]: q {tuple(q.shape)}, k {tuple(k.shape)}, v {tuple(v.shape)}"
        )
    if k.shape != q.shape:
        raise ValueError(f"k must have q's shape [B, T, H, K] = {tuple(q.shape)}; got {tuple(k.shape)}")
    B, T, H, K = q.shape
    if v.shape[:3] != (B, T, H):
        raise ValueError(f"v must be [B, T, H, V] with [B, T, H] = {[B, T, H]}; got {tuple(v.shape)}")
    V = v.shape[-1]
    for name, x in (("beta", beta), ("g", g)):
        if x is not None and tuple(x.shape) != (B, T, H):
            raise ValueError(f"{name} must be [B, T, H] = {[B, T, H]}; got {tuple(x.shape)}")
    if initial_state is not None and tuple(initial_state.shape) != (B, H, K, V):
        raise ValueError(
            f"initial_state must be [B, H, K, V] = {[B, H, K, V]}; got {tuple(initial_state.shape)}"
        )
    return B, T, H, K, V


def initial_state_fp32(initial_state, B, H, K, V, like: torch.Tensor) -> torch.Tensor:
    if initial_state is None:
        return like.new_zeros(B, H, K, V, dtype=torch.float32)
    return initial_state.to(torch.float32)


def to_chunks(x: torch.Tensor, chunk_size: int) -> torch.Tensor:
    """[B, T, H, *D] -> contiguous fp32 [N, B*H, C, *D], zero-padded at the end of T to a multiple of C.

    Zero padding is harmless for every op here: k = v = beta = 0 writes nothing and g = 0 decays nothing,
    so the state after the last chunk is the state after the last real token."""
    B, T, H = x.shape[:3]
    pad = -T % chunk_size
    x = x.float()
    if pad:
        x = F.pad(x, (0, 0) * (x.dim() - 2) + (0, pad))
    N = (T + pad) // chunk_size
    x = x.reshape(B, N, chunk_size, H, *x.shape[3:]).movedim((1, 3), (0, 2))  # (N, B, H, C, *D)
    return x.reshape(N, B * H, chunk_size, *x.shape[4:]).contiguous()  # a view when B == 1: copy anyway


def from_chunks(x: torch.Tensor, B: int, H: int, T: int) -> torch.Tensor:
    """[N, B*H, C, D] -> [B, T, H, D], dropping the padding."""
    N, _, C, D = x.shape
    return x.reshape(N, B, H, C, D).movedim((0, 2), (1, 3)).reshape(B, N * C, H, D)[:, :T]


def chunk_decays(g_chunks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Within-chunk decays from per-token log decays g [..., C] (g <= 0).

    Returns gamma [..., C], the cumulative log decay from the chunk start through token i, and
    D [..., C, C] with D[i, j] = exp(gamma_i - gamma_j) for j <= i and 0 above the diagonal.
    Only differences within one chunk are exponentiated, and the upper triangle (where the difference is
    positive and may be large) is set to -inf before exp, so nothing overflows and gradients stay finite."""
    C = g_chunks.shape[-1]
    gamma = g_chunks.cumsum(-1)
    above = torch.ones(C, C, dtype=torch.bool, device=g_chunks.device).triu(1)
    diff = gamma[..., :, None] - gamma[..., None, :]  # (..., C, C)
    # In place: C x C tensors are the largest here, and neither backward (sub, exp) needs what is overwritten.
    return gamma, diff.masked_fill_(above, float("-inf")).exp_()
