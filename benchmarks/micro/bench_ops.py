"""Microbenchmarks of the chunked AHN memory ops, forward and forward+backward, on CPU fp32.

    pytest benchmarks/micro/bench_ops.py [--benchmark-json out.json]

Sizes are small (B=1, T=1024, H=4, D=64) so a round takes milliseconds; benchmarks/ops_speed.py times the
issue's full-size comparison against fla's naive references.
"""

from __future__ import annotations

import pytest
import torch

from ahn.ops import delta_rule_chunked, gated_delta_rule_chunked, scalar_decay_chunked
from benchmarks.ops_speed import make_inputs

B, T, H, D = 1, 1024, 4, 64
OPS = {
    "gated_delta_rule": (gated_delta_rule_chunked, ("q", "k", "v", "beta", "g")),
    "delta_rule": (delta_rule_chunked, ("q", "k", "v", "beta")),
    "scalar_decay": (scalar_decay_chunked, ("q", "k", "v", "g")),
}


@pytest.fixture(autouse=True)
def two_threads():
    threads = torch.get_num_threads()
    torch.set_num_threads(min(2, threads))
    yield
    torch.set_num_threads(threads)


def op_inputs(op: str, requires_grad: bool) -> tuple:
    fn, names = OPS[op]
    inputs = make_inputs(B, T, H, D)
    return fn, {n: inputs[n].requires_grad_(requires_grad) for n in names}


@pytest.mark.parametrize("op", OPS)
def test_forward(benchmark, op):
    fn, x = op_inputs(op, requires_grad=False)
    benchmark.extra_info.update(B=B, T=T, H=H, D=D, threads=torch.get_num_threads())
    with torch.no_grad():
        o, state = benchmark(fn, **x)
    assert o.shape == (B, T, H, D)


@pytest.mark.parametrize("op", OPS)
def test_forward_backward(benchmark, op):
    fn, x = op_inputs(op, requires_grad=True)
    benchmark.extra_info.update(B=B, T=T, H=H, D=D, threads=torch.get_num_threads())

    def step():
        for t in x.values():
            t.grad = None
        o, state = fn(**x)
        (o.sum() + state.sum()).backward()

    benchmark(step)
    assert all(t.grad is not None for t in x.values())
