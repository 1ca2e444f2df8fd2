"""Full causal attention: every token's KV is kept, nothing ever leaves (the teacher and the upper bound)."""

from __future__ import annotations

from ahn.methods.base import Method, capped_triangle, kv_token_bytes


class FullMethod(Method):
    name = label = "full"
    colour = "#000000"
    description = "full causal attention (the teacher and the upper bound)"
    windowed = False

    @property
    def equals_base_model(self) -> bool:
        return True

    def new_layer(self, spec):
        from ahn.cache import FullCacheLayer

        return FullCacheLayer(spec)

    def exact_tokens(self, spec) -> None:
        return None

    def attended_keys(self, spec, t: int, shape=None) -> int:
        return t + 1

    def attention_pairs(self, spec, t0: int, t1: int, shape=None) -> int:
        return capped_triangle(t0, t1, None)

    def cache_parts(self, spec, shape, length: int, kv_bytes: int) -> dict[str, int]:
        return {"kv": shape.layers * length * kv_token_bytes(shape, kv_bytes)}

    def paper_cache_elements(self, spec, shape, length: int) -> int:
        return 2 * length * shape.head_dim * shape.kv_heads

    def cache_cycle(self, spec, shape):
        raise ValueError("full attention's cache grows with every token")
