"""RULER qa_1 (SQuAD) and qa_2 (HotpotQA) from a user's local files, on tiny made-up files in the official
formats (benchmarks/fixtures/ruler): requested length within 2 %, the answer recoverable from the prompt by
an independent reading, string_match_part gives 100 / 0, and a missing or wrong file is a one-line error."""

import json
import re

import pytest

import ahn
import ahn_bench.cli as ahn_cli
from ahn.errors import UserError
from benchmarks.accuracy import generators as gen
from benchmarks.accuracy import ruler, runner
from benchmarks.accuracy.samples import FIXTURES_DIR
from benchmarks.results import read_rows
from tests.test_accuracy_runner import tiny_loader

SQUAD = str(FIXTURES_DIR / "ruler" / "squad_dev_tiny.json")
HOTPOT = str(FIXTURES_DIR / "ruler" / "hotpotqa_dev_tiny.json")
LENGTH = 4096  # a fixture document is ~90 tokens: 2 % of 4096 is more than half of one


@pytest.fixture(scope="module")
def tok():
    return ahn.load_tokenizer()


def recover(task: str, record: dict) -> str:
    """The answer, read back from the prompt alone."""
    text, question = record["input"], record["input"].rsplit("Question: ", 1)[1]
    if task == "qa_1":  # "From which year was TOWN known for TRADE?" -> "TOWN is ... from the year YEAR."
        town = re.match(r"From which year was (\S+) known", question).group(1)
        return re.search(rf"{re.escape(town)} is a made-up town .*? from the year (\d+)\.", text).group(1)
    hall = re.search(r"owner built (.+) open\?", question).group(1)  # bridge: hall -> its owner's factory
    factory = re.search(rf"{re.escape(hall)} is a made-up building .*? owner of (.+?)\.", text).group(1)
    return re.search(rf"{re.escape(factory)} is a made-up factory\. It opened in (\d+)\.", text).group(1)


@pytest.mark.parametrize("task", ["qa_1", "qa_2"])
def test_length_answer_and_scorer(tok, task):
    records = ruler.generate_records(tok, task, [LENGTH], None, 3, 42, "auto", [SQUAD, HOTPOT])
    assert len(records) == 3
    for i, record in enumerate(records):
        got = gen.count_tokens(tok, record["input"] + record["answer_prefix"]) + ruler.max_new_tokens(task)
        assert got == record["length"] and abs(got - LENGTH) <= 0.02 * LENGTH
        assert record["answer_prefix"] == " Answer:" and record["input"].startswith("Answer the question")
        assert record["input"].count("Document ") == record["documents"]
        answer = recover(task, record)
        assert [answer] == record["outputs"]
        sample = ruler._sample(task, record, str(i))
        assert 100 * ruler.score(sample, f" {answer}.") == 100
        assert 100 * ruler.score(sample, " 1066") == 0
    assert ruler.string_match_part("It is 1507", ["1500", "1507"]) == 1.0  # any reference (constants.py)
    assert ruler.string_match_all("It is 1507", ["1500", "1507"]) == 0.5


def test_squad_skips_impossible_questions_and_keeps_the_article_together(tok):
    from benchmarks.accuracy.ruler_qa import load_qa

    questions, docs, _ = load_qa("qa_1", [SQUAD])
    data = json.loads(open(SQUAD, encoding="utf-8").read())["data"]
    possible = sum(not q["is_impossible"] for a in data for p in a["paragraphs"] for q in p["qas"])
    assert len(questions) == possible and len(docs) == sum(len(a["paragraphs"]) for a in data)
    assert all(len(q["more"]) == 4 for q in questions)  # the other 4 paragraphs of its article


def test_missing_or_wrong_file_is_one_line(tok, tmp_path, capsys):
    with pytest.raises(UserError, match="needs a local squad JSON file"):
        ruler.generate_records(tok, "qa_1", [LENGTH], n=1)
    with pytest.raises(UserError, match="holds none"):
        ruler.generate_records(tok, "qa_1", [LENGTH], n=1, qa_data=[HOTPOT])
    bad = tmp_path / "squad.json"
    bad.write_text(json.dumps({"data": [{"title": "x", "paragraphs": [{"qas": []}]}]}))
    with pytest.raises(UserError, match=r"squad.json: data\[0\].paragraphs\[0\]: missing field 'context'"):
        ruler.generate_records(tok, "qa_1", [LENGTH], n=1, qa_data=[str(bad)])
    with pytest.raises(UserError, match="too short"):
        ruler.generate_records(tok, "qa_2", [40], n=1, qa_data=[HOTPOT])
    for argv in (
        ["generate", "ruler", "--task", "qa_1", "--tokens", "4096", "--out", str(tmp_path / "x.jsonl")],
        ["eval", "--benchmark", "ruler", "--data", "generated", "--tasks", "qa_2", "--lengths", "4096",
         "--out", str(tmp_path / "run")],
        ["eval", "--benchmark", "infinitebench", "--data", "generated", "--lengths", "4096",
         "--qa-data", SQUAD, "--out", str(tmp_path / "run2")],
    ):  # fmt: skip
        code = ahn_cli.main([*argv, "--json"])
        captured = capsys.readouterr()
        last = json.loads(captured.out.strip().splitlines()[-1])
        assert code == 2 and last["ok"] is False and "qa" in last["error"].lower(), last
        assert "Traceback" not in captured.err and "\n" not in last["error"]
    assert not (tmp_path / "x.jsonl").exists() and not (tmp_path / "run").exists()


def test_generate_and_eval_with_qa_data(tok, tmp_path, monkeypatch):
    out = tmp_path / "qa.jsonl"
    argv = ["generate", "ruler", "--task", "qa_2", "--tokens", "4096", "--n", "2", "--qa-data", HOTPOT,
            "--out", str(out), "--json"]  # fmt: skip
    assert ahn_cli.main(argv) == 0
    assert [json.loads(x)["task"] for x in out.read_text().splitlines()] == ["qa_2", "qa_2"]
    cfg = runner.EvalConfig(benchmark="ruler", data="generated", out=str(tmp_path / "run"), tasks=["qa_1"],
                            methods=["full", "swa"], lengths=[512], n=2, max_new_tokens=2, window=16, sinks=4,
                            qa_data=[SQUAD, HOTPOT])  # fmt: skip
    runner.run_eval(cfg, tokenizer=tok, load_model=tiny_loader(tok), progress=False)
    rows = [r for r in read_rows(tmp_path / "run") if "sample_id" in r.extra]
    assert len(rows) == 4 and {r.task for r in rows} == {"qa_1"} and all(r.length == 512 for r in rows)
    preds = (tmp_path / "run" / "predictions" / "full" / "qa_1.jsonl").read_text().splitlines()
    assert ruler.score_file(tmp_path / "run" / "predictions" / "full" / "qa_1.jsonl")["n"] == len(preds) == 2
