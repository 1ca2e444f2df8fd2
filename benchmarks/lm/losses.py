"""Per-position NLL and KL to full attention from final hidden states.

Logits are L x V floats (2048 x 49152 x 4 B = 400 MB for SmolLM2), so they are never held whole: the
decoder's final (normed) hidden states [T, H] are kept, and the LM head runs over chunks of positions.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

CHUNK = 256  # positions per LM-head call: 256 x 49152 x 4 B = 50 MB of logits


def final_hidden(model: nn.Module, ids: torch.Tensor) -> torch.Tensor:
    """ids [1, T] -> the decoder's final normed hidden states [T, H] (what the LM head reads)."""
    with torch.no_grad():
        return model.model(input_ids=ids, use_cache=False).last_hidden_state[0]


def position_losses(
    hidden: torch.Tensor, teacher_hidden: torch.Tensor, lm_head: nn.Module, targets: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per query position t: NLL of the next token, -log p_method(x_{t+1} | x_<=t), and the KL of the
    method's next-token distribution from full attention's, KL(p_full || p_method) (the distillation
    objective's direction, ahn/distill/trainer.py).

    hidden, teacher_hidden: [T, H] for positions 0..T-1; targets: [T] the token each position predicts
    -> nll [T], kl [T] in nats, float32
    """
    nll, kl = [], []
    with torch.no_grad():
        for lo in range(0, hidden.shape[0], CHUNK):
            logp = F.log_softmax(lm_head(hidden[lo : lo + CHUNK]).float(), dim=-1)  # [C, V]
            teacher_logp = F.log_softmax(lm_head(teacher_hidden[lo : lo + CHUNK]).float(), dim=-1)
            nll.append(-logp.gather(1, targets[lo : lo + CHUNK, None])[:, 0])
            kl.append((teacher_logp.exp() * (teacher_logp - logp)).sum(-1))
    return torch.cat(nll), torch.cat(kl)
