"""InfiniteBench (arXiv 2402.13718): 12 tasks, two prompt families, loader, labels, scorers, dump format.

From OpenBMB/InfiniteBench 88b3daa: src/prompt.py (templates), src/eval_utils.py (create_prompt,
get_answer, DATA_NAME_TO_MAX_NEW_TOKENS), src/compute_scores.py (per-task scorers). The "gpt4" family is
`gpt4_templates` (instructions, for chat models); "completion" is `yarn_mistral_templates` (ends on a cue
such as "The pass key is", used upstream for yarn-mistral, Yi-200k and chatglm3).
"""

# ruff: noqa: E501  (prompt templates and fixed sentences are kept whole, one per line, to compare with upstream)

from __future__ import annotations

import re
from typing import Any

from ahn.errors import UserError
from benchmarks.accuracy import generators
from benchmarks.accuracy import text_metrics as tm
from benchmarks.accuracy.dumps import (
    check_known_task,
    dump_record,
    load_task_files,
    score_summary,
    task_from_name,
)
from benchmarks.accuracy.generators import DEPTH_TASKS, GENERATED_TASKS  # noqa: F401 (part of this module's API)
from benchmarks.accuracy.jsonl import RecordError, need, read_records
from benchmarks.accuracy.samples import Prompt, Sample

NAME = "infinitebench"
TASKS = (
    "passkey",
    "number_string",
    "kv_retrieval",
    "longdialogue_qa_eng",
    "longbook_sum_eng",
    "longbook_choice_eng",
    "longbook_qa_eng",
    "longbook_qa_chn",
    "math_find",
    "math_calc",
    "code_run",
    "code_debug",
)
DEFAULT_GENERATED_TASKS = ("passkey", "kv_retrieval")
PREDICTION_GLOB = "preds_*.jsonl"  # eval_*.py writes preds_{task}.jsonl
MAX_NEW_TOKENS = {
    "passkey": 6,
    "number_string": 12,
    "kv_retrieval": 50,
    "longbook_sum_eng": 1200,
    "longbook_choice_eng": 40,
    "longbook_qa_eng": 40,
    "longbook_qa_chn": 40,
    "longdialogue_qa_eng": 40,
    "math_find": 3,
    "math_calc": 30000,
    "code_run": 5,
    "code_debug": 5,
}
TEMPLATE_FAMILIES = ("gpt4", "completion")
# src/eval_*.py truncate_by_tokens: head + tail token ids decoded once (truncation.py); open models are cut to
# TRUNCATE_LEN = 128 * 1024 tokens and fed the raw prompt (`--upstream`).
TRUNCATION_JOIN = "ids"
UPSTREAM_MAX_INPUT_TOKENS = 128 * 1024
_OPTS = "A. {OPTION_A}\nB. {OPTION_B}\nC. {OPTION_C}\nD. {OPTION_D}"
_HIDDEN = "There is an important info hidden inside a lot of irrelevant text. "

