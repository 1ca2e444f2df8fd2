"""RULER's two QA tasks from a user's own dataset file: qa_1 (SQuAD) and qa_2 (HotpotQA).

Facts from NVIDIA/RULER scripts/data/synthetic/qa.py, constants.py and synthetic.yaml (our own code):
  - SQuAD (v2.0 dev JSON: data[].paragraphs[].{context, qas[].{question, answers[].text, is_impossible}}):
    the documents are the distinct paragraph contexts, sorted; a question that is not impossible is asked
    with its own paragraph, then the other paragraphs of its article, then random other documents;
  - HotpotQA (distractor dev JSON: [{question, answer, context: [[title, [sentences]]]}]): a document is
    "title\\n" + the sentences joined; a question is asked with its own context documents, then random
    other ones;
  - the documents are shuffled and numbered "Document {i}:\\n{document}", joined by blank lines, into the
    qa template; the answer prefix is " Answer:", 32 tokens to generate, scored by string_match_part;
  - upstream adds documents 10 at a time until max_seq_length; we add them one at a time to the length
    closest to the request (the same search as the other RULER tasks).
Nothing is downloaded: `--qa-data FILE[,FILE]` names the files (each recognised by its format); without
the one a task needs, that task is a one-line error.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

from ahn.errors import UserError
from ahn.files import read_text
from benchmarks.accuracy import generators as gen

QA_TASKS = {"qa_1": "squad", "qa_2": "hotpotqa"}  # synthetic.yaml
TEMPLATE = (
    "Answer the question based on the given documents. Only give me the answer and do not output any other "
    "words.\n\nThe following are given documents.\n\n{context}\n\nAnswer the question based on the given "
    "documents. Only give me the answer and do not output any other words.\n\nQuestion: {query}"
)  # constants.py TASKS["qa"]["template"]
ANSWER_PREFIX = " Answer:"
TOKENS_TO_GENERATE = 32
DOCUMENT = "Document {i}:\n{document}"


class _Bad(ValueError):
    pass


def _field(obj, key: str, kind, where: str):
    if not isinstance(obj, dict) or key not in obj:
        raise _Bad(f"{where}: missing field {key!r}")
    if not isinstance(obj[key], kind):
        raise _Bad(f"{where}.{key}: expected {kind.__name__}, got {type(obj[key]).__name__}")
    return obj[key]


def read_squad(data) -> tuple[list[dict], list[str]]:
    """(questions, documents); a question is {query, outputs, context: [doc ids], more: [doc ids]}."""
    articles = _field(data, "data", list, "$")
    paragraphs = []
    for a, article in enumerate(articles):
        for p, para in enumerate(_field(article, "paragraphs", list, f"data[{a}]")):
            where = f"data[{a}].paragraphs[{p}]"
            paragraphs.append(
                (a, _field(para, "context", str, where), _field(para, "qas", list, where), where)
            )
    docs = sorted({context for _, context, _, _ in paragraphs})
    doc_id = {d: i for i, d in enumerate(docs)}
    by_article: dict[int, list[int]] = {}
    for a, context, _, _ in paragraphs:
        by_article.setdefault(a, []).append(doc_id[context])
    questions = []
    for a, context, qas, where in paragraphs:
        for q, qa in enumerate(qas):
            w = f"{where}.qas[{q}]"
            if qa.get("is_impossible", False):  # SQuAD 2.0: unanswerable questions are skipped
                continue
            answers = [
                _field(x, "text", str, f"{w}.answers[{i}]")
                for i, x in enumerate(_field(qa, "answers", list, w))
            ]
            if not answers:
                raise _Bad(f"{w}.answers: empty for a question that is not is_impossible")
            own = doc_id[context]
            questions.append({"query": _field(qa, "question", str, w), "outputs": answers, "context": [own],
                              "more": [d for d in by_article[a] if d != own]})  # fmt: skip
    return questions, docs


def read_hotpotqa(data) -> tuple[list[dict], list[str]]:
    if not isinstance(data, list):
        raise _Bad("$: expected a list of questions (HotpotQA's dev JSON)")
    items = []
    for i, item in enumerate(data):
        where = f"[{i}]"
        pairs = _field(item, "context", list, where)
        texts = []
        for j, pair in enumerate(pairs):
            if not (isinstance(pair, list) and len(pair) == 2 and isinstance(pair[0], str)
                    and isinstance(pair[1], list) and all(isinstance(s, str) for s in pair[1])):  # fmt: skip
                raise _Bad(f"{where}.context[{j}]: expected [title, [sentences]]")
            texts.append(f"{pair[0]}\n{''.join(pair[1])}")
        items.append((_field(item, "question", str, where), _field(item, "answer", str, where), texts))
    docs = sorted({t for _, _, texts in items for t in texts})
    doc_id = {d: i for i, d in enumerate(docs)}
    questions = [{"query": q, "outputs": [a], "context": [doc_id[t] for t in texts], "more": []}
                 for q, a, texts in items]  # fmt: skip
    return questions, docs


def _read_json(path: Path):
    try:
        return json.loads(read_text(path))  # a missing / non-UTF-8 file: UserError naming it
    except json.JSONDecodeError as e:
        raise UserError(f"{path}:{e.lineno}: malformed JSON ({e.msg})") from None


def _kind(data) -> str | None:
    """Which official file this is: SQuAD's is an object with `data`, HotpotQA's a list of questions."""
    if isinstance(data, dict) and "data" in data:
        return "squad"
    return "hotpotqa" if isinstance(data, list) else None


def load_qa(task: str, paths) -> tuple[list[dict], list[str], Path]:
    """The questions and documents of `task`'s dataset, from whichever of `paths` holds that dataset."""
    dataset = QA_TASKS[task]
    if not paths:
        raise UserError(
            f"RULER {task} needs a local {dataset} JSON file (--qa-data FILE); nothing is downloaded"
        )
    for path in map(Path, paths):
        data = _read_json(path)
        if _kind(data) != dataset:
            continue
        try:
            questions, docs = (read_squad if dataset == "squad" else read_hotpotqa)(data)
        except _Bad as e:
            raise UserError(f"{path}: {e} (expected {dataset}'s official JSON for {task})") from None
        if not questions:
            raise UserError(f"{path}: no answerable {dataset} questions")
        return questions, docs, path
    names = ", ".join(map(str, paths))
    raise UserError(f"RULER {task} needs a {dataset} JSON file; --qa-data {names} holds none")


