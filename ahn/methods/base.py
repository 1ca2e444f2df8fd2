"""What every method is: a policy for what its exact KV keeps, what happens to a token that leaves it, and
the analytic cost of both. One subclass per family (full.py, window.py, ahn.py, compressive.py,
snapkv.py); the registry in `ahn/methods/__init__.py` maps names to instances.

Conventions shared by the attention, the caches and every cost formula (AHN paper Eq. 3-6):
- `sinks` S: tokens at positions 0..S-1 stay in exact KV forever (attention sinks, Xiao et al. 2024).
- `window` W: a query at position t attends exactly to keys t-W < j <= t (itself included) plus the sinks.
- A token j >= S leaves the window when the query t = j + W arrives; that query is the first to see it in
  whatever form the method keeps it (AHN memory, compressed FIFO) -- or never again (swa).
So when T <= S + W nothing ever leaves and every method equals full attention.

The cost hooks take a `shape`: anything with `layers, hidden, q_heads, kv_heads, head_dim` (in practice
benchmarks.efficiency.shapes.ModelShape; ahn does not import benchmarks).
"""

from __future__ import annotations

FLOPS_PER_MAC = 2


class Method:
    name: str = ""
    label: str = ""  # how tables and figures name it
    colour: str = "#7F7F7F"  # plots (Okabe-Ito where the palette has room)
    description: str = ""
    windowed: bool = True  # takes a window and sinks (for snapkv: its budget)
    memory: str | None = None  # key into ahn.memory.MEMORIES: a trainable AHN module per layer
    options: tuple[str, ...] = ()  # MethodSpec fields beyond window/sinks that this method reads

    @property
    def trainable(self) -> bool:
        """Whether attaching it adds parameters (that `ahn-bench distill` trains)."""
        return self.memory is not None

    @property
    def bounded(self) -> bool:
        """Whether its cache stops growing with the length."""
        return self.windowed

    @property
    def equals_base_model(self) -> bool:
        """Whether attached it computes exactly what the unpatched model computes (harnesses may skip it)."""
        return False

    # --- configuration ----------------------------------------------------------------------------
    def validate(self, spec) -> None:
        """Method-specific checks of a MethodSpec (window and sinks are checked by MethodSpec)."""

    def settings(self, spec, shape=None) -> dict:
        """The method's effective settings beyond window and sinks, for result rows' `extra` (shape: as the
        cost hooks take; None where the model's shape is unknown)."""
        return {}

    # --- the computation --------------------------------------------------------------------------
    def new_layer(self, spec):
        """An empty per-layer cache (a transformers CacheLayerMixin) that runs this method."""
        from ahn.cache import MemoryCacheLayer  # the sinks + ring-window layer (swa, AHN)

        return MemoryCacheLayer(spec)

    def build_memory(self, config, attn):
        """The module added to a decoder layer's attention as `self_attn.ahn` (None: nothing trainable)."""
        return None

    # --- analytic costs (benchmarks/efficiency/flops.py and memory.py ask these) -----------------------
    def exact_tokens(self, spec) -> int | None:
        """Exact KV tokens a query sees at most (None: all of them)."""
        return spec.sinks + spec.window

    def attended_keys(self, spec, t: int, shape=None) -> int:
        """Keys (exact or compressed) the query at position t attends to, itself included."""
        return min(t + 1, self.exact_tokens(spec))

    def attention_pairs(self, spec, t0: int, t1: int, shape=None) -> int:
        """Sum of attended_keys(t) over t0 <= t < t1, in closed form (exact integers at 128k)."""
        return capped_triangle(t0, t1, self.exact_tokens(spec))

    def flop_terms(self, spec, shape, t0: int, t1: int, paper: bool = False) -> dict[str, int]:
        """Matmul FLOPs per layer beyond projections, MLP and attention, for positions t0..t1-1, keyed by
        FlopBreakdown field. `paper`: the paper's accounting (Table 9: weights applied at every position)."""
        return {}

    def cache_parts(self, spec, shape, length: int, kv_bytes: int) -> dict[str, int]:
        """Bytes the cache holds after `length` tokens (batch 1), keyed by CacheBreakdown field."""
        held = min(length, spec.sinks + spec.window)
        return {"kv": shape.layers * held * kv_token_bytes(shape, kv_bytes)}

    def paper_cache_elements(self, spec, shape, length: int) -> int:
        """Per layer, the paper's formula (spec ahn.md §3): 2 x kept tokens x D x Hkv (+ D^2 Hq with AHN)."""
        return 2 * min(length, spec.sinks + spec.window) * shape.head_dim * shape.kv_heads

    def cache_cycle(self, spec, shape) -> tuple[int, int]:
        """(L0, period): from L0 tokens on, the cache holds as many bytes at L as at L + period."""
        return spec.sinks + spec.window + 1, 1


def kv_token_bytes(shape, kv_bytes: int) -> int:
    """K and V of one token in one layer."""
    return 2 * shape.kv_heads * shape.head_dim * kv_bytes


def capped_triangle(t0: int, t1: int, cap: int | None) -> int:
    """sum over t0 <= t < t1 of min(t + 1, cap) (cap None: t + 1)."""
    if t1 <= t0:
        return 0
    cap = t1 if cap is None else cap
    m = min(max(cap, t0), t1)  # queries below m attend to t + 1 keys, the rest to cap
    return (m * (m + 1) - t0 * (t0 + 1)) // 2 + (t1 - m) * cap


def count_from(start: int, t0: int, t1: int) -> int:
    """How many positions t0 <= t < t1 are >= start."""
    return max(0, t1 - max(t0, start))
