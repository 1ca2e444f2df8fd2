"""Greedy generation with a constant-size cache: chunked prefill, then one token at a time."""

from __future__ import annotations

import torch
from torch import nn
from transformers.cache_utils import Cache

from ahn.attach import new_cache

DEFAULT_PREFILL_CHUNK = 2048


@torch.no_grad()
def prefill(model: nn.Module, input_ids: torch.Tensor, cache: Cache, chunk: int = DEFAULT_PREFILL_CHUNK):
    """Feed the prompt in chunks into `cache` (ours, or any transformers Cache for the unpatched model);
    returns the logits of the last position [B, vocab]."""
    logits = None
    for start in range(0, input_ids.shape[1], chunk):
        out = model(input_ids[:, start : start + chunk], cache=cache, use_cache=True, logits_to_keep=1)
        logits = out.logits[:, -1]
    return logits


@torch.no_grad()
def decode_one_token(model: nn.Module, token: torch.Tensor, cache: Cache) -> torch.Tensor:
    """token [B] -> next-token logits [B, vocab]."""
    return model(token[:, None], cache=cache, use_cache=True).logits[:, -1]


@torch.no_grad()
def generate(
    model: nn.Module,
    input_ids: torch.Tensor,
    max_new_tokens: int,
    eos_token_id: int | list[int] | None = None,
    prefill_chunk: int = DEFAULT_PREFILL_CHUNK,
) -> torch.Tensor:
    """Greedy continuation of input_ids [B, T]; returns the new tokens [B, N] (N <= max_new_tokens).
    Stops when every row has produced EOS (the model's own EOS by default)."""
    if eos_token_id is None:
        eos_token_id = getattr(model.generation_config, "eos_token_id", None)
    eos = torch.tensor([] if eos_token_id is None else eos_token_id, dtype=torch.long).reshape(-1)
    cache = new_cache(model)
    logits = prefill(model, input_ids, cache, prefill_chunk)
    finished = torch.zeros(input_ids.shape[0], dtype=torch.bool)
    new_tokens = []
    for _ in range(max_new_tokens):
        token = logits.argmax(-1)
        new_tokens.append(token)
        finished |= torch.isin(token.cpu(), eos)
        if bool(finished.all()) or len(new_tokens) == max_new_tokens:
            break
        logits = decode_one_token(model, token, cache)
    if not new_tokens:
        return input_ids.new_zeros(input_ids.shape[0], 0)
    return torch.stack(new_tokens, dim=1)