def _prompt(question: dict, docs: list[str], size: int, rng_seed: str) -> str:
    """The question's own documents, then its article's, then others, `size` in all, shuffled, numbered."""
    chosen = list(question["context"])[:size]
    more = [d for d in question["more"] if d not in chosen]
    rng = gen._rng(rng_seed, "pick")
    chosen += rng.sample(more, min(len(more), size - len(chosen))) if size > len(chosen) else []
    if size > len(chosen):
        taken = set(chosen)
        rest = [i for i in range(len(docs)) if i not in taken]
        chosen += rng.sample(rest, min(len(rest), size - len(chosen)))
    texts = [docs[i] for i in chosen]
    gen._rng(rng_seed, "shuffle").shuffle(texts)
    context = "\n\n".join(DOCUMENT.format(i=i + 1, document=d) for i, d in enumerate(texts))
    return TEMPLATE.format(context=context, query=question["query"])


def qa_records(tokenizer, task: str, lengths, n: int, seed: int, paths) -> list[dict]:
    """n records per length, question i for repeat i (upstream: index + pre_samples), sized to the requested
    tokens (prompt + answer prefix + 32 to generate: RULER's `length`); `paths`: the --qa-data files."""
    questions, docs, path = load_qa(task, paths)
    if n > len(questions):
        raise UserError(f"{path}: {len(questions)} answerable questions, fewer than --n {n}")
    records = []
    for length in lengths:
        for i in range(n):
            question, key = questions[i], f"{seed}-{task}-{length}-{i}"

            def tokens_at(size: int, q=question, k=key, step=length) -> int:
                if size > len(docs):  # past every document: grows steeply, so the search stops below it
                    return tokens_at(len(docs)) + (size - len(docs)) * step
                text = _prompt(q, docs, size, k) + ANSWER_PREFIX
                return gen.count_tokens(tokenizer, text) + TOKENS_TO_GENERATE

            size = min(gen.fit_size(tokens_at, length, len(question["context"])), len(docs))
            got = tokens_at(size)
            if abs(got - length) > 2 * gen.TOLERANCE * length:
                if size == len(docs):
                    raise UserError(f"{path}: all {len(docs)} documents make {got} tokens, fewer than the "
                                    f"requested {length}")  # fmt: skip
                warnings.warn(f"{task}: the closest record to {length} tokens has {got}", stacklevel=2)
            records.append({"index": len(records), "input": _prompt(question, docs, size, key),
                            "outputs": question["outputs"], "answer_prefix": ANSWER_PREFIX,
                            "length": got, "task": task, "tokens": length, "repeat": i,
                            "documents": size, "haystack": QA_TASKS[task]})  # fmt: skip
    return records
