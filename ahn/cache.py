"""A cache that does not grow: attention sinks + the last W tokens' KV, plus the AHN state per layer.

`MemoryCacheLayer.process` is the whole per-layer algorithm for a chunk of new tokens (whole-sequence
forwards run it on a throwaway layer, so training and streaming share one code path):
  1. compute the new tokens' write scalars (kept until each token is evicted),
  2. attend: full causal, or sinks + window (ahn.attention),
  3. write every token evicted during the chunk into the AHN state, reading with the query that evicted it,
  4. keep what later queries need, written in place into preallocated buffers.
Between calls a windowed layer holds the sinks' KV, the last W tokens' KV and write scalars (the next
query attends to W-1 of them and evicts the oldest), and the state [B, H, D, D]. The W tokens live in a
ring: decoding one token writes one slot per layer and attends to the buffer in place, so nothing of
size W is copied per token (the old concatenate-and-slice cost ~2.4 GB per token at the paper's
W = 32640 on Qwen2.5-3B). `full` keeps every token in a buffer that grows by GROWTH_TOKENS at a time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from transformers.cache_utils import Cache, CacheLayerMixin

from ahn.attention import attend_to_all, full_attention, sink_window_attention

if TYPE_CHECKING:  # ahn.methods imports the layers below from here
    from ahn.methods import MethodSpec


def _cat(held: torch.Tensor | None, new: torch.Tensor) -> torch.Tensor:
    return new if held is None else torch.cat([held, new], dim=1)


GROWTH_TOKENS = 256  # a buffer grows by whole blocks: one copy per 256 tokens, not one per token


def _repeat_heads(t: torch.Tensor, groups: int) -> torch.Tensor:
    # KV head g serves query heads g*groups .. (g+1)*groups-1, as HF's repeat_kv.
    return t if groups == 1 else t.repeat_interleave(groups, dim=2)


def _grown(buffer: torch.Tensor | None, like: torch.Tensor, used: int, needed: int, limit: int | None):
    """`buffer` [B, capacity, ...] with room for `needed` tokens (at most `limit`), its first `used` kept."""
    capacity = 0 if buffer is None else buffer.shape[1]
    if needed <= capacity:
        return buffer
    capacity = -(-needed // GROWTH_TOKENS) * GROWTH_TOKENS
    capacity = capacity if limit is None else min(capacity, limit)
    # Heads-first storage seen as [B, capacity, H, D]: a slice of the first n slots is then, per head, one
    # contiguous run of n x D, the layout SDPA reads fastest (a decode step over 8192 fp32 keys: 5.8 ms
    # token-major vs 1.2 ms heads-first per layer, 1 thread); every index below stays on dim 1.
    B, _, H, D = like.shape
    grown = like.new_empty_strided((B, capacity, H, D), (H * capacity * D, D, capacity * D, 1)).zero_()
    if used:
        grown[:, :used] = buffer[:, :used]
    return grown


def _ring_in_order(ring: torch.Tensor, offset: int, size: int, first: int, n: int) -> torch.Tensor:
    """The n entries of the ring ring[:, offset : offset + size] starting at ring index `first`, oldest
    first: a view unless they wrap past the ring's end (then one copy of n tokens)."""
    start = offset + first % size
    if first % size + n <= size:
        return ring[:, start : start + n]
    return torch.cat([ring[:, start : offset + size], ring[:, offset : offset + (first + n) % size]], dim=1)


