"""Attach a method to a Hugging Face Llama / Qwen2 / Qwen3 model, reversibly.

Attaching replaces each decoder layer's attention `forward` (on the instance, not the class) with
`memory_attention_forward` and adds the layer's AHN module as `self_attn.ahn`; detaching removes both and
restores the config. The base weights are untouched, so parameter names stay the model's own.
"""

from __future__ import annotations

import types

import torch
from torch import nn
from transformers import AttentionInterface

from ahn.cache import MemoryCache
from ahn.errors import UserError
from ahn.methods import MethodSpec

SUPPORTED_ARCHITECTURES = ("llama", "qwen2", "qwen3")
ATTN_IMPLEMENTATION = "ahn_bench"  # registered with no mask function, so transformers builds no mask


def _unreachable_attention(*args, **kwargs):
    raise RuntimeError("ahn_bench attention is computed by the attached forward; this is never called")


AttentionInterface.register(ATTN_IMPLEMENTATION, _unreachable_attention)


def _rotate_half(x):
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((-x2, x1), dim=-1)


def _apply_rope(x, cos, sin):
    # x: (B, T, H, D); cos, sin: (B, T, D) -- the HF convention shared by Llama, Qwen2 and Qwen3.
    return x * cos[:, :, None] + _rotate_half(x) * sin[:, :, None]


def memory_attention_forward(
    self, hidden_states, position_embeddings=None, attention_mask=None, cache=None, **kwargs
):
    """Drop-in for the layer's attention forward: the same projections, qk-norm and RoPE, then the
    method's exact attention plus AHN memory, summed before the base o_proj (AHN paper Eq. 7)."""
    cache = kwargs.pop("past_key_values", None) if cache is None else cache
    B, T, _ = hidden_states.shape
    shape = (B, T, -1, self.head_dim)
    q = self.q_proj(hidden_states).view(shape)  # (B, T, Hq, D)
    k = self.k_proj(hidden_states).view(shape)  # (B, T, Hkv, D)
    v = self.v_proj(hidden_states).view(shape)
    if hasattr(self, "q_norm"):  # Qwen3: RMSNorm over the head dim before RoPE
        q, k = self.q_norm(q), self.k_norm(k)
    cos, sin = position_embeddings
    q, k = _apply_rope(q, cos, sin), _apply_rope(k, cos, sin)

    if cache is None:  # whole-sequence forward: a throwaway layer, the same algorithm as streaming
        layer = self.ahn_spec.method.new_layer(self.ahn_spec)
    elif isinstance(cache, MemoryCache):
        layer = cache.layers[self.layer_idx]
    else:
        raise UserError(
            f"a model with method {self.ahn_spec.name!r} attached needs its own cache: pass "
            f"cache=ahn.new_cache(model), not a {type(cache).__name__}"
        )
    out = layer.process(q, k, v, hidden_states, getattr(self, "ahn", None), self.scaling)
    return self.o_proj(out.reshape(B, T, -1)), None


def decoder_layers(model: nn.Module) -> nn.ModuleList:
    model_type = getattr(model.config, "model_type", None)
    if model_type not in SUPPORTED_ARCHITECTURES:
        raise UserError(
            f"unsupported architecture {model_type!r}; supported: {', '.join(SUPPORTED_ARCHITECTURES)}"
        )
    return model.model.layers


def _reject_padding(module, args, kwargs):
    mask = kwargs.get("attention_mask")
    if isinstance(mask, torch.Tensor) and mask.dim() == 2 and not bool(mask.all()):
        raise UserError("padded batches are not supported with an attached method: give equal-length rows")


class AttachedMethod:
    """Handle returned by `attach_method`; `detach()` (or leaving the `with` block) restores the model."""

    def __init__(self, model: nn.Module, spec: MethodSpec):
        self.model, self.spec = model, spec
        self._saved_config = (model.config._attn_implementation, model.config.use_cache)
        self._hook = None

    def detach(self) -> None:
        for layer in decoder_layers(self.model):
            attn = layer.self_attn
            for name in ("forward", "ahn_spec"):
                attn.__dict__.pop(name, None)
            if "ahn" in attn._modules:
                del attn._modules["ahn"]
        self.model.config._attn_implementation, self.model.config.use_cache = self._saved_config
        self.model.__dict__.pop("_prepare_cache_for_generation", None)
        if self._hook is not None:
            self._hook.remove()
        self.model.__dict__.pop("ahn_attached", None)

    def __enter__(self) -> AttachedMethod:
        return self

    def __exit__(self, *exc) -> None:
        self.detach()


def attach_method(model: nn.Module, spec: MethodSpec, seed: int | None = 0) -> AttachedMethod:
    """Attach `spec` to every decoder layer. A method's modules (AHN) are created fresh (zero W_o:
    exactly SWA until trained or loaded with `ahn.weights.load_ahn_weights`)."""
    if getattr(model, "ahn_attached", None) is not None:
        raise UserError(
            f"model already has method {model.ahn_attached.spec.name!r} attached; detach it first"
        )
    config = model.config
    layers = decoder_layers(model)
    max_positions = getattr(config, "max_position_embeddings", None)
    if spec.windowed and max_positions and spec.window > max_positions:
        raise UserError(f"window {spec.window} exceeds the model's {max_positions} position embeddings")
    handle = AttachedMethod(model, spec)
    generator_state = torch.random.get_rng_state()
    if seed is not None:
        torch.manual_seed(seed)  # AHN init is reproducible for a given seed
    try:
        for layer in layers:
            attn = layer.self_attn
            attn.ahn_spec = spec
            attn.forward = types.MethodType(memory_attention_forward, attn)
            module = spec.method.build_memory(config, attn)
            if module is not None:
                attn.ahn = module
    finally:
        if seed is not None:
            torch.random.set_rng_state(generator_state)
    config._attn_implementation = ATTN_IMPLEMENTATION
    config.use_cache = False  # a plain forward is a whole-sequence forward; streaming passes cache=
    handle._hook = model.model.register_forward_pre_hook(_reject_padding, with_kwargs=True)
    _give_generate_a_memory_cache(model, spec)
    model.ahn_attached = handle
    return handle


def _give_generate_a_memory_cache(model: nn.Module, spec: MethodSpec) -> None:
    """`model.generate()` builds a DynamicCache by default; give it a MemoryCache instead."""
    original = model._prepare_cache_for_generation

    def prepare(generation_config, model_kwargs, *args, **kwargs):
        if model_kwargs.get("cache") is None and model_kwargs.get("past_key_values") is None:
            model_kwargs["cache"] = new_cache(model)
        return original(generation_config, model_kwargs, *args, **kwargs)

    model._prepare_cache_for_generation = prepare


def new_cache(model: nn.Module) -> MemoryCache:
    """An empty constant-size cache for the method attached to `model`."""
    handle = getattr(model, "ahn_attached", None)
    if handle is None:
        raise UserError("no method attached to this model: use ahn.attach_method or ahn.load_model")
    return MemoryCache(handle.spec, len(decoder_layers(model)))


def ahn_parameters(model: nn.Module) -> dict[str, nn.Parameter]:
    """The AHN parameters only, named `layers.{i}.{name}` (what trains and what weights files hold)."""
    params = {}
    for i, layer in enumerate(decoder_layers(model)):
        ahn = getattr(layer.self_attn, "ahn", None)
        if ahn is not None:
            params.update({f"layers.{i}.{n}": p for n, p in ahn.named_parameters()})
    return params
