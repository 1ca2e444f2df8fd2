"""Microbenchmark of one decode step per method at two context lengths (CPU fp32, a small random model).

    pytest benchmarks/micro/bench_decode.py --benchmark-only --benchmark-autosave          # save a baseline
    pytest benchmarks/micro/bench_decode.py --benchmark-only --benchmark-compare \\
        --benchmark-compare-fail=median:25%                                                # compare with it

Every round decodes one token from a fresh copy of a cache prefilled to the context length (the copy is
made in setup, outside the timing), so the context does not drift with the number of rounds. Beyond
sinks + window, swa and AHN steps should cost the same at both lengths; full attention grows with L.
"""

from __future__ import annotations

import copy

import pytest
import torch

import ahn
from ahn.methods import MethodSpec
from ahn.models import tiny_config

METHODS = ("full", "swa", "ahn-gdn", "ahn-dn", "ahn-mamba2")
CONTEXTS = (512, 2048)
WINDOW, SINKS = 128, 4
# Bigger than the test models so a step is dominated by the layers, not by Python overhead.
CONFIG = dict(hidden_size=256, intermediate_size=768, num_hidden_layers=4, num_attention_heads=8,
              num_key_value_heads=2, head_dim=32, vocab_size=4096)  # fmt: skip


@pytest.fixture(autouse=True)
def one_thread():
    # A decode step is many small ops: with two threads on a shared CPU each op can wait milliseconds for the
    # other thread, which swamps the step itself.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def base_model():
    from transformers import AutoModelForCausalLM

    torch.manual_seed(0)
    return AutoModelForCausalLM.from_config(tiny_config("llama", **CONFIG), attn_implementation="sdpa").eval()


@pytest.mark.parametrize("context", CONTEXTS)
@pytest.mark.parametrize("method", METHODS)
def test_decode_step(benchmark, base_model, method, context):
    spec = MethodSpec.build(method, WINDOW, SINKS)
    ids = torch.randint(0, CONFIG["vocab_size"], (1, context), generator=torch.Generator().manual_seed(0))
    with ahn.attach_method(base_model, spec):
        cache = ahn.new_cache(base_model)
        token = ahn.prefill(base_model, ids, cache).argmax(-1)
        benchmark.extra_info.update(
            method=spec.label(), context=context, threads=torch.get_num_threads(), **CONFIG
        )

        def setup():
            return (base_model, token, copy.deepcopy(cache)), {}

        logits = benchmark.pedantic(ahn.decode_one_token, setup=setup, rounds=30, warmup_rounds=3)
    assert logits.shape == (1, CONFIG["vocab_size"])
