"""What every benchmark hands the runner: samples, prompts, and a registry from benchmark name to its module.

A benchmark is one module (lveval.py, infinitebench.py, ruler.py, longbench.py) registered by name in
BENCHMARKS (`register_benchmark` adds one); the runner and the CLI only ever call the `Benchmark` protocol
below, never branch on a name. Required:
  TASKS, GENERATED_TASKS, DEFAULT_GENERATED_TASKS   its tasks (official order), synthetic ones, default
  TRUNCATION_JOIN, UPSTREAM_MAX_INPUT_TOKENS       how upstream middle-truncates, and to how many tokens
  PREDICTION_GLOB                                  the file names of its official prediction dumps
  load(data_dir, tasks, levels, limit)             validated samples from the official files
  generate(tokenizer, tasks, lengths, depths, n, seed, haystack)   synthetic samples (--data generated)
  build_prompt(sample, template)                   Prompt (text before truncation and chat template)
  max_new_tokens(task)                             the official per-task generation budget
  score(sample, prediction)                        the official per-sample score in [0, 1]
  prediction_record(sample, prediction), prediction_file(sample), task_from_file(path)   official dumps
  score_file(path, **opts)                         scores an official prediction dump (`ahn-bench score`)
Optional: generate_records (`ahn-bench generate`), summarize_scores + SUMMARY_KEY (`score`'s summary),
NAMED_AGGREGATES (named means over tasks), OVERALL_PER_LENGTH (LV-Eval's per-level "overall").
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ahn.errors import UserError

# Small files in the official formats (made-up texts), committed for tests and smoke runs.
FIXTURES_DIR = Path(__file__).resolve().parent.parent / "fixtures"

BENCHMARKS = {
    "lveval": "benchmarks.accuracy.lveval",
    "infinitebench": "benchmarks.accuracy.infinitebench",
    "ruler": "benchmarks.accuracy.ruler",
    "longbench": "benchmarks.accuracy.longbench",
}


@dataclass(frozen=True)
class Sample:
    benchmark: str
    task: str  # LV-Eval subset ("cmrc_mixup") or InfiniteBench task ("passkey")
    sample_id: str  # unique within (benchmark, task); stable across runs (resume keys on it)
    length: int  # nominal length: requested tokens (generated), level*1000 words (LV-Eval), else 0
    record: dict[str, Any] = field(repr=False, compare=False)
    depth: float | None = None  # needle depth in [0, 1] where the task has one
    level: str | None = None  # LV-Eval length level ("16k"), None elsewhere


@dataclass(frozen=True)
class Prompt:
    """`text` is what gets middle-truncated; `preamble` are chat turns that go before it, untruncated
    (InfiniteBench's GPT-4 math_calc prompt has a system persona and a one-shot exchange); `answer_prefix`
    starts the model's reply: it follows the chat template's generation prompt (RULER pred/call_api.py
    feeds `input + answer_prefix`, data/template.py puts the prefix after the model's template)."""

    text: str
    preamble: tuple[dict[str, str], ...] = ()
    answer_prefix: str = ""
    raw: bool = False  # never chat-wrapped (LongBench pred.py: few-shot and code-completion datasets)


REQUIRED = (
    "TASKS", "GENERATED_TASKS", "DEFAULT_GENERATED_TASKS", "TRUNCATION_JOIN", "UPSTREAM_MAX_INPUT_TOKENS",
    "PREDICTION_GLOB", "load", "generate", "build_prompt", "max_new_tokens", "score", "prediction_record",
    "prediction_file", "task_from_file", "score_file",
)  # fmt: skip


def register_benchmark(name: str, module: str) -> None:
    """Make `module` (a dotted path implementing the protocol above) available as `--benchmark name`."""
    BENCHMARKS[name] = module


def get_benchmark(name: str):
    if name not in BENCHMARKS:
        raise UserError(f"unknown benchmark {name!r}; known: {', '.join(BENCHMARKS)}")
    module = importlib.import_module(BENCHMARKS[name])
    missing = [a for a in REQUIRED if not hasattr(module, a)]
    if missing:  # a programming error, not a user's: fail loudly
        raise TypeError(f"benchmark {name!r} ({BENCHMARKS[name]}) lacks {', '.join(missing)}")
    return module


def natural_key(text: str) -> tuple:
    """Sort key that orders "x2" before "x10" (sample ids carry line numbers and lengths)."""
    return tuple(int(p) if p.isdigit() else p for p in re.split(r"(\d+)", text))


def parse_csv(text: str | None, kind=str, what: str = "value") -> list:
    """ "a,b,c" -> [a, b, c] converted by `kind`; a bad item is a UserError naming it."""
    if text is None:
        return []
    out = []
    for item in (p.strip() for p in str(text).split(",")):
        if not item:
            continue
        try:
            out.append(kind(item))
        except ValueError:
            raise UserError(f"bad {what} {item!r}") from None
    return out
