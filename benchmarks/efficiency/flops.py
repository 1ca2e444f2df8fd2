"""Analytic FLOPs, as the AHN paper counts them: matmuls only (spec ahn.md §3, paper Table 9).

A multiply-add is 2 FLOPs. Softmax, norms, RoPE rotations, activations, gates' nonlinearities and the
elementwise state decay are not counted. Per decoder layer and token (hidden d, MLP width f, q/KV heads
Hq/Hkv of dim D, vocab V):

    projections  2 d (2 Hq D + 2 Hkv D)        q, k, v, o
    mlp          2 * 3 d f                      gate, up, down
    attention    4 Hq D * keys(t)               q k^T and p v over the keys query t attends to
    lm_head      2 d V                          per position whose logits are computed

keys(t) is exact per query (ahn.methods conventions): t + 1 for full attention, min(t + 1, S + W) with
S sinks and a W window. The blocked kernel in ahn.attention computes more: each block of queries scores
every key its block can reach, up to block - 1 masked keys per query. Those masked products are work,
not attention, so the analytic count leaves them out; the measured counter reports both
(`flop_counting.py`, extra `attention_pairs_dense`).

What a method adds -- the AHN memory's write scalars, update and read, SnapKV's scoring -- and how many
keys each query attends to (sinks + window, + compressed entries for CT) are the method's own terms:
`spec.method.flop_terms` and `spec.method.attention_pairs`, written down beside each method in
ahn/methods/<family>.py. The AHN terms count the recurrent form, the one the paper's equations describe
and the one `ahn.ops` dispatches to (the chunked forms compute the same outputs with other matmuls).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from ahn.methods import MethodSpec
from ahn.methods.base import FLOPS_PER_MAC
from benchmarks.efficiency.shapes import ModelShape


@dataclass(frozen=True)
class FlopBreakdown:
    projections: int = 0
    mlp: int = 0
    attention: int = 0
    lm_head: int = 0
    ahn_write: int = 0
    ahn_update: int = 0
    ahn_read: int = 0
    scoring: int = 0  # an eviction method's attention scores for choosing what to keep (snapkv)

    @property
    def total(self) -> int:
        return sum(asdict(self).values())

    def as_dict(self) -> dict[str, int]:
        return {**asdict(self), "total": self.total}


def attended_keys(spec: MethodSpec, t: int, shape: ModelShape | None = None) -> int:
    """Keys the query at position t attends to (itself included)."""
    return spec.method.attended_keys(spec, t, shape)


def attention_pairs(spec: MethodSpec, t0: int, t1: int, shape: ModelShape | None = None) -> int:
    """Sum of attended_keys(t) over queries t0 <= t < t1, in closed form (exact integers at 128k)."""
    return spec.method.attention_pairs(spec, t0, t1, shape)


def forward_flops(
    shape: ModelShape, spec: MethodSpec, t0: int, t1: int, lm_head_positions: int
) -> FlopBreakdown:
    """Matmul FLOPs of processing the tokens at positions t0..t1-1 (earlier ones already cached), batch 1."""
    lm_head = FLOPS_PER_MAC * lm_head_positions * shape.hidden * shape.vocab
    return FlopBreakdown(**_decoder_flops(shape, spec, t0, t1, paper=False), lm_head=lm_head)


def _decoder_flops(shape: ModelShape, spec: MethodSpec, t0: int, t1: int, paper: bool) -> dict[str, int]:
    """Every decoder layer's matmul FLOPs for positions t0..t1-1, summed over layers, by kind."""
    n = t1 - t0
    d, Hq, Hkv, D = shape.hidden, shape.q_heads, shape.kv_heads, shape.head_dim
    per_layer = dict(
        projections=FLOPS_PER_MAC * n * d * (2 * Hq * D + 2 * Hkv * D),
        mlp=FLOPS_PER_MAC * n * 3 * d * shape.intermediate,
        attention=FLOPS_PER_MAC * 2 * Hq * D * attention_pairs(spec, t0, t1, shape),
        **spec.method.flop_terms(spec, shape, t0, t1, paper=paper),
    )
    return {k: v * shape.layers for k, v in per_layer.items()}


def prefill_flops(
    shape: ModelShape, spec: MethodSpec, length: int, lm_head_positions: int = 1
) -> FlopBreakdown:
    """Prefill of `length` tokens. `lm_head_positions`: positions whose logits are computed (1 for a
    generation prefill that keeps the last logits, one per chunk for ahn.prefill, `length` for scoring)."""
    return forward_flops(shape, spec, 0, length, lm_head_positions)


def decode_flops(shape: ModelShape, spec: MethodSpec, context: int) -> FlopBreakdown:
    """One decode step after `context` cached tokens: the new token sits at position `context`."""
    return forward_flops(shape, spec, context, context + 1, 1)


def chunks(length: int, chunk: int) -> int:
    """Forward calls (hence logits positions, with logits_to_keep=1) of ahn.prefill over `length` tokens."""
    return -(-length // chunk)


# --- the paper's convention (`ahn-bench efficiency --convention paper`) ---------------------------------
# Paper Table 9's FLOPs are recoverable as: every weight matrix a matmul at every position -- the embedding
# and the LM head included (a tied matrix counts once as each), the AHN's own projections and W_o too --
# plus causal attention over exact (query, key) pairs, plus the memory's recurrence where tokens are evicted.
# Counted this way 3B AHN-GDN at L = 128,000 (128 + 32640) is 40.5% below full attention, the paper's claim.
def paper_forward_flops(shape: ModelShape, spec: MethodSpec, t0: int, t1: int) -> FlopBreakdown:
    """Positions t0..t1-1 (earlier ones cached), every weight matrix applied at every one of them."""
    embedding_and_lm_head = FLOPS_PER_MAC * (t1 - t0) * 2 * shape.hidden * shape.vocab
    return FlopBreakdown(**_decoder_flops(shape, spec, t0, t1, paper=True), lm_head=embedding_and_lm_head)


def paper_prefill_flops(shape: ModelShape, spec: MethodSpec, length: int) -> FlopBreakdown:
    return paper_forward_flops(shape, spec, 0, length)


def paper_decode_flops(shape: ModelShape, spec: MethodSpec, context: int) -> FlopBreakdown:
    return paper_forward_flops(shape, spec, context, context + 1)


# --- methods whose cache cycles (snapkv: 64-token blocks; ct: groups of c) -------------------------------
def cycle_period(shape: ModelShape, spec: MethodSpec) -> int:
    """Tokens after which the cache holds the same again (Method.cache_cycle; 1: every step alike)."""
    return spec.method.cache_cycle(spec, shape)[1] if spec.method.bounded else 1  # full grows every step


def amortised_decode_flops(shape: ModelShape, spec: MethodSpec, context: int) -> float:
    """Decode FLOPs per token averaged over one cache cycle from `context`: the mean of decode_flops(t) for
    context <= t < context + period. A cycling method's single step at a cycle boundary (snapkv at a multiple
    of its 64-token block: exactly the budget held, no scoring due) is its cheapest; this is what a long
    generation pays per token."""
    period = cycle_period(shape, spec)
    return forward_flops(shape, spec, context, context + period, period).total / period
