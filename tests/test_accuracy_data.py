"""Loaders and record validation, prompts, middle truncation + chat template, and `ahn-bench score`."""

import json

import pytest

import ahn
import ahn_bench.cli as ahn_cli
from ahn.errors import UserError
from benchmarks.accuracy import infinitebench as ib
from benchmarks.accuracy import lveval as lv
from benchmarks.accuracy.samples import FIXTURES_DIR, Prompt, Sample
from benchmarks.accuracy.truncation import encode_prompt, middle_truncate

LV_DIR = FIXTURES_DIR / "lveval"
IB_DIR = FIXTURES_DIR / "infinitebench"
PRED_DIR = FIXTURES_DIR / "predictions"


@pytest.fixture(scope="session")
def tok():
    return ahn.load_tokenizer()


def run_cli(monkeypatch, capsys, *argv):
    """`ahn-bench ARGV` with only this harness registered (other subcommands may be mid-development)."""
    monkeypatch.setattr(ahn_cli, "SUBCOMMAND_MODULES", ["benchmarks.accuracy.cli"])
    code = ahn_cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# ---------------------------------------------------------------------------------------------- loaders
def test_lveval_fixtures_load_with_levels():
    samples = lv.load(LV_DIR, ["loogle_SD_mixup", "cmrc_mixup"])
    assert [(s.task, s.level, s.sample_id) for s in samples] == [
        ("loogle_SD_mixup", "16k", "16k/0"),
        ("loogle_SD_mixup", "16k", "16k/1"),
        ("loogle_SD_mixup", "32k", "32k/0"),
        ("cmrc_mixup", "16k", "16k/0"),
        ("cmrc_mixup", "16k", "16k/1"),
    ]
    assert samples[0].length == 16000
    assert len(lv.load(LV_DIR, ["loogle_SD_mixup"], ["16k"], limit=1)) == 1


def test_infinitebench_fixtures_load_every_task():
    samples = ib.load(IB_DIR)
    assert {s.task for s in samples} == set(ib.TASKS)
    for s in samples:  # every fixture label is scorable and its own answer scores full marks
        label = ib.canonical_label(s.task, s.record["answer"], s.record.get("options"))
        assert label is not None


@pytest.mark.parametrize(
    "line, message",
    [
        ("{not json", "malformed JSON"),
        ("[1, 2]", "expected a JSON object"),
        ('{"context": "c", "answers": ["a"]}', "missing field 'input'"),
        ('{"input": "q", "context": "c", "answers": []}', "field 'answers' must not be empty"),
        ('{"input": "q", "context": "c", "answers": [1]}', "field 'answers' must be a list of strings"),
        (
            '{"input": "q", "context": "c", "answers": ["a"], "length": "long"}',
            "field 'length' must be an integer",
        ),
    ],
)
def test_lveval_bad_record_is_reported_with_file_and_line(tmp_path, line, message):
    good = json.dumps({"input": "q", "context": "c", "answers": ["a"]})
    path = tmp_path / "cmrc_mixup_16k.jsonl"
    path.write_text(good + "\n\n" + line + "\n")  # the blank line still counts: the bad record is on line 3
    with pytest.raises(UserError, match=rf"cmrc_mixup_16k\.jsonl:3: {message}"):
        lv.load(tmp_path, ["cmrc_mixup"])


@pytest.mark.parametrize(
    "task, record, message",
    [
        (
            "longbook_choice_eng",
            {"context": "c", "input": "q", "answer": "x", "options": ["a", "b"]},
            "4 strings",
        ),
        (
            "longbook_choice_eng",
            {"context": "c", "input": "q", "answer": "x", "options": list("abcd")},
            "not one of",
        ),
        ("math_find", {"context": "[1]", "input": "what?", "answer": [1]}, "'The ... of'"),
        ("code_run", {"context": "c", "input": "call it", "answer": [1]}, "func_N"),
        ("math_calc", {"context": "1 + 2", "input": "", "answer": ["x"]}, "expected a number"),
        ("passkey", {"context": "c", "input": "q"}, "missing field 'answer'"),
    ],
)
def test_infinitebench_bad_record(tmp_path, task, record, message):
    (tmp_path / f"{task}.jsonl").write_text(json.dumps(record) + "\n")
    with pytest.raises(UserError, match=rf"{task}\.jsonl:1: .*{message}"):
        ib.load(tmp_path, [task])


