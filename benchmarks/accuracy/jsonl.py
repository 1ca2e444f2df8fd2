"""Reading JSONL in the official formats, with `file:line: what is wrong` for bad records (writing them is
`benchmarks.rundir.write_records`).

Every loader validates all records of all files before anything is generated, so a typo in line 900 of
the last file stops the run at once rather than after hours of generation.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

from ahn.errors import UserError
from ahn.files import iter_lines


class RecordError(ValueError):
    """A record-level problem; `read_records` turns it into `UserError("file:line: message")`."""


def iter_jsonl(path: str | os.PathLike) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for each non-blank line; a malformed or non-object line is a UserError."""
    for lineno, line in iter_lines(path):  # invalid UTF-8, a directory, no file: UserError naming the path
        if not line.strip():  # the official iter_jsonl skips blank lines too
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise UserError(f"{path}:{lineno}: malformed JSON ({e.msg} at column {e.colno})") from None
        if not isinstance(obj, dict):
            raise UserError(f"{path}:{lineno}: expected a JSON object, got {type(obj).__name__}")
        yield lineno, obj


def read_records(path, validate) -> list[tuple[int, Any]]:
    """All records of a file through `validate(obj) -> value`, which raises RecordError on a bad record."""
    out = []
    for lineno, obj in iter_jsonl(path):
        try:
            out.append((lineno, validate(obj)))
        except RecordError as e:
            raise UserError(f"{path}:{lineno}: {e}") from None
    if not out:
        raise UserError(f"{path}: no records")
    return out


def need(obj: dict, key: str, kind, *, optional: bool = False, nonempty: bool = False):
    """obj[key] checked against `kind` (a type or tuple of types); None allowed only when optional."""
    if key not in obj or obj[key] is None:
        if optional:
            return None
        raise RecordError(f"missing field {key!r}")
    value = obj[key]
    # bool is an int subclass; a JSON true where a number belongs is still a mistake.
    if not isinstance(value, kind) or (isinstance(value, bool) and bool not in _as_tuple(kind)):
        raise RecordError(f"field {key!r} must be {_kind_name(kind)}, got {type(value).__name__}")
    if nonempty and len(value) == 0:
        raise RecordError(f"field {key!r} must not be empty")
    return value


def need_str_list(obj: dict, key: str, *, optional: bool = False, nonempty: bool = True) -> list[str] | None:
    value = need(obj, key, list, optional=optional, nonempty=nonempty)
    if value is not None and not all(isinstance(v, str) for v in value):
        raise RecordError(f"field {key!r} must be a list of strings")
    return value


def _as_tuple(kind):
    return kind if isinstance(kind, tuple) else (kind,)


def _kind_name(kind) -> str:
    names = {str: "a string", int: "an integer", float: "a number", list: "a list", dict: "an object"}
    return " or ".join(names.get(k, k.__name__) for k in _as_tuple(kind))
