"""The eval runner on tiny random models (ahn.tiny_model) with the real SmolLM2 tokenizer: rows, aggregates,
prediction dumps, resume after an interruption, sharding + merge, and untrained AHN == SWA."""

import json

import pytest

import ahn
import ahn_bench.cli as ahn_cli
from ahn.errors import UserError
from benchmarks.accuracy import lveval as lv
from benchmarks.accuracy import runner
from benchmarks.accuracy.samples import FIXTURES_DIR
from benchmarks.results import read_rows

IB_DIR = str(FIXTURES_DIR / "infinitebench")
LV_DIR = str(FIXTURES_DIR / "lveval")


@pytest.fixture(scope="session")
def tok():
    return ahn.load_tokenizer()


def tiny_loader(tok, window=16, sinks=4):
    """method -> a 2-layer random Llama; the same seed gives every method the same base weights."""

    def load(method):
        windowed = method != "full"
        return ahn.tiny_model(
            "llama",
            method=method,
            window=window if windowed else None,
            sinks=sinks if windowed else None,
            vocab_size=len(tok),
        )

    return load


def config(out, **overrides):
    base = dict(
        benchmark="infinitebench",
        data=IB_DIR,
        out=str(out),
        tasks=["passkey", "math_find"],
        methods=["full", "swa"],
        max_new_tokens=3,
        window=16,
        sinks=4,
    )
    return runner.EvalConfig(**{**base, **overrides})


def comparable(run_dir):
    """Rows without what legitimately differs between two runs: the run id and the timings."""
    rows = []
    for row in read_rows(run_dir):
        record = row.to_json()
        record.pop("run_id")
        record["extra"] = {k: v for k, v in record["extra"].items() if k != "seconds"}
        rows.append(record)
    return rows


def predictions(run_dir):
    return {
        str(p.relative_to(run_dir)): p.read_text() for p in sorted((run_dir / "predictions").rglob("*.jsonl"))
    }


@pytest.fixture(scope="module")
def reference_run(tok, tmp_path_factory):
    out = tmp_path_factory.mktemp("reference")
    summary = runner.run_eval(config(out), tokenizer=tok, load_model=tiny_loader(tok), progress=False)
    return out, summary


def test_rows_aggregates_and_prediction_dumps(reference_run):
    out, summary = reference_run
    assert summary["samples"] == 8 and summary["generated"] == 8  # 2 tasks x 2 records x 2 methods
    rows = read_rows(out)
    per_sample = [r for r in rows if "aggregate" not in r.extra]
    assert len(per_sample) == 8
    first = per_sample[0]
    assert (first.method, first.task, first.metric, first.unit, first.source) == (
        "full", "passkey", "score", "%", "measured")  # fmt: skip
    assert set(first.extra) >= {
        "sample_id",
        "prompt_sha256",
        "input_tokens",
        "truncated",
        "prediction",
        "seconds",
    }
    swa = next(r for r in per_sample if r.method == "swa")
    assert (swa.window, swa.sinks) == (16, 4)
    # both methods saw the very same prompts
    by_method = {m: [r.extra["prompt_sha256"] for r in per_sample if r.method == m] for m in ("full", "swa")}
    assert by_method["full"] == by_method["swa"]
    aggregates = [r for r in rows if r.extra.get("aggregate") == "mean"]
    assert {(r.method, r.task, r.extra["n"]) for r in aggregates} == {
        (m, t, 2) for m in ("full", "swa") for t in ("passkey", "math_find")
    }
    for agg in aggregates:
        members = [r.value for r in per_sample if (r.method, r.task) == (agg.method, agg.task)]
        assert agg.value == pytest.approx(sum(members) / len(members))
    dump = (out / "predictions" / "swa" / "preds_passkey.jsonl").read_text().splitlines()
    assert [json.loads(line)["ground_truth"] for line in dump] == ["71432", "04215"]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["config"]["methods"] == ["full", "swa"] and manifest["run_id"] == rows[0].run_id


def _interrupted_after_three_samples(tok, out):
    """A run killed (KeyboardInterrupt) right after its third sample."""

    def interrupt_after_three(count):
        if count == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        runner.run_eval(config(out), tokenizer=tok, load_model=tiny_loader(tok), progress=False,
                        on_sample=interrupt_after_three)  # fmt: skip


