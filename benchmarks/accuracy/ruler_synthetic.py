"""RULER's synthetic tasks at any token length for a given tokenizer, in RULER's record format.

Constructions, templates and answer prefixes follow NVIDIA/RULER scripts/data/synthetic/{niah,
variable_tracking,common_words_extraction,freq_words_extraction,constants}.py and scripts/synthetic.yaml.
A record's `length` is RULER's: tokens of `input + answer_prefix` plus the task's tokens_to_generate, sized
by search to within 1 % of the request (upstream fills up to max_seq_length by binary search).

Where this departs from upstream, and why:
  - the "essay" haystack is a public-domain book prepared offline (generators.resolve_haystack; Paradise Lost
    first) instead of Paul Graham's essays, which upstream downloads; without one it falls back to the noise
    sentences, and every record says which haystack it used;
  - keys and common words come from our own word lists (ruler_words.py), not wonderwords';
  - the queried needle sits at the requested depth (others at random places) so that rows form a depth x
    length grid; without --depths a depth is drawn from upstream's 40 evenly spaced depths;
  - each record has its own seeded random stream (any record can be regenerated alone).
"""

# ruff: noqa: E501  (prompt templates are kept whole, one per line, to compare with upstream)

from __future__ import annotations

import random
import re
import string
import uuid
import warnings
from collections.abc import Callable
from dataclasses import dataclass

from ahn.errors import UserError
from benchmarks.accuracy import generators as gen
from benchmarks.accuracy.ruler_words import ADJECTIVES, NOUNS, VERBS

# scripts/data/synthetic/constants.py TASKS: template, answer prefix and tokens_to_generate per task family.
TEMPLATES = {
    "niah": (
        "Some special magic {type_needle_v} are hidden within the following text. Make sure to memorize it. I will quiz you about the {type_needle_v} afterwards.\n{context}\nWhat are all the special magic {type_needle_v} for {query} mentioned in the provided text?",
        " The special magic {type_needle_v} for {query} mentioned in the provided text are",
        128,
    ),
    "variable_tracking": (
        "Memorize and track the chain(s) of variable assignment hidden in the following text.\n\n{context}\nQuestion: Find all variables that are assigned the value {query} in the text above.",
        " Answer: According to the chain(s) of variable assignment in the text above, {num_v} variables are assigned the value {query}, they are: ",
        30,
    ),
    "common_words_extraction": (
        "Below is a numbered list of words. In these words, some appear more often than others. Memorize the ones that appear most often.\n{context}\nQuestion: What are the 10 most common words in the above list?",
        " Answer: The top 10 words that appear most often in the list are:",
        120,
    ),
    "freq_words_extraction": (
        "Read the following coded text and track the frequency of each coded word. Find the three most frequently appeared coded words. {context}\nQuestion: Do not provide any explanation. Please ignore the dots '....'. What are the three most frequently appeared words in the above coded text?",
        " Answer: According to the coded text above, the three most frequently appeared words are:",
        50,
    ),
}
NOISE = "The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again."
NEEDLE = "One of the special magic {type_needle_v} for {key} is: {value}."
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")  # in place of nltk's sent_tokenize (not a dependency)
DEPTHS = [round(100 * i / 39) / 100 for i in range(40)]  # niah.py: np.round(np.linspace(0, 100, 40))


@dataclass(frozen=True)
class Niah:
    """scripts/synthetic.yaml args of one niah variant."""

    haystack: str  # noise | essay | needle
    key_type: str  # words | numbers | uuids
    value_type: str
    keys: int = 1
    values: int = 1
    queries: int = 1


NIAH = {
    "niah_single_1": Niah("noise", "words", "numbers"),
    "niah_single_2": Niah("essay", "words", "numbers"),
    "niah_single_3": Niah("essay", "words", "uuids"),
    "niah_multikey_1": Niah("essay", "words", "numbers", keys=4),
    "niah_multikey_2": Niah("needle", "words", "numbers"),
    "niah_multikey_3": Niah("needle", "uuids", "uuids"),
    "niah_multivalue": Niah("essay", "words", "numbers", values=4),
    "niah_multiquery": Niah("essay", "words", "numbers", queries=4),
}
TASK_FAMILY = {**{t: "niah" for t in NIAH}, "vt": "variable_tracking", "cwe": "common_words_extraction",
               "fwe": "freq_words_extraction"}  # fmt: skip
