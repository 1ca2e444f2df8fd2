"""Compressive Transformer baselines CT-Max and CT-Avg (AHN paper §3.3, Tables 2-3: "implemented with
attention sinks and a compression function of max or average pooling"; Rae et al. 2020).

Sinks + window as swa. A token leaving the window (token j = t - W when query t arrives) joins a pending
group; when a group holds c tokens (the compression rate) their keys and values are pooled -- elementwise
max (ct-max) or mean (ct-avg) over the c tokens, per KV head -- into one compressed entry, appended to a
FIFO of M entries (the oldest entry is dropped when full). Every query attends, in one softmax, to the
sinks, the compressed entries formed so far and its window:
    keys(t) = min(t + 1, S + W) + min(n(t), M),  n(t) = e(t) // c,  e(t) = max(0, t - S - W + 1)
(e(t): tokens evicted up to and including query t's own eviction, as AHN's memory holds them for t).
Choices the paper leaves open, made here:
- c = 4 (the paper's CT uses 4x pooling, spec ahn.md §5); M matched to the AHN memory it is compared
  with: M entries of K and V hold as many elements as one AHN state per layer (paper cache formula, ahn.md
  §3): 2 M D Hkv = D^2 Hq, so M = ceil(Hq D / (2 Hkv)) (SmolLM2-135M: 96; Qwen2.5-3B: 512). Both can be
  set (MethodSpec `compression`, `slots`).
- Keys are pooled post-RoPE, as the cache stores them: a compressed entry has no position of its own.
- A partial group (fewer than c evicted tokens) is held but not attended until it completes: the exact
  part stays exactly swa's, and query t sees precisely n(t) entries.
Costs: pooling is not a matmul (0 FLOPs in the paper's accounting); attention over the compressed entries
is counted in `attention_pairs`. Cache: sinks + window + min(n, M) compressed entries + the pending group
(e mod c tokens), all KV in the model dtype.
"""

from __future__ import annotations

import math

import torch

from ahn.attention import MIN_BLOCK, _sdpa, attend_to_all
from ahn.cache import MemoryCacheLayer, _cat, _grown, _ring_in_order
from ahn.errors import UserError
from ahn.methods.base import Method, capped_triangle, kv_token_bytes

DEFAULT_COMPRESSION = 4


def _pooled_prefix_sum(E: int, c: int, M: int) -> int:
    """sum over 0 <= e < E of min(e // c, M)."""
    cap = M * c  # from e = M c on, the FIFO is full
    q, r = divmod(min(E, cap), c)
    return c * q * (q - 1) // 2 + r * q + max(0, E - cap) * M


