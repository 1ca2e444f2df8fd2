"""Every registered benchmark implements the protocol the runner and CLI call, and the synthetic-data
generators import no benchmark module (the old generators <-> infinitebench/lveval loop)."""

import ast
from pathlib import Path

import pytest

from benchmarks.accuracy import samples
from benchmarks.accuracy.truncation import TRUNCATION_JOINS

ACCURACY = Path(samples.__file__).parent


@pytest.mark.parametrize("name", sorted(samples.BENCHMARKS))
def test_registered_benchmarks_implement_the_protocol(name):
    bench = samples.get_benchmark(name)  # raises TypeError on a missing member
    assert bench.TRUNCATION_JOIN in TRUNCATION_JOINS
    assert set(bench.GENERATED_TASKS) <= set(bench.TASKS)
    assert set(bench.DEFAULT_GENERATED_TASKS) <= set(bench.GENERATED_TASKS)
    for task in bench.TASKS:
        assert bench.max_new_tokens(task) >= 1


def test_a_module_missing_a_member_is_refused(monkeypatch):
    monkeypatch.setitem(samples.BENCHMARKS, "broken", "benchmarks.accuracy.needle")
    with pytest.raises(TypeError, match="lacks TASKS"):
        samples.get_benchmark("broken")


@pytest.mark.parametrize("module", ["generators.py", "ruler_synthetic.py"])
def test_generators_import_no_benchmark(module):
    benchmark_modules = {Path(p).stem for p in samples.BENCHMARKS.values()} | set(samples.BENCHMARKS)
    imported = set()
    for node in ast.walk(ast.parse((ACCURACY / module).read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            imported |= {node.module.rsplit(".", 1)[-1], *(a.name for a in node.names)}
        elif isinstance(node, ast.Import):
            imported |= {a.name.rsplit(".", 1)[-1] for a in node.names}
    assert not imported & benchmark_modules, imported & benchmark_modules


TOY = '''
"""A toy benchmark in one file outside the package: echo a word hidden in a short text."""
from benchmarks.accuracy.dumps import dump_record, percent, task_from_name
from benchmarks.accuracy.jsonl import read_records
from benchmarks.accuracy.samples import Prompt, Sample

TASKS = GENERATED_TASKS = DEFAULT_GENERATED_TASKS = ("echo",)
TRUNCATION_JOIN, UPSTREAM_MAX_INPUT_TOKENS, PREDICTION_GLOB = "text", None, "*.jsonl"


def load(data_dir, tasks=None, levels=None, limit=None):
    raise NotImplementedError


def generate(tokenizer, tasks, lengths, depths, n, seed=42, haystack=None):
    return [Sample("toy", "echo", f"{length}-{i}", length, {"word": f"w{i}"})
            for length in lengths for i in range(n)]


def build_prompt(sample, template=None):
    return Prompt(f"Repeat the word {sample.record['word']}.")


def max_new_tokens(task):
    return 2


def score(sample, prediction):
    return float(sample.record["word"] in prediction)


def prediction_record(sample, prediction):
    return dump_record(sample, {"pred": prediction, "word": sample.record["word"]})


def prediction_file(sample):
    return f"{sample.task}.jsonl"


def task_from_file(path):
    return task_from_name(path, TASKS)


def score_file(path, task=None, **_):
    records = read_records(path, lambda obj: obj)
    scores = [float(r["word"] in r["pred"]) for _, r in records]
    return {"file": str(path), "task": "echo", "n": len(scores), "score": percent(scores), "scores": scores}
'''


def test_a_new_benchmark_is_one_file(tmp_path, monkeypatch):
    """Issue 14: a benchmark is one module plus a registry entry; the runner and the score command take it
    with no change anywhere else (here from a file outside the repository)."""
    import ahn
    from benchmarks.accuracy import runner
    from benchmarks.results import read_rows
    from tests.test_accuracy_runner import tiny_loader

    (tmp_path / "toy_bench.py").write_text(TOY)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(samples.BENCHMARKS, "toy", "toy_bench")  # what register_benchmark does
    tok = ahn.load_tokenizer()
    cfg = runner.EvalConfig(benchmark="toy", data="generated", out=str(tmp_path / "run"),
                            methods=["full", "swa"], lengths=[64], n=2, window=16, sinks=4)  # fmt: skip
    summary = runner.run_eval(cfg, tokenizer=tok, load_model=tiny_loader(tok), progress=False)
    assert summary["samples"] == 4 and set(summary["scores"]) == {"full", "swa"}
    rows = read_rows(tmp_path / "run")
    assert {r.benchmark for r in rows} == {"toy"} and any(r.extra.get("aggregate") for r in rows)
    dump = tmp_path / "run" / "predictions" / "swa" / "echo.jsonl"
    assert samples.get_benchmark("toy").score_file(dump)["n"] == 2