TASKS = tuple(TASK_FAMILY)
DEPTH_TASKS = tuple(NIAH)
VT_CHAINS, VT_HOPS = 1, 4  # synthetic.yaml vt
CWE_FREQ, CWE_UNCOMMON_FREQ, CWE_COMMON = 30, 3, 10  # synthetic.yaml cwe
FWE_ALPHA, FWE_WORD_LEN = 2.0, 6  # synthetic.yaml fwe; freq_words_extraction.py --coded_wordlen


def tokens_to_generate(task: str) -> int:
    return TEMPLATES[TASK_FAMILY[task]][2]


# ---------------------------------------------------------------------------------------------- values
_KEY_WORDS = sorted({f"{a}-{n}" for a in ADJECTIVES for n in NOUNS})


def _random_value(rng: random.Random, kind: str) -> str:
    """niah.py generate_random: 7-digit numbers, adjective-noun words, version-4 uuids."""
    if kind == "numbers":
        return str(rng.randint(10**6, 10**7 - 1))
    if kind == "words":
        return rng.choice(_KEY_WORDS)
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _split_prompt(text: str, family: str) -> tuple[str, str]:
    """Upstream locates the answer prefix by its first 10 characters and cuts the prompt there."""
    at = text.rfind(TEMPLATES[family][1][:10])
    return text[:at], text[at:]


# ---------------------------------------------------------------------------------------------- niah
def _niah_builder(spec: Niah, rng: random.Random, depth: float, units: list[str]) -> Callable[[int], dict]:
    """size (haystack lines or sentences) -> record; every random draw is made here, before sizing."""
    n_keys = max(spec.keys, spec.queries)  # niah.py: num_needle_k = max(num_needle_k, num_needle_q)
    keys: list[str] = []
    while len(keys) < n_keys:
        key = _random_value(rng, spec.key_type)
        if key not in keys:
            keys.append(key)
    values = [[_random_value(rng, spec.value_type) for _ in range(spec.values)] for _ in keys]
    queried = rng.sample(range(n_keys), spec.queries)
    needles = [
        (k, NEEDLE.format(type_needle_v=spec.value_type, key=keys[k], value=v))
        for k in range(n_keys)
        for v in values[k]
    ]
    rng.shuffle(needles)
    # The first needle of the first queried key goes to `depth`; every other needle to a random place.
    first = next(i for i, (k, _) in enumerate(needles) if k == queried[0])
    places = [depth if i == first else rng.random() for i in range(len(needles))]
    offset, distractor_seed = rng.randrange(max(1, len(units))), rng.random()
    queries = [keys[i] for i in queried]
    answers = [v for i in queried for v in values[i]]
    query = ", ".join(queries[:-1]) + ", and " + queries[-1] if len(queries) > 1 else queries[0]
    template = "".join(TEMPLATES["niah"][:2])
    type_needle_v = spec.value_type
    if len(answers) == 1:  # niah.py: the singular template for one answer
        for old, new in (("Some", "A"), ("are all", "is"), ("are", "is"), ("answers", "answer")):
            template = template.replace(old, new)
        type_needle_v = type_needle_v[:-1]

    def build(size: int) -> dict:
        if spec.haystack == "essay":  # niah.py: `size` whitespace words, then split into sentences
            lines = _SENTENCE_END.split(" ".join(units[(offset + j) % len(units)] for j in range(size)))
        elif spec.haystack == "noise":
            lines = [NOISE] * size
        else:  # "needle": every line a needle with a random key and value (drawn from a prefix-stable stream)
            d = random.Random(distractor_seed)
            lines = [NEEDLE.format(type_needle_v=spec.value_type, key=_random_value(d, spec.key_type),
                                   value=_random_value(d, spec.value_type)) for _ in range(size)]  # fmt: skip
        inserts = sorted(((round(p * len(lines)), i) for i, p in enumerate(places)), reverse=True)
        for at, i in inserts:  # back to front keeps indexes valid
            lines.insert(at, needles[i][1])
        context = (" " if spec.haystack == "essay" else "\n").join(lines)
        text = template.format(type_needle_v=type_needle_v, context=context, query=query)
        prompt, prefix = _split_prompt(text, "niah")
        return {"input": prompt, "outputs": answers, "answer_prefix": prefix}

    return build