def test_missing_files_and_unknown_names(tmp_path):
    with pytest.raises(UserError, match="no cmrc_mixup_<level>.jsonl"):
        lv.load(tmp_path, ["cmrc_mixup"])
    with pytest.raises(UserError, match="unknown LV-Eval subset"):
        lv.load(LV_DIR, ["cmrc"])
    with pytest.raises(UserError, match="passkey.jsonl: no such file"):
        ib.load(tmp_path, ["passkey"])


# ---------------------------------------------------------------------------------------------- prompts
def _ib_sample(task):
    return next(s for s in ib.load(IB_DIR, [task]))


def test_infinitebench_prompts_follow_create_prompt():
    p = ib.build_prompt(_ib_sample("math_find"), "gpt4").text
    # "The largest number of" lower-cased, minus its last 3 characters (" of")
    assert p.startswith("What is the largest number in the following list?\n\n[12, 88")
    p = ib.build_prompt(_ib_sample("code_run"), "completion").text
    assert p.startswith("There is a function called func_3 in") and p.endswith("The value of func_3(2) is")
    p = ib.build_prompt(_ib_sample("longbook_choice_eng"), "gpt4").text
    assert p.endswith("A. Walking Georgie\nB. Making butter\nC. Painting boats\nD. Light housework")
    p = ib.build_prompt(_ib_sample("passkey"), "completion").text
    assert p.endswith("What is the pass key?\n\nThe pass key is")
    calc = ib.build_prompt(_ib_sample("math_calc"), "gpt4")
    assert calc.text == "79 - 20 + 14 + 5" and [m["role"] for m in calc.preamble] == [
        "system",
        "user",
        "assistant",
    ]


def test_lveval_prompt_and_budget():
    s = lv.load(LV_DIR, ["factrecall_en"])[0]
    p = lv.build_prompt(s).text
    assert p.startswith(
        "Please answer the following questions based on the given article.\n\nArticle: The grass"
    )
    question = (
        "What is the name of the scientist widely acclaimed as the foundational figure of modern physics?"
    )
    assert p.endswith(f"\n\nQuestion: {question}\nAnswer:")
    assert lv.max_new_tokens("factrecall_en") == 16 and lv.max_new_tokens("dureader_mixup") == 64
    assert ib.max_new_tokens("passkey") == 6 and ib.max_new_tokens("math_calc") == 30000


# ---------------------------------------------------------------------------------------------- truncation
class WordTokenizer:
    """One token per space-separated word: makes the kept token counts exact."""

    chat_template = None

    def encode(self, text, add_special_tokens=True):
        return text.split(" ")

    def decode(self, ids, skip_special_tokens=False):
        return " ".join(ids)


def test_middle_truncation_keeps_both_halves():
    text = " ".join(f"w{i}" for i in range(100))
    out, before, truncated = middle_truncate(WordTokenizer(), text, 11)  # odd: keeps 2 * (11 // 2) = 10
    assert (before, truncated) == (100, True)
    assert out == "w0 w1 w2 w3 w4" + "w95 w96 w97 w98 w99"  # halves decoded apart and concatenated
    assert middle_truncate(WordTokenizer(), text, 100) == (text, 100, False)


def test_chat_template_wraps_the_truncated_prompt(tok):
    body = "start " + "The grass is green. " * 400 + "end of the question"
    enc = encode_prompt(tok, Prompt(body), max_tokens=200)
    assert enc.truncated and enc.prompt_tokens > 1000
    # The template is applied after truncation: its own tokens are intact and come on top of the 200.
    assert enc.text.startswith("<|im_start|>system\n") and enc.text.endswith(
        "<|im_end|>\n<|im_start|>assistant\n"
    )
    user = enc.text.split("<|im_start|>user\n")[1].split("<|im_end|>")[0]
    assert user.startswith("start The grass") and user.endswith("end of the question")
    assert 200 <= len(enc.input_ids) <= 200 + 40
    raw = encode_prompt(tok, Prompt(body), max_tokens=None, chat=False)
    assert not raw.truncated and raw.text == body and len(enc.sha256) == 64


