"""Synthetic data: token length within 2 % of the request for the real SmolLM2 tokenizer, answers
recoverable from the context (checked independently of the generator), official record format."""

import ast
import json
import re

import pytest

import ahn
from ahn.errors import UserError
from benchmarks.accuracy import generators as g
from benchmarks.accuracy import infinitebench as ib
from benchmarks.accuracy import lveval as lv
from benchmarks.accuracy.samples import Sample

LENGTHS = [2048, 4096]


@pytest.fixture(scope="session")
def tok():
    return ahn.load_tokenizer()


def prompt_tokens(tok, task, record):
    if task.startswith("factrecall"):
        text = lv.build_prompt(Sample("lveval", task, "", 0, record)).text
    else:
        text = ib.build_prompt(Sample("infinitebench", task, "", 0, record), "gpt4").text
    return len(tok.encode(text, add_special_tokens=False))


def recover(task, record):
    """The answer worked out from the context alone, without the generator's code."""
    ctx = record["context"]
    if task in ("passkey", "number_string"):
        return re.search(r"(?:pass key|sequence of digits) is (\d+)\. Remember it\. \1 is", ctx).group(1)
    if task == "kv_retrieval":
        key = re.search(r'Key: "([0-9a-f-]+)"', record["input"]).group(1)
        return json.loads(ctx[len("JSON data:\n") :])[key]
    if task == "math_find":
        values = ast.literal_eval(ctx)
        kind = re.search(r"The (.+) of the list", record["input"]).group(1)
        if kind == "median number":
            s = sorted(values)
            return s[len(s) // 2] if len(s) % 2 else (s[len(s) // 2 - 1] + s[len(s) // 2]) / 2
        order = {"largest": -1, "second largest": -2, "third largest": -3, "smallest": 0}
        order.update({"second smallest": 1, "third smallest": 2})
        return sorted(set(values))[order[kind.removesuffix(" number")]]
    if task == "math_calc":
        tokens = ctx.split(" ")
        value, out = int(tokens[0]), []
        for op, x in zip(tokens[1::2], tokens[2::2]):
            value = value + int(x) if op == "+" else value - int(x)
            out.append(value)
        return out
    if task == "code_run":
        namespace = {}
        exec(ctx.split(":\n\n", 1)[1], namespace)  # our own generated arithmetic functions, after the header
        call = re.search(r"func_\d+\(-?\d+\)", record["input"]).group(0)
        return eval(call, namespace)
    raise AssertionError(task)


@pytest.mark.parametrize("task", ib.GENERATED_TASKS)
def test_infinitebench_generator_length_and_answer(tok, task):
    depths = [0.0, 0.5, 1.0] if task in ib.DEPTH_TASKS else None
    records = ib.generate_records(tok, task, LENGTHS, depths, n=2, seed=7)
    assert len(records) == len(LENGTHS) * (3 if depths else 1) * 2
    for record in records:
        assert set(record) >= {"id", "context", "input", "answer", "options", "length", "repeat"}
        got = prompt_tokens(tok, task, record)
        assert abs(got - record["length"]) <= 0.02 * record["length"], (task, got, record["length"])
        answer = record["answer"] if task == "math_calc" else record["answer"][0]
        assert recover(task, record) == answer
        # and the official scorer gives full marks to the answer itself
        prediction = str(answer) if task != "math_calc" else str(answer)
        sample = Sample("infinitebench", task, "x", record["length"], record, depth=record.get("depth"))
        assert ib.score(sample, prediction) == 1.0
        ib._validate(task)(record)  # the loader accepts it


def test_needle_depth_places_the_needle(tok):
    for depth in (0.0, 0.25, 0.5, 0.75, 1.0):
        record = ib.generate_records(tok, "passkey", [4096], [depth], n=1)[0]
        ctx = record["context"]
        at = ctx.index("The pass key is") / len(ctx)
        assert abs(at - depth) < 0.02, (depth, at)
    record = ib.generate_records(tok, "kv_retrieval", [4096], [0.0], n=1)[0]
    key = re.search(r'Key: "([0-9a-f-]+)"', record["input"]).group(1)
    assert record["context"].startswith(f'JSON data:\n{{"{key}"')


def test_generators_are_deterministic_and_seeded(tok):
    a = ib.generate_records(tok, "number_string", [1024], [0.5], n=3, seed=1)
    b = ib.generate_records(tok, "number_string", [1024], [0.5], n=3, seed=1)
    c = ib.generate_records(tok, "number_string", [1024], [0.5], n=3, seed=2)
    assert a == b and a != c
    for record in a:  # five digits, five of them duplicated in place: ten digits
        assert re.fullmatch(r"\d{10}", record["answer"][0])


@pytest.mark.parametrize("task", ["factrecall_en", "factrecall_zh"])
def test_factrecall_generator(tok, task, tmp_path):
    records = lv.generate_records(tok, task, LENGTHS, [0.0, 0.5, 1.0], n=1, seed=3)
    for record in records:
        lv.validate_record(record)
        got = prompt_tokens(tok, task, record)
        assert abs(got - record["tokens"]) <= 0.02 * record["tokens"]
        needle = g.FACTRECALL[task]["needle"]
        assert needle in record["context"] and record["answers"][0] in needle
        assert all(fact in record["context"] for fact in record["confusing_facts"])
        haystack = record["context"]
        for fact in record["confusing_facts"]:
            haystack = haystack.replace(fact, "")
        start = haystack.index(needle)  # the needle spans the requested depth (it is long in zh)
        assert start / len(haystack) - 0.02 <= record["depth"] <= (start + len(needle)) / len(haystack) + 0.02
    # a natural-text haystack from a user's file
    text = tmp_path / "book.txt"
    text.write_text(
        "It was a bright cold day in April. The clocks were striking thirteen!\n\nA new paragraph.\n"
    )
    record = lv.generate_records(tok, "factrecall_en", [1024], [0.5], 1, haystack=text)[0]
    assert "The clocks were striking thirteen!" in record["context"] and record["haystack"] == str(text)


def test_generate_cli_writes_official_records(tok, tmp_path, monkeypatch, capsys):
    import ahn_bench.cli as ahn_cli

    monkeypatch.setattr(ahn_cli, "SUBCOMMAND_MODULES", ["benchmarks.accuracy.cli"])
    out = tmp_path / "passkey.jsonl"
    code = ahn_cli.main(["generate", "infinitebench", "--task", "passkey", "--tokens", "1024",
                         "--depths", "0,1", "--n", "2", "--out", str(out), "--json"])  # fmt: skip
    assert code == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["records"] == 4
    samples = ib.load(tmp_path, ["passkey"])  # the file loads as an official passkey.jsonl
    assert len(samples) == 4 and samples[0].record["depth"] == 0.0
    code = ahn_cli.main(["generate", "infinitebench", "--task", "longbook_qa_eng", "--tokens", "1024",
                         "--out", str(tmp_path / "x.jsonl")])  # fmt: skip
    assert code == 2 and "cannot generate" in capsys.readouterr().err


def test_auto_haystack_uses_a_prepared_public_domain_book_else_noise(tok, tmp_path, monkeypatch):
    monkeypatch.setenv("AHN_BENCH_CACHE", str(tmp_path))
    assert g.resolve_haystack("auto", "en") is None  # nothing prepared: the noise haystack
    record = lv.generate_records(tok, "factrecall_en", [1024], [0.5], 1, haystack="auto")[0]
    assert record["haystack"] == "noise" and "The grass is green." in record["context"]
    (tmp_path / "corpora").mkdir()
    book = {"title": "alice", "text": "Alice was beginning to get very tired of sitting by her sister. " * 50}
    (tmp_path / "corpora" / "alice.jsonl").write_text(json.dumps(book) + "\n")
    assert g.resolve_haystack("auto", "en") == "alice" and g.resolve_haystack("auto", "zh") is None
    record = lv.generate_records(tok, "factrecall_en", [1024], [0.5], 1, haystack="auto")[0]
    assert record["haystack"] == "alice" and "Alice was beginning" in record["context"]
    assert abs(prompt_tokens(tok, "factrecall_en", record) - 1024) <= 0.02 * 1024
    with pytest.raises(UserError, match="no such haystack"):
        lv.generate_records(tok, "factrecall_en", [1024], [0.5], 1, haystack=str(tmp_path / "missing.txt"))
