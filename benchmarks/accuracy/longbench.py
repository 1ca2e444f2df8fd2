"""LongBench (THUDM/LongBench, LongBench/ v1): the 21 datasets from a user's local official JSONL files.

Prompts (config/dataset2prompt.json), generation budgets (config/dataset2maxlen.json), metrics (metrics.py)
and the per-dataset scorer (eval.py) follow upstream; data is read from `{dataset}.jsonl` files as the
official release ships them (fields `input`, `context`, `answers`, `length`, `dataset`, `language`,
`all_classes`, `_id`). Nothing is downloaded. `ahn-bench score longbench pred/<model>/<dataset>.jsonl`
scores upstream's prediction dumps (`pred`, `answers`, `all_classes`, `length`).

The AHN paper's LongBench number (Table 3) is the mean over six datasets whose average length exceeds 8k:
PAPER_SIX below, as the named aggregate `paper-6` (the paper evaluates with 128 sinks + 8064 window).
"""

# ruff: noqa: E501  (prompt templates are kept whole, one per line, to compare with upstream)

from __future__ import annotations

import difflib
import re
from pathlib import Path
from statistics import fmean
from typing import Any

from ahn.errors import UserError
from benchmarks.accuracy import text_metrics as tm
from benchmarks.accuracy.dumps import check_known_task, dump_record, load_task_files, percent, task_from_name
from benchmarks.accuracy.jsonl import RecordError, need, need_str_list, read_records
from benchmarks.accuracy.samples import Prompt, Sample

NAME = "longbench"
# pred.py cuts with decode(head) + decode(tail) (truncation.py); --upstream: 31500 tokens, the budget
# config/model2maxlen.json gives its 32k-context models (the AHN paper's eval uses 32000).
TRUNCATION_JOIN = "text"
UPSTREAM_MAX_INPUT_TOKENS = 31500
PREDICTION_GLOB = "*.jsonl"  # pred.py writes pred/<model>/<dataset>.jsonl
PAPER_SIX = ("narrativeqa", "hotpotqa", "musique", "dureader", "qmsum", "triviaqa")  # AHN paper Table 3
NAMED_AGGREGATES = {"paper-6": PAPER_SIX}  # runner.aggregate_rows: a row per method where all are present

