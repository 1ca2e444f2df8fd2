"""The run directory: the one module that names its files, and the one writer of JSONL lines into them.

    manifest.json                  resolved config, run id, environment (results.write_manifest)
    rows.jsonl                     the result rows
    rows.rank{i}.jsonl             shard i's per-sample rows while a sharded eval is in flight
    sequences.jsonl                the lm benchmark's per-sequence rows (its progress file)
    predictions/{method}/{file}    the official prediction dumps of an accuracy run
    stages/{stage}/                a suite's stages, each a run directory of its own; DONE when finished

Every row file, prediction dump and manifest is written by `write_lines`: appending writes whole lines in
one call and fsyncs them (a killed run leaves at most a torn last line, which `ahn.files.drop_torn_tail`
cuts on resume); replacing writes a temporary file and renames it over the old one, so a reader sees the
old file or the new one, never half of one. Claiming a directory (new / --resume / --overwrite) is
`ahn.files.claim_run_dir`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

ROWS_FILE = "rows.jsonl"
MANIFEST_FILE = "manifest.json"
SEQUENCES_FILE = "sequences.jsonl"
PREDICTIONS_DIR = "predictions"
STAGES_DIR = "stages"
DONE_FILE = "DONE"


# ---------------------------------------------------------------------------------------------- paths
def rows_path(out: str | os.PathLike, rank: int = 0, world: int = 1) -> Path:
    """Where a process appends its per-sample rows: rows.jsonl, or its shard's file in a sharded run."""
    return Path(out) / (ROWS_FILE if world == 1 else f"rows.rank{rank}.jsonl")


def shard_rows_paths(out: str | os.PathLike) -> list[Path]:
    return sorted(Path(out).glob("rows.rank*.jsonl"))


def row_paths(out: str | os.PathLike) -> list[Path]:
    """rows.jsonl and every shard's rows file that exist."""
    out = Path(out)
    return [p for p in [out / ROWS_FILE, *shard_rows_paths(out)] if p.exists()]


def prediction_path(out: str | os.PathLike, method: str, name: str, rank: int = 0, world: int = 1) -> Path:
    """predictions/{method}/{name}; a shard writes {stem}.rank{i}.{ext} beside it."""
    if world > 1:
        stem, ext = name.rsplit(".", 1)
        name = f"{stem}.rank{rank}.{ext}"
    return Path(out) / PREDICTIONS_DIR / method / name


def prediction_paths(out: str | os.PathLike, rank: int | None = None) -> list[Path]:
    """Every prediction dump (rank None), or only shard `rank`'s."""
    pattern = "*/*.jsonl" if rank is None else f"*/*.rank{rank}.jsonl"
    return sorted((Path(out) / PREDICTIONS_DIR).glob(pattern))


def unsharded_name(path: str | os.PathLike) -> str:
    """The dump name without a .rank{i} part: "preds_passkey.rank1.jsonl" -> "preds_passkey.jsonl"."""
    return Path(path).name.split(".")[0] + ".jsonl"


def stage_path(out: str | os.PathLike, stage: str) -> Path:
    return Path(out) / STAGES_DIR / stage


# ---------------------------------------------------------------------------------------------- writing
def write_lines(path: str | os.PathLike, lines: Iterable[str], *, append: bool = False) -> None:
    """Write `lines` (without newlines) to `path`: appended as whole lines in one write and fsynced, or
    (append=False) atomically replacing the file through a temporary one beside it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = "".join(line + "\n" for line in lines).encode("utf-8")
    target = path if append else path.with_name(path.name + ".tmp")
    with open(target, "ab" if append else "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    if not append:
        os.replace(target, path)


def write_rows(path: str | os.PathLike, rows: Iterable[Any], *, append: bool = False) -> None:
    """Result rows (anything with `to_json()`, i.e. results.ResultRow), one sorted-key JSON object a line."""
    write_lines(path, (json.dumps(r.to_json(), sort_keys=True) for r in rows), append=append)


def write_records(path: str | os.PathLike, records: Iterable[dict], *, append: bool = False) -> None:
    """Records in an official dump format: UTF-8 unescaped, as the official scripts write them
    (json.dumps(..., ensure_ascii=False))."""
    write_lines(path, (json.dumps(r, ensure_ascii=False) for r in records), append=append)


def mark_done(directory: str | os.PathLike) -> None:
    write_lines(Path(directory) / DONE_FILE, [])
