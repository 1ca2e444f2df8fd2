"""`ahn-bench efficiency`: the JSON payload, rows on disk through pandas, one-line errors."""

import json

import pytest
import torch

from ahn_bench.cli import main
from benchmarks.results import METRICS, load_frame, read_manifest


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)  # the runs below pass --threads 1


def _run(capsys, *argv):
    code = main(["efficiency", *argv, "--json"])
    out, err = capsys.readouterr()
    return code, json.loads(out.strip().splitlines()[-1]), out, err


def test_tiny_measured_run_rows_round_trip_through_pandas(capsys, tmp_path):
    code, payload, out, _ = _run(
        capsys, "--model", "tiny-llama", "--methods", "full,swa,ahn-gdn", "--lengths", "24,48",
        "--window", "16", "--sinks", "4", "--prefill-chunk", "32", "--decode-tokens", "3",
        "--decode-warmup", "1", "--counters", "torch", "--threads", "1", "--out", str(tmp_path / "run"),
    )  # fmt: skip
    assert code == 0 and payload["ok"]
    frame = load_frame(tmp_path / "run")
    assert len(frame) == len(payload["rows"])
    not_efficiency = {"score", "truncated_fraction", "kl_to_teacher", "nll", "kl_to_full"}
    assert set(frame["metric"]) == set(METRICS) - not_efficiency
    assert set(frame["source"]) == {"analytic", "measured"}
    assert (frame["benchmark"] == "efficiency").all() and set(frame["length"]) == {24, 48}
    assert frame.loc[frame["method"] == "full", "window"].isna().all()
    assert set(frame.loc[frame["method"] == "swa", "window"]) == {16}

    def value(method, length, metric, source):
        sel = frame[(frame.method == method) & (frame.length == length) & (frame.metric == metric)]
        return sel[sel.source == source]["value"].tolist()

    for method in ("full", "swa", "ahn-gdn"):
        for length in (24, 48):
            analytic = value(method, length, "prefill_flops", "analytic")[0]
            assert value(method, length, "prefill_flops", "measured") == [analytic]
            assert value(method, length, "cache_bytes", "measured") == value(
                method, length, "cache_bytes", "analytic"
            )
            p10, p50, p90 = (
                value(method, length, f"decode_seconds_{q}", "measured")[0] for q in ("p10", "p50", "p90")
            )
            assert 0 < p10 <= p50 <= p90
    manifest = read_manifest(tmp_path / "run")
    assert manifest["config"]["models"] == ["tiny-llama"] and manifest["environment"]["cpu_threads"] == 1
    assert "| tiny-llama | 48 | ahn-gdn |" in out


def test_paper_model_analytic_only_offline(capsys, tmp_path):
    code, payload, out, _ = _run(
        capsys, "--model", "qwen2.5-3b", "--methods", "full,ahn-gdn", "--lengths", "131072",
        "--window", "32640", "--sinks", "128", "--dtype", "bfloat16", "--analytic-only",
        "--out", str(tmp_path / "paper"),
    )  # fmt: skip
    assert code == 0 and {r["source"] for r in payload["rows"]} == {"analytic"}
    cache = {r["method"]: r for r in payload["rows"] if r["metric"] == "cache_bytes"}
    assert cache["full"]["value"] == 36 * 2 * 131072 * 2 * 128 * 2  # 2 L Hkv D per layer, bf16
    assert cache["ahn-gdn"]["extra"]["state"] == 36 * 16 * 128 * 128 * 4
    assert "qwen2.5-3b" in out


def test_paper_convention_adds_marked_rows_beside_the_physical_ones(capsys, tmp_path):
    code, payload, out, _ = _run(
        capsys, "--model", "qwen2.5-3b", "--methods", "full,ahn-gdn", "--lengths", "128000",
        "--window", "32640", "--sinks", "128", "--dtype", "float32", "--analytic-only",
        "--convention", "paper", "--out", str(tmp_path / "paper"),
    )  # fmt: skip
    assert code == 0
    paper = {(r["method"], r["metric"]): r for r in payload["rows"] if r["source"] == "paper"}
    physical = {(r["method"], r["metric"]): r for r in payload["rows"] if r["source"] == "analytic"}
    assert set(paper) == set(physical) and all(r["extra"]["convention"] == "paper" for r in paper.values())
    # paper formula: 2 L Hkv D per layer (full), 2 (S + W) Hkv D + Hq D^2 (AHN), 4-byte elements
    assert paper[("full", "cache_bytes")]["value"] == 36 * 2 * 128000 * 2 * 128 * 4
    assert paper[("ahn-gdn", "cache_bytes")]["value"] == 36 * (2 * 32768 * 2 * 128 + 16 * 128 * 128) * 4
    cut = 1 - paper[("ahn-gdn", "prefill_flops")]["value"] / paper[("full", "prefill_flops")]["value"]
    assert abs(100 * cut - 40.5) < 0.15  # the paper's claim, from its own convention
    assert "prefill FLOPs (paper convention)" in out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--model", "no-such-model", "--analytic-only"], "unknown model 'no-such-model'"),
        (["--model", "tiny-llama", "--methods", "full,nope"], "unknown method 'nope'"),
        (["--model", "tiny-llama", "--lengths", "128,0"], "lengths must be integers > 0"),
        (["--model", "tiny-llama", "--lengths", "-5"], "lengths must be integers > 0"),
        (["--model", "tiny-llama", "--lengths", "1k"], "--lengths must be comma-separated integers"),
        (["--model", "tiny-llama", "--window", "5000"], "window 5000 exceeds tiny-llama's 4096 position"),
        (["--model", "qwen2.5-3b", "--lengths", "1024"], "use --analytic-only"),
        (["--model", "tiny-llama", "--dtype", "int8"], "unknown dtype 'int8'"),
    ],
    ids=[
        "model",
        "method",
        "zero-length",
        "negative-length",
        "not-a-length",
        "window",
        "paper-weights",
        "dtype",
    ],
)
def test_bad_input_is_a_one_line_error(capsys, argv, message):
    code, payload, _, err = _run(capsys, *argv)
    assert code == 2 and not payload["ok"] and message in payload["error"]
    assert len(err.strip().splitlines()) == 1 and message in err