# ---------------------------------------------------------------------------------------------- vt
def _vt_chain(rng: random.Random, letters: int, value: str) -> tuple[list[str], list[str]]:
    """variable_tracking.py generate_chains for one chain: names of `letters` capitals, first one = value."""
    names: list[str] = []
    while len(names) < VT_HOPS + 1:
        name = "".join(rng.choices(string.ascii_uppercase, k=letters))
        if name not in names:
            names.append(name)
    chain = [f"VAR {names[0]} = {value}"] + [f"VAR {names[j + 1]} = VAR {names[j]} " for j in range(VT_HOPS)]
    return names, chain


def _vt_text(names: list[str], chain: list[str], positions: list[float], size: int) -> str:
    lines = [NOISE] * size
    for j, at in enumerate(sorted(round(p * size) for p in positions)):  # sorted places, in chain order
        lines.insert(at + j, chain[j])
    template = "".join(TEMPLATES["variable_tracking"][:2])
    value = chain[0].split("=")[-1].strip()
    return template.format(context="\n".join(lines).replace(". \n", ".\n"), query=value, num_v=VT_HOPS + 1)


def _vt_builder(rng: random.Random, tokenizer) -> Callable[[int], dict]:
    # The one-shot example: a 3-letter chain with the value 12345 in about 500 tokens of noise, followed by
    # its answer (variable_tracking.py main: max_seq_length=500, then randomize_icl renames it).
    icl_names, icl_chain = _vt_chain(rng, 3, str(rng.randint(10000, 99999)))
    icl_places = [rng.random() for _ in icl_chain]
    icl_size = gen.fit_size(
        lambda s: gen.count_tokens(tokenizer, _vt_text(icl_names, icl_chain, icl_places, s)), 500, 1
    )
    icl = _vt_text(icl_names, icl_chain, icl_places, icl_size) + " " + " ".join(icl_names) + "\n"
    names, chain = _vt_chain(rng, 5, str(rng.randint(10000, 99999)))
    places = [rng.random() for _ in chain]

    def build(size: int) -> dict:
        prompt, prefix = _split_prompt(icl + "\n" + _vt_text(names, chain, places, size), "variable_tracking")
        return {"input": prompt, "outputs": names, "answer_prefix": prefix}

    return build


# ---------------------------------------------------------------------------------------------- cwe
_CWE_WORDS = sorted(set(NOUNS + ADJECTIVES + VERBS))


def _cwe_example(
    rng: random.Random, n_words: int, repeats: int, uncommon_repeats: int
) -> tuple[str, list[str]]:
    """common_words_extraction.py get_example: the first 10 of n distinct words appear `repeats` times, the
    rest `uncommon_repeats` times, shuffled into a numbered list."""
    pool = _CWE_WORDS if n_words <= len(_CWE_WORDS) else _CWE_WORDS + _KEY_WORDS  # upstream: a larger list
    words = rng.sample(pool, n_words)
    common, uncommon = words[:CWE_COMMON], words[CWE_COMMON:]
    listed = common * repeats + uncommon * uncommon_repeats
    rng.shuffle(listed)
    return " ".join(f"{i + 1}. {w}" for i, w in enumerate(listed)), common


def _cwe_builder(rng: random.Random, length: int) -> Callable[[int], dict]:
    # Below 4096 tokens upstream uses lighter repeats: (3, 1) for the example, (6, 1) for the question.
    short = length < 4096
    shot_seed, seed = rng.random(), rng.random()
    template = "".join(TEMPLATES["common_words_extraction"][:2])

    def build(n_words: int) -> dict:
        shot_context, shot_answer = _cwe_example(
            random.Random(shot_seed), 20 if short else 40, 3 if short else 10, 1 if short else 3
        )
        shot = (
            template.format(context=shot_context)
            + " "
            + " ".join(f"{i + 1}. {w}" for i, w in enumerate(shot_answer))
        )
        context, answer = _cwe_example(
            random.Random(seed),
            max(n_words, CWE_COMMON + 1),
            6 if short else CWE_FREQ,
            1 if short else CWE_UNCOMMON_FREQ,
        )
        prompt, prefix = _split_prompt(
            shot + "\n" + template.format(context=context), "common_words_extraction"
        )
        return {"input": prompt, "outputs": answer, "answer_prefix": prefix}

    return build


# ---------------------------------------------------------------------------------------------- fwe
def _zeta(alpha: float) -> float:
    # Riemann zeta by partial sum plus the integral tail (scipy.special.zeta upstream; error < 1e-9 at 2.0).
    n = 100_000
    return sum(k**-alpha for k in range(1, n)) + n ** (1 - alpha) / (alpha - 1) + 0.5 * n**-alpha