class MemoryCacheLayer(CacheLayerMixin):
    """The sinks + ring-window layer of swa and AHN (`memory` given); other methods subclass it
    (ahn/methods/): the method's `new_layer` says which layer runs it."""

    def __init__(self, spec: MethodSpec):
        super().__init__()
        self.spec = spec
        self.seen = 0  # tokens processed so far (the next token's position)
        # KV [B, capacity, Hkv, D], written in place: sinks p < S in slot p, then a ring of W slots: position
        # p >= S in S + (p - S) % W, so the token a query evicts (p - W) sits in exactly the slot the query's
        # own token takes.
        self.keys = self.values = None
        self.writes = None  # [B, <=W, Hq, n_write] ring of write scalars: position p >= S at (p - S) % W
        self.state = None  # [B, Hq, D, D] fp32

    def _held_tokens(self) -> int:
        return min(self.seen, self.spec.sinks + self.spec.window)

    def _held_stream(self, seen: int) -> int:
        return min(self.spec.window, max(seen - self.spec.sinks, 0))

    def _reserve(self, k, n_write_like, tokens_after: int) -> None:
        spec, used = self.spec, self._held_tokens()
        limit = spec.sinks + spec.window
        self.keys = _grown(self.keys, k, used, tokens_after, limit)
        self.values = _grown(self.values, k, used, tokens_after, limit)
        if n_write_like is not None:
            stream_after = self._held_stream(self.seen + k.shape[1])
            if stream_after:
                self.writes = _grown(
                    self.writes, n_write_like, self._held_stream(self.seen), stream_after, spec.window
                )

    # --- the algorithm ---------------------------------------------------------------------------
    def process(self, q, k, v, x, memory, scale: float) -> torch.Tensor:
        """New tokens' q [B, C, Hq, D], post-RoPE k, v [B, C, Hkv, D], normed hidden x [B, C, hidden]
        -> attention + memory output [B, C, Hq, D] (before the layer's o_proj)."""
        if q.shape[1] == 1:
            return self._decode_one(q, k, v, x, memory, scale)
        return self._process_chunk(q, k, v, x, memory, scale)

    def _decode_one(self, q, k, v, x, memory, scale: float) -> torch.Tensor:
        """One token at position P: evict token P - W from its slot into the memory, write the new token in
        that same slot, attend to every held slot in place (all are within the window)."""
        S, W, P = self.spec.sinks, self.spec.window, self.seen
        slot = P if P < S else S + (P - S) % W
        write = None if memory is None or P < S else memory.write_scalars(x)  # (B, 1, Hq, n_write)
        self._reserve(k, write, min(P + 1, S + W))
        read = None
        if memory is not None and P >= S + W:  # token P - W leaves: write it while its slot still holds it
            groups = q.shape[2] // k.shape[2]
            read, self.state = memory(
                q,
                _repeat_heads(self.keys[:, slot : slot + 1], groups),
                _repeat_heads(self.values[:, slot : slot + 1], groups),
                x_read=x,
                write=self.writes[:, slot - S : slot - S + 1],
                state=self.state,
            )
        self.keys[:, slot], self.values[:, slot] = k[:, 0], v[:, 0]
        if write is not None:
            self.writes[:, slot - S] = write[:, 0]
        self.seen, held = P + 1, min(P + 1, S + W)
        out = attend_to_all(q, self.keys[:, :held], self.values[:, :held], scale)
        return out if read is None else out.add_(read.to(out.dtype))

    def _process_chunk(self, q, k, v, x, memory, scale: float) -> torch.Tensor:
        spec, P, C = self.spec, self.seen, q.shape[1]
        S, W = spec.sinks, spec.window
        n_sink_new = min(max(S - P, 0), C)  # how many of the new tokens are sinks
        held_stream = self._held_stream(P)  # positions P - held_stream .. P - 1, in ring order
        stream_pos0 = P + n_sink_new - held_stream
        new_write = None if memory is None else memory.write_scalars(x[:, n_sink_new:])
        held_k = held_v = held_write = None
        if held_stream:  # oldest first; the ring is overwritten below, so this must be a copy by then
            first = P - held_stream - S
            held_k = _ring_in_order(self.keys, S, W, first, held_stream)
            held_v = _ring_in_order(self.values, S, W, first, held_stream)
            if memory is not None:
                held_write = _ring_in_order(self.writes, 0, W, first, held_stream)
        stream_k, stream_v = _cat(held_k, k[:, n_sink_new:]), _cat(held_v, v[:, n_sink_new:])
        stream_write = None if memory is None else _cat(held_write, new_write)

        held_sinks = min(P, S)
        sink_k = _cat(None if not held_sinks else self.keys[:, :held_sinks], k[:, :n_sink_new])
        sink_v = _cat(None if not held_sinks else self.values[:, :held_sinks], v[:, :n_sink_new])
        out = sink_window_attention(q, P, sink_k, sink_v, stream_k, stream_v, stream_pos0, W, scale)

        if memory is not None:
            first_reader = max(S + W, P)  # queries t >= S+W each evict (and write) token t-W
            if first_reader < P + C:
                j0, j1 = first_reader - W - stream_pos0, P + C - W - stream_pos0  # evicted, as stream idx
                groups = q.shape[2] // k.shape[2]
                read, self.state = memory(
                    q[:, first_reader - P :],
                    _repeat_heads(stream_k[:, j0:j1], groups),
                    _repeat_heads(stream_v[:, j0:j1], groups),
                    x_read=x[:, first_reader - P :],
                    write=stream_write[:, j0:j1],
                    state=self.state,
                )
                out[:, first_reader - P :] += read.to(out.dtype)

        # Written only now: the attention above may have read the buffers (and autograd saved them).
        self._reserve(k, new_write, min(P + C, S + W))
        if n_sink_new:
            self.keys[:, P : P + n_sink_new] = k[:, :n_sink_new]
            self.values[:, P : P + n_sink_new] = v[:, :n_sink_new]
        keep = min(W, stream_k.shape[1])  # the last W stream tokens, each to its own ring slot
        if keep:
            positions = torch.arange(P + C - keep, P + C, device=k.device)
            ring_index = (positions - S) % W
            self.keys.index_copy_(1, S + ring_index, stream_k[:, -keep:])
            self.values.index_copy_(1, S + ring_index, stream_v[:, -keep:])
            if memory is not None:
                self.writes.index_copy_(1, ring_index, stream_write[:, -keep:])
        self.seen = P + C
        return out

    # --- what the cache holds ----------------------------------------------------------------------
    def tensors(self) -> list[torch.Tensor]:
        """Views of the slots holding tokens (the buffers behind them may have room for more)."""
        held = []
        if self.keys is not None:
            n = self._held_tokens()
            held += [self.keys[:, :n], self.values[:, :n]]
        if self.writes is not None:
            held.append(self.writes[:, : self._held_stream(self.seen)])
        if self.state is not None:
            held.append(self.state)
        return held

    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in self.tensors())

    # --- transformers' CacheLayerMixin interface ---------------------------------------------------
    def lazy_initialization(self, key_states, value_states) -> None:
        self.is_initialized = True

    def update(self, key_states, value_states, *args, **kwargs):
        raise NotImplementedError("MemoryCache is written by the attached method's attention, not update()")

    def get_seq_length(self) -> int:
        return self.seen

    def get_mask_sizes(self, query_length: int) -> tuple[int, int]:
        return self.seen + query_length, 0

    def get_max_length(self) -> int:
        return -1

    def reset(self) -> None:
        self.__init__(self.spec)


