"""The `ahn-bench` command: wires the layers (ahn -> benchmarks -> analysis) into one CLI."""
