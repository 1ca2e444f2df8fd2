"""pytest-benchmark microbenchmarks; not collected by the default test run (testpaths = tests).
Run one file explicitly: `pytest benchmarks/micro/bench_ops.py`."""
