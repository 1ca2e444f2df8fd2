"""benchmarks/rundir.py: the one writer of row files, prediction dumps and manifests."""

import json
import os
from pathlib import Path

import pytest

from benchmarks import rundir
from benchmarks.results import ResultRow, RowWriter, drop_torn_row, read_rows


def _row(value: float, sample: str = "0") -> ResultRow:
    return ResultRow("r", "m", "full", "ruler", "niah_single_1", 2048, "score", value, "%", "measured",
                     extra={"sample_id": sample})  # fmt: skip


def test_replace_leaves_the_old_file_when_the_rename_fails(tmp_path, monkeypatch):
    path = tmp_path / "rows.jsonl"
    rundir.write_rows(path, [_row(1.0)])
    before = path.read_bytes()

    def fail(*_):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError):
        rundir.write_rows(path, [_row(2.0), _row(3.0)])
    assert path.read_bytes() == before  # a reader never sees half of the new file
    monkeypatch.undo()
    rundir.write_rows(path, [_row(2.0), _row(3.0)])
    assert [r.value for r in read_rows(path)] == [2.0, 3.0]
    assert not (tmp_path / "rows.jsonl.tmp").exists()


def test_append_writes_whole_lines_in_one_call(tmp_path, monkeypatch):
    path = tmp_path / "rows.jsonl"
    writer = RowWriter(tmp_path)
    writer.write([_row(1.0, "0")])
    calls = []
    real_open = open

    class Spy:
        def __init__(self, f):
            self.f = f

        def write(self, data):
            calls.append(data)
            return self.f.write(data)

        def __getattr__(self, name):
            return getattr(self.f, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return self.f.__exit__(*exc)

    monkeypatch.setattr("builtins.open", lambda *a, **k: Spy(real_open(*a, **k)))
    writer.write([_row(2.0, "1"), _row(3.0, "2")])
    monkeypatch.undo()
    assert len(calls) == 1 and calls[0].endswith(b"\n") and calls[0].count(b"\n") == 2
    assert [r.value for r in read_rows(path)] == [1.0, 2.0, 3.0]


def test_a_torn_append_is_dropped_and_the_rest_kept(tmp_path):
    path = tmp_path / "rows.jsonl"
    rundir.write_rows(path, [_row(1.0, "0")], append=True)
    with open(path, "ab") as f:  # what a kill during the next append leaves
        f.write(json.dumps(_row(2.0, "1").to_json()).encode()[:20])
    assert drop_torn_row(path)
    rundir.write_rows(path, [_row(2.0, "1")], append=True)
    assert [r.value for r in read_rows(path)] == [1.0, 2.0]


def test_records_are_written_unescaped(tmp_path):
    path = tmp_path / "p" / "preds.jsonl"
    rundir.write_records(path, [{"pred": "答案"}])
    rundir.write_records(path, [{"pred": "b"}], append=True)
    assert path.read_text(encoding="utf-8") == '{"pred": "答案"}\n{"pred": "b"}\n'


def test_layout_paths(tmp_path):
    assert rundir.rows_path(tmp_path) == tmp_path / "rows.jsonl"
    assert rundir.rows_path(tmp_path, 1, 2) == tmp_path / "rows.rank1.jsonl"
    shard = rundir.prediction_path(tmp_path, "swa", "preds_passkey.jsonl", 1, 2)
    assert shard == tmp_path / "predictions" / "swa" / "preds_passkey.rank1.jsonl"
    assert rundir.unsharded_name(shard) == "preds_passkey.jsonl"
    assert rundir.stage_path(tmp_path, "lm") == tmp_path / "stages" / "lm"


def test_no_other_module_writes_jsonl_files():
    """Row files, dumps and manifests go through rundir.write_lines; a second writer is a second owner."""
    root = Path(__file__).resolve().parent.parent
    offenders = []
    for package in ("benchmarks", "analysis", "ahn_bench"):
        for path in (root / package).rglob("*.py"):
            if path.name == "rundir.py":
                continue
            text = path.read_text(encoding="utf-8")
            for needle in ("open(", ".write_text("):
                for line in text.splitlines():
                    if needle in line and ".jsonl" in line:
                        offenders.append(f"{path.relative_to(root)}: {line.strip()}")
            if "os.replace(" in text or '"a", encoding' in text:
                offenders.append(f"{path.relative_to(root)}: writes files itself")
    assert not offenders, offenders
