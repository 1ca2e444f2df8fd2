"""Methods by name: one object per method (ahn/methods/<family>.py) owns what its exact KV keeps, what
happens to a token that leaves it, its analytic costs and its label; `MethodSpec` is a method with its
sizes. Conventions (sinks, window, when a token leaves): ahn/methods/base.py.

Adding a method: write `ahn/methods/<family>.py` with a `Method` subclass (its cache layer and cost
hooks), then add one line to `_REGISTERED` below. Every harness, cost formula and report reads it from here.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

from ahn.errors import Note, UserError
from ahn.methods.ahn import AHNMethod
from ahn.methods.base import Method
from ahn.methods.compressive import CompressiveMethod
from ahn.methods.full import FullMethod
from ahn.methods.snapkv import SnapKVMethod
from ahn.methods.window import SinkWindowMethod

DEFAULT_WINDOW = 512
DEFAULT_SINKS = 32

# Registry order is the order of tables and figures.
_REGISTERED: list[Method] = [
    FullMethod(),
    SinkWindowMethod(),
    CompressiveMethod("max"),
    CompressiveMethod("avg"),
    SnapKVMethod(),
    AHNMethod("gdn", "ahn-gdn", "#0072B2", "sinks + window + AHN Gated DeltaNet memory of evicted tokens"),
    AHNMethod("dn", "ahn-dn", "#009E73", "sinks + window + AHN DeltaNet memory of evicted tokens"),
    AHNMethod("mamba2", "ahn-mamba2", "#CC79A7", "sinks + window + AHN Mamba2 memory of evicted tokens"),
]
METHODS: dict[str, Method] = {m.name: m for m in _REGISTERED}


def get_method(name: str) -> Method:
    if name not in METHODS:
        raise UserError(f"unknown method {name!r}; known: {', '.join(METHODS)}")
    return METHODS[name]


def _is_int(x) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


@dataclass(frozen=True)
class MethodSpec:
    """A method with its sizes, validated on construction. `full` has no window and no sinks.
    `compression` and `slots` are the Compressive Transformer's rate and FIFO size (ct-max, ct-avg)."""

    name: str
    window: int | None = None
    sinks: int = 0
    compression: int | None = None
    slots: int | None = None

    def __post_init__(self):
        method = get_method(self.name)
        for option in ("compression", "slots"):
            if getattr(self, option) is not None and option not in method.options:
                raise UserError(f"method {self.name!r} takes no {option}")
        if not method.windowed:
            if self.window is not None or self.sinks:
                raise UserError(f"method {self.name!r} takes no window or sinks")
            method.validate(self)
            return
        if not _is_int(self.window):
            raise UserError(f"method {self.name!r} needs an integer window, got {self.window!r}")
        if self.window <= 0:
            raise UserError(f"window must be > 0, got {self.window}")
        if not _is_int(self.sinks) or self.sinks < 0:
            raise UserError(f"sinks must be an integer >= 0, got {self.sinks!r}")
        method.validate(self)
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
    def build(cls, name: str, window: int | None = None, sinks: int | None = None, **options) -> MethodSpec:
        """A spec with the defaults filled in: windowed methods default to DEFAULT_WINDOW/DEFAULT_SINKS."""
        if not get_method(name).windowed:
            return cls(name, **options)
        return cls(
            name,
            DEFAULT_WINDOW if window is None else window,
            DEFAULT_SINKS if sinks is None else sinks,
            **options,
        )

    @property
    def method(self) -> Method:
        return METHODS[self.name]

    @property
    def memory(self) -> str | None:
        return self.method.memory

    @property
    def windowed(self) -> bool:
        return self.method.windowed

    @property
    def exact_tokens(self) -> int | None:
        """How many tokens' KV the method keeps exactly (None: all of them)."""
        return self.method.exact_tokens(self)

    def label(self) -> str:
        if not self.windowed:
            return self.name
        names = {"compression": "c", "slots": "M"}  # M, not s: s reads like sinks
        extra = "".join(f",{names[k]}={getattr(self, k)}" for k in names if getattr(self, k))
        return f"{self.name}(S={self.sinks},W={self.window}{extra})"


__all__ = ["DEFAULT_SINKS", "DEFAULT_WINDOW", "METHODS", "Method", "MethodSpec", "get_method"]