# config/dataset2prompt.json
PROMPTS = {
    "narrativeqa": "You are given a story, which can be either a novel or a movie script, and a question. Answer the question asconcisely as you can, using a single phrase if possible. Do not provide any explanation.\n\nStory: {context}\n\nNow, answer the question based on the story asconcisely as you can, using a single phrase if possible. Do not provide any explanation.\n\nQuestion: {input}\n\nAnswer:",
    "qasper": 'You are given a scientific article and a question. Answer the question as concisely as you can, using a single phrase or sentence if possible. If the question cannot be answered based on the information in the article, write "unanswerable". If the question is a yes/no question, answer "yes", "no", or "unanswerable". Do not provide any explanation.\n\nArticle: {context}\n\n Answer the question based on the above article as concisely as you can, using a single phrase or sentence if possible. If the question cannot be answered based on the information in the article, write "unanswerable". If the question is a yes/no question, answer "yes", "no", or "unanswerable". Do not provide any explanation.\n\nQuestion: {input}\n\nAnswer:',
    "multifieldqa_en": "Read the following text and answer briefly.\n\n{context}\n\nNow, answer the following question based on the above text, only give me the answer and do not output any other words.\n\nQuestion: {input}\nAnswer:",
    "multifieldqa_zh": "阅读以下文字并用中文简短回答：\n\n{context}\n\n现在请基于上面的文章回答下面的问题，只告诉我答案，不要输出任何其他字词。\n\n问题：{input}\n回答：",
    "hotpotqa": "Answer the question based on the given passages. Only give me the answer and do not output any other words.\n\nThe following are given passages.\n{context}\n\nAnswer the question based on the given passages. Only give me the answer and do not output any other words.\n\nQuestion: {input}\nAnswer:",
    "2wikimqa": "Answer the question based on the given passages. Only give me the answer and do not output any other words.\n\nThe following are given passages.\n{context}\n\nAnswer the question based on the given passages. Only give me the answer and do not output any other words.\n\nQuestion: {input}\nAnswer:",
    "musique": "Answer the question based on the given passages. Only give me the answer and do not output any other words.\n\nThe following are given passages.\n{context}\n\nAnswer the question based on the given passages. Only give me the answer and do not output any other words.\n\nQuestion: {input}\nAnswer:",
    "dureader": "请基于给定的文章回答下述问题。\n\n文章：{context}\n\n请基于上述文章回答下面的问题。\n\n问题：{input}\n回答：",
    "gov_report": "You are given a report by a government agency. Write a one-page summary of the report.\n\nReport:\n{context}\n\nNow, write a one-page summary of the report.\n\nSummary:",
    "qmsum": "You are given a meeting transcript and a query containing a question or instruction. Answer the query in one or more sentences.\n\nTranscript:\n{context}\n\nNow, answer the query based on the above meeting transcript in one or more sentences.\n\nQuery: {input}\nAnswer:",
    "multi_news": "You are given several news passages. Write a one-page summary of all news. \n\nNews:\n{context}\n\nNow, write a one-page summary of all the news.\n\nSummary:",
    "vcsum": "下面有一段会议记录，请你阅读后，写一段总结，总结会议的内容。\n会议记录：\n{context}\n\n会议总结：",
    "trec": "Please determine the type of the question below. Here are some examples of questions.\n\n{context}\n{input}",
    "triviaqa": "Answer the question based on the given passage. Only give me the answer and do not output any other words. The following are some examples.\n\n{context}\n\n{input}",
    "samsum": "Summarize the dialogue into a few short sentences. The following are some examples.\n\n{context}\n\n{input}",
    "lsht": "请判断给定新闻的类别，下面是一些例子。\n\n{context}\n{input}",
    "passage_count": "There are some paragraphs below sourced from Wikipedia. Some of them may be duplicates. Please carefully read these paragraphs and determine how many unique paragraphs there are after removing duplicates. In other words, how many non-repeating paragraphs are there in total?\n\n{context}\n\nPlease enter the final count of unique paragraphs after removing duplicates. The output format should only contain the number, such as 1, 2, 3, and so on.\n\nThe final answer is: ",
    "passage_retrieval_en": 'Here are 30 paragraphs from Wikipedia, along with an abstract. Please determine which paragraph the abstract is from.\n\n{context}\n\nThe following is an abstract.\n\n{input}\n\nPlease enter the number of the paragraph that the abstract is from. The answer format must be like "Paragraph 1", "Paragraph 2", etc.\n\nThe answer is: ',
    "passage_retrieval_zh": '以下是若干段落文字，以及其中一个段落的摘要。请确定给定的摘要出自哪一段。\n\n{context}\n\n下面是一个摘要\n\n{input}\n\n请输入摘要所属段落的编号。答案格式必须是"段落1"，"段落2"等格式\n\n答案是：',
    "lcc": "Please complete the code given below. \n{context}Next line of code:\n",
    "repobench-p": "Please complete the code given below. \n{context}{input}Next line of code:\n",
}
# config/dataset2maxlen.json
MAX_NEW_TOKENS = {
    "narrativeqa": 128, "qasper": 128, "multifieldqa_en": 64, "multifieldqa_zh": 64, "hotpotqa": 32,
    "2wikimqa": 32, "musique": 32, "dureader": 128, "gov_report": 512, "qmsum": 512, "multi_news": 512,
    "vcsum": 512, "trec": 64, "triviaqa": 32, "samsum": 128, "lsht": 64, "passage_count": 32,
    "passage_retrieval_en": 32, "passage_retrieval_zh": 32, "lcc": 64, "repobench-p": 64,
}  # fmt: skip
TASKS = tuple(PROMPTS)
GENERATED_TASKS: tuple[str, ...] = ()
DEFAULT_GENERATED_TASKS: tuple[str, ...] = ()
# pred.py: "chat models are better off without build prompts on these tasks" (few-shot and code
# completion); eval.py: the same few-shot ones are scored on the first line of the prediction only.
RAW_PROMPT_TASKS = ("trec", "triviaqa", "samsum", "lsht", "lcc", "repobench-p")
FIRST_LINE_TASKS = ("trec", "triviaqa", "samsum", "lsht")


# ---------------------------------------------------------------------------------------------- metrics
def qa_f1(prediction: str, answer: str, **_) -> float:
    """metrics.py qa_f1_score: SQuAD normalisation, whitespace tokens, multiset F1."""
    return tm.token_f1(tm.en_tokens(prediction), tm.en_tokens(answer))


def qa_f1_zh(prediction: str, answer: str, **_) -> float:
    """metrics.py qa_f1_zh_score: jieba words, each normalised (punctuation, space), empties dropped."""
    return tm.token_f1(tm.zh_word_tokens(prediction), tm.zh_word_tokens(answer))


def rouge(prediction: str, answer: str, **_) -> float:
    """metrics.py rouge_score: pip `rouge` ROUGE-L F, 0 where it raises."""
    return tm.rouge_l_f(prediction, answer)


