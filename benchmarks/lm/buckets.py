"""Position buckets relative to the window: where a method's exact memory stops covering the context.

A query at position t sees every earlier token exactly while t < S + W (ahn/methods/base.py); from t = S + W
on, swa has forgotten the t - S - W + 1 oldest non-sink tokens and an AHN has written them into its memory.
Past that edge the buckets double in width, so a curve over log-position (the AHN paper's Fig. 3c) gets
evenly spaced points:

  inside   0      <= t < S + W
  1-2W     S + W  <= t < S + 2W
  2-4W     S + 2W <= t < S + 4W
  4-8W     ...

A query at t predicts token t + 1, so a text of L tokens has query positions 0..L-2 and the last bucket is
cut at L - 1. Bucket bounds are half-open, [start, end); a row's `task` is "START-END".
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Bucket:
    label: str  # "inside", "1-2W", "2-4W", ...
    start: int  # first query position
    end: int  # one past the last query position

    @property
    def task(self) -> str:
        return f"{self.start}-{self.end}"

    @property
    def size(self) -> int:
        return self.end - self.start


def position_buckets(length: int, window: int, sinks: int) -> list[Bucket]:
    """The buckets of the query positions 0..length-2 of a `length`-token text (length >= 2)."""
    last = length - 1  # one past the last query position that has a next token
    edge = sinks + window
    buckets = [Bucket("inside", 0, min(edge, last))]
    k = 1
    while sinks + k * window < last:
        buckets.append(Bucket(f"{k}-{2 * k}W", sinks + k * window, min(sinks + 2 * k * window, last)))
        k *= 2
    return buckets
