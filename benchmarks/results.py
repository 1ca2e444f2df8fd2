"""Result rows: the one format every harness writes and every analysis reads.

One tidy row per measurement, appended to `rows.jsonl` as soon as it is produced (an interrupted run keeps
what it measured), plus one `manifest.json` per run (resolved config, git commit, device, versions).
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import os
import platform
import subprocess
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ahn.errors import UserError
from ahn.files import drop_torn_tail, iter_lines, read_text
from benchmarks.rundir import MANIFEST_FILE, ROWS_FILE, write_lines, write_rows

SOURCES = ("analytic", "measured", "paper")  # paper: the AHN paper's own accounting (efficiency)


@dataclass(frozen=True)
class Metric:
    """What a metric means to comparisons: its unit, whether lower is better, and how it may vary."""

    name: str
    unit: str
    lower_is_better: bool
    kind: str  # "deterministic" (exact), "timing" (noisy ratio), "memory" (near-exact), "accuracy"


METRICS: dict[str, Metric] = {
    m.name: m
    for m in [
        Metric("prefill_flops", "FLOP", True, "deterministic"),
        Metric("decode_flops_per_token", "FLOP", True, "deterministic"),
        Metric("cache_bytes", "B", True, "deterministic"),
        Metric("peak_memory_bytes", "B", True, "memory"),
        Metric("prefill_seconds", "s", True, "timing"),
        Metric("decode_seconds_p50", "s", True, "timing"),
        Metric("decode_seconds_p10", "s", True, "timing"),
        Metric("decode_seconds_p90", "s", True, "timing"),
        Metric("score", "%", False, "accuracy"),  # per-sample or aggregate benchmark score, 0..100
        Metric("truncated_fraction", "1", True, "deterministic"),
        Metric("kl_to_teacher", "nat", True, "deterministic"),
        Metric("nll", "nat", True, "deterministic"),  # per token: distill-eval and the lm benchmark
        Metric("kl_to_full", "nat", True, "deterministic"),  # KL(p_full || p_method) per token (lm benchmark)
    ]
}


@dataclass(frozen=True)
class ResultRow:
    run_id: str
    model: str
    method: str
    benchmark: str  # "efficiency", "lveval", "infinitebench", ...
    task: str  # e.g. "prefill", "decode", "passkey", "cmrc_mixup"
    length: int  # context length in tokens (0 where it does not apply)
    metric: str
    value: float
    unit: str
    source: str  # "analytic" or "measured"
    window: int | None = None
    sinks: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # e.g. depth, sample id, prompt hash

    def __post_init__(self):
        if self.metric not in METRICS:
            raise UserError(f"unknown metric {self.metric!r}; known: {', '.join(sorted(METRICS))}")
        if self.source not in SOURCES:
            raise UserError(f"source must be one of {SOURCES}, got {self.source!r}")

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, record: dict[str, Any]) -> ResultRow:
        names = {f.name for f in dataclasses.fields(cls)}
        missing = [n for n in names - {"window", "sinks", "extra"} if n not in record]
        if missing:
            raise UserError(f"result row is missing field(s): {', '.join(sorted(missing))}")
        return cls(**{k: v for k, v in record.items() if k in names})


def new_run_id(prefix: str = "run") -> str:
    stamp = _dt.datetime.now(_dt.UTC).strftime("%Y%m%d-%H%M%S")
    return f"{prefix}-{stamp}-{uuid.uuid4().hex[:6]}"


class RowWriter:
    """Appends rows to one rows file as they are produced (DIR/rows.jsonl unless `path` names another),
    through `rundir.write_rows`: each call's rows as whole lines, fsynced."""

    def __init__(self, run_dir: str | os.PathLike, path: str | os.PathLike | None = None):
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.path = Path(path) if path is not None else self.run_dir / ROWS_FILE

    def write(self, rows: ResultRow | Iterable[ResultRow]) -> None:
        write_rows(self.path, [rows] if isinstance(rows, ResultRow) else list(rows), append=True)


def read_rows(path: str | os.PathLike) -> list[ResultRow]:
    """Rows from a rows.jsonl file or a run directory; a bad line is reported as `file:line: what`."""
    path = Path(path)
    if path.is_dir():
        path = path / ROWS_FILE
    if not path.exists():
        raise UserError(f"{path}: no such rows file")
    rows = []
    for lineno, line in iter_lines(path):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            if not isinstance(record, dict):
                raise UserError(f"expected a JSON object, got {type(record).__name__}")
            rows.append(ResultRow.from_json(record))
        except json.JSONDecodeError as e:
            # A run killed mid-write leaves at most a torn last line, which resuming drops; anything else
            # is corruption.
            raise UserError(f"{path}:{lineno}: malformed JSON ({e.msg})") from None
        except (UserError, TypeError) as e:
            raise UserError(f"{path}:{lineno}: {e}") from None
    return rows


def is_json_object(text: str) -> bool:
    try:
        return isinstance(json.loads(text), dict)
    except json.JSONDecodeError:
        return False


def drop_torn_row(path: str | os.PathLike) -> bool:
    """Before a run appends to a JSONL file again: cut a torn last line (`ahn.files.drop_torn_tail`)."""
    return drop_torn_tail(path, is_json_object)


def rows_to_frame(rows: Iterable[ResultRow]):
    """Rows as a pandas DataFrame, one column per field; `extra` is flattened to `extra.<key>` columns."""
    import pandas as pd

    records = []
    for row in rows:
        record = row.to_json()
        extra = record.pop("extra") or {}
        record.update({f"extra.{k}": v for k, v in extra.items()})
        records.append(record)
    return pd.DataFrame.from_records(records)


def load_frame(path: str | os.PathLike):
    return rows_to_frame(read_rows(path))


def _git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=5,
        )
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def environment() -> dict[str, Any]:
    """Everything a figure depends on besides the config: versions, device, commit."""
    import torch
    import transformers

    device = "cuda:" + torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
    return {
        "git_commit": _git_commit(),
        "device": device,
        "cpu": platform.processor() or platform.machine(),
        "cpu_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "time_utc": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
    }


def write_manifest(run_dir: str | os.PathLike, run_id: str, config: dict[str, Any]) -> Path:
    """Write DIR/manifest.json; an existing manifest of a resumed run is kept and its resumes listed."""
    path = Path(run_dir) / MANIFEST_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        manifest = read_manifest(path.parent)
        manifest.setdefault("resumed", []).append(environment())
    else:
        manifest = {"run_id": run_id, "config": config, "environment": environment()}
    write_lines(path, [json.dumps(manifest, indent=2, sort_keys=True, default=str)])
    return path


def read_manifest(run_dir: str | os.PathLike) -> dict[str, Any]:
    path = Path(run_dir) / MANIFEST_FILE
    if not path.exists():
        raise UserError(f"{run_dir}: not a run directory (no {MANIFEST_FILE})")
    try:
        manifest = json.loads(read_text(path))
    except json.JSONDecodeError as e:
        raise UserError(f"{path}: malformed JSON ({e.msg})") from None
    if not isinstance(manifest, dict):
        raise UserError(f"{path}: expected a JSON object")
    return manifest
