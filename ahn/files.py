"""Reading the user's text files and claiming run directories, with one-line errors that name the path.

Text is read as bytes and decoded line by line, so invalid UTF-8 is reported at its real line (a text-mode
reader decodes 8 KiB at a time and would blame whichever line the buffer started on). A run directory is
claimed before any work: an existing run is refused unless the caller resumes it or was told to overwrite
it, so nothing already written is lost or mixed with another run's rows.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

from ahn.errors import UserError

# Files whose presence makes a directory an ahn-bench run (results, distill runs, distill-eval tables):
# only such a directory may be cleared by --overwrite (a mistyped --out ~ must never be emptied). Not
# config.json: a Hugging Face model directory has one too.
RUN_MARKERS = ("manifest.json", "rows.jsonl", "checkpoint.pt", "train_log.jsonl", "ahn.safetensors",
               "eval_rows.jsonl")  # fmt: skip


def _check_readable_file(path: Path) -> None:
    if path.is_dir():
        raise UserError(f"{path}: is a directory, expected a file")
    if not path.exists():
        raise UserError(f"{path}: no such file")


def _decode(raw: bytes, path: Path, lineno: int) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise UserError(
            f"{path}:{lineno}: not valid UTF-8 (byte 0x{raw[e.start]:02x} at column {e.start + 1})"
        ) from None


def iter_lines(path: str | os.PathLike) -> Iterator[tuple[int, str]]:
    """(line number, text without its newline) of a UTF-8 text file."""
    path = Path(path)
    _check_readable_file(path)
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, start=1):
            yield lineno, _decode(raw, path, lineno).rstrip("\r\n")


def read_text(path: str | os.PathLike) -> str:
    """A whole UTF-8 text file; invalid UTF-8 is reported with its line."""
    return "\n".join(line for _, line in iter_lines(path))


def drop_torn_tail(path: str | os.PathLike, is_complete) -> bool:
    """A run killed mid-append leaves at most one torn line: the last one, without its newline. Cut it off
    (with a warning) so a resumed run appends after whole lines; `is_complete(text)` says whether an
    unterminated last line is nevertheless whole (then only its newline is added). Any earlier bad line is
    left for the reader to report: that is corruption, not an interrupted write. Returns True if it cut."""
    path = Path(path)
    if not path.is_file() or path.stat().st_size == 0:
        return False
    with open(path, "rb+") as f:
        f.seek(-1, os.SEEK_END)
        if f.read(1) == b"\n":
            return False
        f.seek(0)
        data = f.read()
        start = data.rfind(b"\n") + 1
        tail = data[start:]
        try:
            whole = is_complete(tail.decode("utf-8"))
        except UnicodeDecodeError:  # cut inside a multi-byte character
            whole = False
        if whole:
            f.write(b"\n")
            return False
        f.truncate(start)
    lineno = data.count(b"\n") + 1
    print(f"warning: {path}:{lineno}: dropped a torn last line ({len(tail)} bytes) left by an interrupted "
          "write", file=sys.stderr)  # fmt: skip
    return True


def check_run_dir(
    path: str | os.PathLike, *, resume: bool = False, overwrite: bool = False, resumable: bool = True
) -> str:
    """What claiming `path` will do, without touching it: "new", "resume" or "overwrite". A non-empty
    directory is refused unless `resume` (the caller then checks the saved config matches) or `overwrite`
    (only an ahn-bench run directory may be cleared). Cheap: call it before any work."""
    path = Path(path)
    if resume and overwrite:
        raise UserError("--resume and --overwrite exclude each other")
    if path.exists() and not path.is_dir():
        raise UserError(f"{path}: exists and is not a directory")
    if not (path.is_dir() and any(path.iterdir())):
        return "new"
    if resume:
        return "resume"
    if not overwrite:
        how = (
            "--resume to continue it, --overwrite to replace it,"
            if resumable
            else "--overwrite to replace it"
        )
        raise UserError(f"{path}: already holds a run; pass {how} or choose another --out")
    if not any((path / marker).exists() for marker in RUN_MARKERS):
        raise UserError(f"{path}: not an ahn-bench run directory; --overwrite will not clear it")
    return "overwrite"


def claim_run_dir(
    path: str | os.PathLike, *, resume: bool = False, overwrite: bool = False, resumable: bool = True
) -> bool:
    """Make `path` ready for a run (see `check_run_dir`; call this one once everything is validated, since
    `overwrite` clears the old run); returns True when it holds a run to resume."""
    path = Path(path)
    state = check_run_dir(path, resume=resume, overwrite=overwrite, resumable=resumable)
    if state == "overwrite":
        shutil.rmtree(path)
    path.mkdir(parents=True, exist_ok=True)  # an unwritable --out fails here (OSError naming it)
    return state == "resume"
