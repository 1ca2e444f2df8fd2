"""Tables and published figures: exponents, ratios, accuracy fallbacks, the paper transcription."""

import json
import runpy
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis import paper
from analysis.tables import (
    accuracy_by_depth,
    accuracy_by_length,
    fit_exponent,
    format_value,
    head_to_head,
    load_run,
    prepare_frame,
    scaling_table,
)

FIXTURE = Path(__file__).parent / "fixtures" / "run_small"
MODEL = "smollm2-135m"


@pytest.fixture(scope="module")
def run():
    return load_run(FIXTURE)


def test_fixture_is_reproducible(tmp_path):
    """The committed rows are exactly what tests/fixtures/make_run_small.py writes."""
    runpy.run_path(str(FIXTURE.parent / "make_run_small.py"))["main"](tmp_path)
    for name in ("rows.jsonl", "manifest.json"):
        assert (tmp_path / name).read_text() == (FIXTURE / name).read_text(), name


@pytest.mark.parametrize("b", [0.0, 1.0, 2.0, 0.5])
def test_fit_exponent_recovers_power_law(b):
    lengths = np.array([1024, 2048, 4096, 8192])
    assert fit_exponent(lengths, 3.0 * lengths**b) == pytest.approx(b, abs=1e-9)


def test_fit_exponent_needs_two_lengths():
    assert np.isnan(fit_exponent([1024], [5.0]))
    assert np.isnan(fit_exponent([1024, 2048], [0.0, 0.0]))


def test_head_to_head_ratios(run):
    h = head_to_head(run.frame, MODEL, 8192)
    cache = h[(h["metric"] == "cache_bytes") & (h["source"] == "analytic")].set_index("variant")
    # Fixture: swa keeps 64 sinks + 448 window = 512 of 8192 tokens.
    assert cache.loc["swa", "vs_full_ratio"] == pytest.approx(512 / 8192, rel=1e-5)
    assert cache.loc["full", "vs_full_ratio"] == 1.0
    assert cache.loc["ahn-gdn", "vs_swa_ratio"] > 1  # the memory state costs bytes on top of the window
    assert list(h["metric"].unique())[:2] == ["prefill_flops", "decode_flops_per_token"]


def test_scaling_exponents(run):
    t = scaling_table(run.frame, MODEL, "cache_bytes", "analytic")
    assert t.loc["exponent", "full"] == pytest.approx(1.0, abs=1e-6)  # KV cache grows linearly
    assert t.loc["exponent", "swa"] == pytest.approx(0.0, abs=1e-6)  # constant past the window
    assert list(t.index[:4]) == [1024, 2048, 4096, 8192]


def test_accuracy_falls_back_to_aggregate_rows(run):
    """A harness that wrote only aggregate rows gives the same table as one with per-sample rows."""
    from_samples = accuracy_by_length(run.frame)
    only_aggregates = prepare_frame(run.frame[run.frame["extra.aggregate"].notna()].drop(columns="variant"))
    from_aggregates = accuracy_by_length(only_aggregates)
    assert np.allclose(from_samples["score"], from_aggregates["score"])
    assert (from_aggregates["n"] == 10).all()
    depth = accuracy_by_depth(only_aggregates)
    assert np.allclose(depth["score"], accuracy_by_depth(run.frame)["score"])


def test_variants_split_window_sweeps(run):
    frame = run.frame.drop(columns="variant")
    other = frame[frame["method"] == "swa"].assign(window=960.0)
    labelled = prepare_frame(pd.concat([frame, other], ignore_index=True))
    assert {"swa (64+448)", "swa (64+960)", "full", "ahn-gdn"} == set(labelled["variant"])


def test_format_value():
    assert format_value(4.52288e12, "FLOP") == "4.52 TFLOP"
    assert format_value(188743680, "B") == "180 MiB"
    assert format_value(0.0327, "s") == "32.7 ms"


def test_paper_table6_averages_match_table2():
    for size, methods in paper.LVEVAL.items():
        for method, tasks in methods.items():
            assert len(tasks) == 11
            assert np.mean(list(tasks.values())) == pytest.approx(paper.LVEVAL_AVG[size][method], abs=0.01)


@pytest.mark.parametrize(
    "task, key",
    [
        ("cmrc_mixup", "cmrc"),
        ("loogle_SD_mixup", "loogle_sd"),
        ("multifieldqa_zh_mixup_128k", "mfqa_zh"),
        ("factrecall_en", "factrecall_en"),
        ("passkey", None),
    ],
)
def test_lveval_task_names(task, key):
    assert paper.lveval_task_key(task) == key


def test_model_size():
    assert paper.model_size("qwen2.5-3b") == "3B"
    assert paper.model_size("Qwen/Qwen2.5-14B-Instruct") == "14B"
    assert paper.model_size("smollm2-135m") is None


def test_fixture_manifest_says_it_is_a_fixture():
    manifest = json.loads((FIXTURE / "manifest.json").read_text())
    assert manifest["fixture"] is True and "not measurements" in manifest["note"]
