"""The lm benchmark (benchmarks/lm) on a tiny random Llama with the real SmolLM2 tokenizer: the rows'
contract, untrained AHN == swa exactly, a window covering the text == full, trained weights are loaded and
named, an interrupted-then-resumed run == an uninterrupted one, bad input is a one-line error."""

import json

import pytest
import torch
from transformers import AutoModelForCausalLM

import ahn
from ahn.errors import UserError
from ahn.models import tiny_config
from ahn_bench.cli import main
from benchmarks.lm.buckets import position_buckets
from benchmarks.lm.config import LmConfig
from benchmarks.lm.runner import SEQUENCES_FILE, run_lm
from benchmarks.lm.summary import beyond_window
from benchmarks.results import read_rows

WINDOW, SINKS = 16, 4
METHODS = ["full", "swa", "ahn-gdn", "ahn-dn", "ahn-mamba2"]


@pytest.fixture(scope="module")
def tok():
    return ahn.load_tokenizer()


@pytest.fixture(scope="module")
def base(tok):
    torch.manual_seed(0)
    config = tiny_config("llama", vocab_size=len(tok))
    return AutoModelForCausalLM.from_config(config, attn_implementation="sdpa").eval()


@pytest.fixture(scope="module")
def text(tmp_path_factory):
    """About 1,500 tokens of varied prose-like text (enough for 2 sequences of 160 and of 96)."""
    words = "the of memory window river stone light ancient garden who spoke and then silence".split()
    g = torch.Generator().manual_seed(1)
    picks = torch.randint(0, len(words), (1200,), generator=g).tolist()
    path = tmp_path_factory.mktemp("text") / "book.txt"
    path.write_text(" ".join(words[i] for i in picks) + ".\n")
    return path


def lm_config(out, text, **overrides):
    base = dict(out=str(out), data=str(text), methods=METHODS, model="tiny-llama", lengths=[96, 160], n=2,
                window=WINDOW, sinks=SINKS, ahn_weights="none")  # fmt: skip
    return LmConfig(**{**base, **overrides})


def run(cfg, base, tok, **kwargs):
    return run_lm(cfg, base_model=base, tokenizer=tok, progress=False, **kwargs)


def by_key(rows):
    return {(r.method, r.length, r.task, r.metric, r.extra.get("sample_id")): r.value for r in rows}


def comparable(path):
    rows = []
    for row in read_rows(path):
        record = row.to_json()
        record.pop("run_id")
        rows.append(record)
    return rows


@pytest.fixture(scope="module")
def reference(base, tok, text, tmp_path_factory):
    out = tmp_path_factory.mktemp("reference")
    return out, run(lm_config(out, text), base, tok)


def test_rows_contract(reference):
    out, summary = reference
    rows = read_rows(out)
    assert [r.to_json() for r in rows] == [r.to_json() for r in summary["rows"]]
    assert {r.metric for r in rows} == {"nll", "kl_to_full"} and {r.unit for r in rows} == {"nat"}
    assert {r.benchmark for r in rows} == {"lm"} and {r.method for r in rows} == set(METHODS)
    for length in (96, 160):
        expected = position_buckets(length, WINDOW, SINKS)
        assert expected[0].label == "inside" and expected[0].end == SINKS + WINDOW
        assert expected[-1].end == length - 1  # the last position predicts nothing in the text
        for method in METHODS:
            for metric in ("nll", "kl_to_full"):
                sel = [r for r in rows if (r.length, r.method, r.metric) == (length, method, metric)]
                assert [r.task for r in sel] == [f"{b.start}-{b.end}" for b in expected]
                for r, b in zip(sel, expected):
                    assert (r.extra["start"], r.extra["end"], r.extra["bucket"]) == (b.start, b.end, b.label)
                    assert r.extra["sequences"] == 2 and r.extra["n_tokens"] == 2 * b.size
                    assert r.extra["window_edge"] == SINKS + WINDOW
                    assert (r.window, r.sinks) == ((None, None) if method == "full" else (WINDOW, SINKS))
    for r in rows:
        assert r.extra["ahn_weights"] == ("none" if r.method in ("full", "swa") else "untrained")
        assert r.extra.get("ahn_trained", False) is False
    assert all(r.value == 0.0 for r in rows if r.method == "full" and r.metric == "kl_to_full")


