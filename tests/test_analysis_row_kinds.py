"""The report on row kinds other branches write: one measured length, lm position buckets, RULER depths,
the paper cost convention, methods the analysis has never heard of."""

import json
import re
from pathlib import Path

import pytest

from analysis import lm, plots
from analysis.report import build_report
from analysis.tables import load_run
from benchmarks.results import ResultRow, RowWriter

MODEL = "smollm2-135m"
S, W = 32, 256


def row(method, benchmark, task, length, metric, value, unit, source="measured", model=MODEL, **extra):
    windowed = method != "full"
    return ResultRow("kinds", model, method, benchmark, task, length, metric, float(value), unit, source,
                     W if windowed else None, S if windowed else None, extra)  # fmt: skip


def write_run(run_dir: Path, rows, config=None) -> Path:
    RowWriter(run_dir).write(rows)
    manifest = {
        "run_id": run_dir.name,
        "config": config or {"model": MODEL},
        "environment": {"device": "test"},
    }
    (run_dir / "manifest.json").write_text(json.dumps(manifest))
    return run_dir


def efficiency(length, methods=("full", "swa", "ahn-gdn"), model=MODEL, **extra):
    cache = {"full": 4e6 * length / 1024, "swa": 1.2e6, "ahn-gdn": 1.6e6, "snapkv": 1.3e6}
    flops = {"full": 2e11 * length / 1024, "swa": 1.5e11, "ahn-gdn": 1.55e11, "snapkv": 1.6e11}
    out = []
    for m in methods:
        out.append(
            row(m, "efficiency", "prefill", length, "cache_bytes", cache[m], "B", "analytic", model, **extra)
        )
        out.append(
            row(
                m,
                "efficiency",
                "prefill",
                length,
                "prefill_flops",
                flops[m],
                "FLOP",
                "analytic",
                model,
                **extra,
            )
        )
    return out


def passkey(length, correct: dict[str, list[int]], benchmark="infinitebench", task="passkey", depths=None):
    out = []
    for method, hits in correct.items():
        for i, hit in enumerate(hits):
            depth = depths[i % len(depths)] if depths else None
            extra = {"sample_id": f"s{i}"} | ({"depth": depth} if depth is not None else {})
            out.append(row(method, benchmark, task, length, "score", 100.0 * hit, "%", **extra))
    return out


def test_one_length_gives_tables_not_line_plots_or_exponents(tmp_path):
    run_dir = write_run(
        tmp_path / "one", efficiency(2048) + passkey(2048, {"full": [1, 1, 0], "swa": [0, 0, 0]})
    )
    payload = build_report(run_dir)
    md = (run_dir / "report.md").read_text()
    assert not [f for f in payload["figures"] if "scaling" in Path(f).name]
    assert "exponent" not in md.lower()
    assert payload["sections"]["Scaling with context length"] == "omitted"
    assert "### Models measured at a single length" in md
    assert "| smollm2-135m | 2k | cache_bytes | analytic | swa | 1.14 MiB |" in md


def test_section_without_rows_is_listed_once_under_not_measured(tmp_path):
    run_dir = write_run(tmp_path / "nolm", efficiency(1024) + efficiency(4096))
    payload = build_report(run_dir)
    md = (run_dir / "report.md").read_text()
    assert payload["sections"]["Long-context language modelling"] == "omitted"
    assert payload["sections"]["Accuracy per task"] == "omitted"
    assert "## Long-context language modelling" not in md and "## Accuracy per task" not in md
    headings = re.findall(r"^## (.+)$", md, flags=re.M)
    assert headings[-1] == "Not measured in this run" and headings.count("Not measured in this run") == 1
    tail = md.split("## Not measured in this run")[1]
    for text in ("no `lm` rows", "no `score` rows"):
        assert md.count(text) == 1 and text in tail


def lm_rows(lengths=(2048,), methods=None):
    """Buckets relative to W=256: inside, 1-2x, 2-4x, 4-8x W. Inside every method is 2.0 nats; beyond the
    window full stays at 2.0, swa rises to 3.0, ahn-gdn to 2.5 (half the gap closed), ahn-dn to 3.0."""
    methods = methods or {"full": 2.0, "swa": 3.0, "ahn-gdn": 2.5, "ahn-dn": 3.0}
    out = []
    for length in lengths:
        for start, end in ((0, 256), (256, 512), (512, 1024), (1024, 2048)):
            for method, far in methods.items():
                nll = 2.0 if end <= W else far
                tokens = end - start
                out.append(row(method, "lm", f"{start}-{end}", length, "nll", nll, "nat", n_tokens=tokens))
                kl = 0.0 if method == "full" or end <= W else far - 2.0
                out.append(
                    row(method, "lm", f"{start}-{end}", length, "kl_to_full", kl, "nat", n_tokens=tokens)
                )
    return out


