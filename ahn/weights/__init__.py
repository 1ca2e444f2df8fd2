"""AHN weights: safetensors files holding only the AHN parameters plus metadata (method, window, sinks,
and a fingerprint of the base model's shapes so they cannot be loaded onto another base).

Trained weights shipped with the repo live in `ahn/weights/<model>/<method>/ahn.safetensors`.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import torch
from torch import nn

from ahn.errors import UserError

FORMAT = "ahn-bench/ahn-weights/v1"
SHIPPED = Path(__file__).resolve().parent
FINGERPRINT_FIELDS = (
    "model_type", "hidden_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads",
    "head_dim", "intermediate_size", "vocab_size",
)  # fmt: skip


def base_fingerprint(config) -> str:
    shapes = {f: getattr(config, f, None) for f in FINGERPRINT_FIELDS}
    if shapes["head_dim"] is None:
        shapes["head_dim"] = config.hidden_size // config.num_attention_heads
    return hashlib.sha256(json.dumps(shapes, sort_keys=True).encode()).hexdigest()[:16]


def find_shipped_weights(model_name: str, method: str) -> Path | None:
    path = SHIPPED / model_name / method / "ahn.safetensors"
    return path if path.exists() else None


def save_ahn_weights(model: nn.Module, path: str | os.PathLike, extra_metadata: dict | None = None) -> Path:
    from safetensors.torch import save_file

    from ahn.attach import ahn_parameters

    handle = getattr(model, "ahn_attached", None)
    if handle is None or handle.spec.memory is None:
        raise UserError("the model has no AHN attached: nothing to save")
    spec = handle.spec
    tensors = {name: p.detach().float().contiguous().cpu() for name, p in ahn_parameters(model).items()}
    metadata = {
        "format": FORMAT,
        "method": spec.name,
        "window": str(spec.window),
        "sinks": str(spec.sinks),
        "base_fingerprint": base_fingerprint(model.config),
        "base_model_type": model.config.model_type,
        **{k: json.dumps(v) if not isinstance(v, str) else v for k, v in (extra_metadata or {}).items()},
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(path), metadata=metadata)
    return path


def read_ahn_metadata(path: str | os.PathLike) -> dict[str, str]:
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            return dict(f.metadata() or {})
    except FileNotFoundError:
        raise UserError(f"{path}: no such AHN weights file") from None
    except Exception as e:  # safetensors raises its own error types for corrupt headers
        raise UserError(f"{path}: not a valid safetensors file ({e})") from None


def load_ahn_weights(model: nn.Module, path: str | os.PathLike) -> dict[str, str]:
    """Load AHN weights into the attached AHN modules; refuses files for another method or base."""
    from safetensors.torch import load_file

    from ahn.attach import ahn_parameters

    handle = getattr(model, "ahn_attached", None)
    if handle is None or handle.spec.memory is None:
        raise UserError("attach an AHN method before loading AHN weights")
    metadata = read_ahn_metadata(path)
    if metadata.get("format") != FORMAT:
        raise UserError(f"{path}: not an ahn-bench AHN weights file (format {metadata.get('format')!r})")
    if metadata.get("method") != handle.spec.name:
        raise UserError(
            f"{path}: weights are for method {metadata.get('method')!r}, not {handle.spec.name!r}"
        )
    expected = base_fingerprint(model.config)
    if metadata.get("base_fingerprint") != expected:
        raise UserError(
            f"{path}: weights were trained for another base model "
            f"(fingerprint {metadata.get('base_fingerprint')}, this model {expected})"
        )
    try:
        tensors = load_file(str(path))
    except Exception as e:
        raise UserError(f"{path}: cannot read tensors ({e})") from None
    params = ahn_parameters(model)
    if set(tensors) != set(params):
        missing, unexpected = sorted(set(params) - set(tensors)), sorted(set(tensors) - set(params))
        raise UserError(
            f"{path}: tensor names do not match (missing {missing[:3]}, unexpected {unexpected[:3]})"
        )
    with torch.no_grad():
        for name, param in params.items():
            if tensors[name].shape != param.shape:
                raise UserError(
                    f"{path}: {name} has shape {tuple(tensors[name].shape)}, expected {tuple(param.shape)}"
                )
            param.copy_(tensors[name])
    return metadata


def load_weights(model: nn.Module, path: str | os.PathLike) -> dict:
    """Load AHN weights of either format: ours (`save_ahn_weights`) or the paper's released AHN-only
    checkpoints (a directory with config.json + model.safetensors, or the file; `ahn.official`).
    Returns {"format", "name", "file", "steps" (ours)} for reports."""
    from ahn import official

    if official.is_official(path):
        return official.load_official_weights(model, path)
    path = official.checkpoint_files(path)[0]  # a directory holding our weights file: that file
    metadata = load_ahn_weights(model, path)
    steps = metadata.get("steps")
    return {"format": "ahn-bench", "name": Path(path).name, "file": str(path),
            "steps": int(steps) if steps and steps.isdigit() else None}  # fmt: skip


def describe_weights(info: dict | None) -> str:
    """One line for reports: 'official AHN-GDN-for-Qwen-2.5-Instruct-3B', 'ahn-bench, 30 steps (FILE)'."""
    if info is None:
        return "untrained (zero W_o: equals swa)"
    if info["format"] == "official":
        return f"official {info['name']}"
    steps = f"{info['steps']} training steps" if info.get("steps") is not None else "training steps unknown"
    return f"ahn-bench, {steps} ({info['file']})"