def test_swa_equals_full_inside_the_window_and_not_beyond(reference):
    out, summary = reference
    values = by_key(summary["rows"])
    for length in (96, 160):
        inside = f"0-{SINKS + WINDOW}"
        assert values[("swa", length, inside, "nll", None)] == pytest.approx(
            values[("full", length, inside, "nll", None)], abs=1e-5
        )
        assert values[("swa", length, inside, "kl_to_full", None)] < 1e-6
        past = beyond_window(summary["rows"])[length]
        assert past["kl_to_full"]["swa"] > 1e-5  # the window really forgets: the checks above can fail


def test_untrained_ahn_equals_swa_exactly(reference):
    out, summary = reference
    for rows in (summary["rows"], read_rows(out / SEQUENCES_FILE)):
        values = by_key(rows)
        for (method, *rest), value in values.items():
            if method.startswith("ahn-"):
                assert value == values[("swa", *rest)], (method, rest)


def _random_ahn_weights(base, path, method="ahn-gdn"):
    """AHN weights with every parameter random (a nonzero output projection): a stand-in for trained ones."""
    g = torch.Generator().manual_seed(3)
    with ahn.attach_method(base, ahn.MethodSpec(method, WINDOW, SINKS)):
        with torch.no_grad():
            for p in ahn.ahn_parameters(base).values():
                p.copy_(0.5 * torch.randn(p.shape, generator=g))
        return ahn.save_ahn_weights(base, path)


def test_trained_weights_are_loaded_and_named(base, tok, text, tmp_path):
    weights = _random_ahn_weights(base, tmp_path / "gdn.safetensors")
    cfg = lm_config(
        tmp_path / "run", text, methods=["full", "swa", "ahn-gdn"], lengths=[96], ahn_weights=str(weights)
    )
    rows = run(cfg, base, tok)["rows"]
    values = by_key(rows)
    gdn = [r for r in rows if r.method == "ahn-gdn"]
    assert {r.extra["ahn_weights"] for r in gdn} == {str(weights)} and all(
        r.extra["ahn_trained"] for r in gdn
    )
    inside = f"0-{SINKS + WINDOW}"
    assert values[("ahn-gdn", 96, inside, "nll", None)] == pytest.approx(
        values[("swa", 96, inside, "nll", None)]
    )
    past = beyond_window(rows)[96]
    assert abs(past["nll"]["ahn-gdn"] - past["nll"]["swa"]) > 1e-4  # the memory changes what it predicts
    assert set(past["gap_closed"]) == {"ahn-gdn"}


def test_window_covering_the_text_equals_full(base, tok, text, tmp_path):
    weights = _random_ahn_weights(base, tmp_path / "gdn.safetensors")  # even a memory that would act
    cfg = lm_config(tmp_path / "run", text, methods=["full", "swa", "ahn-gdn"], lengths=[96], window=95,
                    sinks=0, ahn_weights=str(weights))  # fmt: skip
    rows = run(cfg, base, tok)["rows"]
    assert {r.task for r in rows} == {"0-95"} and {r.extra["bucket"] for r in rows} == {"inside"}
    values = by_key(rows)
    for method in ("swa", "ahn-gdn"):
        assert values[(method, 96, "0-95", "nll", None)] == pytest.approx(
            values[("full", 96, "0-95", "nll", None)], abs=1e-5
        )
        assert values[(method, 96, "0-95", "kl_to_full", None)] < 1e-6
    assert beyond_window(rows) == {}


