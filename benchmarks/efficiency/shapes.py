"""The model dimensions every cost formula needs, read from a Hugging Face config."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ModelShape:
    """A decoder-only Llama/Qwen-style transformer: gated MLP, grouped-query attention, one LM head."""

    name: str
    layers: int
    hidden: int
    intermediate: int
    q_heads: int
    kv_heads: int
    head_dim: int
    vocab: int
    tied_embeddings: bool
    max_positions: int | None = None

    @classmethod
    def from_config(cls, config, name: str) -> ModelShape:
        head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
        return cls(
            name=name,
            layers=config.num_hidden_layers,
            hidden=config.hidden_size,
            intermediate=config.intermediate_size,
            q_heads=config.num_attention_heads,
            kv_heads=getattr(config, "num_key_value_heads", None) or config.num_attention_heads,
            head_dim=head_dim,
            vocab=config.vocab_size,
            tied_embeddings=bool(getattr(config, "tie_word_embeddings", False)),
            max_positions=getattr(config, "max_position_embeddings", None),
        )

    def parameters(self, biases: bool = False) -> int:
        """Weights of the base model (embeddings, norms and, with `biases`, Qwen2's q/k/v biases)."""
        attn = (
            2 * self.hidden * self.q_heads * self.head_dim + 2 * self.hidden * self.kv_heads * self.head_dim
        )
        if biases:
            attn += (self.q_heads + 2 * self.kv_heads) * self.head_dim
        layer = attn + 3 * self.hidden * self.intermediate + 2 * self.hidden  # + two RMSNorm weights
        embeddings = self.vocab * self.hidden * (1 if self.tied_embeddings else 2)
        return self.layers * layer + self.hidden + embeddings


def method_settings(spec, model_config, name: str) -> dict:
    """The method's effective settings for result rows' `extra` (ct: compression c and slots M, M matched to
    this model's shape unless the spec sets it); {} for methods without options."""
    if not spec.method.options:
        return {}
    return spec.method.settings(spec, ModelShape.from_config(model_config, name))