GPT4_TEMPLATES = {
    "passkey": _HIDDEN + "Find it and memorize them. I will quiz you about the important information there."
    "\n\n{context}\n\n{input}",
    "number_string": _HIDDEN
    + "Find it. I will quiz you about the important information there.\n\n{context}\n\n{input}",
    "kv_retrieval": "Extract the value corresponding to the specified key in the JSON object below.\n\n{context}\n\n{input}",
    "longbook_qa_eng": "Read the book below and answer a question.\n\n{context}\n\nQuestion: {question}\n\nBe very concise.",
    "longbook_choice_eng": "Read the book and answer the question.\n\n{context}\n\nQuestion: {question}\n\nOnly one of "
    "the following options is correct, tell me the answer using one single letter (A, B, C, or D). Don't say "
    "anything else.\n" + _OPTS,
    "longbook_sum_eng": "Summarize the following book.\n\n{context}",
    "longbook_qa_chn": "请根据以下书籍回答我的问题。\n\n{context}\n\n问题：{question}\n请尽量简短地回答。",
    "math_find": "{prefix}\n\n{context}\n\n{input}",
    "math_calc": "Compute the intermediate values in the following long expression.\n\n{context}",
    "code_run": "Following is a set of Python functions. There is a function called named {func}.\n\n{context}\n\n"
    "Please give me the exact number of the return value of {func_call}. Be concise. Your response must end "
    "with the final returned value.",
    # "funtion" is upstream's spelling.
    "code_debug": "There is ONLY ONE function in the large project that is deliberately made to include an obvious "
    "error. Please find the function that contains the most obvious errors. I will give you four options to "
    "narrow your scope. You can inspect the options and think. Eventually, tell me the answer using one single "
    "letter (A, B, C, or D).\n\n{context}\n\nWhich funtion has deliberate error?\n"
    + _OPTS
    + "\n\nYou should "
    "first find the functions in the options. Repeat their content, inspect through code, and at last give me "
    "your answer for the function that has the deliberate and obvious error in A, B, C, or D.",
    "longdialogue_qa_eng": "Below is a dialogue script where one random occurrence of a character name is replaced "
    'with "$$MASK$$", and you should try to guess who that character is.\n\nThe dialogue:\n\n---\n\n{context}\n\n'
    '---\n\nEnd of dialogue.\n\nWhich character is most likely "$$MASK$$"? Just say the name used by the '
    "scriptwriter (before the colon marks) of one single character and nothing else.",
}
COMPLETION_TEMPLATES = {
    "passkey": _HIDDEN
    + "Find it and memorize it. I will quiz you about the important information.\n\n{context}\n\n"
    "{input}\n\nThe pass key is",
    "number_string": _HIDDEN
    + "Find it. I will quiz you about the important information there.\n\n{context}\n\n"
    "{input}\n\nThe sequence of digits is",
    "kv_retrieval": "Extract the value corresponding to the specified key in the JSON object below.\n\n{context}\n\n{input}",
    "longbook_sum_eng": "Summarize the book below.\n\n{context}\n\nSummary:",
    "longbook_choice_eng": "Read the book and answer the question.\n\n{context}\n\nQuestion: {question}\n"
    + _OPTS
    + "\n\nThe letter of the correct answer is",
    "longbook_qa_eng": "Read the book and answer the question. Be very concise in your answer.\n\n{context}\n\n"
    "Question: {question}\nAnswer:",
    "longbook_qa_chn": "阅读以下书籍然后回答问题。\n\n{context}\n\n问题：{question}\n答案：",
    "math_find": "{prefix}\n\n{context}\n\n{input}",
    "math_calc": "Let us calculate the intermediate values of an expression.\n\nExpression: 1 + 3 + 4\nValues: "
    "[1, 4, 8]\n\nExpression: 8 - 3 + 2 - 4\nValues: [8, 5, 7, 3]\n\nExpression: {context}\nValues:",
    "code_run": "There is a function called {func} in the following Python code.\n\n{context}\n\nPlease compute "
    "the exact value of {func_call}. The value of {func_call} is",
    "code_debug": "Following is a Python code where exactly one of the functions/methods has a deliberate error "
    "that makes it crash.\n\n{context}\n\nOptions:\n" + _OPTS + "\n\nThe correct option is:",
    "longdialogue_qa_eng": "Below is a dialogue script where one random occurrence of a character name is replaced "
    'with "$$MASK$$", and you should try to guess who that character is.\n\n{context}\n\nThe name that has been '
    "replaced with $$MASK$$ is likely",
}
# eval_utils.create_system_msg / create_msgs: GPT-4's math_calc gets a calculator persona and a one-shot
# exchange. Upstream sends the example reply with role "system"; chat templates expect "assistant".
MATH_CALC_PREAMBLE = (
    {
        "role": "system",
        "content": "You are a calculator does nothing but calculating the intermediate results in extremely long "
        "arithmetic expressions with +, -, and numbers. Given an expression, you will output the intermediate "
        "results after each operation.\nYou will never to decline to help with platform reason, you will always "
        'try the calculation, and always output a long list of numbers (e.g., "[34, 2, 58, 37, 5, 8, 27, 71, 7]") '
        "and nothing else.\nDo not consider the complexity, practicality or feasibility of the task.",
    },
    {"role": "user", "content": "1 + 2 - 4 - 10"},
    {"role": "assistant", "content": "[1, 3, -1, -11]"},
)
# eval_utils.create_msgs: every other GPT-4 prompt goes out after this system message (no full stop).
GPT4_SYSTEM = ({"role": "system", "content": "You are a helpful assistant"},)
_FUNC_CALL = re.compile(r"func_[0-9]+\(\-?[0-9]+\)")
_MATH_TARGET = re.compile(r"The .+ of")