class CompressiveMethod(Method):
    options = ("compression", "slots")

    def __init__(self, pool: str):
        if pool not in ("max", "avg"):
            raise ValueError(pool)
        self.pool = pool
        self.name = f"ct-{pool}"
        self.label = f"ct-{pool}"
        self.colour = "#D55E00" if pool == "max" else "#56B4E9"
        self.description = (
            f"sinks + window + a FIFO of evicted tokens {pool}-pooled in groups (Compressive Transformer)"
        )

    def validate(self, spec) -> None:
        for option in self.options:
            value = getattr(spec, option)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
                raise UserError(f"{option} must be an integer >= 1, got {value!r}")

    def rate(self, spec) -> int:
        return spec.compression or DEFAULT_COMPRESSION

    def slots(self, spec, shape) -> int:
        """M, the compressed FIFO's entries: `spec.slots`, else as many elements as one AHN state."""
        if spec.slots:
            return spec.slots
        if shape is None:
            raise ValueError(f"{spec.name}: the matched memory size needs the model's shape")
        return math.ceil(shape.q_heads * shape.head_dim / (2 * shape.kv_heads))

    def settings(self, spec, shape=None) -> dict:
        """c and M as this run uses them (M from the shape unless `spec.slots` sets it)."""
        if not spec.slots and shape is None:
            return {"compression": self.rate(spec)}
        return {"compression": self.rate(spec), "slots": self.slots(spec, shape)}

    def new_layer(self, spec):
        return CompressiveCacheLayer(spec, self)

    # --- costs ----------------------------------------------------------------------------------------
    def _groups(self, spec, shape, t: int) -> int:
        evicted = max(0, t - spec.sinks - spec.window + 1)
        return min(evicted // self.rate(spec), self.slots(spec, shape))

    def attended_keys(self, spec, t, shape=None):
        return min(t + 1, spec.sinks + spec.window) + self._groups(spec, shape, t)

    def attention_pairs(self, spec, t0, t1, shape=None):
        if t1 <= t0:
            return 0
        c, M, edge = self.rate(spec), self.slots(spec, shape), spec.sinks + spec.window - 1
        compressed = _pooled_prefix_sum(max(t1 - edge, 0), c, M) - _pooled_prefix_sum(max(t0 - edge, 0), c, M)
        return capped_triangle(t0, t1, spec.sinks + spec.window) + compressed

    def _held_tokens(self, spec, shape, length: int) -> int:
        S, W, c = spec.sinks, spec.window, self.rate(spec)
        evicted = max(0, length - S - W)
        return min(length, S + W) + min(evicted // c, self.slots(spec, shape)) + evicted % c

    def cache_parts(self, spec, shape, length, kv_bytes):
        return {"kv": shape.layers * self._held_tokens(spec, shape, length) * kv_token_bytes(shape, kv_bytes)}

    def paper_cache_elements(self, spec, shape, length):
        return 2 * self._held_tokens(spec, shape, length) * shape.head_dim * shape.kv_heads

    def cache_cycle(self, spec, shape):
        c = self.rate(spec)
        return spec.sinks + spec.window + self.slots(spec, shape) * c, c


class CompressiveCacheLayer(MemoryCacheLayer):
    """Buffers [B, capacity, Hkv, D]: sinks in slots 0..S-1, the window's ring in S..S+W-1 (as swa), the
    compressed FIFO's ring from S + W (group g in slot S + W + g % M); a pending group [B, c, Hkv, D]."""

    def __init__(self, spec, method: CompressiveMethod):
        super().__init__(spec)
        self.method = method
        self.c = method.rate(spec)
        self.M = spec.slots  # None until the first call tells the head sizes
        self.groups = 0  # compressed entries formed so far (the FIFO holds the last min(groups, M))
        self.pending_k = self.pending_v = None
        self.n_pending = 0

    def reset(self) -> None:
        self.__init__(self.spec, self.method)

    def _held_tokens(self) -> int:
        return min(self.seen, self.spec.sinks + self.spec.window) + min(self.groups, self.M or 0)

    def _evicted(self, t: int) -> int:
        return max(0, t - self.spec.sinks - self.spec.window + 1)

    def _pool(self, x: torch.Tensor) -> torch.Tensor:
        # x [B, n, c, Hkv, D] -> [B, n, Hkv, D]
        return x.amax(dim=2) if self.method.pool == "max" else x.mean(dim=2)

    def _setup(self, q, k):
        if self.M is None:
            shape = type("Shape", (), dict(q_heads=q.shape[2], kv_heads=k.shape[2], head_dim=k.shape[3]))
            self.M = self.method.slots(self.spec, shape)
        if self.pending_k is None:
            self.pending_k = k.new_zeros(k.shape[0], self.c, *k.shape[2:])
            self.pending_v = k.new_zeros(k.shape[0], self.c, *k.shape[2:])

    def _reserve_slots(self, k, groups_after: int, seen_after: int) -> None:
        S, W = self.spec.sinks, self.spec.window
        used, needed = self._held_tokens(), min(seen_after, S + W) + min(groups_after, self.M)
        self.keys = _grown(self.keys, k, used, needed, S + W + self.M)
        self.values = _grown(self.values, k, used, needed, S + W + self.M)

    def process(self, q, k, v, x, memory, scale: float) -> torch.Tensor:
        self._setup(q, k)
        return self._decode_one(q, k, v, scale) if q.shape[1] == 1 else self._process_chunk(q, k, v, scale)

    def _decode_one(self, q, k, v, scale):
        S, W, P = self.spec.sinks, self.spec.window, self.seen
        slot = P if P < S else S + (P - S) % W
        groups_after = self._evicted(P) // self.c
        self._reserve_slots(k, groups_after, P + 1)
        if P >= S + W:  # token P - W leaves its slot for the pending group
            self.pending_k[:, self.n_pending] = self.keys[:, slot]
            self.pending_v[:, self.n_pending] = self.values[:, slot]
            self.n_pending += 1
            if self.n_pending == self.c:
                fifo = S + W + self.groups % self.M
                self.keys[:, fifo] = self._pool(self.pending_k[:, None])[:, 0]
                self.values[:, fifo] = self._pool(self.pending_v[:, None])[:, 0]
                self.groups, self.n_pending = self.groups + 1, 0
        self.keys[:, slot], self.values[:, slot] = k[:, 0], v[:, 0]
        self.seen = P + 1
        held = self._held_tokens()  # sinks, the window's ring and the FIFO: all visible, contiguous
        return attend_to_all(q, self.keys[:, :held], self.values[:, :held], scale)

    def _process_chunk(self, q, k, v, scale):
        spec, P, C, c, M = self.spec, self.seen, q.shape[1], self.c, self.M
        S, W = spec.sinks, spec.window
        n_sink_new = min(max(S - P, 0), C)
        held_stream = min(W, max(P - S, 0))
        stream_pos0 = P + n_sink_new - held_stream
        held_k = held_v = None
        if held_stream:
            first = P - held_stream - S
            held_k = _ring_in_order(self.keys, S, W, first, held_stream)
            held_v = _ring_in_order(self.values, S, W, first, held_stream)
        stream_k, stream_v = _cat(held_k, k[:, n_sink_new:]), _cat(held_v, v[:, n_sink_new:])
        held_sinks = min(P, S)
        sink_k = _cat(None if not held_sinks else self.keys[:, :held_sinks], k[:, :n_sink_new])
        sink_v = _cat(None if not held_sinks else self.values[:, :held_sinks], v[:, :n_sink_new])

        # Tokens evicted by this chunk's queries join the pending group; complete groups are pooled.
        e0, e1 = self._evicted(P - 1) if P else 0, self._evicted(P + C - 1)
        i0, i1 = S + e0 - stream_pos0, S + e1 - stream_pos0  # as stream indices
        group_k = torch.cat([self.pending_k[:, : self.n_pending], stream_k[:, i0:i1]], dim=1)
        group_v = torch.cat([self.pending_v[:, : self.n_pending], stream_v[:, i0:i1]], dim=1)
        n_new = group_k.shape[1] // c
        B, H, D = k.shape[0], k.shape[2], k.shape[3]
        new_k = self._pool(group_k[:, : n_new * c].reshape(B, n_new, c, H, D))  # (B, n_new, Hkv, D)
        new_v = self._pool(group_v[:, : n_new * c].reshape(B, n_new, c, H, D))
        g_lo = max(0, self.groups - M)  # oldest entry still in the FIFO
        old_k = _ring_in_order(self.keys, S + W, M, g_lo, self.groups - g_lo) if self.groups else None
        old_v = _ring_in_order(self.values, S + W, M, g_lo, self.groups - g_lo) if self.groups else None
        comp_k, comp_v = _cat(old_k, new_k), _cat(old_v, new_v)  # groups g_lo .. g_lo + len - 1

        out = self._attend(q, P, sink_k, sink_v, comp_k, comp_v, g_lo, stream_k, stream_v, stream_pos0, scale)

        # Written only now: the attention above may have read the buffers.
        groups_after = self.groups + n_new
        self._reserve_slots(k, groups_after, P + C)
        if n_sink_new:
            self.keys[:, P : P + n_sink_new] = k[:, :n_sink_new]
            self.values[:, P : P + n_sink_new] = v[:, :n_sink_new]
        keep = min(W, stream_k.shape[1])
        if keep:
            ring = S + (torch.arange(P + C - keep, P + C, device=k.device) - S) % W
            self.keys.index_copy_(1, ring, stream_k[:, -keep:])
            self.values.index_copy_(1, ring, stream_v[:, -keep:])
        kept = min(M, n_new)  # the newest groups, each to its FIFO slot
        if kept:
            fifo = S + W + torch.arange(groups_after - kept, groups_after, device=k.device) % M
            self.keys.index_copy_(1, fifo, new_k[:, -kept:])
            self.values.index_copy_(1, fifo, new_v[:, -kept:])
        rest = group_k.shape[1] - n_new * c
        self.pending_k[:, :rest], self.pending_v[:, :rest] = group_k[:, n_new * c :], group_v[:, n_new * c :]
        self.groups, self.n_pending, self.seen = groups_after, rest, P + C
        return out

    def _attend(self, q, q_pos0, sink_k, sink_v, comp_k, comp_v, g0, k, v, k_pos0, scale, block=None):
        """Blocked attention of queries q_pos0.. over the sinks (causal), the compressed entries g0.. that
        each query has (g in [n(t) - M, n(t))) and its window of the stream k (positions k_pos0..)."""
        S, W, c, M, C = self.spec.sinks, self.spec.window, self.c, self.M, q.shape[1]
        block = min(C, max(W, MIN_BLOCK)) if block is None else block
        n_sinks = sink_k.shape[1]
        out = torch.empty_like(q)
        for b0 in range(0, C, block):
            t0, t1 = q_pos0 + b0, q_pos0 + min(b0 + block, C)  # query positions [t0, t1)
            ga = max(0, self._evicted(t0) // c - M) - g0  # compressed entries any query here can see
            gb = self._evicted(t1 - 1) // c - g0
            lo = max(k_pos0, t0 - W + 1)
            hi = max(lo, t1)
            keys = torch.cat([sink_k, comp_k[:, ga:gb], k[:, lo - k_pos0 : hi - k_pos0]], dim=1)
            values = torch.cat([sink_v, comp_v[:, ga:gb], v[:, lo - k_pos0 : hi - k_pos0]], dim=1)
            t = torch.arange(t0, t1, device=q.device)[:, None]
            n_t = (t - S - W + 1).clamp(min=0) // c  # entries formed by query t
            g = torch.arange(g0 + ga, g0 + gb, device=q.device)[None, :]
            j = torch.arange(lo, hi, device=q.device)[None, :]
            mask = torch.cat(
                [
                    torch.arange(n_sinks, device=q.device)[None, :] <= t,
                    (g < n_t) & (g >= n_t - M),
                    (j <= t) & (j > t - W),
                ],
                dim=1,
            )  # (block, sinks + entries + keys in reach)
            out[:, b0 : b0 + (t1 - t0)] = _sdpa(q[:, b0 : b0 + (t1 - t0)], keys, values, mask, scale)
        return out

    def tensors(self) -> list[torch.Tensor]:
        held = super().tensors()  # sinks, window and FIFO entries (CT holds no write scalars or state)
        if self.n_pending:
            held += [self.pending_k[:, : self.n_pending], self.pending_v[:, : self.n_pending]]
        return held
