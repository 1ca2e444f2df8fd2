"""Methods by name: what a layer attends to exactly, and which memory (if any) holds what it evicts.

Conventions (shared by the attention, the cache and every cost formula):
- `sinks` S: tokens at positions 0..S-1 stay in exact KV forever (attention sinks, Xiao et al. 2024).
- `window` W: a query at position t attends exactly to keys at positions j with t-W < j <= t (W tokens,
  itself included) plus the sinks.
- A token j >= S is evicted when the query at t = j + W arrives; the AHN memory then writes it, and the
  query at t reads the memory state that includes tokens S..t-W (AHN paper, Eq. 3-6).
So when T <= S + W nothing is ever evicted and every method equals full attention.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

from ahn.errors import Note, UserError

DEFAULT_WINDOW = 512
DEFAULT_SINKS = 32


@dataclass(frozen=True)
class Method:
    name: str
    memory: str | None  # key into ahn.memory.MEMORIES, None for no long-term memory
    windowed: bool
    description: str


METHODS: dict[str, Method] = {
    m.name: m
    for m in [
        Method("full", None, False, "full causal attention (the teacher and the upper bound)"),
        Method("swa", None, True, "attention sinks + sliding window; evicted tokens are forgotten"),
        Method("ahn-gdn", "gdn", True, "sinks + window + AHN Gated DeltaNet memory of evicted tokens"),
        Method("ahn-dn", "dn", True, "sinks + window + AHN DeltaNet memory of evicted tokens"),
        Method("ahn-mamba2", "mamba2", True, "sinks + window + AHN Mamba2 memory of evicted tokens"),
    ]
}


@dataclass(frozen=True)
class MethodSpec:
    """A method with its sizes, validated on construction. `full` has no window and no sinks."""

    name: str
    window: int | None = None
    sinks: int = 0

    def __post_init__(self):
        if self.name not in METHODS:
            raise UserError(f"unknown method {self.name!r}; known: {', '.join(METHODS)}")
        if not METHODS[self.name].windowed:
            if self.window is not None or self.sinks:
                raise UserError(f"method {self.name!r} takes no window or sinks")
            return
        if self.window is None or isinstance(self.window, bool) or not isinstance(self.window, int):
            raise UserError(f"method {self.name!r} needs an integer window, got {self.window!r}")
        if self.window <= 0:
            raise UserError(f"window must be > 0, got {self.window}")
        if isinstance(self.sinks, bool) or not isinstance(self.sinks, int) or self.sinks < 0:
            raise UserError(f"sinks must be an integer >= 0, got {self.sinks!r}")
        if self.sinks > self.window:  # valid, but rarely meant: the paper keeps 128 sinks + 32640 window
            warnings.warn(
                Note(
                    f"sinks {self.sinks} > window {self.window}: every query sees the first {self.sinks} "
                    f"tokens and only its last {self.window} exactly; the rest goes to memory (AHN) or is "
                    "forgotten (swa)"
                ),
                stacklevel=1,  # once per process: the registry keys on this line and the message
            )

    @classmethod
    def build(cls, name: str, window: int | None = None, sinks: int | None = None) -> MethodSpec:
        """A spec with the defaults filled in: windowed methods default to DEFAULT_WINDOW/DEFAULT_SINKS."""
        if name not in METHODS:
            raise UserError(f"unknown method {name!r}; known: {', '.join(METHODS)}")
        if not METHODS[name].windowed:
            return cls(name)
        return cls(
            name,
            DEFAULT_WINDOW if window is None else window,
            DEFAULT_SINKS if sinks is None else sinks,
        )

    @property
    def memory(self) -> str | None:
        return METHODS[self.name].memory

    @property
    def windowed(self) -> bool:
        return METHODS[self.name].windowed

    @property
    def exact_tokens(self) -> int | None:
        """How many tokens' KV the method keeps exactly (None: all of them)."""
        return self.sinks + self.window if self.windowed else None

    def label(self) -> str:
        return self.name if not self.windowed else f"{self.name}(S={self.sinks},W={self.window})"
