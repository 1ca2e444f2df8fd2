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
