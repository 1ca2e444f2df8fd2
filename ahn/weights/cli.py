"""`ahn-bench export`: write AHN weights trained here in the official checkpoint layout.

  ahn-bench export --format official --weights runs/distill/ahn.safetensors \\
      --model /models/Qwen2.5-3B-Instruct \\
      --out exported/AHN-GDN-ours-3B

The result is a directory the official code reads (`examples/scripts/utils/merge_weights.py` takes its
config.json and model.safetensors), and `--ahn-weights DIR` reads back. No model weights are loaded:
the tensors are renamed, and the base model's config.json is checked against the weights' fingerprint.
"""

from __future__ import annotations

import json
from pathlib import Path

from ahn.errors import UserError
from ahn.models import DEFAULT_MODEL

FORMATS = ("official",)


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "export", help="write trained AHN weights in the official layout", description=__doc__.split("\n")[0]
    )
    p.add_argument("--format", default="official", choices=FORMATS, help="official: ByteDance-Seed/AHN's")
    p.add_argument("--weights", required=True, help="our AHN weights file (what `ahn-bench distill` writes)")
    p.add_argument(
        "--model",
        default=DEFAULT_MODEL,
        help=f"the base model they were trained on (default {DEFAULT_MODEL})",
    )
    p.add_argument("--out", required=True, help="directory to write config.json + model.safetensors into")
    p.add_argument("--overwrite", action="store_true", help="replace an export already in --out")
    p.set_defaults(handler=handle)


def export_weights(weights: str, model: str, out, overwrite: bool = False) -> dict:
    from safetensors.torch import load_file
    from transformers import AutoConfig

    from ahn import official
    from ahn.methods import METHODS
    from ahn.models import resolve_model_dir
    from ahn.weights import FORMAT, base_fingerprint, read_ahn_metadata

    metadata = read_ahn_metadata(weights)  # a missing, truncated or foreign file -> UserError
    if metadata.get("format") != FORMAT:
        raise UserError(f"{weights}: not an ahn-bench AHN weights file (format {metadata.get('format')!r})")
    method = metadata.get("method")
    memory = METHODS[method].memory if method in METHODS else None
    if memory is None:
        raise UserError(f"{weights}: method {method!r} has no AHN memory to export")
    directory = resolve_model_dir(model)
    config = AutoConfig.from_pretrained(directory, local_files_only=True)
    if base_fingerprint(config) != metadata.get("base_fingerprint"):
        raise UserError(f"{weights}: weights were trained for another base model than {model}")
    try:
        tensors = load_file(str(weights))
    except Exception as e:
        raise UserError(f"{weights}: cannot read tensors ({e})") from None
    base_config = json.loads((directory / "config.json").read_text())
    try:
        window, sinks = int(metadata["window"]), int(metadata["sinks"])
    except (KeyError, ValueError):
        raise UserError(f"{weights}: metadata lacks an integer window / sinks") from None
    path = official.export_official(tensors, memory, base_config, window, sinks, out, overwrite)
    return {"out": str(path), "method": method, "window": window, "sinks": sinks, "tensors": len(tensors),
            "steps": metadata.get("steps")}  # fmt: skip


def handle(args) -> dict:
    result = export_weights(args.weights, args.model, Path(args.out), args.overwrite)
    print(f"{args.weights} -> {result['out']} "
          f"({result['method']}, W={result['window']}, S={result['sinks']}, "
          f"official layout: config.json + model.safetensors)")  # fmt: skip
    if json.loads((Path(result["out"]) / "config.json").read_text()).get("model_type") not in (
        "qwen2",
        "qwen3",
    ):
        print("note: the official code defines AHN layers for Qwen2 and Qwen3 bases only")
    return result