def test_interrupted_then_resumed_equals_uninterrupted(base, tok, text, reference, tmp_path):
    ref_out, _ = reference
    out = tmp_path / "run"

    def interrupt(count):
        if count == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run(lm_config(out, text), base, tok, on_unit=interrupt)
    assert not (out / "rows.jsonl").exists()
    with open(out / SEQUENCES_FILE, "a") as f:  # a unit cut off mid-write: a torn last line
        f.write('{"run_id": "lm-x", "model": "tiny-ll')
    with pytest.raises(UserError, match="already holds results"):
        run(lm_config(out, text), base, tok)
    with pytest.raises(UserError, match=r"cannot resume with a different config \(n: 2 -> 3\)"):
        run(lm_config(out, text, n=3), base, tok, resume=True)
    summary = run(lm_config(out, text), base, tok, resume=True)
    assert (summary["skipped"], summary["computed"]) == (2, 2)
    assert comparable(out) == comparable(ref_out)
    assert comparable(out / SEQUENCES_FILE) == comparable(ref_out / SEQUENCES_FILE)


@pytest.mark.parametrize(
    "content,overrides,message",
    [
        ("   \n", {}, "empty corpus"),
        ("only a few words here", {}, "corpus too short: .* need at least one row of 96"),
        ("short", {"lengths": [5000]}, "length 5000 exceeds the model's 4096 positions"),
        ("short", {"lengths": [1]}, "length must be an integer >= 2"),
        ("short", {"methods": ["full", "lru"]}, "unknown method 'lru'"),
        ("short", {"ahn_weights": "missing.safetensors"}, "no such AHN weights file"),
    ],
)
def test_bad_input_is_a_one_line_error(base, tok, tmp_path, content, overrides, message):
    path = tmp_path / "text.txt"
    path.write_text(content)
    with pytest.raises(UserError, match=message) as err:
        run(lm_config(tmp_path / "run", path, **overrides), base, tok)
    assert "\n" not in str(err.value)
    assert not (tmp_path / "run" / SEQUENCES_FILE).exists()


def test_cli_errors_before_any_model_runs(tmp_path, capsys):
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    cases = [
        (["--data", str(empty)], "empty corpus"),
        (["--lengths", "9000"], "length 9000 exceeds the model's 8192 positions"),
        (["--tasks", "passkey"], "--tasks: not an option of --benchmark lm"),
        (["--data", str(tmp_path / "nope.txt")], "neither a file nor a known corpus"),
    ]
    for extra, message in cases:
        code = main(["eval", "--benchmark", "lm", "--out", str(tmp_path / "run"), "--json", *extra])
        captured = capsys.readouterr()
        assert code == 2
        assert message in captured.err and len(captured.err.strip().splitlines()) == 1
        payload = json.loads(captured.out.strip().splitlines()[-1])
        assert payload["ok"] is False and message in payload["error"]


@pytest.mark.slow
def test_cli_on_the_default_model_with_shipped_weights(tmp_path, capsys):
    text = tmp_path / "book.txt"
    text.write_text("Of Man's first disobedience, and the fruit of that forbidden tree. " * 20)
    argv = ["eval", "--benchmark", "lm", "--data", str(text), "--methods", "full,swa,ahn-gdn",
            "--lengths", "64", "--window", "16", "--sinks", "4", "--n", "1", "--out", str(tmp_path / "run"),
            "--json", "--no-progress"]  # fmt: skip
    assert main(argv) == 0
    payload = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    rows = payload["rows"]
    assert payload["ok"] and {r["metric"] for r in rows} == {"nll", "kl_to_full"}
    assert [r["task"] for r in rows if r["method"] == "full" and r["metric"] == "nll"] == [
        "0-20",
        "20-36",
        "36-63",
    ]
    gdn = [r for r in rows if r["method"] == "ahn-gdn"]
    assert {r["extra"]["ahn_weights"] for r in gdn} == {"ahn/weights/smollm2-135m/ahn-gdn/ahn.safetensors"}
    assert all(r["extra"]["ahn_trained"] and r["extra"]["ahn_train_steps"] > 0 for r in gdn)
    assert set(payload["beyond_window"]["64"]["gap_closed"]) == {"ahn-gdn"}