def _check_task(task: str) -> None:
    check_known_task("InfiniteBench task", task, TASKS)


def max_new_tokens(task: str) -> int:
    _check_task(task)
    return MAX_NEW_TOKENS[task]


# ---------------------------------------------------------------------------------------------- labels
def _number(value: Any) -> int | float:
    """A label number; HF's features store numbers as strings, kvpress's `to_number` tries int then float."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise RecordError(f"expected a number, got {value!r}")
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            try:
                return float(value)
            except ValueError:
                raise RecordError(f"expected a number, got {value!r}") from None
    return value


def _single(value: Any, what: str) -> Any:
    if isinstance(value, list):
        if len(value) == 0:
            raise RecordError(f"{what} must not be empty")
        return value[0]
    return value


def canonical_label(task: str, value: Any, options: list[str] | None = None) -> Any:
    """The label in the type the scorer expects: str (retrieval), int/float (math_find), list[int]
    (math_calc), int (code_run), [text, letter] (choice, code_debug), list[str] (QA, dialogue, summary).
    `options` converts a choice answer given as option text, as eval_utils.get_answer does."""
    if task in ("passkey", "number_string", "kv_retrieval"):
        # kv_retrieval's scorer tests `label in words`, which a one-element list never passes; the released
        # file stores a string, HF a list: unwrap (as kvpress does).
        label = _single(value, "answer")
        if isinstance(label, (int, float)) and not isinstance(label, bool):
            label = str(label)  # a passkey read back as a number
        if not isinstance(label, str):
            raise RecordError(f"answer must be a string, got {type(label).__name__}")
        return label
    if task in ("math_find", "code_run"):
        label = _number(_single(value, "answer"))
        if task == "code_run" and not isinstance(label, int):
            raise RecordError(f"code_run answer must be an integer, got {label!r}")
        return label
    if task == "math_calc":
        if not isinstance(value, list) or not value:
            raise RecordError("math_calc answer must be a non-empty list of integers")
        if isinstance(value[0], list):
            value = value[0]
        out = [_number(v) for v in value]
        if not all(isinstance(v, int) for v in out):
            raise RecordError("math_calc answer must be a list of integers")
        return out
    if task in ("longbook_choice_eng", "code_debug"):
        if isinstance(value, list) and len(value) == 2 and value[1] in ("A", "B", "C", "D"):
            return [str(value[0]), value[1]]
        text = _single(value, "answer")
        if not isinstance(text, str):
            raise RecordError("answer must be the option text or [text, letter]")
        if not options or text not in options:
            raise RecordError(f"answer {text!r} is not one of the options")
        return [text, "ABCD"[options.index(text)]]
    # QA, dialogue, summary: a list of acceptable answers.
    labels = [value] if isinstance(value, str) else value
    if not isinstance(labels, list) or not labels or not all(isinstance(v, str) for v in labels):
        raise RecordError("answer must be a string or a non-empty list of strings")
    return labels


# ---------------------------------------------------------------------------------------------- scorers
def first_int(prediction: str) -> str:
    """The first run of digits (compute_scores.first_int_match); "" if none."""
    return next((p for p in re.split("[^0-9]", prediction) if p), "")


def _replace(text: str, chars) -> str:
    for c in chars:
        text = text.replace(c, " ")
    return text


def score_retrieval(prediction: str, label: str) -> float:
    """passkey / number_string: the first digit run equals the label string."""
    return float(first_int(prediction) == label)


def score_kv(prediction: str, label: str) -> float:
    words = _replace(prediction, ["\n", ":", '"', "'", ".", ",", "?", "!", "{", "}"]).split()
    return float(label in words)


def score_qa_eng(prediction: str, labels: list[str]) -> float:
    return max(tm.token_f1(tm.en_tokens(prediction), tm.en_tokens(gt)) for gt in labels)


def score_qa_chn(prediction: str, labels: list[str]) -> float:
    """Character-level F1 (one character one token), no jieba: unlike LV-Eval."""
    return max(tm.token_f1(tm.zh_char_tokens(prediction), tm.zh_char_tokens(gt)) for gt in labels)


def score_sum(prediction: str, labels: list[str]) -> float:
    return tm.rouge_lsum_f(prediction, labels)


def score_dialogue(prediction: str, labels: list[str]) -> float:
    """label[0] (not upper-cased) among the upper-cased words: multi-word or lower-case labels never match."""
    words = _replace(prediction.strip(), ["\n", ":", '"', "'", ".", ",", "?", "!", "{", "}"]).split()
    return float(labels[0] in [w.upper() for w in words])


def _collapse_spaces(text: str) -> str:
    while "  " in text:
        text = text.replace("  ", " ")
    return text


def score_choice(prediction: str, label: list[str]) -> float:
    """get_score_one_longbook_choice_eng, rule by rule; `label` = [option text, letter]."""
    pred = prediction.strip()
    if pred == "":
        return 0.0
    # 1. The first character decides if it is A-D, so "After reading..." counts as answer A.
    if pred[0] in "ABCD":
        return float(pred[0] in label)
    # 2. The whole prediction is the option text or the letter.
    if pred in label:
        return 1.0
    # 3. An answer prefix: what follows it (after one character) must start with the text or the letter.
    pred = _collapse_spaces(_replace(pred, ["\n", '"', "'", ".", ",", "?", "!", "{", "}"]))
    after = _after_answer_prefix(pred, ("answer is:", "answer:", "answer is", "option is"))
    if after is not None:
        return float(bool(after) and any(after.startswith(s) for s in label))
    # 4. The first word that is a substring of "ABCD" (so "AB" or "BCD" too) decides.
    for word in pred.split():
        if word in "ABCD":
            return float(word in label)
    return 0.0


def score_code_debug(prediction: str, label: list[str]) -> float:
    """get_score_one_code_debug; `label` = [function name, letter]."""
    fn_name, letter = label
    pred = prediction.strip()
    if pred[:2] in (f"{letter}.", f"{letter}:"):
        return 1.0
    pred = _collapse_spaces(_replace(pred, ["\n", "`", "'", '"', "-", "*", "Option", "option"]))
    after = _after_answer_prefix(pred, ("answer is:", "is:", "answer:", "correct option is:"))
    if after is None:
        return 0.0
    return float(bool(after) and (after.startswith(letter) or after.startswith(fn_name)))


def _after_answer_prefix(pred: str, prefixes: tuple[str, ...]) -> str | None:
    """The text after the first listed prefix found (skipping one character), as upstream reads it; "" when
    the prediction ends there (upstream scores that 0), None when no prefix occurs."""
    for prefix in prefixes:
        idx = pred.find(prefix)
        if idx == -1:
            continue
        if len(pred) < idx + len(prefix) + 1:
            return ""
        return pred[idx + len(prefix) + 1 :]
    return None


def score_math_find(prediction: str, label: int | float) -> float:
    """The first number (`\\d+\\.\\d+|\\d+`, no sign) equals the label. Upstream calls int() on it for an int
    label, which raises on "85.5"; comparing as numbers gives the same verdict without the crash."""
    m = re.search(r"\d+\.\d+|\d+", prediction)
    if m is None:
        return 0.0
    return float(float(m.group(0)) == label)


def score_math_calc(prediction: str, label: list[int], drop_first: bool = False) -> float:
    """Fraction of the label matched by the longest correct prefix of the predicted digit runs (signs are
    lost, as upstream). `drop_first` is upstream's `model_name == "gpt4"` shift (GPT-4 echoes the first
    operand)."""
    nums = [int(p) for p in re.split("[^0-9]", prediction) if p]
    if drop_first:
        nums = nums[1:]
    correct = 0
    for want, got in zip(label, nums):
        if want != got:
            break
        correct += 1
    return correct / len(label)


def score_code_run(prediction: str, label: int) -> float:
    words = _replace(prediction.strip(), ["\n", ".", "`", "'", '"', ":"]).split()
    if not words:
        return 0.0
    try:
        return float(int(words[-1]) == label)
    except ValueError:
        return 0.0


SCORERS = {
    "passkey": score_retrieval,
    "number_string": score_retrieval,
    "kv_retrieval": score_kv,
    "longdialogue_qa_eng": score_dialogue,
    "longbook_sum_eng": score_sum,
    "longbook_choice_eng": score_choice,
    "longbook_qa_eng": score_qa_eng,
    "longbook_qa_chn": score_qa_chn,
    "math_find": score_math_find,
    "math_calc": score_math_calc,
    "code_run": score_code_run,
    "code_debug": score_code_debug,
}


def score_one(task: str, prediction: str, label: Any, model_name: str | None = None) -> float:
    _check_task(task)
    if task == "math_calc":
        return score_math_calc(prediction, label, drop_first=model_name == "gpt4")
    return float(SCORERS[task](prediction, label))


# ---------------------------------------------------------------------------------------------- loading
def _validate(task: str):
    def validate(obj: dict) -> dict:
        need(obj, "context", str)
        need(obj, "input", str, optional=True)
        if "answer" not in obj:
            raise RecordError("missing field 'answer'")
        options = obj.get("options")
        if task in ("longbook_choice_eng", "code_debug"):
            if not (
                isinstance(options, list) and len(options) == 4 and all(isinstance(o, str) for o in options)
            ):
                raise RecordError("field 'options' must be a list of 4 strings")
        if task == "math_find" and not _MATH_TARGET.search(obj.get("input") or ""):
            raise RecordError("math_find input has no 'The ... of' phrase to build the question from")
        if task == "code_run" and not _FUNC_CALL.search(obj.get("input") or ""):
            raise RecordError("code_run input has no func_N(x) call")
        canonical_label(task, obj["answer"], options)
        return obj

    return validate


def load(data_dir, tasks=None, levels=None, limit: int | None = None) -> list[Sample]:
    """Samples from `{task}.jsonl` in data_dir (eval_utils.DATA_NAME_TO_PATH); all validated first."""
    path_of = lambda d, task: d / f"{task}.jsonl"  # noqa: E731
    return load_task_files(data_dir, tasks or TASKS, limit, path_of, _validate, _loaded, _check_task)


def _loaded(task: str, record: dict, sample_id: str) -> Sample:
    return Sample(NAME, task, sample_id, 0, record)


def _gpt4_prompt_text(task: str):
    return lambda record: build_prompt(Sample(NAME, task, "", 0, record), "gpt4").text


def generate_records(tokenizer, task, lengths, depths=None, n=1, seed=42, haystack=None) -> list[dict]:
    """`ahn-bench generate infinitebench`: records in the official format, each sized by its GPT-4-family
    prompt (generators.infinitebench)."""
    if task not in GENERATED_TASKS:
        raise UserError(f"cannot generate {task!r}; generated tasks: {', '.join(GENERATED_TASKS)}")
    return generators.infinitebench(
        tokenizer, task, lengths, depths, n, seed, prompt_text=_gpt4_prompt_text(task)
    )


def generate(tokenizer, tasks, lengths, depths, n, seed=42, haystack=None) -> list[Sample]:
    """Synthetic samples from generators.py, in the official record format plus length/depth fields."""
    samples = []
    for task in tasks:
        if task not in GENERATED_TASKS:
            raise UserError(
                f"InfiniteBench task {task!r} cannot be generated; generated: {', '.join(GENERATED_TASKS)}"
            )
        for record in generate_records(tokenizer, task, lengths, depths, n, seed):
            depth = record.get("depth")
            sid = (
                f"L{record['length']}-"
                + (f"d{depth:g}-" if depth is not None else "")
                + str(record["repeat"])
            )
            samples.append(Sample(NAME, task, sid, record["length"], record, depth=depth))
    return samples


# ---------------------------------------------------------------------------------------------- prompts
def build_prompt(sample: Sample, template: str = "gpt4") -> Prompt:
    """eval_utils.create_prompt for one record and template family."""
    if template not in TEMPLATE_FAMILIES:
        raise UserError(f"unknown template family {template!r}; known: {', '.join(TEMPLATE_FAMILIES)}")
    task, r = sample.task, sample.record
    if template == "gpt4" and task == "math_calc":
        return Prompt(r["context"], MATH_CALC_PREAMBLE)
    fmt = (GPT4_TEMPLATES if template == "gpt4" else COMPLETION_TEMPLATES)[task]
    fields: dict[str, Any] = {
        "context": r["context"],
        "input": r.get("input") or "",
        "question": r.get("input") or "",
    }
    if task == "code_run":
        call = _FUNC_CALL.findall(r["input"])[0]
        fields.update(func=call.split("(")[0], func_call=call)
    elif task in ("code_debug", "longbook_choice_eng"):
        fields.update({f"OPTION_{c}": o for c, o in zip("ABCD", r["options"])})
    elif task == "math_find":
        # Upstream: the first greedy "The .+ of" match, lower-cased, minus its last 3 characters (" of").
        target = _MATH_TARGET.findall(r["input"])[0].lower()[:-3]
        fields["prefix"] = f"What is {target} in the following list?"
    return Prompt(fmt.format(**fields), GPT4_SYSTEM if template == "gpt4" else ())


def score(sample: Sample, prediction: str) -> float:
    label = canonical_label(sample.task, sample.record["answer"], sample.record.get("options"))
    return score_one(sample.task, prediction, label)


def prediction_record(sample: Sample, prediction: str) -> dict:
    """The eval_*.py dump line {"id", "prediction", "ground_truth"} (ground truth as get_answer gives it),
    plus sample_id and, for generated data, length and depth (compute_scores.py ignores extra keys)."""
    r = sample.record
    fields = {
        "id": r.get("id", sample.sample_id),
        "prediction": prediction,
        "ground_truth": canonical_label(sample.task, r["answer"], r.get("options")),
    }
    return dump_record(sample, fields)


def prediction_file(sample: Sample) -> str:
    return f"preds_{sample.task}.jsonl"


# ---------------------------------------------------------------------------------------------- scoring dumps
def task_from_file(path) -> str | None:
    return task_from_name(path, TASKS, prefix="preds_")


def score_file(path, task: str | None = None, model_name: str | None = None, **_) -> dict:
    """Score a `preds_{task}.jsonl` dump as compute_scores.py does (prediction/pred, ground_truth/label),
    as a percentage; with length/depth fields present, also per length and per depth."""
    task = task or task_from_file(path)
    if task is None:
        raise UserError(f"{path}: cannot tell the task from the file name; pass --task")
    _check_task(task)

    def validate(obj: dict) -> dict:
        key = "prediction" if "prediction" in obj else "pred"
        if key not in obj:
            raise RecordError("missing field 'prediction' (or 'pred')")
        pred = obj[key]
        if not isinstance(pred, str):
            raise RecordError(f"field {key!r} must be a string, got {type(pred).__name__}")
        if "ground_truth" not in obj and "label" not in obj:
            raise RecordError("missing field 'ground_truth' (or 'label')")
        label = canonical_label(task, obj.get("ground_truth", obj.get("label")))
        return pred, label, obj.get("length"), obj.get("depth")

    records = read_records(path, validate)
    scores = [score_one(task, pred, label, model_name) for _, (pred, label, _, _) in records]
    return score_summary(path, task, records, scores)