def rouge_zh(prediction: str, answer: str, **_) -> float:
    """metrics.py rouge_zh_score: ROUGE-L F over jieba words joined by spaces."""
    return tm.rouge_l_f(" ".join(tm.jieba_cut(prediction)), " ".join(tm.jieba_cut(answer)))


def classification(prediction: str, answer: str, all_classes: list[str] | None = None, **_) -> float:
    """metrics.py classification_score: the classes named in the prediction; a class contained in (but not
    equal to) the answer is dropped; 1/len(remaining) if the answer remains. Upstream removes from the list
    it iterates over, so the class right after a removed one is never checked: kept here on purpose."""
    named = [c for c in (all_classes or []) if c in prediction]
    i = 0
    while i < len(named):
        if named[i] in answer and named[i] != answer:
            named.pop(i)
        i += 1  # the skip of upstream's remove-while-iterating
    return 1.0 / len(named) if answer in named else 0.0


def _share_of_numbers(prediction: str, target: str) -> float:
    # metrics.py count_score / retrieval_score: the share of the numbers in the prediction equal to target.
    numbers = re.findall(r"\d+", prediction)
    return sum(n == target for n in numbers) / len(numbers) if numbers else 0.0


def count(prediction: str, answer: str, **_) -> float:
    return _share_of_numbers(prediction, str(answer))


def retrieval(prediction: str, answer: str, **_) -> float:
    """metrics.py retrieval_score: the paragraph number in "Paragraph N" of the answer."""
    return _share_of_numbers(prediction, re.findall(r"Paragraph (\d+)", answer)[0])


def retrieval_zh(prediction: str, answer: str, **_) -> float:
    return _share_of_numbers(prediction, re.findall(r"段落(\d+)", answer)[0])


def fuzz_ratio(a: str, b: str) -> int:
    """fuzzywuzzy fuzz.ratio without python-Levenshtein (LongBench's requirements.txt): 100 for equal
    strings, 0 if either is empty, else round(100 * difflib ratio)."""
    if a == b:
        return 100
    if not a or not b:
        return 0
    return int(round(100 * difflib.SequenceMatcher(None, a, b).ratio()))


def code_sim(prediction: str, answer: str, **_) -> float:
    """metrics.py code_sim_score: the first generated line without ` # or //, fuzz.ratio / 100."""
    line = next(
        (x for x in prediction.lstrip("\n").split("\n") if not any(m in x for m in ("`", "#", "//"))), ""
    )
    return fuzz_ratio(line, answer) / 100


_QA_EN = ("narrativeqa", "qasper", "multifieldqa_en", "hotpotqa", "2wikimqa", "musique", "triviaqa")
METRICS = {  # eval.py dataset2metric
    **{d: qa_f1 for d in _QA_EN}, "multifieldqa_zh": qa_f1_zh, "dureader": rouge_zh,
    "gov_report": rouge, "qmsum": rouge, "multi_news": rouge, "samsum": rouge, "vcsum": rouge_zh,
    "trec": classification, "lsht": classification, "passage_retrieval_en": retrieval,
    "passage_count": count, "passage_retrieval_zh": retrieval_zh, "lcc": code_sim, "repobench-p": code_sim,
}  # fmt: skip


def score_one(dataset: str, prediction: str, answers: list[str], all_classes: list[str] | None) -> float:
    """eval.py scorer for one prediction: first line only for the few-shot datasets; best answer wins."""
    _check_task(dataset)
    if dataset in FIRST_LINE_TASKS:
        prediction = prediction.lstrip("\n").split("\n")[0]
    return max([0.0, *(METRICS[dataset](prediction, a, all_classes=all_classes) for a in answers)])


# ---------------------------------------------------------------------------------------------- records
def _check_task(task: str) -> None:
    check_known_task("LongBench dataset", task, TASKS)


def max_new_tokens(task: str) -> int:
    _check_task(task)
    return MAX_NEW_TOKENS[task]


def _classes(obj: dict) -> list[str] | None:
    classes = obj.get("all_classes")
    if classes is not None and not (isinstance(classes, list) and all(isinstance(c, str) for c in classes)):
        raise RecordError("field 'all_classes' must be null or a list of strings")
    return classes


