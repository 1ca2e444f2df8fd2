"""`ahn-bench report` on the committed fixture; the paper comparison on a small run in the paper's setting."""

import base64
import contextlib
import io
import json
import re
import shutil
from pathlib import Path

import pytest

from ahn_bench import cli
from analysis.report import ahn_weight_status, build_report
from analysis.tables import load_run
from benchmarks.results import ResultRow, RowWriter

FIXTURE = Path(__file__).parent / "fixtures" / "run_small"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
SECTIONS = [
    "Verdict",
    "Cost at the longest length",
    "Scaling with context length",
    "Analytic cost model vs measurement",
    "Accuracy per task",
    "AHN weights: trained or untrained",
    "Run and environment",
    "Not measured in this run",
]


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    """The fixture run, copied, with its report written once through the CLI: (run_dir, JSON payload)."""
    run_dir = tmp_path_factory.mktemp("report") / "run_small"
    shutil.copytree(FIXTURE, run_dir)
    with pytest.MonkeyPatch.context() as mp:
        # The CLI lists every team's subcommand module; this test needs only `report`.
        mp.setattr(cli, "SUBCOMMAND_MODULES", ["analysis.cli"])
        with contextlib.redirect_stdout(io.StringIO()) as out:
            assert cli.main(["report", str(run_dir), "--json"]) == 0
    return run_dir, json.loads(out.getvalue().strip().splitlines()[-1])


def test_report_cli_writes_every_section_and_figure(report):
    report, payload = report
    assert payload["ok"] is True

    md = (report / "report.md").read_text()
    headings = re.findall(r"^## (.+)$", md, flags=re.M)
    assert headings == SECTIONS
    for name in (
        "prefill_flops",
        "decode_flops_per_token",
        "cache_bytes",
        "prefill_seconds",
        "decode_seconds_p50",
    ):
        assert f"figures/scaling-smollm2-135m-{name}.png" in md
    for name in (
        "depth-smollm2-135m-infinitebench-passkey",
        "depth-smollm2-135m-infinitebench-kv-retrieval",
        "tasks-smollm2-135m-infinitebench",
        "tradeoff-smollm2-135m",
    ):
        assert f"figures/{name}.png" in md

    figures = [Path(p) for p in payload["figures"]]
    assert len(figures) == 10 and len(set(figures)) == 10
    html = (report / "report.html").read_text()
    embedded = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)
    assert len(embedded) == len(figures)
    for path, data in zip(figures, embedded):
        assert path.parent == report / "figures"
        assert path.read_bytes()[:8] == PNG_MAGIC
        assert base64.b64decode(data) == path.read_bytes()
    assert 'src="figures/' not in html  # self-contained: nothing to fetch beside the file


def test_report_content(report):
    report, _ = report
    md = (report / "report.md").read_text()
    assert "Synthetic test fixture" in md  # the fixture says it is one
    assert md.index("## Verdict") < md.index("## Run and environment")  # the answer first, provenance last
    assert "| ahn-gdn | **trained** | manifest config |" in md
    assert "**Cost at 8k tokens**" in md
    assert "| swa | 2.48 TFLOP | 0.549x | - | 11.3 MiB | 0.0625x | - |" in md
    assert "| cache_bytes | analytic | 1.00 | 0.00 | 0.00 |" in md  # growth exponents over four lengths
    # Every accuracy cell carries its interval and n; the verdict's differences are paired.
    assert "| infinitebench/passkey | full | " in md and "[95% CI]" in md
    assert re.search(r"\| passkey \| ahn-gdn \| 2k \| \d+\.\d \[\d+\.\d, \d+\.\d\] \| 10 \|", md)
    # Decode timings carry their p10-p90 and repeat count.
    assert re.search(r"ms \(p10-p90 [\d.]+-[\d.]+ ms, n=32\)", md)
    # No Qwen rows: the paper comparison and lm are not shown but listed once at the end.
    tail = md.split("## Not measured in this run")[1]
    assert "## Comparison with the AHN paper" not in md and "no `lveval` score rows" in tail
    assert md.count("no `lm` rows") == 1 and "no `lm` rows" in tail
    assert "Missing:" not in md
    html = (report / "report.html").read_text()
    assert "<nav><strong>Contents</strong>" in html and 'href="#verdict"' in html
    assert '<td class="txt">swa</td><td class="num">2.48 TFLOP</td>' in html


