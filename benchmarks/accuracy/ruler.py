"""RULER (NVIDIA/RULER): the 11 synthetic tasks that need no downloaded data, as a benchmark module.

Records are generated offline at any token length (ruler_synthetic.py) or read from files RULER's own
prepare.py wrote (`{task}/validation.jsonl` or `{task}.jsonl`: `input`, `outputs`, `answer_prefix`,
`length`). The model is fed `input` and then `answer_prefix` as the start of its reply; scores are
scripts/eval/synthetic/constants.py's string_match_all (every task here) after evaluate.py's
postprocess_pred. Predictions are dumped as pred/call_api.py writes them (`{task}.jsonl` with `pred`).
"""

from __future__ import annotations

import re
from pathlib import Path

from ahn.errors import UserError
from benchmarks.accuracy import ruler_synthetic
from benchmarks.accuracy.dumps import (
    check_known_task,
    dump_record,
    load_task_files,
    score_summary,
    task_from_name,
)
from benchmarks.accuracy.jsonl import RecordError, need, need_str_list, read_records
from benchmarks.accuracy.ruler_qa import QA_TASKS, TOKENS_TO_GENERATE, qa_records  # noqa: F401 (API)
from benchmarks.accuracy.ruler_synthetic import DEPTH_TASKS
from benchmarks.accuracy.samples import Prompt, Sample

NAME = "ruler"
TASKS = (*ruler_synthetic.TASKS, *QA_TASKS)  # the 11 offline tasks, then qa_1 / qa_2 (a user's files)
GENERATED_TASKS = TASKS
DEFAULT_GENERATED_TASKS = ("niah_single_1", "niah_single_2", "niah_single_3", "niah_multikey_1")
PREDICTION_GLOB = "*.jsonl"
TRUNCATION_JOIN = "text"  # RULER never truncates: records are generated to fit
UPSTREAM_MAX_INPUT_TOKENS = None
__all__ = ["DEPTH_TASKS", "TASKS", "generate_records"]

_CONTROL = re.compile(r"[\x00-\x1f]")


def _check_task(task: str) -> None:
    check_known_task("RULER task", task, TASKS)


def max_new_tokens(task: str) -> int:
    _check_task(task)
    return TOKENS_TO_GENERATE if task in QA_TASKS else ruler_synthetic.tokens_to_generate(task)


# ---------------------------------------------------------------------------------------------- metrics
def postprocess(prediction: str) -> str:
    """evaluate.py postprocess_pred: strip, control characters to newlines, strip again."""
    return _CONTROL.sub("\n", prediction.strip()).strip()


def string_match_all(prediction: str, references: list[str]) -> float:
    """Fraction of the references found case-insensitively in the prediction (constants.py)."""
    pred = postprocess(prediction).lower()
    return sum(r.lower() in pred for r in references) / len(references)


def string_match_part(prediction: str, references: list[str]) -> float:
    """1 if any reference is found case-insensitively in the prediction (constants.py; the QA tasks)."""
    pred = postprocess(prediction).lower()
    return float(max(r.lower() in pred for r in references))


def metric(task: str):
    """eval/synthetic/constants.py: string_match_part for the QA tasks, string_match_all for the others."""
    return string_match_part if task in QA_TASKS else string_match_all


def score(sample: Sample, prediction: str) -> float:
    return metric(sample.task)(prediction, sample.record["outputs"])


# ---------------------------------------------------------------------------------------------- samples
def _sample(task: str, record: dict, sample_id: str) -> Sample:
    depth = record.get("depth")
    length = int(record.get("tokens") or record.get("length") or 0)  # requested, else RULER's own length
    return Sample(NAME, task, sample_id, length, record, depth=depth)


def generate_records(tokenizer, task, lengths, depths=None, n=1, seed=42, haystack="auto", qa_data=None):
    """RULER records of one task: generated (ruler_synthetic), or for qa_1 / qa_2 built from the user's
    SQuAD / HotpotQA file among `qa_data` (ruler_qa)."""
    if task in QA_TASKS:
        return qa_records(tokenizer, task, lengths, n, seed, qa_data)
    return ruler_synthetic.generate_records(tokenizer, task, lengths, depths, n, seed, haystack)


def generate(tokenizer, tasks, lengths, depths, n, seed=42, haystack="auto", qa_data=None) -> list[Sample]:
    samples = []
    for task in tasks:
        for r in generate_records(tokenizer, task, lengths, depths, n, seed, haystack, qa_data):
            depth = f"d{r['depth']:g}-" if r.get("depth") is not None else ""
            samples.append(_sample(task, r, f"L{r['tokens']}-{depth}{r['repeat']}"))
    return samples


def validate_record(obj: dict) -> dict:
    need(obj, "input", str)
    need_str_list(obj, "outputs")
    need(obj, "answer_prefix", str, optional=True)
    need(obj, "length", int, optional=True)
    depth = obj.get("depth")
    if depth is not None and not (isinstance(depth, int | float) and 0 <= depth <= 1):
        raise RecordError("field 'depth' must be a number in [0, 1]")
    return obj


def _task_file(data_dir: Path, task: str) -> Path:
    for path in (data_dir / task / "validation.jsonl", data_dir / f"{task}.jsonl"):
        if path.is_file():
            return path
    raise UserError(f"{data_dir}: no {task}/validation.jsonl or {task}.jsonl")


def load(data_dir, tasks=None, levels=None, limit: int | None = None) -> list[Sample]:
    """Records RULER's prepare.py wrote (or `ahn-bench generate ruler` files), validated before any run."""
    tasks = tasks or DEFAULT_GENERATED_TASKS
    return load_task_files(
        data_dir, tasks, limit, _task_file, lambda _: validate_record, _sample, _check_task
    )


def build_prompt(sample: Sample, template: str | None = None) -> Prompt:
    return Prompt(sample.record["input"], answer_prefix=sample.record.get("answer_prefix", ""))


# ---------------------------------------------------------------------------------------------- dumps
def prediction_record(sample: Sample, prediction: str) -> dict:
    """pred/call_api.py's line: index, pred, input, outputs, others, truncation, length (+ ours)."""
    r = sample.record
    fields = {"index": r.get("index", sample.sample_id), "pred": prediction, "input": r["input"],
              "outputs": r["outputs"], "others": {}, "truncation": -1,
              "length": r.get("length", -1)}  # fmt: skip
    return dump_record(sample, fields, length_key="tokens")


def prediction_file(sample: Sample) -> str:
    return f"{sample.task}.jsonl"


def task_from_file(path) -> str | None:
    return task_from_name(path, TASKS)


def score_file(path, task: str | None = None, **_) -> dict:
    """Score a pred/{task}.jsonl dump as evaluate.py does, x100; by requested length and depth where known."""
    task = task or task_from_file(path)
    if task is None:
        raise UserError(f"{path}: cannot tell the RULER task from the file name; pass --task")
    _check_task(task)

    def validate(obj: dict):
        need(obj, "pred", str)
        refs = need_str_list(obj, "outputs")
        return obj["pred"], refs, obj.get("tokens", obj.get("length")), obj.get("depth")

    records = read_records(path, validate)
    scores = [metric(task)(pred, refs) for _, (pred, refs, _, _) in records]
    return score_summary(path, task, records, scores)
