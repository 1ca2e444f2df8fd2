"""What the benchmarks share about their official files: reading a task's data file into samples, the
ahn-bench keys added to an official prediction line, the task named by a dump's file name, and the
percentages the official scorers print.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from ahn.errors import UserError
from benchmarks.accuracy.jsonl import read_records
from benchmarks.accuracy.samples import Sample


def check_known_task(kind: str, task: str, known: Iterable[str]) -> None:
    """One-line error for a task (or dataset) name the benchmark does not have."""
    known = tuple(known)
    if task not in known:
        raise UserError(f"unknown {kind} {task!r}; known: {', '.join(known)}")


def load_task_files(
    data_dir,
    tasks: Iterable[str],
    limit: int | None,
    path_of: Callable[[Path, str], Path],
    validator: Callable[[str], Callable[[dict], Any]],
    make_sample: Callable[[str, dict, str], Sample],
    check_task: Callable[[str], None],
) -> list[Sample]:
    """Samples of each task's file (`path_of(data_dir, task)`, which raises UserError when there is none),
    every task checked and every record validated (`validator(task)`) before anything runs; the first
    `limit` records of each file."""
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise UserError(f"{data_dir}: not a directory")
    tasks = list(tasks)
    for task in tasks:
        check_task(task)
    samples = []
    for task in tasks:
        records = read_records(path_of(data_dir, task), validator(task))
        for i, (_, record) in enumerate(records[:limit] if limit else records):
            samples.append(make_sample(task, record, str(i)))
    return samples


def dump_record(sample: Sample, fields: dict[str, Any], length_key: str | None = "length") -> dict:
    """An official prediction line plus what ahn-bench adds, which the official scorers ignore: the
    sample_id (resume and merge key on it) and, with `length_key`, the requested length of generated data
    and the needle depth (so `ahn-bench score` can group by them)."""
    record = {**fields, "sample_id": sample.sample_id}
    if length_key is not None:
        if sample.length:
            record[length_key] = sample.length
        if sample.depth is not None:
            record["depth"] = sample.depth
    return record


def task_from_name(path, tasks: Iterable[str], prefix: str = "", suffix: str = "") -> str | None:
    """The task a dump's file name names ("preds_passkey.rank1.jsonl" -> "passkey" with prefix "preds_"), a
    trailing `suffix` dropped where that leaves a task (LongBench-E's "_e"); None if it names none."""
    tasks = set(tasks)
    stem = Path(path).name.split(".")[0].removeprefix(prefix)
    if suffix and stem.endswith(suffix) and stem[: -len(suffix)] in tasks:
        stem = stem[: -len(suffix)]
    return stem if stem in tasks else None


def percent(scores: list[float]) -> float:
    """The official scorers' figure: 100 x the mean per-sample score, rounded to 2 decimals (LongBench
    eval.py, LV-Eval evaluation.py, InfiniteBench compute_scores.py, RULER evaluate.py)."""
    return round(100 * sum(scores) / len(scores), 2)


def percent_by(keys: list[Any], scores: list[float]) -> dict[Any, float]:
    """`percent` per key (None keys left out), keys in sorted order: per length or depth."""
    groups: dict[Any, list[float]] = {}
    for key, s in zip(keys, scores):
        if key is not None:
            groups.setdefault(key, []).append(s)
    return {k: percent(v) for k, v in sorted(groups.items())}


def score_summary(path, task: str, records: list, scores: list[float]) -> dict[str, Any]:
    """A scored prediction file: its mean (0-100) and, where records carry them (fields 2 and 3 of each
    parsed record), the means by length and by needle depth."""
    out: dict[str, Any] = {"file": str(path), "task": task, "n": len(scores), "score": percent(scores),
                           "scores": scores}  # fmt: skip
    for key, pos in (("by_length", 2), ("by_depth", 3)):
        if groups := percent_by([rec[pos] for _, rec in records], scores):
            out[key] = groups
    return out
