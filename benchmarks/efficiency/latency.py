"""Wall-clock timing of prefill and decode, device synchronised around every timed region (gpt-fast style).

Prefill: one timed `ahn.prefill` of L tokens into a fresh cache (the caller warms the method up first).
Decode: `warmup` untimed steps, then `n` steps timed one by one; each step's context grows by one token,
so the figures are for contexts L + warmup .. L + warmup + n - 1. (The harness interleaves single steps of
many caches instead: `harness.decode_round_robin`.) Reported: median and p10/p90 (linear
interpolation between order statistics).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch

from ahn.generate import decode_one_token, prefill


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@dataclass(frozen=True)
class DecodeTimes:
    seconds: tuple[float, ...]
    first_context: int  # cached tokens before the first timed step

    def percentile(self, q: float) -> float:
        return float(np.percentile(np.asarray(self.seconds), q))

    @property
    def p10(self) -> float:
        return self.percentile(10)

    @property
    def p50(self) -> float:
        return self.percentile(50)

    @property
    def p90(self) -> float:
        return self.percentile(90)


@torch.no_grad()
def time_prefill(model, ids: torch.Tensor, cache, chunk: int) -> tuple[float, torch.Tensor]:
    """(seconds, last logits [B, vocab]) of prefilling `ids` into `cache`."""
    device = ids.device
    synchronize(device)
    start = time.perf_counter()
    logits = prefill(model, ids, cache, chunk)
    synchronize(device)
    return time.perf_counter() - start, logits


@torch.no_grad()
def time_decode_step(model, token: torch.Tensor, cache) -> tuple[float, torch.Tensor]:
    """(seconds, next greedy token [B]) of decoding `token` [B] into `cache`."""
    synchronize(token.device)
    start = time.perf_counter()
    next_token = decode_one_token(model, token, cache).argmax(-1)
    synchronize(token.device)
    return time.perf_counter() - start, next_token


@torch.no_grad()
def time_decode(model, logits: torch.Tensor, cache, n: int, warmup: int) -> DecodeTimes:
    """Greedy decode from `logits` (the prefill's last logits): `warmup` untimed steps, then `n` timed."""
    first_context = cache.get_seq_length() + warmup
    token, seconds = logits.argmax(-1), []
    for step in range(warmup + n):
        elapsed, token = time_decode_step(model, token, cache)
        if step >= warmup:
            seconds.append(elapsed)
    return DecodeTimes(tuple(seconds), first_context)
