"""`ahn-bench compare`: identical runs pass, doctored rows fail by name, noise passes, bad input errs."""

import json
import shutil
from pathlib import Path

import pytest

from ahn_bench import cli

FIXTURE = Path(__file__).parent / "fixtures" / "run_small"


@pytest.fixture(autouse=True)
def only_our_subcommands(monkeypatch):
    # The CLI lists every team's subcommand module; these tests need only `compare`.
    monkeypatch.setattr(cli, "SUBCOMMAND_MODULES", ["analysis.cli"])


def copy_run(tmp_path, name, edit=None):
    """The fixture run copied to tmp_path/name, with `edit(record) -> record | None` applied to each row."""
    run_dir = tmp_path / name
    shutil.copytree(FIXTURE, run_dir)
    if edit is not None:
        lines = (run_dir / "rows.jsonl").read_text().splitlines()
        records = [edit(json.loads(line)) for line in lines]
        (run_dir / "rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records if r is not None))
    return run_dir


def compare(capsys, *args):
    code = cli.main(["compare", *map(str, args), "--json"])
    out, err = capsys.readouterr()
    lines = out.strip().splitlines()
    return code, "\n".join(lines[:-1]), json.loads(lines[-1]), err


def is_row(r, method, task, length, metric, source="measured", **extra):
    return (r["method"], r["task"], r["length"], r["metric"], r["source"]) == (
        method,
        task,
        length,
        metric,
        source,
    ) and all(r["extra"].get(k) == v for k, v in extra.items())


def test_identical_runs_pass(tmp_path, capsys):
    code, md, payload, _ = compare(capsys, FIXTURE, copy_run(tmp_path, "new"))
    assert code == 0 and payload["ok"] is True
    assert payload["counts"]["regression"] == 0 and payload["counts"]["ok"] == 520
    assert "**Result: PASS**" in md


def test_doctored_rows_fail_by_name(tmp_path, capsys):
    def doctor(r):
        if is_row(r, "ahn-gdn", "prefill", 8192, "prefill_flops", "analytic"):
            r["value"] *= 1.01  # a cost-model change
        elif is_row(r, "ahn-gdn", "passkey", 4096, "score", aggregate="mean") and "depth" not in r["extra"]:
            r["value"] -= 10  # accuracy drop beyond 5 points
        elif is_row(r, "swa", "decode", 2048, "decode_seconds_p50"):
            r["value"] *= 3  # 3x slower decode
        return r

    code, md, payload, _ = compare(capsys, FIXTURE, copy_run(tmp_path, "new", doctor))
    assert code == 1 and payload["ok"] is False
    assert payload["counts"]["regression"] == 3
    regressions = md.split("## Regressions (3)")[1].split("## ")[0]
    assert "smollm2-135m ahn-gdn efficiency/prefill @8k prefill_flops (analytic)" in regressions
    assert "| +1%" in regressions
    assert "smollm2-135m ahn-gdn infinitebench/passkey @4k score (measured)" in regressions
    assert "aggregate=mean" in regressions and "-10.0 pts" in regressions
    assert "smollm2-135m swa efficiency/decode @2k decode_seconds_p50 (measured)" in regressions
    assert "3.00x" in regressions
    assert "**Result: FAIL** (3 failing rows)" in md


def test_timing_noise_and_speedups_pass(tmp_path, capsys):
    def jitter(r):
        if r["metric"].startswith("decode_seconds") or r["metric"] == "prefill_seconds":
            r["value"] *= 1.3 if r["length"] < 8192 else 0.3  # noise below 2x, and a big speed-up
        elif r["metric"] == "peak_memory_bytes":
            r["value"] *= 1.05
        return r

    code, md, payload, _ = compare(capsys, FIXTURE, copy_run(tmp_path, "new", jitter))
    assert code == 0, md
    assert payload["counts"]["improved"] == 3 * 4  # the four 8k timings of each method
    assert "## Improvements (12)" in md


def test_timing_ratio_threshold_is_a_flag(tmp_path, capsys):
    def slower(r):
        if r["metric"] == "prefill_seconds":
            r["value"] *= 1.3
        return r

    code, _, payload, _ = compare(capsys, FIXTURE, copy_run(tmp_path, "new", slower), "--timing-ratio", "1.2")
    assert code == 1 and payload["counts"]["regression"] == 12


def test_per_sample_flip_is_reported_not_failed(tmp_path, capsys):
    def flip(r):
        if r["extra"].get("sample_id") == "passkey-8192-d050-0" and r["method"] == "full":
            r["value"] = 0.0
        return r

    code, md, payload, _ = compare(capsys, FIXTURE, copy_run(tmp_path, "new", flip))
    assert code == 0
    assert payload["counts"]["changed"] == 1 and "sample_id=passkey-8192-d050-0" in md


def test_samples_without_aggregates_are_judged_on_their_mean(tmp_path, capsys):
    def no_aggregates(r):
        return None if "aggregate" in r["extra"] else r

    def fail_half(r):
        r = no_aggregates(r)
        if (
            r
            and r["method"] == "full"
            and r["task"] == "passkey"
            and r["length"] == 1024
            and r["value"] == 100
        ):
            r["value"] = 0.0 if r["extra"]["sample_id"].endswith("-0") else r["value"]
        return r

    base = copy_run(tmp_path, "base", no_aggregates)
    code, md, payload, _ = compare(capsys, base, copy_run(tmp_path, "new", fail_half))
    assert code == 1
    [reg] = payload["regressions"]
    assert reg["row"].startswith("smollm2-135m full infinitebench/passkey @1k score") and reg["new"] == 50.0


def test_missing_rows_fail_unless_allowed(tmp_path, capsys):
    new = copy_run(tmp_path, "new", lambda r: None if r["benchmark"] == "distill" else r)
    code, md, payload, _ = compare(capsys, FIXTURE, new)
    assert code == 1 and payload["counts"]["missing"] == 16
    assert "## Missing in new run (regression) (16)" in md
    code, md, payload, _ = compare(capsys, FIXTURE, new, "--allow-missing")
    assert code == 0
    # and the other way round: rows only in the new run are reported, not failed
    code, md, payload, _ = compare(capsys, new, FIXTURE)
    assert code == 0 and payload["counts"]["new"] == 16


def bad_input(capsys, *args):
    code = cli.main(["compare", *map(str, args)])
    out, err = capsys.readouterr()
    assert code == 2
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    return err


def test_bad_inputs_are_one_line_errors(tmp_path, capsys):
    assert "no such run directory" in bad_input(capsys, tmp_path / "nope", FIXTURE)
    (tmp_path / "empty").mkdir()
    assert "no manifest.json" in bad_input(capsys, FIXTURE, tmp_path / "empty")
    no_rows = copy_run(tmp_path, "no_rows")
    (no_rows / "rows.jsonl").unlink()
    assert "no rows.jsonl" in bad_input(capsys, FIXTURE, no_rows)
    blank = copy_run(tmp_path, "blank")
    (blank / "rows.jsonl").write_text("")
    assert "no result rows" in bad_input(capsys, FIXTURE, blank)
    unknown = copy_run(tmp_path, "unknown", lambda r: {**r, "metric": "tokens_per_joule"})
    assert "unknown metric 'tokens_per_joule'" in bad_input(capsys, FIXTURE, unknown)
    other = copy_run(tmp_path, "other", lambda r: {**r, "model": "qwen2.5-3b"})
    assert "not comparable" in bad_input(capsys, other, FIXTURE)
    assert "--timing-ratio must be > 1" in bad_input(capsys, FIXTURE, FIXTURE, "--timing-ratio", "0.5")


def test_bad_input_json(tmp_path, capsys):
    assert cli.main(["compare", str(tmp_path / "nope"), str(FIXTURE), "--json"]) == 2
    assert json.loads(capsys.readouterr().out.strip()) == {
        "ok": False,
        "error": f"{tmp_path / 'nope'}: no such run directory",
    }


def test_report_bad_input(tmp_path, capsys):
    assert cli.main(["report", str(tmp_path)]) == 2
    assert "no manifest.json" in capsys.readouterr().err
