"""LV-Eval (arXiv 2402.05136): the 11 subsets, their prompts, loader, scorers and prediction format.

Constants are from infinigence/LVEval 63e7ae9 (config.py DATASET_PROMPT / DATASET_MAXGEN / DATASET_METRIC,
metrics.py). Files are `{subset}_{level}.jsonl`, levels 16k..256k counted in words (characters for zh).
"""

# ruff: noqa: E501  (prompt templates and fixed sentences are kept whole, one per line, to compare with upstream)

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ahn.errors import UserError
from benchmarks.accuracy import generators
from benchmarks.accuracy import text_metrics as tm
from benchmarks.accuracy.dumps import dump_record, percent
from benchmarks.accuracy.jsonl import RecordError, need, need_str_list, read_records
from benchmarks.accuracy.samples import Prompt, Sample, natural_key

NAME = "lveval"
# utils.truncate_prompt decodes the kept head and tail apart (truncation.py); prediction.py cuts every prompt
# to --model-max-length 15500 tokens and, for models without a chat format, feeds it raw (`--upstream`).
TRUNCATION_JOIN = "text"
UPSTREAM_MAX_INPUT_TOKENS = 15500
LEVELS = ("16k", "32k", "64k", "128k", "256k")

# metrics.py ABANDON_WORDS_EN (38) / ABANDON_WORDS_ZH (85): words that do not count towards keyword recall.
ABANDON_WORDS_EN = frozenset(
    "and to of in her was with for it from is that his he by she they or at because be on are their what "
    "as had were about being this who but have has when which does".split()
)
ABANDON_WORDS_ZH = frozenset(
    "的 和 是 等 在 年 可以 为 与 ‰ 了 或 一种 月 c 至 日 有 进行 于 不 中 × 根据 小 由 亩 也 要 指 法 会 元 主要 以及 "
    "通过 首先 对 然后 号 以 所 后 丁 包括 无 将 用 能 形 方面 因素 位于 而 从 到 一定 用于 但 使用 让 具有 并 亿元 "
    "万元 上 类 基于 才 来 地 片 其他 个 或者 变得 时 给 你 使 条 受 已经 带 度".split()
)
# Keyword-recall gates of the *_with_gold_ans metrics: below these the sample scores 0.
GATE_EN = 0.2
GATE_ZH = 0.4


# ---------------------------------------------------------------------------------------------- metrics
def qa_f1_en(prediction: str, answer: str, keywords: str | None = None) -> float:
    """`qa_f1_score`: plain English token F1 (factrecall_en)."""
    return tm.token_f1(tm.en_tokens(prediction), tm.en_tokens(answer))


def qa_f1_zh(prediction: str, answer: str, keywords: str | None = None) -> float:
    """`qa_f1_zh_score`: plain F1 over normalised jieba words (factrecall_zh)."""
    return tm.token_f1(tm.zh_word_tokens(prediction), tm.zh_word_tokens(answer))


def _keyword_recall(pred_tokens: list[str], kw_tokens: list[str], blacklist: frozenset[str]) -> float:
    # Blacklisted words are dropped from the overlap but still count in the denominator (metrics.py).
    common = Counter(pred_tokens) & Counter(kw_tokens)
    return sum(n for w, n in common.items() if w not in blacklist) / len(kw_tokens)


def qa_f1_en_gated(prediction: str, answer: str, keywords: str | None = None) -> float:
    """`qa_f1_score_with_gold_ans`: 0 if keyword recall < 0.2, else plain F1 against the answer.
    No keywords (None or "") means no gate, as upstream."""
    pred = tm.en_tokens(prediction)
    if keywords:
        kw = tm.en_tokens(keywords)
        # Upstream divides by len(kw) and raises ZeroDivisionError for keywords that normalise to nothing
        # (e.g. "The."); such a gate cannot be evaluated, so it is skipped here.
        if kw and _keyword_recall(pred, kw, ABANDON_WORDS_EN) < GATE_EN:
            return 0.0
    return tm.token_f1(pred, tm.en_tokens(answer))


