"""A streaming variant of SnapKV (Li et al. 2024, arXiv 2404.14469), not kvpress's one-shot SnapKVPress:
the cache is compressed after every 64-token block (each block the observation window of its own
compression), so a needle must survive every compression, while one-shot SnapKV compresses once after the
prompt and keeps the full KV during prefill (its peak cache is full attention's). Scores as kvpress 0.5.5's
SnapKVPress defines them, with a budget of S + W tokens per KV head (the exact tokens swa and AHN keep).

Scores (kvpress `SnapKVPress.score`): the last n_obs queries (the observation window) attend to the whole
cache (softmax over every key, causal inside the window); their attention to the keys before the window is
averaged over the window's queries, smoothed along the keys by average pooling (kernel 5, stride 1,
padding 2), averaged over the query heads that share a KV head; each KV head keeps its top
budget - n_obs keys, plus the observation window itself. n_obs = min(64, budget // 2) (kvpress: 64; SnapKV
needs the window below the budget). Sinks get no protection beyond their scores, as in SnapKV.

Why streaming: to stay bounded while decoding and to give every query of a teacher-forced forward (the lm
benchmark) a defined cache, this compresses after every block of n_obs tokens, blocks at absolute positions 0,
n_obs, 2 n_obs, ...: each block's queries attend to the cache left by the previous block plus the block's own
tokens (causally), and when the block completes with more than the budget held, the block is the observation
window of a SnapKV compression back to the budget. A whole-sequence forward, chunked prefill and decoding
therefore compute the same thing. A block that will compress keeps its queries (the observation window's, [<=
n_obs, Hq, D]) until it completes.

Costs per layer (matmuls only): attention keys(t) = min(p0, budget) + (t - p0 + 1) for the query t in the
block starting at p0; each compression scores its n_obs queries against everything held,
2 Hq D n_obs (min(p0, budget) + n_obs) FLOPs. Pooling, softmax and top-k are not matmuls.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ahn.attention import _sdpa, attend_to_all
from ahn.cache import MemoryCacheLayer, _grown
from ahn.errors import UserError
from ahn.methods.base import FLOPS_PER_MAC, Method, kv_token_bytes

OBSERVATION_WINDOW = 64  # kvpress SnapKVPress.window_size
KERNEL_SIZE = 5  # kvpress SnapKVPress.kernel_size (average pooling)


def observation_window(spec) -> int:
    return min(OBSERVATION_WINDOW, (spec.sinks + spec.window) // 2)


class SnapKVMethod(Method):
    name = "snapkv"
    label = "snapkv (streaming, 64-token blocks)"  # not kvpress's one-shot SnapKV: see the module docstring
    colour = "#8C564B"
    description = "streaming SnapKV: after every 64-token block keep the block's top keys, budget S + W"

    def validate(self, spec) -> None:
        if spec.sinks + spec.window < 2:
            raise UserError(f"snapkv needs a budget (sinks + window) >= 2, got {spec.sinks + spec.window}")

    def new_layer(self, spec):
        return SnapKVCacheLayer(spec)

    def _held_at_block_start(self, spec, p0: int) -> int:
        return min(p0, spec.sinks + spec.window)

    def _compresses(self, spec, p0: int) -> bool:
        return p0 + observation_window(spec) > spec.sinks + spec.window

    def attended_keys(self, spec, t, shape=None):
        p0 = t - t % observation_window(spec)
        return self._held_at_block_start(spec, p0) + t - p0 + 1

    def attention_pairs(self, spec, t0, t1, shape=None):
        n, total, a = observation_window(spec), 0, t0
        while a < t1:  # block by block: the sum over t in [a, b) of held(p0) + t - p0 + 1
            p0 = a - a % n
            b = min(t1, p0 + n)
            total += (b - a) * (self._held_at_block_start(spec, p0) - p0 + 1) + (a + b - 1) * (b - a) // 2
            a = b
        return total

    def flop_terms(self, spec, shape, t0, t1, paper=False):
        n, scoring = observation_window(spec), 0
        for end in range(t0 - t0 % n + n, t1 + 1, n):  # blocks completed by positions t0..t1-1
            p0 = end - n
            if end > t0 and self._compresses(spec, p0):
                scoring += (
                    FLOPS_PER_MAC
                    * shape.q_heads
                    * shape.head_dim
                    * n
                    * (self._held_at_block_start(spec, p0) + n)
                )
        return {"scoring": scoring}

    def _held(self, spec, length: int) -> tuple[int, int]:
        """(KV tokens, queries) held after `length` tokens."""
        p0 = length - length % observation_window(spec)
        in_block = length - p0
        return self._held_at_block_start(spec, p0) + in_block, in_block if self._compresses(spec, p0) else 0

    def cache_parts(self, spec, shape, length, kv_bytes):
        tokens, queries = self._held(spec, length)
        return {
            "kv": shape.layers * tokens * kv_token_bytes(shape, kv_bytes),
            "observation": shape.layers * queries * shape.q_heads * shape.head_dim * kv_bytes,
        }

    def paper_cache_elements(self, spec, shape, length):
        return 2 * self._held(spec, length)[0] * shape.head_dim * shape.kv_heads

    def cache_cycle(self, spec, shape):
        return spec.sinks + spec.window + observation_window(spec), observation_window(spec)


class SnapKVCacheLayer(MemoryCacheLayer):
    """KV [B, budget + n_obs, Hkv, D]: each KV head's kept keys in position order, then the current block's
    tokens; the current block's queries [B, n_obs, Hq, D] while it is one that will compress."""

    def __init__(self, spec):
        super().__init__(spec)
        self.budget, self.n_obs = spec.sinks + spec.window, observation_window(spec)
        self.held = 0  # KV tokens held (every KV head holds as many)
        self.queries = None
        self.n_queries = 0

    def _held_tokens(self) -> int:
        return self.held

    def process(self, q, k, v, x, memory, scale: float) -> torch.Tensor:
        if self.keys is None:  # heads-first storage, as every cache layer (ahn.cache._grown)
            capacity = self.budget + self.n_obs
            self.keys = _grown(None, k, 0, capacity, capacity)
            self.values = _grown(None, k, 0, capacity, capacity)
            self.queries = q.new_zeros(q.shape[0], self.n_obs, *q.shape[2:])
        P, C = self.seen, q.shape[1]
        outs, a = [], 0
        while a < C:  # pieces that end at the chunk's end or at a block boundary
            b = min(C, a + self.n_obs - (P + a) % self.n_obs)
            outs.append(self._piece(q[:, a:b], k[:, a:b], v[:, a:b], scale))
            a = b
        return outs[0] if len(outs) == 1 else torch.cat(outs, dim=1)

    def _piece(self, q, k, v, scale):
        """Queries at positions seen.. (inside one block) attend to the held cache plus the block so far."""
        P, n = self.seen, q.shape[1]
        in_block = P % self.n_obs  # block tokens already held, at the end of the buffer
        prefix = self.held - in_block  # what the block's queries find from earlier blocks
        self.keys[:, self.held : self.held + n], self.values[:, self.held : self.held + n] = k, v
        self.held += n
        keys, values = self.keys[:, : self.held], self.values[:, : self.held]
        if n == 1:
            out = attend_to_all(q, keys, values, scale)
        else:
            t = torch.arange(in_block, in_block + n, device=q.device)[:, None]  # block index of each query
            j = torch.arange(self.held, device=q.device)[None, :] - prefix
            out = _sdpa(q, keys, values, j <= t, scale)  # (n, held): the prefix, and the block causally
        if P - in_block + self.n_obs > self.budget:  # this block will compress: keep its queries
            self.queries[:, in_block : in_block + n] = q
            self.n_queries = in_block + n
        self.seen = P + n
        if self.seen % self.n_obs == 0 and self.held > self.budget:
            self._compress(scale)
        return out

    def _compress(self, scale: float) -> None:
        """SnapKV: keep each KV head's top (budget - n_obs) earlier keys by the window's attention, and the
        window (the last n_obs tokens held)."""
        B, N, Hkv, D = self.keys.shape[0], self.held, self.keys.shape[2], self.keys.shape[3]
        n, Hq = self.n_obs, self.queries.shape[2]
        groups, prefix = Hq // Hkv, N - n
        q = self.queries.permute(0, 2, 1, 3).reshape(B, Hkv, groups * n, D)  # query head h = g * groups + r
        k = self.keys[:, :N].permute(0, 2, 3, 1)  # (B, Hkv, D, N)
        logits = torch.matmul(q, k).view(B, Hq, n, N).float() * scale
        causal = (
            torch.arange(N, device=q.device)[None, :] - prefix <= torch.arange(n, device=q.device)[:, None]
        )
        probs = logits.masked_fill(~causal, float("-inf")).softmax(dim=-1)
        scores = probs[..., :prefix].mean(dim=2)  # (B, Hq, prefix): the window's mean attention
        scores = F.avg_pool1d(scores, KERNEL_SIZE, stride=1, padding=KERNEL_SIZE // 2)
        scores = scores.view(B, Hkv, groups, prefix).mean(dim=2)  # per KV head
        keep = scores.topk(self.budget - n, dim=-1).indices.sort(dim=-1).values  # (B, Hkv, kept), in order
        index = keep.transpose(1, 2)[..., None].expand(-1, -1, -1, D)  # (B, kept, Hkv, D)
        kept = self.budget - n
        window_k, window_v = self.keys[:, prefix:N].clone(), self.values[:, prefix:N].clone()
        self.keys[:, :kept] = torch.gather(self.keys[:, :prefix], 1, index)
        self.values[:, :kept] = torch.gather(self.values[:, :prefix], 1, index)
        self.keys[:, kept : self.budget], self.values[:, kept : self.budget] = window_k, window_v
        self.held, self.n_queries = self.budget, 0

    def tensors(self) -> list[torch.Tensor]:
        held = [] if self.keys is None else [self.keys[:, : self.held], self.values[:, : self.held]]
        if self.n_queries:
            held.append(self.queries[:, : self.n_queries])
        return held
