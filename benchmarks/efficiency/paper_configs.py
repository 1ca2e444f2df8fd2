"""The paper's base models, Qwen2.5-{3B,7B,14B}-Instruct, built in code from their published
hyperparameters (the `config.json` of each Hugging Face repository), so the efficiency table needs no
download. A meta-device model (no weights, no memory) is enough for parameter and FLOP counting.

The figures were written from the public config files as we remember them; `tests/test_efficiency_paper.py`
checks them against the published parameter counts (3.09B / 7.61B / 14.7B, 2.77B / 6.53B / 13.1B without
embeddings) and against the AHN parameter counts of paper Table 1. Fields that no count constrains (norm
epsilon, rope theta) do not enter any figure here.
"""

from __future__ import annotations

from ahn.errors import UserError
from benchmarks.efficiency.shapes import ModelShape

# Published hyperparameters (Qwen2.5 technical report, Table 1, and the repositories' config.json).
QWEN25 = {
    "qwen2.5-3b": dict(
        hidden_size=2048, intermediate_size=11008, num_hidden_layers=36, num_attention_heads=16,
        num_key_value_heads=2, vocab_size=151936, tie_word_embeddings=True,
    ),
    "qwen2.5-7b": dict(
        hidden_size=3584, intermediate_size=18944, num_hidden_layers=28, num_attention_heads=28,
        num_key_value_heads=4, vocab_size=152064, tie_word_embeddings=False,
    ),
    "qwen2.5-14b": dict(
        hidden_size=5120, intermediate_size=13824, num_hidden_layers=48, num_attention_heads=40,
        num_key_value_heads=8, vocab_size=152064, tie_word_embeddings=False,
    ),
}  # fmt: skip
COMMON = dict(max_position_embeddings=32768, rope_theta=1_000_000.0, rms_norm_eps=1e-6, hidden_act="silu")
PUBLISHED_PARAMETERS = {  # (total, non-embedding), from the model cards
    "qwen2.5-3b": (3.09e9, 2.77e9),
    "qwen2.5-7b": (7.61e9, 6.53e9),
    "qwen2.5-14b": (14.7e9, 13.1e9),
}
# The setting of paper Table 9 (and of its LV-Eval / InfiniteBench runs): 128 sinks + 32640 window, at
# L = 128,000 tokens ("128k" in the paper; its 74.0% cache claim holds at 128,000, not 131,072).
PAPER_LENGTH, PAPER_SINKS, PAPER_WINDOW = 128000, 128, 32640


def paper_model_key(name: str) -> str | None:
    """'qwen2.5-3b', 'Qwen/Qwen2.5-3B-Instruct', ... -> 'qwen2.5-3b'; None for anything else."""
    key = name.lower().removeprefix("qwen/").removesuffix("-instruct")
    return key if key in QWEN25 else None


def qwen25_config(name: str):
    """A transformers Qwen2Config with the published hyperparameters of `name`."""
    from transformers import Qwen2Config

    key = paper_model_key(name)
    if key is None:
        raise UserError(f"unknown paper model {name!r}; known: {', '.join(QWEN25)}")
    return Qwen2Config(**COMMON, **QWEN25[key])


def qwen25_shape(name: str) -> ModelShape:
    return ModelShape.from_config(qwen25_config(name), paper_model_key(name))


def meta_model(name: str):
    """The model on the meta device: real module structure and shapes, no weights allocated."""
    import torch
    from transformers import AutoModelForCausalLM

    with torch.device("meta"):
        return AutoModelForCausalLM.from_config(qwen25_config(name), attn_implementation="sdpa").eval()