class FullCacheLayer(MemoryCacheLayer):
    """Full attention: position p in slot p of a buffer that grows by GROWTH_TOKENS at a time."""

    def _held_tokens(self) -> int:
        return self.seen

    def _reserve(self, k, n_write_like, tokens_after: int) -> None:
        self.keys = _grown(self.keys, k, self.seen, tokens_after, None)
        self.values = _grown(self.values, k, self.seen, tokens_after, None)

    def process(self, q, k, v, x, memory, scale: float) -> torch.Tensor:
        P, C = self.seen, q.shape[1]
        self._reserve(k, None, P + C)
        self.keys[:, P : P + C], self.values[:, P : P + C] = k, v
        self.seen = P + C
        return full_attention(q, self.keys[:, : P + C], self.values[:, : P + C], P, scale)


class MemoryCache(Cache):
    """One cache layer per decoder layer (the method's own kind); pass it as `cache=` to the model or to
    `generate`."""

    def __init__(self, spec: MethodSpec, num_layers: int):
        super().__init__(layers=[spec.method.new_layer(spec) for _ in range(num_layers)])
        self.spec = spec

    def nbytes(self) -> int:
        """Bytes of every tensor the cache holds (KV, write scalars, AHN states)."""
        return sum(layer.nbytes() for layer in self.layers)