def test_interrupted_then_resumed_equals_uninterrupted(tok, tmp_path, reference_run):
    ref_out, _ = reference_run
    out = tmp_path / "run"
    _interrupted_after_three_samples(tok, out)
    assert len(read_rows(out)) == 3  # what was generated before the interruption is kept
    with pytest.raises(UserError, match="pass --resume"):
        runner.run_eval(config(out), tokenizer=tok, load_model=tiny_loader(tok), progress=False)
    summary = runner.run_eval(
        config(out), resume=True, tokenizer=tok, load_model=tiny_loader(tok), progress=False
    )
    assert (summary["generated"], summary["skipped"]) == (5, 3)  # finished samples are not redone
    assert comparable(out) == comparable(ref_out)
    assert predictions(out) == predictions(ref_out)
    manifest = json.loads((out / "manifest.json").read_text())
    assert len(manifest["resumed"]) == 1
    # nothing left to do: a second resume generates nothing and changes nothing
    again = runner.run_eval(
        config(out), resume=True, tokenizer=tok, load_model=tiny_loader(tok), progress=False
    )
    assert again["generated"] == 0 and comparable(out) == comparable(ref_out)
    with pytest.raises(UserError, match="cannot resume with a different config.*max_new_tokens"):
        runner.run_eval(
            config(out, max_new_tokens=4), resume=True, tokenizer=tok, load_model=tiny_loader(tok)
        )


def test_shards_merge_to_the_same_rows(tok, tmp_path, reference_run):
    ref_out, _ = reference_run
    out = tmp_path / "sharded"
    for rank in (0, 1):
        summary = runner.run_eval(config(out), shard=(rank, 2), tokenizer=tok, load_model=tiny_loader(tok),
                                  progress=False)  # fmt: skip
        assert summary["shard"] == f"{rank}/2" and summary["generated"] == 4
    assert sorted(p.name for p in out.glob("rows*.jsonl")) == ["rows.rank0.jsonl", "rows.rank1.jsonl"]
    runner.finalize(out)  # = ahn-bench eval --merge
    assert not list(out.glob("rows.rank*.jsonl"))
    assert comparable(out) == comparable(ref_out)
    assert predictions(out) == predictions(ref_out)


@pytest.mark.filterwarnings("ignore:passkey. the closest record")  # 256 tokens is finer than a noise line
def test_untrained_ahn_scores_exactly_like_swa(tok, tmp_path):
    # Generated passkey prompts (~260 tokens) far longer than sinks + window (4 + 16): tokens are evicted and
    # the AHN memory writes them, but its zero output projection adds exactly nothing.
    cfg = config(tmp_path / "ahn", data="generated", tasks=["passkey"], lengths=[256], depths=[0.0, 1.0],
                 methods=["swa", "ahn-gdn"], max_new_tokens=4)  # fmt: skip
    runner.run_eval(cfg, tokenizer=tok, load_model=tiny_loader(tok), progress=False)
    rows = [r for r in read_rows(cfg.out) if "aggregate" not in r.extra]
    swa = [(r.extra["sample_id"], r.extra["prediction"], r.value) for r in rows if r.method == "swa"]
    gdn = [(r.extra["sample_id"], r.extra["prediction"], r.value) for r in rows if r.method == "ahn-gdn"]
    assert len(swa) == 2 and swa == gdn
    assert all(r.extra["input_tokens"] > 20 for r in rows)
    assert {r.extra["ahn_weights"] for r in rows if r.method == "ahn-gdn"} == {"untrained"}
    grids = {(g["method"], g["task"]): g for g in runner_needle_grids(cfg.out)}
    assert grids[("swa", "passkey")]["depths"] == [0.0, 1.0] and grids[("swa", "passkey")]["lengths"] == [256]


def runner_needle_grids(run_dir):
    from benchmarks.accuracy import needle

    return needle.needle_grids(read_rows(run_dir))


def test_lveval_run_levels_and_rescoring(tok, tmp_path):
    cfg = config(tmp_path / "lv", benchmark="lveval", data=LV_DIR, tasks=["cmrc_mixup", "loogle_SD_mixup"],
                 methods=["full"], limit=1, max_input_tokens=64)  # fmt: skip
    runner.run_eval(cfg, tokenizer=tok, load_model=tiny_loader(tok), progress=False)
    rows = read_rows(cfg.out)
    per_sample = [r for r in rows if "aggregate" not in r.extra]
    assert [(r.task, r.extra["level"]) for r in per_sample] == [
        ("loogle_SD_mixup", "16k"), ("loogle_SD_mixup", "32k"), ("cmrc_mixup", "16k")]  # fmt: skip
    assert all(r.extra["truncated"] for r in per_sample)  # the prompts are longer than 64 tokens
    overall = {r.length: r for r in rows if r.task == "overall"}
    assert set(overall) == {16000, 32000} and overall[16000].extra["n"] == 2
    per_level = {
        (r.task, r.length): r.value
        for r in rows
        if r.extra.get("aggregate") and r.length and r.task != "overall"
    }
    assert overall[16000].value == pytest.approx(
        (per_level[("cmrc_mixup", 16000)] + per_level[("loogle_SD_mixup", 16000)]) / 2
    )
    # the dumps are in the official format: `ahn-bench score` gives back the same per-file numbers
    for name, key in (
        ("cmrc_mixup_16k.jsonl", ("cmrc_mixup", 16000)),
        ("loogle_SD_mixup_32k.jsonl", ("loogle_SD_mixup", 32000)),
    ):
        result = lv.score_file(tmp_path / "lv" / "predictions" / "full" / name)
        assert result["score"] == round(per_level[key], 2)


