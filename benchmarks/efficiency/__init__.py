"""Efficiency benchmarks (issue 3): FLOPs, cache memory and latency per method, analytic and measured.

shapes.py         the model dimensions the cost models need (from a Hugging Face config)
flops.py          analytic FLOPs, the paper's matmul-only accounting, mirroring what `ahn` computes
memory.py         analytic cache bytes (as ahn.cache holds them, and the paper's formula); measured cache
                  bytes and peak memory
flop_counting.py  measured FLOPs: torch FlopCounterMode and fvcore on the real forward
latency.py        prefill and decode timing, device synchronised
paper_configs.py  Qwen2.5-3B/7B/14B-Instruct built from published hyperparameters (paper Table 9 setting)
harness.py        one run: models x methods x lengths -> result rows (benchmarks/results.py)
table.py          human tables derived from the rows
cli.py            `ahn-bench efficiency`
"""
