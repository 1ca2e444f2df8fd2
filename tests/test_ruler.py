"""RULER: every generated task has the requested length, its answer can be recovered from the context by an
independent reading, and the official scorer gives 100 to the answer and 0 to a wrong one; the eval runner
and the CLI take the benchmark without a special case."""

import json
import re
from collections import Counter

import pytest

import ahn
import ahn_bench.cli as ahn_cli
from ahn.errors import UserError
from benchmarks.accuracy import ruler, runner
from benchmarks.accuracy.ruler_synthetic import NIAH, TASKS, generate_records, record_length
from benchmarks.accuracy.samples import Sample
from benchmarks.results import read_rows
from tests.test_accuracy_runner import tiny_loader

LENGTH = 2048  # one uuid needle line (multikey_3) is ~50 tokens: 2 % needs lengths from ~2k


@pytest.fixture(scope="module")
def tok():
    return ahn.load_tokenizer()


@pytest.fixture(scope="module")
def records(tok):
    return {t: generate_records(tok, t, [LENGTH], [0.25] if t in NIAH else None, 1)[0] for t in TASKS}


def recover(task: str, record: dict) -> list[str]:
    """The answer, read back from the prompt alone (not from how the generator built it)."""
    text = record["input"] + record["answer_prefix"]
    if task in NIAH:
        found: dict[str, list[str]] = {}
        for key, value in re.findall(r"One of the special magic \w+ for (\S+) is: (\S+)\.", record["input"]):
            found.setdefault(key, []).append(value)
        asked = re.search(r"for (.+) mentioned in the provided text", record["answer_prefix"]).group(1)
        keys = re.split(r", and |, ", asked)
        return sorted(v for k in keys for v in found[k])
    if task == "vt":
        question = record["input"].rsplit("Memorize and track", 1)[1]  # after the one-shot example
        value = re.search(r"assigned the value (\d+)", question).group(1)
        assigned = dict(re.findall(r"VAR (\w+) = (\S+(?: \w+)?)", question))
        names, frontier = set(), {value}
        while frontier:
            new = {v for v, src in assigned.items() if src in frontier or src.replace("VAR ", "") in frontier}
            frontier = new - names
            names |= new
        return sorted(names)
    if task == "cwe":
        listing = record["input"].rsplit("Below is a numbered list", 1)[1]
        counts = Counter(re.findall(r"\d+\. (\S+)", listing))
        return sorted(w for w, _ in counts.most_common(10))
    counts = Counter(w for w in text.split("Find the three most frequently appeared coded words.")[1]
                     .split("\nQuestion")[0].split() if w != "...")  # fmt: skip
    return sorted(w for w, _ in counts.most_common(3))


@pytest.mark.parametrize("task", TASKS)
def test_task_length_answer_and_score(tok, records, task):
    record = records[task]
    assert abs(record["length"] - LENGTH) <= 0.02 * LENGTH
    assert record["length"] == record_length(tok, task, record)
    assert recover(task, record) == sorted(record["outputs"])
    sample = Sample("ruler", task, "0", LENGTH, record)
    assert 100 * ruler.score(sample, " " + ", ".join(record["outputs"]) + ".") == 100
    assert 100 * ruler.score(sample, "I do not know.") == 0


def test_niah_needle_sits_at_the_depth(tok):
    for depth in (0.0, 0.5, 1.0):
        r = generate_records(tok, "niah_single_1", [2048], [depth], 1)[0]
        at = r["input"].find(r["outputs"][0]) / len(r["input"])
        assert abs(at - depth) < 0.05, (depth, at)
        key = r["input"].split(" for ")[1].split(" is")[0]
        assert r["answer_prefix"] == f" The special magic number for {key} mentioned in the provided text is"


def test_official_metrics_by_hand():
    # constants.py: string_match_all averages the fraction of references found; part takes any one.
    assert ruler.string_match_all("  the numbers are 123 and 456\x01", ["123", "789"]) == 0.5
    assert ruler.string_match_all("ABC-def", ["abc-DEF"]) == 1.0
    assert ruler.string_match_part("Paris, France", ["London", "paris"]) == 1.0
    assert ruler.string_match_part("Rome", ["London", "paris"]) == 0.0
    assert ruler.postprocess(" a\tb\x00c ") == "a\nb\nc"


def test_too_short_a_length_is_a_user_error(tok):
    with pytest.raises(UserError, match="too short"):
        generate_records(tok, "vt", [300])


def test_generate_and_eval_on_the_cli(tok, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(ahn_cli, "SUBCOMMAND_MODULES", ["benchmarks.accuracy.cli"])
    out = tmp_path / "niah.jsonl"
    argv = ["generate", "ruler", "--task", "niah_single_1", "--tokens", "512", "--n", "2", "--out", str(out)]
    assert ahn_cli.main([*argv, "--json"]) == 0
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert len(lines) == 2 and {"input", "outputs", "answer_prefix", "length"} <= set(lines[0])
    capsys.readouterr()
    code = ahn_cli.main(["generate", "ruler", "--task", "niah_single_1", "--tokens", "40", "--out",
                         str(tmp_path / "short.jsonl"), "--json"])  # fmt: skip
    captured = capsys.readouterr()
    assert code == 2 and "too short" in json.loads(captured.out.strip().splitlines()[-1])["error"]
    assert "Traceback" not in captured.err


def test_runner_rows_carry_depth_and_length(tok, tmp_path):
    cfg = runner.EvalConfig(benchmark="ruler", data="generated", out=str(tmp_path / "run"),
                            tasks=["niah_single_1"], methods=["full", "swa"], lengths=[256],
                            depths=[0.0, 1.0], max_new_tokens=2, window=16, sinks=4)  # fmt: skip
    runner.run_eval(cfg, tokenizer=tok, load_model=tiny_loader(tok), progress=False)
    rows = read_rows(tmp_path / "run")
    cells = {(r.method, r.length, r.extra.get("depth")) for r in rows if "aggregate" in r.extra}
    assert {("full", 256, 0.0), ("swa", 256, 1.0)} <= cells
    dump = tmp_path / "run" / "predictions" / "swa" / "niah_single_1.jsonl"
    assert len(dump.read_text().splitlines()) == 2 and ruler.score_file(dump)["n"] == 2
