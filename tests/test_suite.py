"""The suite runner: config validation, staged runs, resume, merged rows."""

import json

import pytest

from ahn.errors import UserError
from ahn_bench.cli import main
from benchmarks.results import read_rows
from benchmarks.suite import load_suite, run_suite

TINY_SUITE = """
name = "tiny"
model = "tiny-llama"
methods = ["full", "swa", "ahn-gdn"]
window = 32
sinks = 4

[efficiency]
lengths = [64, 256]
paper_models = ["qwen2.5-3b"]
paper_lengths = [131072]
"""


def test_committed_suites_load():
    quick = load_suite("quick")
    assert quick.model == "smollm2-135m" and "ahn-gdn" in quick.methods
    assert load_suite("full").efficiency.paper_models == ["qwen2.5-3b", "qwen2.5-7b", "qwen2.5-14b"]
    assert load_suite("quick", model="/models/qwen").model == "/models/qwen"


@pytest.mark.parametrize(
    "text,message",
    [
        ("name = [", "invalid TOML"),
        ('name = "x"\nmodel = "m"\nmethods = ["nope"]\nwindow = 8\nsinks = 0\n', "unknown method 'nope'"),
        ('name = "x"\nmodel = "m"\nmethods = ["swa"]\nwindow = 0\nsinks = 0\n', "window must be > 0"),
        ('name = "x"\nmodel = "m"\nmethods = ["swa"]\nwindow = 8\nsinks = 0\ncolour = 1\n', "colour"),
    ],
)
def test_bad_suite_files_are_one_line_errors(tmp_path, text, message):
    path = tmp_path / "suite.toml"
    path.write_text(text)
    with pytest.raises(UserError, match=message):
        load_suite(str(path))


def test_unknown_suite_name():
    with pytest.raises(UserError, match="unknown suite 'nightly'; known: full, head-to-head, quick"):
        load_suite("nightly")


def test_deterministic_run_merges_stages_and_resumes(tmp_path):
    path = tmp_path / "tiny.toml"
    path.write_text(TINY_SUITE)
    out = tmp_path / "run"
    summary = run_suite(load_suite(str(path)), out, deterministic=True)
    assert summary["stages"] == ["efficiency-analytic", "efficiency-paper"]
    rows = read_rows(out)
    assert len(rows) == summary["rows"] > 0
    assert {r.run_id for r in rows} == {summary["run_id"]}
    assert {r.model for r in rows} == {"tiny-llama", "qwen2.5-3b"}
    assert {r.source for r in rows} == {"analytic", "paper"}  # the paper stage adds its convention's rows

    with pytest.raises(UserError, match="already holds a run"):
        run_suite(load_suite(str(path)), out, deterministic=True)
    again = run_suite(load_suite(str(path)), out, resume=True, deterministic=True)  # every stage skipped
    assert again["run_id"] == summary["run_id"]
    assert [r.to_json() for r in read_rows(out)] == [r.to_json() for r in rows]
    with pytest.raises(UserError, match="another suite config"):
        run_suite(load_suite(str(path)), out, resume=True, deterministic=False)


def test_cli_run_writes_report_and_json(tmp_path, capsys):
    path = tmp_path / "tiny.toml"
    path.write_text(TINY_SUITE)
    out = tmp_path / "run"
    assert main(["run", "--suite", str(path), "--deterministic", "--out", str(out), "--json"]) == 0
    payload = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert payload["ok"] and payload["rows"] > 0
    assert (out / "report.md").exists() and (out / "report.html").exists()
    assert main(["run", "--suite", "nightly", "--json"]) == 2


def test_lm_stage_is_in_the_suites_but_not_in_the_deterministic_gate(tmp_path):
    from benchmarks.suite import _stages

    quick = load_suite("quick")
    assert quick.lm is not None and quick.lm.data == "paradise-lost" and max(quick.lm.lengths) >= 2048
    assert "lm" in [name for name, _ in _stages(quick, deterministic=False)]
    assert "lm" not in [name for name, _ in _stages(quick, deterministic=True)]
    assert load_suite("full").lm is not None
    path = tmp_path / "suite.toml"
    path.write_text(TINY_SUITE + "\n[lm]\nlength = [64]\n")
    with pytest.raises(UserError, match=r"suite.toml \[lm\]: .*length"):
        load_suite(str(path))
