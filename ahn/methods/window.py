"""Attention sinks + sliding window (StreamingLLM, Xiao et al. 2024): a token leaving the window is forgotten.

The cache (ahn.cache.MemoryCacheLayer) holds the S sinks and a ring of the last W tokens; every cost
hook is the base class's (min(t + 1, S + W) keys per query, S + W tokens of KV).
"""

from __future__ import annotations

from ahn.methods.base import Method


class SinkWindowMethod(Method):
    name = label = "swa"
    colour = "#E69F00"
    description = "attention sinks + sliding window; evicted tokens are forgotten"
