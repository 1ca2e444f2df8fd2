"""Exact attention over what a method keeps: causal full attention, or attention sinks + sliding window.

The windowed path is blocked: queries go in blocks of `block` tokens and each block attends only to the
sinks and the keys its window can reach (at most window + block - 1 of them), so prefill costs
O(L x (S + W)) time and memory, never a masked L x L matrix.

Layout: q [B, C, Hq, D]; k, v [B, N, Hkv, D] (grouped-query heads are expanded inside SDPA).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

MIN_BLOCK = 64


def _sdpa(q, k, v, mask, scale, is_causal=False):
    # SDPA wants heads before time: (B, H, T, D).
    out = F.scaled_dot_product_attention(
        q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2),
        attn_mask=mask, is_causal=is_causal, scale=scale, enable_gqa=q.shape[2] != k.shape[2],
    )  # fmt: skip
    return out.transpose(1, 2)


def attend_to_all(q, k, v, scale: float) -> torch.Tensor:
    """Queries that may see every key (one decoded token over what its cache holds): no mask.

    With no mask the query heads sharing a KV head can be handed to SDPA as extra queries of that head,
    [B, Hkv, C * groups, D], instead of through enable_gqa: one pass over each KV head rather than one per
    query head. On CPU that is 4-7x faster for a bf16 decode step (measured with torch 2.13: 0.71 -> 0.16 ms
    at 544 keys, 15 -> 2 ms at 8192, 1 thread) and never slower in fp32."""
    B, C, Hq, D = q.shape
    Hkv = k.shape[2]
    if Hq == Hkv:
        return _sdpa(q, k, v, None, scale)
    groups = Hq // Hkv  # query head h reads KV head h // groups (HF's repeat_kv order)
    grouped = q.reshape(B, C, Hkv, groups, D).permute(0, 2, 1, 3, 4).reshape(B, Hkv, C * groups, D)
    out = F.scaled_dot_product_attention(grouped, k.transpose(1, 2), v.transpose(1, 2), scale=scale)
    return out.reshape(B, Hkv, C, groups, D).permute(0, 2, 1, 3, 4).reshape(B, C, Hq, D)


def full_attention(q, k, v, q_pos0: int, scale: float) -> torch.Tensor:
    """Causal attention of queries at positions q_pos0.. over keys at positions 0..N-1."""
    C, N = q.shape[1], k.shape[1]
    if q_pos0 == 0 and C == N:
        return _sdpa(q, k, v, None, scale, is_causal=True)
    if q_pos0 + C == N and C == 1:  # one new token sees every key
        return attend_to_all(q, k, v, scale)
    q_pos = torch.arange(q_pos0, q_pos0 + C, device=q.device)
    mask = torch.arange(N, device=q.device)[None, :] <= q_pos[:, None]  # (C, N)
    return _sdpa(q, k, v, mask, scale)


def sink_window_attention(
    q: torch.Tensor,
    q_pos0: int,
    sink_k: torch.Tensor,
    sink_v: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    k_pos0: int,
    window: int,
    scale: float,
    block: int | None = None,
) -> torch.Tensor:
    """Queries at positions q_pos0..q_pos0+C-1 attend to the sinks (positions 0..S'-1, causally) and to
    the keys at positions t-W < j <= t from the contiguous stream k (positions k_pos0..k_pos0+N-1).
    The stream must not overlap the sinks and must start at or before q_pos0 - W + 1 (or at the sinks'
    end)."""
    C = q.shape[1]
    block = min(C, max(window, MIN_BLOCK)) if block is None else block
    n_sinks = sink_k.shape[1]
    out = torch.empty_like(q)
    for b0 in range(0, C, block):
        t0, t1 = q_pos0 + b0, q_pos0 + min(b0 + block, C)  # query positions [t0, t1)
        lo = max(k_pos0, t0 - window + 1)
        hi = max(lo, t1)  # stream keys in reach: positions [lo, hi); none while queries are still sinks
        keys = torch.cat([sink_k, k[:, lo - k_pos0 : hi - k_pos0]], dim=1)
        values = torch.cat([sink_v, v[:, lo - k_pos0 : hi - k_pos0]], dim=1)
        t = torch.arange(t0, t1, device=q.device)[:, None]
        j = torch.cat([torch.arange(n_sinks), torch.arange(lo, hi)]).to(q.device)[None, :]
        is_sink = torch.arange(j.shape[1], device=q.device)[None, :] < n_sinks
        mask = (j <= t) & (is_sink | (j > t - window))  # (block, S' + keys in reach)
        out[:, b0 : b0 + (t1 - t0)] = _sdpa(q[:, b0 : b0 + (t1 - t0)], keys, values, mask, scale)
    return out