def test_config_is_a_readable_table(report):
    report, _ = report
    md = (report / "report.md").read_text()
    assert "| `lengths` | 1024, 2048, 4096, 8192 |" in md
    assert "| `accounting.kv_bytes_per_element` | 2 |" in md
    assert "{'" not in md  # no Python dict repr anywhere


def _qwen_run(run_dir: Path, ahn_status: str) -> Path:
    """A Qwen2.5-3B run in the paper's setting: analytic efficiency at 128k and LV-Eval aggregates."""
    writer = RowWriter(run_dir)

    def row(method, benchmark, task, length, metric, value, unit, **extra):
        windowed = method != "full"
        return ResultRow(
            "qwen-run",
            "qwen2.5-3b",
            method,
            benchmark,
            task,
            length,
            metric,
            value,
            unit,
            "analytic" if benchmark == "efficiency" else "measured",
            32640 if windowed else None,
            128 if windowed else None,
            extra,
        )

    rows = []
    for length in (32768, 128000):  # the paper's "128k" is 128,000 tokens
        full_flops, full_cache = 3.3e15 * (length / 128000) ** 1.6, 4.83e9 * length / 128000
        rows += [
            row("full", "efficiency", "prefill", length, "prefill_flops", full_flops, "FLOP"),
            row("full", "efficiency", "prefill", length, "cache_bytes", full_cache, "B"),
            row("ahn-gdn", "efficiency", "prefill", length, "prefill_flops", full_flops * 0.6, "FLOP"),
            row("ahn-gdn", "efficiency", "prefill", length, "cache_bytes", full_cache * 0.25, "B"),
        ]
    for method, base in (("full", 4.0), ("swa", 5.0), ("ahn-gdn", 6.0)):
        for task in ("cmrc_mixup", "loogle_SD_mixup", "dureader_mixup"):
            rows.append(row(method, "lveval", task, 131072, "score", base, "%", aggregate="mean", n=10))
    writer.write(rows)
    config = {"model": "qwen2.5-3b", "ahn_weights": {"ahn-gdn": ahn_status}}
    (run_dir / "manifest.json").write_text(
        json.dumps({"run_id": "qwen-run", "config": config, "environment": {"device": "test"}})
    )
    return run_dir


def test_ahn_weight_status_prefers_rows(tmp_path):
    run_dir = _qwen_run(tmp_path / "qwen", "untrained")
    rows = [json.loads(line) for line in (run_dir / "rows.jsonl").read_text().splitlines()]
    for r in rows:
        if r["method"] == "ahn-gdn" and r["benchmark"] == "lveval":
            r["extra"]["ahn_weights"] = "/cache/ahn/qwen2.5-3b-ahn-gdn.safetensors"
    (run_dir / "rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    status = ahn_weight_status(load_run(run_dir))
    assert status == {"ahn-gdn": ("trained", "rows (qwen2.5-3b-ahn-gdn.safetensors)")}


def test_paper_figures_beside_ours(tmp_path):
    run_dir = _qwen_run(tmp_path / "qwen", "untrained")
    payload = build_report(run_dir)
    assert payload["sections"]["Comparison with the AHN paper"] == "present"
    md = (run_dir / "report.md").read_text()
    # Paper Table 9 headline: 40.5% fewer FLOPs, 74.0% less cache; ours: 40.0% and 75.0% by construction.
    verdict = md.split("## Cost at the longest length")[0]
    assert (
        "| qwen2.5-3b: prefill_flops reduction, ahn-gdn vs full, 128,000 | 40.5% | 40.0% (-0.5 pts) |"
        in verdict
    )
    assert (
        "| qwen2.5-3b: cache_bytes reduction, ahn-gdn vs full, 128,000 | 74.0% | 75.0% (+1.0 pts) |"
        in verdict
    )
    # Paper Table 6, 3B: cmrc full 7.28, swa 7.48, AHN-GDN 7.96; cells are "ours (paper)".
    assert "| cmrc | 4.00 (7.28) | 5.00 (7.48) | 6.00 (7.96) |" in md
    assert "| loogle_sd | 4.00 (0.89) | 5.00 (4.59) | 6.00 (7.21) |" in md
    assert "average (11 tasks)" not in md  # only 3 of the 11 tasks were run
    assert "| ahn-gdn | **untrained** |" in md and "zero-initialised" in md
    assert "no `lm` rows" in md.split("## Not measured in this run")[1]