def test_lm_rows_give_the_position_curve_and_gap_table(tmp_path):
    run_dir = write_run(tmp_path / "lm", lm_rows())
    payload = build_report(run_dir)
    names = {Path(f).name for f in payload["figures"]}
    assert {"lm-nll-smollm2-135m.png", "lm-kl-to-full-smollm2-135m.png"} <= names
    md = (run_dir / "report.md").read_text()
    assert "| ahn-gdn | 2k | all beyond W | 2.0000 | 3.0000 | 2.5000 | 50.0% |" in md
    assert "| ahn-dn | 2k | 256-512 | 2.0000 | 3.0000 | 3.0000 | 0.0% |" in md
    # The verdict quotes the NLL beyond the window with the share of the gap closed.
    verdict = md.split("\n## ")[1]
    assert "| ahn-gdn | 2.5000 | +0.5000 | -0.5000 | 50% |" in verdict
    assert "distill" not in md.lower()  # the old distillation section is gone


def test_gap_closed_is_nan_without_a_gap(tmp_path):
    run_dir = write_run(tmp_path / "nogap", lm_rows(methods={"full": 2.0, "swa": 2.0, "ahn-gdn": 1.9}))
    gaps = lm.gap_closed(lm.lm_curve(load_run(run_dir).frame, MODEL))
    assert len(gaps) and gaps["share"].isna().all()


def test_ruler_depth_rows_get_a_heatmap(tmp_path):
    depths = (0.0, 0.5, 1.0)
    rows = []
    for length in (2048, 4096):
        rows += passkey(length, {"full": [1] * 6, "swa": [0, 0, 1] * 2, "ahn-gdn": [0, 1, 1] * 2},
                        benchmark="ruler", task="niah_single_1", depths=depths)  # fmt: skip
    run_dir = write_run(tmp_path / "ruler", rows)
    payload = build_report(run_dir)
    assert any(Path(f).name == "depth-smollm2-135m-ruler-niah-single-1.png" for f in payload["figures"])
    md = (run_dir / "report.md").read_text()
    assert "n = 2 per cell" in md
    assert "| ruler/niah_single_1 | full | 100.0 [61.0, 100.0] | 6 | - |" in md


def test_paper_convention_rows_sit_beside_physical(tmp_path):
    rows = []
    for convention, (full_cache, ahn_cache) in (("physical", (4.0e9, 1.2e9)), ("paper", (4.0e9, 1.0e9))):
        for method, cache in (("full", full_cache), ("ahn-gdn", ahn_cache)):
            r = row(method, "efficiency", "prefill", 128000, "cache_bytes", cache, "B", "analytic",
                    model="qwen2.5-3b", convention=convention)  # fmt: skip
            rows.append(r)
    run_dir = write_run(tmp_path / "conv", rows)
    build_report(run_dir)
    md = (run_dir / "report.md").read_text()
    # Physical: 1 - 1.2/4 = 70.0% (paper 74.0%); paper convention: 1 - 1.0/4 = 75.0%.
    assert (
        "| qwen2.5-3b: cache_bytes reduction, ahn-gdn vs full, 128,000 | 74.0% | 70.0% (-4.0 pts) | "
        "75.0% (+1.0 pts) |" in md
    )
    # The two conventions never mix in the cost tables (a median of both would read 1.1 GiB).
    assert "1.1 GiB" not in md


def test_unknown_methods_need_no_code_change(tmp_path):
    rows = efficiency(1024, ("full", "swa", "snapkv")) + efficiency(2048, ("full", "swa", "snapkv"))
    rows += passkey(2048, {"full": [1, 1, 1, 1], "swa": [0, 0, 1, 0], "snapkv": [1, 0, 1, 1]})
    run_dir = write_run(tmp_path / "new-method", rows)
    payload = build_report(run_dir)
    md = (run_dir / "report.md").read_text()
    assert "**snapkv**" in md and payload["figures"]
    assert plots.color_of("snapkv") == plots.color_of("snapkv") in plots.FALLBACK_COLORS
    assert plots.color_of("ct-max") in plots.FALLBACK_COLORS
    assert plots.color_of("swa (32+256)") == plots.METHOD_COLORS["swa"]


def test_identical_predictions_read_zero_in_the_report(tmp_path):
    hits = [1, 0, 1, 1, 0, 0]
    run_dir = write_run(tmp_path / "same", passkey(1024, {"full": [1] * 6, "swa": hits, "ahn-gdn": hits}))
    build_report(run_dir)
    md = (run_dir / "report.md").read_text()
    assert (
        "| infinitebench/passkey | ahn-gdn | 50.0 [18.8, 81.2] | 6 | -50.0 [-83.3, -16.7] | +0.0 "
        "[+0.0, +0.0] |" in md
    )


@pytest.mark.parametrize(
    "task, bounds", [("0-256", (0, 256)), (" 512 - 1024 ", (512, 1024)), ("inside", None)]
)
def test_parse_bucket(task, bounds):
    assert lm.parse_bucket(task) == bounds
