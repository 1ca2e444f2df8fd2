"""The lm benchmark's run config: resolved (no None sizes), validated when built, saved in the manifest."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from ahn.distill.data import EVAL_CORPUS
from ahn.errors import UserError
from ahn.methods import DEFAULT_SINKS, DEFAULT_WINDOW, MethodSpec
from ahn.models import DTYPES

DEFAULT_METHODS = ("full", "swa", "ahn-gdn")
DEFAULT_LENGTHS = (2048,)
DEFAULT_SEQUENCES = 4
# What a resumed run must agree on with the run it continues (everything that changes a number).
RESUME_KEYS = ("data", "methods", "model", "lengths", "n", "window", "sinks", "dtype", "ahn_weights")


@dataclass
class LmConfig:
    out: str
    data: str = EVAL_CORPUS  # a prepared corpus name or a .txt / .jsonl file
    methods: list[str] = field(default_factory=lambda: list(DEFAULT_METHODS))
    model: str = "smollm2-135m"
    lengths: list[int] = field(default_factory=lambda: list(DEFAULT_LENGTHS))
    n: int = DEFAULT_SEQUENCES  # sequences per length, spread evenly over the text
    window: int | None = None  # None: ahn's default; sets the buckets even when only full runs
    sinks: int | None = None
    dtype: str = "float32"
    ahn_weights: str = "shipped"  # "shipped" (repo's trained weights when present), "none", or a file
    device: str = "auto"

    def __post_init__(self):
        self.window = DEFAULT_WINDOW if self.window is None else self.window
        self.sinks = DEFAULT_SINKS if self.sinks is None else self.sinks
        if not self.methods:
            raise UserError("no methods given")
        if len(set(self.methods)) != len(self.methods):
            raise UserError("a method is listed twice")
        for method in self.methods:
            self.spec(method)  # unknown method, bad window or sinks -> UserError
        if not self.lengths:
            raise UserError("no lengths given")
        if len(set(self.lengths)) != len(self.lengths):
            raise UserError("a length is listed twice")
        for length in self.lengths:
            if isinstance(length, bool) or not isinstance(length, int) or length < 2:
                raise UserError(f"length must be an integer >= 2 tokens (one prediction), got {length!r}")
        if isinstance(self.n, bool) or not isinstance(self.n, int) or self.n < 1:
            raise UserError(f"n (sequences per length) must be at least 1, got {self.n!r}")
        if self.dtype not in DTYPES:
            raise UserError(f"dtype must be one of {', '.join(DTYPES)}, got {self.dtype!r}")

    def spec(self, method: str) -> MethodSpec:
        return MethodSpec.build(method, self.window, self.sinks)

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def check_resumable(saved: dict[str, Any], cfg: LmConfig) -> None:
    new = cfg.to_json()
    changed = [k for k in RESUME_KEYS if saved.get(k) != new.get(k)]
    if changed:
        diffs = "; ".join(f"{k}: {saved.get(k)!r} -> {new.get(k)!r}" for k in changed)
        raise UserError(f"{cfg.out}: cannot resume with a different config ({diffs})")
