"""The Qwen2.5 configs built from published hyperparameters, and the paper's efficiency setting."""

import pytest
import torch

import ahn
from ahn.methods import MethodSpec
from benchmarks.efficiency import flop_counting, flops, memory, paper_configs

MODELS = list(paper_configs.QWEN25)
# AHN parameter counts, paper Table 1 (spec ahn.md §1), in millions.
AHN_PARAMS_M = {
    "ahn-gdn": {"qwen2.5-3b": 13.0, "qwen2.5-7b": 21.3, "qwen2.5-14b": 61.0},
    "ahn-dn": {"qwen2.5-3b": 11.8, "qwen2.5-7b": 18.5, "qwen2.5-14b": 51.1},
    "ahn-mamba2": {"qwen2.5-3b": 11.9, "qwen2.5-7b": 18.6, "qwen2.5-14b": 51.4},
}


@pytest.mark.parametrize("name", MODELS)
def test_configs_reproduce_published_parameter_counts(name):
    shape = paper_configs.qwen25_shape(name)
    model = paper_configs.meta_model(name)  # real module structure, no weights
    total = sum(p.numel() for p in model.parameters())
    assert total == shape.parameters(biases=True)
    published, non_embedding = paper_configs.PUBLISHED_PARAMETERS[name]
    embeddings = shape.vocab * shape.hidden * (1 if shape.tied_embeddings else 2)
    # Model cards round loosely: 14B's card says 14.7B / 13.1B, the config gives 14.77B / 13.21B (the Hub's
    # safetensors count shows 14.8B), hence 1%.
    assert abs(total / published - 1) < 0.01
    assert abs((total - embeddings) / non_embedding - 1) < 0.01
    for method, published_m in AHN_PARAMS_M.items():
        with ahn.attach_method(model, MethodSpec(method, 32640, 128)):
            ahn_params = sum(p.numel() for p in ahn.ahn_parameters(model).values())
        # (the official GDN also allocates D [H] per layer, never read; with or without it the count rounds
        # to the same figure)
        assert round(ahn_params / 1e6, 1) == published_m[name], method


def test_meta_model_count_matches_analytic_for_full_attention():
    """FlopCounterMode on the meta-device 3B model (no weights): one causal prefill call."""
    model = paper_configs.meta_model("qwen2.5-3b")
    shape = paper_configs.qwen25_shape("qwen2.5-3b")
    ids = torch.zeros(1, 24, dtype=torch.long, device="meta")
    with ahn.attach_method(model, MethodSpec("full")):
        counted = flop_counting.count_prefill("torch", model, ids, lambda: ahn.new_cache(model), chunk=24)
    assert counted.flops == flops.prefill_flops(shape, MethodSpec("full"), 24).total


def test_paper_setting_reductions():
    """128 sinks + 32640 window at 128k tokens, Qwen2.5-3B: our accounting vs the paper's headline claims
    (40.5% fewer FLOPs, 74.0% less cache)."""
    shape = paper_configs.qwen25_shape("qwen2.5-3b")
    full, gdn = (
        MethodSpec("full"),
        MethodSpec("ahn-gdn", paper_configs.PAPER_WINDOW, paper_configs.PAPER_SINKS),
    )

    def less(f, length):
        return 100 * (1 - f(gdn, length) / f(full, length))

    L = paper_configs.PAPER_LENGTH
    assert L == 128_000  # the paper's "128k": its cache formula gives 74.6% at 131,072, not its 74.0%
    assert round(less(lambda m, n: memory.paper_cache_bytes(shape, m, n, 4), L), 1) == 74.0
    assert round(less(lambda m, n: memory.paper_cache_bytes(shape, m, n, 4), 131_072), 1) == 74.6
    # As ahn.cache holds it (bf16 KV, fp32 state and write scalars): less of a reduction.
    assert round(less(lambda m, n: memory.cache_bytes(shape, m, n, 2).total, L), 1) == 70.4
    # FLOPs in the paper's convention (every weight matrix at every position, embedding and LM head too):
    # its 40.5% to within 0.1 point; our physical count (LM head at the last position only) says 42.5%.
    assert abs(less(lambda m, n: flops.paper_prefill_flops(shape, m, n).total, L) - 40.5) < 0.15
    assert 42 < less(lambda m, n: flops.prefill_flops(shape, m, n, 1).total, L) < 43


def test_paper_convention_counts_every_weight_at_every_position():
    """Full attention in the paper's convention = 2 x (every matrix, embedding + LM head) x L + causal
    attention; it counts a tied embedding twice, as an embedding and as the LM head."""
    for name in MODELS:
        shape = paper_configs.qwen25_shape(name)
        model = paper_configs.meta_model(name)
        matrices = sum(p.numel() for n, p in model.named_parameters() if p.dim() == 2)
        if shape.tied_embeddings:
            matrices += shape.vocab * shape.hidden  # the tied matrix is also the LM head
        L = 1000
        attention = 4 * shape.q_heads * shape.head_dim * shape.layers * L * (L + 1) // 2
        assert flops.paper_prefill_flops(shape, MethodSpec("full"), L).total == 2 * matrices * L + attention
