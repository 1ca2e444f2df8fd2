"""AHN memory modules: one per decoder layer, compressing the tokens that leave the sliding window.

Each module reuses its layer's post-RoPE q, k and its v (KV heads repeated to query heads; no new QKV
projections), computes write scalars from the *evicted* token's normed hidden state, and reads with the
*current* token's query and output gate (AHN paper Eq. 3-7; official code `src/ahn/rnn/*.py`).
Output = per-head W_o(gated RMSNorm(read)); W_o starts at zero, so an untrained AHN is exactly SWA.
Parameters are kept in fp32 whatever the base dtype: they are few and they are what trains.

Shapes: x [B, T, hidden]; q, k, v [B, T, H, D] with H = query heads; write scalars [B, T, H, n_write];
state [B, H, D, D].
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ahn import ops


def _inverse_softplus(x: torch.Tensor) -> torch.Tensor:
    return x + torch.log(-torch.expm1(-x))


def _dt_bias_init(num_heads: int, dt_min: float = 1e-3, dt_max: float = 0.1) -> torch.Tensor:
    # GDN init (official src/ahn/rnn/gated_deltanet.py, GatedDeltaNet.__init__): dt log-uniform in
    # [1e-3, 0.1], floored at 1e-4, stored as softplus^-1(dt).
    dt = torch.exp(torch.rand(num_heads) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min))
    return _inverse_softplus(dt.clamp(min=1e-4))


# Every official variant builds its output norm with the module default eps 1e-5 (BaseAHN in
# src/ahn/utils.py passes none), whatever the base model's rms_norm_eps.
NORM_EPS = 1e-5


class AHNMemory(nn.Module):
    """Shared parts: output gate, gated RMSNorm, per-head output projection (GroupLinear, zero-init).

    The norm is per head (weight [D]: the official src/ahn/rnn/gated_deltanet.py and delta_net.py build
    fla's FusedRMSNormSwishGate(head_dim)) or over a token's whole H*D vector (weight [H*D]: the official
    src/ahn/rnn/mamba2.py builds RMSNormGated(H*D, norm_before_gate=False) with no group size)."""

    n_write: int  # write scalars per head cached for each window token until it is evicted
    norm_before_gate: bool = True
    norm_groups_per_head: bool = True  # False: one RMS over all H*D features of a token
    gate_bias: bool = False

    def __init__(self, hidden_size: int, num_heads: int, head_dim: int, eps: float = NORM_EPS):
        super().__init__()
        self.num_heads, self.head_dim, self.eps = num_heads, head_dim, eps
        # output gate: one scalar per head, broadcast over the head dim
        self.g_proj = nn.Linear(hidden_size, num_heads, bias=self.gate_bias)
        norm_size = head_dim if self.norm_groups_per_head else num_heads * head_dim
        self.norm_weight = nn.Parameter(torch.ones(norm_size))
        self.o_proj = nn.Parameter(torch.zeros(num_heads, head_dim, head_dim))  # per-head W_o, zero-init

    def write_scalars(self, x: torch.Tensor) -> torch.Tensor:
        """[B, T, hidden] -> [B, T, H, n_write], from the normed hidden state of the token to be evicted."""
        raise NotImplementedError

    def recur(self, q, k, v, write, state):
        """Write evicted tokens (k, v, write) into `state`, reading with q after each write.
        Returns (raw read [B, T, H, D] fp32, new state)."""
        raise NotImplementedError

    def read_out(self, raw: torch.Tensor, x_read: torch.Tensor) -> torch.Tensor:
        """Gate with the current token, normalise, project per head: [B, T, H, D] fp32."""
        gate = F.silu(self.g_proj(x_read.float()))[..., None]  # (B, T, H, 1)
        B, T, H, D = raw.shape
        weight = self.norm_weight.view(-1, D)  # (1, D) per-head norm or (H, D) whole-vector norm
        mean_dims = (-1,) if self.norm_groups_per_head else (-2, -1)

        def rms(t):
            return t * torch.rsqrt(t.pow(2).mean(mean_dims, keepdim=True) + self.eps)

        if self.norm_before_gate:  # FusedRMSNormSwishGate: norm(o) * w * silu(g)
            y = rms(raw) * weight * gate
        else:  # RMSNormGated(norm_before_gate=False): norm(o * silu(g)) * w
            y = rms(raw * gate) * weight
        # per-head W_o as one batched matmul over heads: (B, H, T, D) @ (H, D, D); an einsum costs ~40 us
        # more per call, which is most of a decode step's memory read at 30 layers
        return (y.transpose(1, 2) @ self.o_proj).transpose(1, 2)

    def forward(self, q, k, v, write, x_read, state=None):
        """Write evicted tokens (k, v and their write scalars) into `state`, each followed by the read of
        the query that evicted it (q, gated by x_read): -> (output [B, T, H, D] fp32, new state)."""
        raw, state = self.recur(q, k, v, write, state)
        return self.read_out(raw, x_read), state


def _l2norm(t: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    # 1e-6: fla's l2norm under use_qk_l2norm_in_kernel=True, which the official src/ahn/rnn/
    # gated_deltanet.py and delta_net.py pass; the official src/ahn/rnn/mamba2.py calls F.normalize (1e-12)
    return F.normalize(t.float(), p=2, dim=-1, eps=eps)


class GatedDeltaNetMemory(AHNMemory):
    """AHN-GDN (paper Eq. 5-6): h = alpha (I - beta k^T k) h + beta k^T v; read q h."""

    n_write = 2  # beta, log alpha

    def __init__(self, hidden_size, num_heads, head_dim, eps=NORM_EPS):
        super().__init__(hidden_size, num_heads, head_dim, eps)
        self.b_proj = nn.Linear(hidden_size, num_heads, bias=False)
        self.a_proj = nn.Linear(hidden_size, num_heads, bias=False)
        # Gated DeltaNet init (official src/ahn/rnn/gated_deltanet.py, GatedDeltaNet.__init__): A ~ U(0, 16),
        # dt_bias from log-uniform dt.
        self.A_log = nn.Parameter(torch.log(torch.empty(num_heads).uniform_(1e-4, 16)))
        self.dt_bias = nn.Parameter(_dt_bias_init(num_heads))

    def write_scalars(self, x):
        x = x.float()
        beta = torch.sigmoid(self.b_proj(x))
        log_alpha = -self.A_log.exp() * F.softplus(self.a_proj(x) + self.dt_bias)
        return torch.stack([beta, log_alpha], dim=-1)

    def recur(self, q, k, v, write, state):
        return ops.gated_delta_rule(
            _l2norm(q), _l2norm(k), v.float(), write[..., 0], write[..., 1],
            scale=self.head_dim**-0.5, initial_state=state,
        )  # fmt: skip


class DeltaNetMemory(AHNMemory):
    """AHN-DN (paper Eq. 10): the gated delta rule without the decay alpha."""

    n_write = 1  # beta

    def __init__(self, hidden_size, num_heads, head_dim, eps=NORM_EPS):
        super().__init__(hidden_size, num_heads, head_dim, eps)
        self.b_proj = nn.Linear(hidden_size, num_heads, bias=False)

    def write_scalars(self, x):
        return torch.sigmoid(self.b_proj(x.float()))[..., None]

    def recur(self, q, k, v, write, state):
        return ops.gated_delta_rule(
            _l2norm(q), _l2norm(k), v.float(), write[..., 0], None,
            scale=self.head_dim**-0.5, initial_state=state,
        )  # fmt: skip


class Mamba2Memory(AHNMemory):
    """AHN-Mamba2 (paper Eq. 9): h = exp(dt A) h + dt B^T x with B = l2norm(k), C = l2norm(q), x = v,
    dt = softplus(dt_proj(x_evicted) + dt_bias), A = -exp(A_log); no D skip. Read C h.
    As the official src/ahn/rnn/mamba2.py builds it: dt_proj and g_proj carry biases, dt_bias starts at
    ones (dt = softplus(1) = 1.31 at init), A_log at log(1..H), and the output norm is
    RMSNormGated(H*D, norm_before_gate=False): one RMS over the token's whole H*D vector."""

    n_write = 1  # dt
    norm_before_gate = False
    norm_groups_per_head = False
    gate_bias = True

    def __init__(self, hidden_size, num_heads, head_dim, eps=NORM_EPS):
        super().__init__(hidden_size, num_heads, head_dim, eps)
        self.dt_proj = nn.Linear(hidden_size, num_heads, bias=True)
        self.dt_bias = nn.Parameter(torch.ones(num_heads))
        self.A_log = nn.Parameter(torch.log(torch.arange(1, num_heads + 1, dtype=torch.float32)))  # A = 1..H

    def write_scalars(self, x):
        return F.softplus(self.dt_proj(x.float()) + self.dt_bias)[..., None]

    def recur(self, q, k, v, write, state):
        dt = write[..., 0]  # (B, T, H)
        return ops.scalar_decay(
            _l2norm(q, 1e-12), _l2norm(k, 1e-12) * dt[..., None], v.float(), -self.A_log.exp() * dt,
            scale=1.0, initial_state=state,
        )  # fmt: skip


MEMORIES: dict[str, type[AHNMemory]] = {
    "gdn": GatedDeltaNetMemory,
    "dn": DeltaNetMemory,
    "mamba2": Mamba2Memory,
}