def qa_f1_zh_gated(prediction: str, answer: str, keywords: str | None = None) -> float:
    """`qa_f1_zh_score_with_gold_ans`: 0 if keyword recall < 0.4, else plain F1 over jieba words.
    Missing keywords fall back to the answer itself (so cmrc is gated on its full answer)."""
    pred = tm.zh_word_tokens(prediction)
    kw = tm.zh_word_tokens(keywords if keywords else answer)
    if kw and _keyword_recall(pred, kw, ABANDON_WORDS_ZH) < GATE_ZH:  # empty kw: see qa_f1_en_gated
        return 0.0
    return tm.token_f1(pred, tm.zh_word_tokens(answer))


def _blacklisted_zh_text(text: str) -> str:
    # Upstream cuts twice: the first cut is joined with spaces and that string is cut again, so the
    # spaces come back as tokens; they normalise to "" and are kept (the blacklist has no "").
    spaced = " ".join(tm.jieba_cut(text))
    tokens = [tm.normalize_zh(t) for t in tm.jieba_cut(spaced)]
    return " ".join(t for t in tokens if t not in ABANDON_WORDS_ZH)


def rouge_zh_blacklist(prediction: str, answer: str, keywords: str | None = None) -> float:
    """`rouge_zh_score_blacklist` (dureader): ROUGE-L F of blacklist-filtered jieba words, pip `rouge`."""
    return tm.rouge_l_f(_blacklisted_zh_text(prediction), _blacklisted_zh_text(answer))


@dataclass(frozen=True)
class Subset:
    language: str
    metric: Any
    max_new_tokens: int
    prompt: str


_EN_ONE = (
    "Please answer the following question based on the given passages. Questions and answers are only "
    "relevant to one passage. Only give me the answer and do not output any other explanation and evidence."
    "\n\nArticle: {context}\n\nPlease answer the following question based on the above passages. Questions "
    "and answers are only relevant to one passage. Only give me the answer and do not output any other "
    "explanation and evidence.\n\nQuestion: {input}\nAnswer:"
)
_EN_SOME = (
    "Answer the question based on the given passages. Questions and answers are only relevant to some "
    "passages. Only give me the answer and do not output any other explanation and evidence.\n\nArticle: "
    "{context}\n\nPlease answer the following question based on the above passages. Questions and answers "
    "are only relevant to some passages. Only give me the answer and do not output any other explanation "
    "and evidence.\n\nQuestion: {input}\nAnswer:"
)
_ZH_MFQA = (
    "请阅读以下文章并用中文回答问题，问题和答案只与其中一篇文章有关。只需要直接给出问题的答案，不要输出其他任何解释和证据。"
    "\n\n文章：{context}\n\n请基于上面的文章回答下面的问题，问题和答案只与其中一篇文章有关。只需要直接给出问题的答案，"
    "不要输出其他任何解释和证据。\n\n问题：{input}\n回答："
)
_ZH_CMRC = (
    "请根据下面给定的文章回答问题，问题和答案只与其中一篇文章有关。\n\n文章：{context}\n\n"
    "现在请基于上述文章回答下面的问题，问题和答案只与其中一篇文章有关。\n\n问题：{input}\n回答："
)
_ZH_LIC = (
    "请根据下面给定的文章回答问题，问题和答案只与其中一篇文章有关。\n\n文章：{context}\n\n"
    "请现在基于上述文章回答下面的问题，问题和答案只与其中一篇文章有关。\n\n问题：{input}\n回答："
)
_EN_FACT = (
    "Please answer the following questions based on the given article.\n\nArticle: {context}\n\n"
    "Please answer the following questions based on the above article.\n\nQuestion: {input}\nAnswer:"
)
_ZH_FACT = "请基于给定的文章回答下述问题。\n\n文章：{context}\n\n现在请基于上述文章回答下面的问题。\n\n问题：{input}\n回答："

