"""AHN (AHN paper Eq. 3-7): sinks + window as swa, and every token leaving the window is written into a
recurrent memory per layer (Gated DeltaNet, DeltaNet or Mamba2; ahn/memory.py) that the query reads.

Costs (recurrent form of paper Eq. 5-6, per layer and query head; benchmarks/efficiency/flops.py docstring):
    write scalars  2 d Hq per projection (GDN: beta, alpha; DN: beta; Mamba2: dt), for every non-sink token
                   as it enters the window (cached until the token is evicted)
    update         per evicted token: GDN/DN  k S (2 D^2) + rank-1 write (2 D^2); Mamba2 rank-1 write (2 D^2)
    read           per evicted token's reader t = j + W: gate g_proj 2 d Hq, q S (2 D^2), per-head W_o (2 D^2)
Cache: sinks + window KV, the window tokens' write scalars [W, Hq, n_write] fp32 and, once a token has been
evicted, the state [Hq, D, D] fp32.
"""

from __future__ import annotations

from ahn.methods.base import FLOPS_PER_MAC, Method, count_from, kv_token_bytes

FP32_BYTES = 4  # write scalars and state are fp32 whatever the model dtype (ahn/memory.py)
UPDATE_MATMULS = {"gdn": 2, "dn": 2, "mamba2": 1}  # per evicted token, in units of 2 D^2 per query head
READ_MATMULS = 2  # q S and W_o


class AHNMethod(Method):
    def __init__(self, memory: str, label: str, colour: str, description: str):
        self.name = f"ahn-{memory}"
        self.memory, self.label, self.colour, self.description = memory, label, colour, description

    def build_memory(self, config, attn):
        from ahn.memory import MEMORIES

        module = MEMORIES[self.memory](config.hidden_size, config.num_attention_heads, attn.head_dim)
        return module.to(attn.q_proj.weight.device)

    def _n_write(self) -> int:
        from ahn.memory import MEMORIES

        return MEMORIES[self.memory].n_write

    def flop_terms(self, spec, shape, t0, t1, paper=False):
        d, Hq, D = shape.hidden, shape.q_heads, shape.head_dim
        evicting = count_from(spec.sinks + spec.window, t0, t1)  # query t evicts token t - W >= S
        update = FLOPS_PER_MAC * evicting * UPDATE_MATMULS[self.memory] * Hq * D * D
        if paper:  # every weight matrix at every position: write projections, g_proj and W_o; q S per read
            n = t1 - t0
            return dict(
                ahn_write=FLOPS_PER_MAC * n * self._n_write() * d * Hq,
                ahn_update=update,
                ahn_read=FLOPS_PER_MAC * (n * (d * Hq + Hq * D * D) + evicting * Hq * D * D),
            )
        entering = count_from(spec.sinks, t0, t1)  # non-sink tokens get write scalars when they arrive
        return dict(
            ahn_write=FLOPS_PER_MAC * entering * self._n_write() * d * Hq,
            ahn_update=update,
            ahn_read=FLOPS_PER_MAC * evicting * (d * Hq + READ_MATMULS * Hq * D * D),
        )

    def cache_parts(self, spec, shape, length, kv_bytes):
        S, W = spec.sinks, spec.window
        sinks, stream = min(length, S), min(max(length - S, 0), W)
        state = shape.q_heads * shape.head_dim**2 * FP32_BYTES if length > S + W else 0  # made at 1st write
        return dict(
            kv=shape.layers * (sinks + stream) * kv_token_bytes(shape, kv_bytes),
            write_scalars=shape.layers * stream * shape.q_heads * self._n_write() * FP32_BYTES,
            state=shape.layers * state,
        )

    def paper_cache_elements(self, spec, shape, length):
        return super().paper_cache_elements(spec, shape, length) + shape.head_dim**2 * shape.q_heads
