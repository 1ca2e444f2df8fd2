"""The paper's released AHN-only checkpoints (`ByteDance-Seed/AHN-{GDN,DN,Mamba2}-for-Qwen-2.5-Instruct-*`):
read them into our modules, and write ours in their layout.

What the official code stores (facts from ByteDance-Seed/AHN, read, not copied):
- `src/ahn/transformer/qwen2_ahn/qwen2_ahn.py`: every `Qwen2MemDecoderLayer` i holds
  `self.ahn = BaseAHN(...)`,
  and `BaseAHN` (`src/ahn/utils.py`) holds the variant as `self.fn`, so a parameter is named
  `model.layers.{i}.ahn.fn.<param>`. `examples/scripts/utils/split_weights.py` keeps every key containing
  "ahn" in one `model.safetensors`, next to the checkpoint's `config.json`: the Qwen2 config plus
  `_ahn_implementation` (GatedDeltaNet | DeltaNet | Mamba2), `sliding_window` and optional fields
  (`num_attn_sinks`, `use_ahn_router`, `use_q_proj`, `fa_layer_ids`), each read with a default there.
- `GroupLinear` (`src/ahn/utils.py`) keeps its weight as [groups, in/groups, out/groups] and computes
  einsum("bgi,gio->bgo"): the same tensor, same layout, as our per-head `o_proj` [H, D, D].
- Our names equal theirs except `norm_weight` (their `o_norm.weight` in `gated_deltanet.py` /
  `delta_net.py`, `norm.weight` in `mamba2.py`) and `o_proj` (their `o_proj.weight`).
- `gated_deltanet.py` allocates `D` [H] and never reads it (no D skip): accepted on load and ignored;
  written as ones (its init) on export, so their strict loaders find every key.

Facts not checkable offline (no released config.json at hand): whether `num_attn_sinks` is in the released
configs, and what `sliding_window` they carry. Both presence and absence are accepted; flags override.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import torch
from torch import nn

from ahn.errors import UserError

OFFICIAL_CLASS = {"gdn": "GatedDeltaNet", "dn": "DeltaNet", "mamba2": "Mamba2"}  # our memory -> theirs
MEMORY_OF_CLASS = {v: k for k, v in OFFICIAL_CLASS.items()}
METHOD_OF_MEMORY = {"gdn": "ahn-gdn", "dn": "ahn-dn", "mamba2": "ahn-mamba2"}
NORM_NAME = {"gdn": "o_norm.weight", "dn": "o_norm.weight", "mamba2": "norm.weight"}
UNUSED = {"gdn": ("D",)}  # allocated by the official module, never read
KEY = re.compile(r"^model\.layers\.(\d+)\.ahn\.fn\.(.+)$")
# Base-model fields the official config repeats; a checkpoint for another base differs in one of them.
BASE_FIELDS = ("hidden_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads", "head_dim")
WEIGHTS_FILE = "model.safetensors"


def official_name(memory: str, ours: str) -> str:
    """'layers.3.norm_weight' -> 'model.layers.3.ahn.fn.o_norm.weight' (GDN)."""
    _, layer, name = ours.split(".", 2)
    name = {"norm_weight": NORM_NAME[memory], "o_proj": "o_proj.weight"}.get(name, name)
    return f"model.layers.{layer}.ahn.fn.{name}"


# --- finding and recognising a checkpoint ------------------------------------------------------------
def checkpoint_files(path: str | os.PathLike) -> tuple[Path, dict | None]:
    """(weights file, official config or None) for a checkpoint directory or a weights file in one."""
    path = Path(path)
    if path.is_dir():
        weights = path / WEIGHTS_FILE
        if not weights.exists():
            found = sorted(path.glob("*.safetensors"))
            if len(found) != 1:
                raise UserError(f"{path}: expected one {WEIGHTS_FILE} (AHN-only weights), found {len(found)}")
            weights = found[0]
        config_path = path / "config.json"
    else:
        weights, config_path = path, path.parent / "config.json"
    config = None
    if config_path.exists():
        try:
            config = json.loads(config_path.read_text())
        except (OSError, ValueError) as e:
            raise UserError(f"{config_path}: not valid JSON ({e})") from None
        if not isinstance(config, dict) or "_ahn_implementation" not in config:
            config = None  # a config.json that is not an AHN checkpoint's (e.g. a base model directory)
    return weights, config


def is_official(path: str | os.PathLike) -> bool:
    """Whether `path` is an official AHN-only checkpoint (directory or file), judged by config or key
    names."""
    from ahn.weights import FORMAT, read_ahn_metadata

    weights, config = checkpoint_files(path)
    if config is not None:
        return True
    if read_ahn_metadata(weights).get("format") == FORMAT:  # a missing, truncated or pickled file: UserError
        return False
    return any(KEY.match(k) for k in _keys(weights))


def _keys(weights: Path) -> list[str]:
    from safetensors import safe_open

    try:
        with safe_open(str(weights), framework="pt") as f:
            return list(f.keys())
    except FileNotFoundError:
        raise UserError(f"{weights}: no such AHN weights file") from None
    except Exception as e:  # safetensors raises its own types for truncated or foreign files
        raise UserError(f"{weights}: not a valid safetensors file ({e})") from None


def checkpoint_setting(path: str | os.PathLike) -> dict[str, int]:
    """Window and sinks the official config gives (`sliding_window`, `num_attn_sinks`), where it has them.
    At inference the official attention (qwen2_ahn.py, Qwen2Model mask) attends to keys with
    q - k < sliding_window plus k < num_attn_sinks: our window W and sinks S."""
    _, config = checkpoint_files(path)
    setting = {}
    for ours, theirs in (("window", "sliding_window"), ("sinks", "num_attn_sinks")):
        value = (config or {}).get(theirs)
        if isinstance(value, int) and not isinstance(value, bool) and value >= (1 if ours == "window" else 0):
            setting[ours] = value
    return setting


def checkpoint_method(path: str | os.PathLike) -> str | None:
    _, config = checkpoint_files(path)
    memory = MEMORY_OF_CLASS.get((config or {}).get("_ahn_implementation"))
    return METHOD_OF_MEMORY.get(memory)


# --- loading -----------------------------------------------------------------------------------------
def _variant_from_keys(names: set[str]) -> str:
    if "dt_proj.weight" in names:
        return "mamba2"
    return "gdn" if "a_proj.weight" in names else "dn"


def _check_config(config: dict, model: nn.Module, memory: str, where: Path) -> None:
    variant = MEMORY_OF_CLASS.get(config.get("_ahn_implementation"))
    if variant is None:
        raise UserError(f"{where}: _ahn_implementation {config.get('_ahn_implementation')!r} is not one of "
                        f"{', '.join(MEMORY_OF_CLASS)}")  # fmt: skip
    if variant != memory:
        raise UserError(f"{where}: checkpoint is {METHOD_OF_MEMORY[variant]}, not {METHOD_OF_MEMORY[memory]}")
    base = model.config
    for field in BASE_FIELDS:
        ours = getattr(base, field, None)
        if field == "head_dim" and ours is None:
            ours = base.hidden_size // base.num_attention_heads
        theirs = config.get(field)
        if theirs is not None and theirs != ours:
            raise UserError(
                f"{where}: checkpoint is for another base model ({field} {theirs}, this model {ours})"
            )
    for field, off in (("use_ahn_router", False), ("use_q_proj", False), ("fa_layer_ids", "")):
        if config.get(field, off) not in (off, None):
            raise UserError(
                f"{where}: {field}={config[field]!r} is not supported (released models use {off!r})"
            )


def load_official_weights(model: nn.Module, path: str | os.PathLike) -> dict:
    """Load an official AHN-only checkpoint into the attached AHN modules. Refuses another variant or base,
    a missing or unexpected key, a wrong shape: one line naming it. Returns what was loaded."""
    from safetensors import safe_open

    from ahn.attach import ahn_parameters

    handle = getattr(model, "ahn_attached", None)
    if handle is None or handle.spec.memory is None:
        raise UserError("attach an AHN method before loading AHN weights")
    memory = handle.spec.memory
    weights, config = checkpoint_files(path)
    if config is not None:
        _check_config(config, model, memory, weights.parent / "config.json")
    keys = _keys(weights)
    names = {m.group(2) for m in map(KEY.match, keys) if m}
    if names and _variant_from_keys(names) != memory:
        raise UserError(
            f"{weights}: tensors are {METHOD_OF_MEMORY[_variant_from_keys(names)]}'s, "
            f"not {handle.spec.name}'s"
        )
    params = {official_name(memory, n): p for n, p in ahn_parameters(model).items()}
    unused = {f"model.layers.{i}.ahn.fn.{u}" for i in range(model.config.num_hidden_layers)
              for u in UNUSED.get(memory, ())}  # fmt: skip
    unexpected = sorted(set(keys) - set(params) - unused)
    if unexpected:
        raise UserError(f"{weights}: unexpected tensor {unexpected[0]} ({len(unexpected)} unexpected in all)")
    missing = sorted(set(params) - set(keys), key=_natural)
    if missing:
        raise UserError(f"{weights}: missing tensor {missing[0]} ({len(missing)} missing in all)")
    try:
        with safe_open(str(weights), framework="pt") as f, torch.no_grad():
            for name, param in params.items():
                tensor = f.get_tensor(name)
                if tensor.shape != param.shape:
                    raise UserError(f"{weights}: {name} has shape {tuple(tensor.shape)}, expected "
                                    f"{tuple(param.shape)} (another base model?)")  # fmt: skip
                param.copy_(tensor.float())
    except UserError:
        raise
    except Exception as e:
        raise UserError(f"{weights}: cannot read tensors ({e})") from None
    label = (config or {}).get("_name_or_path") or weights.parent.name
    return {"format": "official", "name": Path(str(label)).name, "file": str(weights)}


def _natural(name: str):
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


# --- export ------------------------------------------------------------------------------------------
def export_official(
    tensors: dict[str, torch.Tensor], memory: str, base_config: dict, window: int, sinks: int,
    out_dir: str | os.PathLike, overwrite: bool = False,
) -> Path:  # fmt: skip
    """Write our AHN tensors (`layers.{i}.<name>`) as an official checkpoint directory: model.safetensors
    with their names, and config.json = the base config + the fields their Qwen2Config reads
    (`_layer_implementation` Qwen2MemDecoderLayer, `_ahn_implementation`, `sliding_window`,
    `num_attn_sinks`)."""
    from safetensors.torch import save_file

    out = Path(out_dir)
    targets = [out / WEIGHTS_FILE, out / "config.json"]
    if not overwrite and any(t.exists() for t in targets):
        raise UserError(f"{out}: already holds an exported checkpoint; pass --overwrite or another --out")
    official = {official_name(memory, n): t.detach().float().contiguous().cpu() for n, t in tensors.items()}
    heads, qwen3 = base_config["num_attention_heads"], base_config.get("model_type") == "qwen3"
    for i in range(base_config["num_hidden_layers"]):
        for unused in UNUSED.get(memory, ()):
            official[f"model.layers.{i}.ahn.fn.{unused}"] = torch.ones(heads)  # its init (gated_deltanet.py)
    config = {
        **base_config, "_layer_implementation": f"{'Qwen3' if qwen3 else 'Qwen2'}MemDecoderLayer",
        "_ahn_implementation": OFFICIAL_CLASS[memory], "sliding_window": window, "num_attn_sinks": sinks,
        "use_ahn_router": False, "use_q_proj": False, "fa_layer_ids": "",
    }  # fmt: skip
    out.mkdir(parents=True, exist_ok=True)
    save_file(official, str(out / WEIGHTS_FILE), metadata={"format": "pt"})
    (out / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    return out