# In config.py DATASET_SELECTED order.
SUBSETS: dict[str, Subset] = {
    "hotpotwikiqa_mixup": Subset("en", qa_f1_en_gated, 64, _EN_SOME),
    "loogle_SD_mixup": Subset("en", qa_f1_en_gated, 64, _EN_ONE),
    "loogle_CR_mixup": Subset("en", qa_f1_en_gated, 64, _EN_ONE),
    "loogle_MIR_mixup": Subset("en", qa_f1_en_gated, 64, _EN_ONE),
    "multifieldqa_en_mixup": Subset("en", qa_f1_en_gated, 64, _EN_ONE),
    "multifieldqa_zh_mixup": Subset("zh", qa_f1_zh_gated, 64, _ZH_MFQA),
    "factrecall_en": Subset("en", qa_f1_en, 16, _EN_FACT),
    "factrecall_zh": Subset("zh", qa_f1_zh, 16, _ZH_FACT),
    "cmrc_mixup": Subset("zh", qa_f1_zh_gated, 64, _ZH_CMRC),
    "lic_mixup": Subset("zh", qa_f1_zh_gated, 64, _ZH_LIC),
    "dureader_mixup": Subset("zh", rouge_zh_blacklist, 64, _ZH_CMRC),
}
TASKS = tuple(SUBSETS)
GENERATED_TASKS = ("factrecall_en", "factrecall_zh")
DEFAULT_GENERATED_TASKS = GENERATED_TASKS
PREDICTION_GLOB = "*.jsonl"  # prediction.py writes {subset}_{level}.jsonl


def subset_spec(name: str) -> Subset:
    if name not in SUBSETS:
        raise UserError(f"unknown LV-Eval subset {name!r}; known: {', '.join(SUBSETS)}")
    return SUBSETS[name]


def score_one(subset: str, prediction: str, answers: list[str], keywords: str | None) -> float:
    """evaluation.py `scorer` loops over the answers but breaks after the first: only answers[0] counts."""
    return float(subset_spec(subset).metric(prediction, answers[0], keywords))


# ---------------------------------------------------------------------------------------------- files
# "{subset}_{level}" with an official level ("128k"), or "{subset}_{N}tok" for generated samples.
_FILE = re.compile(r"^(?P<subset>.+)_(?P<level>\d+k|\d+tok)$")


def split_file_name(path: str | Path) -> tuple[str, str | None]:
    """`cmrc_mixup_128k.jsonl` -> ("cmrc_mixup", "128k"); evaluation.py splits on `_.{1,3}k` likewise."""
    stem = Path(path).name.split(".")[0]
    m = _FILE.match(stem)
    return (m["subset"], m["level"]) if m else (stem, None)


def level_length(level: str) -> int:
    """The nominal length of a level: "16k" -> 16000 (words, LV-Eval's unit); "2048tok" -> 2048 (tokens)."""
    return int(level[:-3]) if level.endswith("tok") else int(level[:-1]) * 1000


def validate_record(obj: dict) -> dict:
    need(obj, "input", str)
    need(obj, "context", str)
    need_str_list(obj, "answers")
    need(obj, "length", int, optional=True)
    need(obj, "dataset", str, optional=True)
    need(obj, "language", str, optional=True)
    need(obj, "answer_keywords", str, optional=True)
    cf = obj.get("confusing_facts")
    if cf is not None and not (
        isinstance(cf, str) or (isinstance(cf, list) and all(isinstance(x, str) for x in cf))
    ):
        raise RecordError("field 'confusing_facts' must be a string or a list of strings")
    return obj


def _levels_present(data_dir: Path, subset: str) -> list[str]:
    found = [split_file_name(p)[1] for p in data_dir.glob(f"{subset}_*.jsonl")]
    return sorted(
        (lv for lv in found if lv and split_file_name(f"{subset}_{lv}")[0] == subset), key=natural_key
    )


def load(data_dir, tasks=None, levels=None, limit: int | None = None) -> list[Sample]:
    """Samples from `{subset}_{level}.jsonl` in data_dir; every file is validated before returning.
    `levels=None` takes every level present for each subset."""
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise UserError(f"{data_dir}: not a directory")
    tasks = list(tasks or TASKS)
    samples = []
    for subset in tasks:
        subset_spec(subset)
        subset_levels = list(levels) if levels else _levels_present(data_dir, subset)
        if not subset_levels:
            raise UserError(f"{data_dir}: no {subset}_<level>.jsonl file")
        for level in subset_levels:
            if not re.fullmatch(r"\d+k|\d+tok", level):
                raise UserError(f"bad LV-Eval level {level!r} (expected e.g. 16k)")
            records = read_records(data_dir / f"{subset}_{level}.jsonl", validate_record)
            for i, (_, record) in enumerate(records[:limit] if limit else records):
                samples.append(Sample(NAME, subset, f"{level}/{i}", level_length(level), record, level=level))
    return samples