def test_bad_data_stops_the_cli_before_any_model_loads(tmp_path, monkeypatch, capsys):
    (tmp_path / "passkey.jsonl").write_text(
        '{"context": "c", "input": "q", "answer": ["1"]}\n{"context": 5}\n'
    )

    def no_model(cfg):
        raise AssertionError("a model was loaded although the data are bad")

    monkeypatch.setattr(runner, "default_model_loader", no_model)
    monkeypatch.setattr(ahn_cli, "SUBCOMMAND_MODULES", ["benchmarks.accuracy.cli"])
    argv = ["eval", "--benchmark", "infinitebench", "--data", str(tmp_path), "--tasks", "passkey"]
    code = ahn_cli.main([*argv, "--out", str(tmp_path / "out"), "--json"])
    out, err = capsys.readouterr()
    assert code == 2
    assert f"{tmp_path / 'passkey.jsonl'}:2: field 'context' must be a string" in err
    assert json.loads(out.strip().splitlines()[-1])["ok"] is False
    assert not (tmp_path / "out" / "rows.jsonl").exists()


def test_config_validation(tmp_path):
    with pytest.raises(UserError, match="needs --lengths"):
        runner.EvalConfig(benchmark="infinitebench", data="generated", out=str(tmp_path))
    with pytest.raises(UserError, match="cannot be generated|unknown generated"):
        runner.EvalConfig(benchmark="infinitebench", data="generated", out=str(tmp_path), lengths=[512],
                          tasks=["longbook_qa_eng"])  # fmt: skip
    with pytest.raises(UserError, match="not a directory"):
        runner.EvalConfig(benchmark="lveval", data=str(tmp_path / "missing"), out=str(tmp_path))
    assert runner.parse_shard("1/4") == (1, 4)
    with pytest.raises(UserError):
        runner.parse_shard("4/4")


@pytest.mark.filterwarnings("ignore:factrecall_en. the closest record")
def test_generated_factrecall_run_rescores_from_its_dump(tok, tmp_path):
    cfg = config(tmp_path / "fr", benchmark="lveval", data="generated", tasks=["factrecall_en"],
                 lengths=[200], depths=[0.5], methods=["swa"])  # fmt: skip
    runner.run_eval(cfg, tokenizer=tok, load_model=tiny_loader(tok), progress=False)
    row = next(r for r in read_rows(cfg.out) if "aggregate" not in r.extra)
    assert (row.task, row.length, row.extra["depth"]) == ("factrecall_en", 200, 0.5)
    result = lv.score_file(tmp_path / "fr" / "predictions" / "swa" / "factrecall_en_200tok.jsonl")
    assert (result["task"], result["level"], result["score"]) == (
        "factrecall_en",
        "200tok",
        round(row.value, 2),
    )


def _tear(path):
    """What a kill in the middle of an append leaves: the start of one more line, without its newline."""
    last = path.read_bytes().splitlines(keepends=True)[-1]
    with open(path, "ab") as f:
        f.write(last[: len(last) // 2])


def test_resume_and_merge_drop_a_torn_last_line(tok, tmp_path, reference_run, capsys):
    ref_out, _ = reference_run
    out = tmp_path / "run"
    _interrupted_after_three_samples(tok, out)
    torn = [out / "rows.jsonl", sorted((out / "predictions").rglob("*.jsonl"))[0]]
    for path in torn:
        _tear(path)
    runner.run_eval(config(out), resume=True, tokenizer=tok, load_model=tiny_loader(tok), progress=False)
    assert comparable(out) == comparable(ref_out) and predictions(out) == predictions(ref_out)
    err = capsys.readouterr().err
    assert all(f"{path}:" in err for path in torn) and err.count("dropped a torn last line") == 2

    sharded = tmp_path / "sharded"  # --merge after a shard was killed mid-append
    for rank in (0, 1):
        runner.run_eval(config(sharded), shard=(rank, 2), tokenizer=tok, load_model=tiny_loader(tok),
                        progress=False)  # fmt: skip
    _tear(sharded / "rows.rank1.jsonl")
    runner.finalize(sharded)
    assert comparable(sharded) == comparable(ref_out)