# ---------------------------------------------------------------------------------------------- score CLI
def test_score_lveval_dir(monkeypatch, capsys):
    code, out, _ = run_cli(monkeypatch, capsys, "score", "lveval", str(PRED_DIR / "lveval"), "--json")
    assert code == 0
    payload = json.loads(out.strip().splitlines()[-1])
    scores = {(r["task"], r["level"]): r["score"] for r in payload["results"]}
    # loogle 16k: (4/13 + 0)/2; cmrc: (2/3 + 1/4)/2; dureader: 10/12; factrecall: (1 + 0)/2; x100, rounded
    assert scores == {
        ("cmrc_mixup", "16k"): 45.83,
        ("dureader_mixup", "16k"): 83.33,
        ("factrecall_en", "16k"): 50.0,
        ("loogle_SD_mixup", "16k"): 15.38,
        ("loogle_SD_mixup", "32k"): 30.77,
    }
    assert payload["levels"]["16k"]["score"] == pytest.approx((45.83 + 83.33 + 50.0 + 15.38) / 4)
    assert payload["levels"]["32k"]["n_subsets"] == 1


def test_score_infinitebench_files(monkeypatch, capsys):
    files = [
        str(PRED_DIR / "infinitebench" / f)
        for f in ("preds_passkey.jsonl", "preds_longbook_choice_eng.jsonl")
    ]
    code, out, _ = run_cli(monkeypatch, capsys, "score", "infinitebench", *files, "--json")
    assert code == 0
    scores = {r["task"]: r["score"] for r in json.loads(out.strip().splitlines()[-1])["results"]}
    assert scores == {"passkey": 50.0, "longbook_choice_eng": 50.0}
    calc = str(PRED_DIR / "infinitebench" / "preds_math_calc.jsonl")
    for extra, expected in (([], 33.33), (["--model-name", "gpt4"], 50.0)):
        code, out, _ = run_cli(monkeypatch, capsys, "score", "infinitebench", calc, "--json", *extra)
        assert json.loads(out.strip().splitlines()[-1])["results"][0]["score"] == expected


def test_score_bad_jsonl_exits_with_file_and_line(monkeypatch, capsys, tmp_path):
    path = tmp_path / "preds_passkey.jsonl"
    path.write_text('{"prediction": "1", "ground_truth": "1"}\n{"prediction": "2", "ground_truth": \n')
    code, out, err = run_cli(monkeypatch, capsys, "score", "infinitebench", str(path), "--json")
    assert code == 2
    assert f"{path}:2: malformed JSON" in err
    assert json.loads(out.strip().splitlines()[-1])["ok"] is False
    path.write_text('{"prediction": "1"}\n')
    code, _, err = run_cli(monkeypatch, capsys, "score", "infinitebench", str(path))
    assert code == 2 and f"{path}:1: missing field 'ground_truth'" in err


def test_score_needs_a_task_for_unknown_file_names(monkeypatch, capsys, tmp_path):
    path = tmp_path / "mine.jsonl"
    path.write_text('{"pred": "71432", "label": "71432"}\n')
    code, _, err = run_cli(monkeypatch, capsys, "score", "infinitebench", str(path))
    assert code == 2 and "pass --task" in err
    code, out, _ = run_cli(
        monkeypatch, capsys, "score", "infinitebench", str(path), "--task", "passkey", "--json"
    )
    assert code == 0 and json.loads(out.strip().splitlines()[-1])["results"][0]["score"] == 100.0


def test_generic_sample_helpers():
    s = Sample("infinitebench", "passkey", "0", 0, {"answer": ["1"]})
    assert ib.prediction_file(s) == "preds_passkey.jsonl"
    assert ib.prediction_record(s, "1")["ground_truth"] == "1"