def generate_records(tokenizer, task, lengths, depths=None, n=1, seed=42, haystack=None) -> list[dict]:
    """`ahn-bench generate lveval`: factrecall records in the LV-Eval format (generators.factrecall)."""

    def prompt_text(record: dict) -> str:
        return build_prompt(Sample(NAME, task, "", 0, record)).text

    return generators.factrecall(tokenizer, task, lengths, depths, n, seed, haystack, prompt_text=prompt_text)


def task_from_file(path) -> str | None:
    subset = split_file_name(path)[0]
    return subset if subset in SUBSETS else None


def generate(tokenizer, tasks, lengths, depths, n, seed=42, haystack=None) -> list[Sample]:
    """LV-Eval-format factrecall samples at token lengths (the only LV-Eval subsets that can be synthesised)."""
    samples = []
    for task in tasks:
        if task not in GENERATED_TASKS:
            raise UserError(
                f"LV-Eval subset {task!r} cannot be generated; generated: {', '.join(GENERATED_TASKS)}"
            )
        for record in generate_records(tokenizer, task, lengths, depths, n, seed, haystack):
            sid = f"L{record['tokens']}-d{record['depth']:g}-{record['repeat']}"
            samples.append(Sample(NAME, task, sid, record["tokens"], record, depth=record["depth"]))
    return samples


# ---------------------------------------------------------------------------------------------- per sample
def build_prompt(sample: Sample, template: str | None = None) -> Prompt:
    # prediction.py: prompt_format.format(**json_obj); only {context} and {input} occur.
    return Prompt(
        subset_spec(sample.task).prompt.format(context=sample.record["context"], input=sample.record["input"])
    )


def max_new_tokens(task: str) -> int:
    return subset_spec(task).max_new_tokens


def score(sample: Sample, prediction: str) -> float:
    r = sample.record
    return score_one(sample.task, prediction, r["answers"], r.get("answer_keywords"))


def prediction_record(sample: Sample, prediction: str) -> dict:
    """prediction.py's dump line (plus `sample_id`, which evaluation.py ignores)."""
    r = sample.record
    fields = {
        "pred": prediction,
        "answers": r["answers"],
        "gold_ans": r.get("answer_keywords"),
        "input": r["input"],
        "all_classes": r.get("all_classes"),
        "length": r.get("length"),
    }
    return dump_record(sample, fields, length_key=None)  # `length` is the record's own word count


def prediction_file(sample: Sample) -> str:
    return f"{sample.task}_{sample.level or f'{sample.length}tok'}.jsonl"


# ---------------------------------------------------------------------------------------------- scoring dumps
def _validate_prediction(obj: dict) -> dict:
    need(obj, "pred", str)
    need_str_list(obj, "answers")
    need(obj, "gold_ans", str, optional=True)
    return obj


def score_file(path, subset: str | None = None, **_) -> dict:
    """Score one prediction dump as evaluation.py does: mean over samples, x100, rounded to 2 decimals."""
    name, level = split_file_name(path)
    subset = subset or name
    if subset not in SUBSETS:
        raise UserError(
            f"{path}: unknown LV-Eval subset {subset!r} (from {'--task' if subset != name else 'the file name'}); "
            f"known: {', '.join(SUBSETS)}"
        )
    records = read_records(path, _validate_prediction)
    scores = [score_one(subset, r["pred"], r["answers"], r.get("gold_ans")) for _, r in records]
    return {
        "file": str(path),
        "task": subset,
        "level": level,
        "n": len(scores),
        "score": percent(scores),
        "scores": scores,
    }


SUMMARY_KEY = "levels"
OVERALL_PER_LENGTH = True  # runner.aggregate_rows: task "overall" per level, the mean over subsets


def summarize_scores(results: list[dict]) -> dict:
    """Per-level overall score: the unweighted mean of the per-subset scores at that level (the README's
    "overall"; upstream has no aggregation code). Reports which subsets each level averages over."""
    by_level: dict[str, dict[str, float]] = {}
    for r in results:
        by_level.setdefault(r["level"] or "?", {})[r["task"]] = r["score"]
    return {
        level: {"score": sum(s.values()) / len(s), "n_subsets": len(s), "subsets": sorted(s)}
        for level, s in sorted(by_level.items(), key=lambda kv: natural_key(kv[0]))
    }