def _validator(dataset: str):
    def validate(obj: dict) -> dict:
        need(obj, "input", str)
        need(obj, "context", str)
        need_str_list(obj, "answers")
        need(obj, "length", int, optional=True)
        classes = _classes(obj)
        if dataset in ("trec", "lsht") and not classes:
            raise RecordError(f"{dataset} needs a non-empty 'all_classes' list")
        if obj.get("dataset") not in (None, dataset, f"{dataset}_e"):
            raise RecordError(f"field 'dataset' is {obj['dataset']!r} in the {dataset} file")
        if dataset.startswith("passage_retrieval"):
            mark = r"Paragraph (\d+)" if dataset.endswith("en") else r"段落(\d+)"
            if not all(re.search(mark, a) for a in obj["answers"]):
                raise RecordError(f"every {dataset} answer must name its paragraph ({mark})")
        return obj

    return validate


def load(data_dir, tasks=None, levels=None, limit: int | None = None) -> list[Sample]:
    """Samples from `{dataset}.jsonl` (LongBench) or `{dataset}_e.jsonl` (LongBench-E) in data_dir."""
    return load_task_files(data_dir, tasks or TASKS, limit, _task_file, _validator, _loaded, _check_task)


def _task_file(data_dir: Path, task: str) -> Path:
    for path in (data_dir / f"{task}.jsonl", data_dir / f"{task}_e.jsonl"):
        if path.is_file():
            return path
    raise UserError(f"{data_dir}: no {task}.jsonl")


def _loaded(task: str, record: dict, sample_id: str) -> Sample:
    return Sample(NAME, task, sample_id, 0, record)


def generate(tokenizer, tasks, lengths, depths, n, seed=42, haystack=None) -> list[Sample]:
    raise UserError("LongBench has no synthetic tasks; pass --data DIR with the official .jsonl files")


def build_prompt(sample: Sample, template: str | None = None) -> Prompt:
    text = PROMPTS[sample.task].format(context=sample.record["context"], input=sample.record["input"])
    return Prompt(text, raw=sample.task in RAW_PROMPT_TASKS)


def score(sample: Sample, prediction: str) -> float:
    r = sample.record
    return score_one(sample.task, prediction, r["answers"], r.get("all_classes"))


# ---------------------------------------------------------------------------------------------- dumps
def prediction_record(sample: Sample, prediction: str) -> dict:
    """pred.py's line: pred, answers, all_classes, length (+ sample_id, which eval.py ignores)."""
    r = sample.record
    fields = {"pred": prediction, "answers": r["answers"], "all_classes": r.get("all_classes"),
              "length": r.get("length", 0)}  # fmt: skip
    return dump_record(sample, fields, length_key=None)  # `length` is the record's own (LongBench-E buckets)


def prediction_file(sample: Sample) -> str:
    return f"{sample.task}.jsonl"


def task_from_file(path) -> str | None:
    return task_from_name(path, PROMPTS, suffix="_e")


def score_file(path, task: str | None = None, **_) -> dict:
    """eval.py for one `<dataset>.jsonl` dump: mean x100 rounded to 2; LongBench-E length buckets too."""
    task = task or task_from_file(path)
    if task is None:
        raise UserError(f"{path}: unknown LongBench dataset {Path(path).stem!r} (from the file name); known: "
                        f"{', '.join(TASKS)}; or pass --task")  # fmt: skip

    def validate(obj: dict):
        need(obj, "pred", str)
        answers = need_str_list(obj, "answers")
        if "all_classes" not in obj:
            raise RecordError("missing field 'all_classes' (null where the dataset has none)")
        need(obj, "length", int, optional=True)
        return obj["pred"], answers, _classes(obj), obj.get("length")

    records = read_records(path, validate)
    scores = [score_one(task, pred, answers, classes) for _, (pred, answers, classes, _) in records]
    out: dict[str, Any] = {"file": str(path), "task": task, "n": len(scores),
                           "score": percent(scores), "scores": scores}  # fmt: skip
    buckets: dict[str, list[float]] = {}
    for (_, (_, _, _, length)), s in zip(records, scores):
        if length is not None:  # eval.py scorer_e
            key = "0-4k" if length < 4000 else "4-8k" if length < 8000 else "8k+"
            buckets.setdefault(key, []).append(s)
    if buckets:
        out["by_length"] = {k: percent(v) for k, v in buckets.items()}
    return out


def summarize_scores(results: list[dict]) -> dict:
    """The paper's six-dataset mean (`paper-6`) where all six were scored, plus the mean over all given."""
    by_task = {r["task"]: r["score"] for r in results}
    out = {"all": {"score": round(fmean(by_task.values()), 2), "n_datasets": len(by_task)}}
    if all(t in by_task for t in PAPER_SIX):
        out["paper-6"] = {"score": round(fmean(by_task[t] for t in PAPER_SIX), 2), "n_datasets": 6}
    return out
