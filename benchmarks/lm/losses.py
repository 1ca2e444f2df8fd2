"""Per-position NLL and KL to full attention from final hidden states.

Logits are T x V floats (2048 x 49152 x 4 B = 400 MB for SmolLM2), so they are never held whole: each
method's final (normed) hidden states [T, H] are kept, and the LM head runs over chunks of positions, full
attention's log-probabilities once per chunk for every method.
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
    hidden: dict[str, torch.Tensor], teacher_hidden: torch.Tensor, lm_head: nn.Module, targets: torch.Tensor
) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Per method and query position t: the NLL of the next token, -log p_method(x_{t+1} | x_<=t), and the
    KL of the method's next-token distribution from full attention's, KL(p_full || p_method) (the direction
    the AHN is distilled in, ahn/distill/trainer.py).

    hidden: method -> [T, H]; teacher_hidden: [T, H] (full attention); targets: [T] the token each position
    predicts -> method -> (nll [T], kl [T]) in nats, float32
    """
    parts: dict[str, tuple[list, list]] = {m: ([], []) for m in hidden}
    with torch.no_grad():
        for lo in range(0, teacher_hidden.shape[0], CHUNK):
            target = targets[lo : lo + CHUNK, None]  # [C, 1]
            teacher_logp = F.log_softmax(lm_head(teacher_hidden[lo : lo + CHUNK]).float(), dim=-1)  # [C, V]
            for method, h in hidden.items():
                if h is teacher_hidden:  # full attention itself: KL is 0 by definition
                    logp, kl = teacher_logp, torch.zeros(target.shape[0])
                else:
                    logp = F.log_softmax(lm_head(h[lo : lo + CHUNK]).float(), dim=-1)
                    kl = (teacher_logp.exp() * (teacher_logp - logp)).sum(-1)
                parts[method][0].append(-logp.gather(1, target)[:, 0])
                parts[method][1].append(kl.to(logp.device))
    return {m: (torch.cat(nll), torch.cat(kl)) for m, (nll, kl) in parts.items()}
