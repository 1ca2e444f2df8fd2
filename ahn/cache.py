"""A cache that does not grow: attention sinks + the last W tokens' KV, plus the AHN state per layer.

`MemoryCacheLayer.process` is the whole per-layer algorithm for a chunk of new tokens (whole-sequence
forwards run it on a throwaway layer, so training and streaming share one code path):
  1. compute the new tokens' write scalars (kept until each token is evicted),
  2. attend: full causal, or sinks + window (ahn.attention),
  3. write every token evicted during the chunk into the AHN state, reading with the query that evicted it,
  4. drop what no later query needs.
Between calls a windowed layer holds the sinks' KV, the last W tokens' KV and write scalars (the next
query attends to W-1 of them and evicts the oldest), and the state [B, H, D, D].
"""

from __future__ import annotations

import torch
from transformers.cache_utils import Cache, CacheLayerMixin

from ahn.attention import full_attention, sink_window_attention
from ahn.methods import MethodSpec


def _cat(held: torch.Tensor | None, new: torch.Tensor) -> torch.Tensor:
    return new if held is None else torch.cat([held, new], dim=1)


def _owned(t: torch.Tensor | None) -> torch.Tensor | None:
    """`t` in storage of its own: a slice would keep the whole chunk it came from alive."""
    if t is None or t.untyped_storage().nbytes() == t.numel() * t.element_size():
        return t
    return t.clone()


def _repeat_heads(t: torch.Tensor, groups: int) -> torch.Tensor:
    # KV head g serves query heads g*groups .. (g+1)*groups-1, as HF's repeat_kv.
    return t if groups == 1 else t.repeat_interleave(groups, dim=2)


class MemoryCacheLayer(CacheLayerMixin):
    def __init__(self, spec: MethodSpec):
        super().__init__()
        self.spec = spec
        self.seen = 0  # tokens processed so far (the next token's position)
        self.sink_k = self.sink_v = None  # [B, <=S, Hkv, D]
        self.stream_k = self.stream_v = None  # [B, <=W (all, for full), Hkv, D], positions end at seen-1
        self.stream_write = None  # [B, <=W, Hq, n_write] write scalars of the windowed tokens
        self.state = None  # [B, Hq, D, D] fp32

    # --- the algorithm ---------------------------------------------------------------------------
    def process(self, q, k, v, x, memory, scale: float) -> torch.Tensor:
        """New tokens' q [B, C, Hq, D], post-RoPE k, v [B, C, Hkv, D], normed hidden x [B, C, hidden]
        -> attention + memory output [B, C, Hq, D] (before the layer's o_proj)."""
        spec, P, C = self.spec, self.seen, q.shape[1]
        if not spec.windowed:
            self.stream_k, self.stream_v = _cat(self.stream_k, k), _cat(self.stream_v, v)
            self.seen = P + C
            return full_attention(q, self.stream_k, self.stream_v, P, scale)

        S, W = spec.sinks, spec.window
        n_sink_new = min(max(S - P, 0), C)  # how many of the new tokens are sinks
        if n_sink_new:
            self.sink_k = _owned(_cat(self.sink_k, k[:, :n_sink_new]))
            self.sink_v = _owned(_cat(self.sink_v, v[:, :n_sink_new]))
        stream_pos0 = P + n_sink_new - (0 if self.stream_k is None else self.stream_k.shape[1])
        stream_k = _cat(self.stream_k, k[:, n_sink_new:])
        stream_v = _cat(self.stream_v, v[:, n_sink_new:])
        sink_k = self.sink_k if self.sink_k is not None else k[:, :0]
        sink_v = self.sink_v if self.sink_v is not None else v[:, :0]

        out = sink_window_attention(q, P, sink_k, sink_v, stream_k, stream_v, stream_pos0, W, scale)

        stream_write = None
        if memory is not None:
            stream_write = _cat(self.stream_write, memory.write_scalars(x[:, n_sink_new:]))
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

        self.seen = P + C
        self.stream_k, self.stream_v = _owned(stream_k[:, -W:]), _owned(stream_v[:, -W:])
        self.stream_write = None if stream_write is None else _owned(stream_write[:, -W:])
        return out

    # --- what the cache holds ----------------------------------------------------------------------
    def tensors(self) -> list[torch.Tensor]:
        held = [self.sink_k, self.sink_v, self.stream_k, self.stream_v, self.stream_write, self.state]
        return [t for t in held if t is not None]

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


class MemoryCache(Cache):
    """One MemoryCacheLayer per decoder layer; pass it as `cache=` to the model or to `generate`."""

    def __init__(self, spec: MethodSpec, num_layers: int):
        super().__init__(layers=[MemoryCacheLayer(spec) for _ in range(num_layers)])
        self.spec = spec

    def nbytes(self) -> int:
        """Bytes of every tensor the cache holds (KV, write scalars, AHN states)."""
        return sum(layer.nbytes() for layer in self.layers)
