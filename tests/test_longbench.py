"""LongBench: every metric of LongBench/metrics.py on hand-worked cases, eval.py's per-dataset rules, the
loaders and prompts on official-format fixtures, `ahn-bench score longbench`, and one-line errors."""

import json

import pytest

import ahn_bench.cli as ahn_cli
from ahn.errors import UserError
from benchmarks.accuracy import longbench as lb
from benchmarks.accuracy import text_metrics as tm
from benchmarks.accuracy.samples import FIXTURES_DIR

LB_DIR = FIXTURES_DIR / "longbench"
PRED_DIR = FIXTURES_DIR / "predictions" / "longbench"


def run_cli(monkeypatch, capsys, *argv):
    monkeypatch.setattr(ahn_cli, "SUBCOMMAND_MODULES", ["benchmarks.accuracy.cli"])
    code = ahn_cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# ---------------------------------------------------------------------------------------------- metrics
def test_qa_f1_en():
    # "cat sat on mat" vs "cat on mat" after dropping punctuation and articles: 3 shared, P 3/4, R 1.
    assert lb.qa_f1("The cat sat on the mat.", "a cat on a mat") == pytest.approx(2 * 0.75 / 1.75)
    assert lb.qa_f1("dog", "cat") == 0.0


def test_qa_f1_zh():
    assert tm.jieba_cut("我爱北京") == ["我", "爱", "北京"]
    assert lb.qa_f1_zh("我爱北京", "北京") == pytest.approx(0.5)  # P 1/3, R 1
    assert lb.qa_f1_zh("北京。", "北京") == 1.0  # the full stop normalises away


def test_rouge_en_and_zh():
    # LCS("the cat sat", "the cat sat down") = 3: P 1, R 3/4, F 6/7.
    assert lb.rouge("the cat sat", "the cat sat down") == pytest.approx(6 / 7, abs=1e-6)
    assert lb.rouge("", "anything") == 0.0  # the library raises on an empty hypothesis: upstream scores 0
    # jieba: 今天天气/很/好 vs 今天天气/不好: LCS 1, P 1/3, R 1/2, F 0.4.
    assert tm.jieba_cut("今天天气不好") == ["今天天气", "不好"]
    assert lb.rouge_zh("今天天气很好", "今天天气不好") == pytest.approx(0.4, abs=1e-6)


def test_classification_keeps_upstreams_skip():
    classes = ["Individual", "City", "Other location", "Location"]
    assert lb.classification("City", "City", all_classes=classes) == 1.0
    # "Location" is not inside the answer "Other location" (case differs): both stay named -> 1/2.
    assert lb.classification("Other location or Location", "Other location", all_classes=classes) == 0.5
    # "ab" (inside the answer) is removed; the removal skips "b", which therefore stays: 1/2, not 1.
    assert lb.classification("abc b", "abc", all_classes=["ab", "b", "abc"]) == 0.5
    assert lb.classification("abc b", "abc", all_classes=["ab", "abc", "b"]) == 1.0
    assert lb.classification("nothing", "City", all_classes=classes) == 0.0


def test_retrieval_count_and_code():
    assert lb.retrieval("Paragraph 3, maybe 5", "Paragraph 3") == 0.5
    assert lb.retrieval("no idea", "Paragraph 3") == 0.0
    assert lb.retrieval_zh("段落12", "段落12") == 1.0 and lb.retrieval_zh("段落1", "段落12") == 0.0
    assert lb.count("There are 7 unique paragraphs, not 8", "7") == 0.5
    # The first line without a comment or a backtick; difflib ratio 2*7/16 -> round(87.5) = 88.
    assert lb.code_sim("\n# comment\nreturn x + 1\n", "return x + 1") == 1.0
    assert lb.code_sim("return x", "return y") == 0.88
    assert lb.fuzz_ratio("", "") == 100 and lb.fuzz_ratio("", "a") == 0


def test_eval_py_rules():
    # Few-shot datasets are scored on the first line only; the best of several answers counts.
    assert lb.score_one("trec", "City\nIndividual", ["City"], ["Individual", "City"]) == 1.0
    assert lb.score_one("hotpotqa", "Ada", ["Ada Cole", "Ada"], None) == 1.0
    six = [{"task": t, "score": 10.0 * i} for i, t in enumerate(lb.PAPER_SIX)]  # 0, 10, ..., 50
    assert lb.summarize_scores(six)["paper-6"] == {"score": 25.0, "n_datasets": 6}


# ---------------------------------------------------------------------------------------------- data
def test_loaders_prompts_budgets():
    samples = lb.load(LB_DIR, ["hotpotqa", "trec", "passage_retrieval_en"])
    assert [s.task for s in samples] == ["hotpotqa", "hotpotqa", "trec", "passage_retrieval_en"]
    p = lb.build_prompt(samples[0])
    assert p.text.startswith("Answer the question based on the given passages.") and not p.raw
    assert p.text.endswith("Question: Which river flows past the mill in the story?\nAnswer:")
    assert lb.build_prompt(samples[2]).raw  # pred.py: no chat format for the few-shot datasets
    assert lb.max_new_tokens("hotpotqa") == 32 and lb.max_new_tokens("gov_report") == 512
    assert len(lb.TASKS) == 21 and set(lb.TASKS) == set(lb.METRICS) == set(lb.MAX_NEW_TOKENS)
    assert lb.score(samples[0], "the Wren") == 1.0


def test_bad_record_is_a_file_line_error(tmp_path):
    (tmp_path / "hotpotqa.jsonl").write_text('{"input": "q", "context": "c", "all_classes": null}\n')
    with pytest.raises(UserError, match=r"hotpotqa.jsonl:1: missing field 'answers'"):
        lb.load(tmp_path, ["hotpotqa"])
    with pytest.raises(UserError, match="unknown LongBench dataset 'hotpot'"):
        lb.load(tmp_path, ["hotpot"])


def test_score_cli(monkeypatch, capsys):
    code, out, _ = run_cli(monkeypatch, capsys, "score", "longbench", str(PRED_DIR), "--json")
    assert code == 0
    payload = json.loads(out.strip().splitlines()[-1])
    results = {r["task"]: r for r in payload["results"]}
    # hotpotqa: [wren, river] vs [wren] -> 2/3, then 1; passage_count: 1, then 1/2 ("7 or 8" vs 8).
    assert results["hotpotqa"]["score"] == 83.33 and results["passage_count"]["score"] == 75.0
    assert results["hotpotqa"]["by_length"] == {"0-4k": 66.67, "8k+": 100.0}
    assert payload["aggregates"]["all"]["score"] == pytest.approx((83.33 + 75.0) / 2, abs=0.01)


@pytest.mark.parametrize(
    "name, line, message",
    [
        ("hotpot.jsonl", '{"pred": "a", "answers": ["a"], "all_classes": null}', "unknown LongBench dataset"),
        ("hotpotqa.jsonl", '{"pred": "a", "all_classes": null}', "hotpotqa.jsonl:1: missing field 'answers'"),
    ],
)
def test_score_cli_bad_input_is_one_line(monkeypatch, capsys, tmp_path, name, line, message):
    (tmp_path / name).write_text(line + "\n")
    code, out, err = run_cli(monkeypatch, capsys, "score", "longbench", str(tmp_path / name), "--json")
    assert code == 2 and message in json.loads(out.strip().splitlines()[-1])["error"]
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
