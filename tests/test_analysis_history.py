"""`ahn-bench history`: three fixture runs at three commits give one trend line per method and metric."""

import contextlib
import io
import json
import shutil
from pathlib import Path

import pytest

from ahn_bench import cli

FIXTURE = Path(__file__).parent / "fixtures" / "run_small"


def commit_run(tmp_path: Path, name: str, commit: str, time_utc: str, slowdown: float) -> Path:
    run_dir = tmp_path / name
    shutil.copytree(FIXTURE, run_dir)
    manifest = json.loads((run_dir / "manifest.json").read_text())
    manifest["run_id"], manifest["environment"]["git_commit"] = name, commit
    manifest["environment"]["time_utc"] = time_utc
    (run_dir / "manifest.json").write_text(json.dumps(manifest))
    records = [json.loads(line) for line in (run_dir / "rows.jsonl").read_text().splitlines()]
    for r in records:
        if r["metric"].startswith("decode_seconds"):
            r["value"] *= slowdown
    (run_dir / "rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    return run_dir


def test_history_draws_one_line_per_method_and_metric(tmp_path, monkeypatch):
    monkeypatch.setattr(cli, "SUBCOMMAND_MODULES", ["analysis.cli"])
    # Given out of order: history orders them by the time in their manifests.
    runs = [
        commit_run(tmp_path, "c", "cccccccccc", "2026-03-01T00:00:00+00:00", 1.5),
        commit_run(tmp_path, "a", "aaaaaaaaaa", "2026-01-01T00:00:00+00:00", 1.0),
        commit_run(tmp_path, "b", "bbbbbbbbbb", "2026-02-01T00:00:00+00:00", 1.0),
    ]
    out = tmp_path / "history"
    with contextlib.redirect_stdout(io.StringIO()) as stdout:
        assert cli.main(["history", *map(str, runs), "--out", str(out), "--json"]) == 0
    payload = json.loads(stdout.getvalue().strip().splitlines()[-1])
    assert payload["runs"] == ["aaaaaaa", "bbbbbbb", "ccccccc"]
    methods = {"full", "swa", "ahn-gdn"}
    series = payload["lines"]
    # Efficiency metrics at the longest common length, each task's score, one figure each.
    for name in (
        "smollm2-135m decode_seconds_p50 (measured) at 8k",
        "smollm2-135m cache_bytes (analytic) at 8k",
        "smollm2-135m infinitebench/passkey score (all lengths)",
    ):
        assert sorted(series[name]) == sorted(methods), name
    assert all(sorted(lines) == sorted(methods) for lines in series.values())
    assert len(payload["figures"]) == len(series)
    for path in payload["figures"]:
        assert Path(path).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    points = json.loads((out / "history.json").read_text())["points"]
    decode = [p for p in points if p["series"] == "smollm2-135m decode_seconds_p50 (measured) at 8k"]
    assert len(decode) == 3 * len(methods)
    by_run = {(p["run_label"], p["variant"]): p["value"] for p in decode}
    assert by_run[("ccccccc", "full")] / by_run[("bbbbbbb", "full")] == pytest.approx(1.5)
    md = (out / "history.md").read_text()
    assert "| smollm2-135m decode_seconds_p50 (measured) at 8k | full |" in md and "+50.0%" in md