def _fwe_builder(rng: random.Random, length: int) -> Callable[[int], dict]:
    """freq_words_extraction.py: a vocabulary of (length - budget) // 50 random 6-letter words, word k drawn
    n * k^-alpha / zeta(alpha) times; the top word becomes '...' (noise), the answer is ranks 2-4."""
    size = max(4, (length - tokens_to_generate("fwe")) // 50)
    vocab: list[str] = []
    seen: set[str] = set()
    while len(vocab) < size:
        word = "".join(rng.choices(string.ascii_lowercase, k=FWE_WORD_LEN))
        if word not in seen:
            seen.add(word)
            vocab.append(word)
    vocab[0] = "..."
    shuffle_seed, z = rng.random(), _zeta(FWE_ALPHA)
    template = "".join(TEMPLATES["freq_words_extraction"][:2])

    def build(n_words: int) -> dict:
        words = [w for k, w in enumerate(vocab, start=1) for _ in range(int(n_words * k**-FWE_ALPHA / z))]
        random.Random(shuffle_seed).shuffle(words)
        prompt, prefix = _split_prompt(template.format(context=" ".join(words)), "freq_words_extraction")
        return {"input": prompt, "outputs": vocab[1:4], "answer_prefix": prefix}

    return build


# ---------------------------------------------------------------------------------------------- driver
def record_length(tokenizer, task: str, record: dict) -> int:
    """RULER's `length`: prompt tokens (input + answer prefix, no special tokens) + tokens_to_generate."""
    return gen.count_tokens(tokenizer, record["input"] + record["answer_prefix"]) + tokens_to_generate(task)


_MIN_SIZE = {"vt": 1, "cwe": 11, "fwe": 100}  # fwe: fewer words leave rank 4 absent


def generate_records(
    tokenizer, task: str, lengths, depths=None, n: int = 1, seed: int = 42, haystack="auto"
) -> list[dict]:
    """Records for one task over lengths x depths x n (depths for the niah tasks; without them each record
    draws its depth from upstream's 40 evenly spaced depths), each with RULER's fields plus `task`,
    `tokens` (requested), `depth`, `repeat` and `haystack`."""
    if task not in TASK_FAMILY:
        raise UserError(f"unknown RULER task {task!r}; generated tasks: {', '.join(TASKS)}")
    lengths, grid = gen._check_grid(lengths, depths or [0.5], n)
    grid_depths: list[float | None] = list(grid) if (depths and task in NIAH) else [None]
    spec = NIAH.get(task)
    units, source = ([], "noise")
    if spec is not None and spec.haystack == "essay":
        sentences, source = gen._haystack_units({"language": "en", "noise": NOISE}, haystack)
        units = " ".join(sentences).split()  # niah.py: re.sub(r"\s+", " ", essay).split(" ")
    elif spec is not None and spec.haystack == "needle":
        source = "needle"
    records = []
    for length in lengths:
        guess = None
        for depth in grid_depths:
            for i in range(n):
                rng = gen._rng(seed, "ruler", task, length, depth, i)
                used_depth = depth if depth is not None or spec is None else rng.choice(DEPTHS)
                if spec is not None:
                    build = _niah_builder(spec, rng, used_depth, units)
                elif task == "vt":
                    build = _vt_builder(rng, tokenizer)
                elif task == "cwe":
                    build = _cwe_builder(rng, length)
                else:
                    build = _fwe_builder(rng, length)
                size = gen.fit_size(
                    lambda s, b=build: record_length(tokenizer, task, b(s)),
                    length,
                    _MIN_SIZE.get(task, 0),
                    guess,
                )
                guess = size
                record = build(size)
                got = record_length(tokenizer, task, record)
                if abs(got - length) > 0.02 * length:  # one haystack line is coarse at short lengths
                    warnings.warn(f"{task}: the closest record to {length} tokens has {got}", stacklevel=2)
                record = {
                    "index": len(records),
                    **record,
                    "length": got,
                    "task": task,
                    "tokens": length,
                    "repeat": i,
                }
                if used_depth is not None:
                    record["depth"] = used_depth
                record["haystack"] = source if task in NIAH else "noise" if task == "vt" else "words"
                records.append(record)
    return records
