"""What the lm benchmark reads before any model runs: the text as token sequences, the model's position
limit, and the AHN weights of each method (validated, and described for the rows)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import torch

from ahn.distill.data import pack
from ahn.errors import UserError
from benchmarks.lm.config import LmConfig

REPO_ROOT = Path(__file__).resolve().parents[2]


def load_sequences(cfg: LmConfig, tokenizer) -> dict[int, list[tuple[str, torch.Tensor]]]:
    """length -> [(sample id, ids [1, length])]: the text packed into rows of `length` tokens (documents
    joined with EOS, ahn/distill/data.py), `cfg.n` of them spread evenly over the text."""
    out = {}
    for length in cfg.lengths:
        rows = pack([cfg.data], tokenizer, length)  # empty or too-short text -> UserError
        pick = torch.linspace(0, rows.shape[0] - 1, min(cfg.n, rows.shape[0])).round().long().tolist()
        out[length] = [(f"L{length}-row{i}", rows[i : i + 1]) for i in dict.fromkeys(pick)]
    return out


def token_sha256(sequences: dict[int, list[tuple[str, torch.Tensor]]]) -> str:
    digest = hashlib.sha256()
    for length in sorted(sequences):
        for sample_id, ids in sequences[length]:
            digest.update(sample_id.encode())
            digest.update(ids.numpy().tobytes())
    return digest.hexdigest()


def check_positions(cfg: LmConfig, model_config) -> None:
    max_positions = getattr(model_config, "max_position_embeddings", None)
    too_long = [n for n in cfg.lengths if max_positions and n > max_positions]
    if too_long:
        raise UserError(f"length {too_long[0]} exceeds the model's {max_positions} positions ({cfg.model})")


def _file_label(path: Path) -> str:
    path = Path(path).resolve()
    return str(path.relative_to(REPO_ROOT)) if path.is_relative_to(REPO_ROOT) else str(path)


def resolve_weights(cfg: LmConfig, method: str, model_config) -> tuple[Path | None, dict[str, Any]]:
    """(weights file or None, what the rows say about it) for one method; validated before any work."""
    from ahn.weights import base_fingerprint, find_shipped_weights, read_ahn_metadata

    if not cfg.spec(method).method.trainable:
        return None, {"ahn_weights": "none"}
    if cfg.ahn_weights == "none":
        path = None
    elif cfg.ahn_weights == "shipped":
        path = find_shipped_weights(cfg.model, method)
    else:
        path = Path(cfg.ahn_weights)
    if path is None:
        return None, {"ahn_weights": "untrained", "ahn_trained": False}
    metadata = read_ahn_metadata(path)  # missing or invalid file -> UserError
    if metadata.get("method") != method:
        raise UserError(f"{path}: weights are for method {metadata.get('method')!r}, not {method!r}")
    if metadata.get("base_fingerprint") != base_fingerprint(model_config):
        raise UserError(f"{path}: weights were trained for another base model than {cfg.model}")
    info = {
        "ahn_weights": _file_label(path),
        "ahn_trained": True,
        "ahn_weights_sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
    }
    for key in ("steps", "tokens"):  # written by `ahn-bench distill` (ahn/distill/trainer.py)
        if key in metadata:
            info[f"ahn_train_{key}"] = int(metadata[key])
    return path, info
