"""Per-position KL to the full-attention teacher and NLL on held-out text: swa vs untrained vs trained AHN.

Positions are bucketed in units of the exact memory c = sinks + window: [0, c) is identical for every
method (nothing evicted yet); beyond it swa forgets and AHN remembers. Results are rows (one per
variant x bucket), the table is derived from them.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch
import torch.nn.functional as F

from ahn.attach import attach_method
from ahn.distill.data import pack
from ahn.distill.trainer import kl_per_position
from ahn.errors import UserError
from ahn.methods import MethodSpec


def per_position(logits: torch.Tensor, teacher_logp: torch.Tensor, ids: torch.Tensor) -> dict:
    """logits [1, T, V] -> KL to the teacher [T] and NLL of the next token [T-1]."""
    kl = kl_per_position(teacher_logp, logits)[0]
    nll = F.cross_entropy(logits[0, :-1].float(), ids[0, 1:], reduction="none")
    return {"kl": kl, "nll": nll}


def bucket_edges(seq_len: int, c: int) -> list[int]:
    return [*range(0, seq_len, c), seq_len]


def evaluate(base, rows: torch.Tensor, method: str, window: int, sinks: int, weights) -> list[dict]:
    """Run every variant on every row; `base` is a model with no method attached (it is the teacher)."""
    from ahn.weights import load_ahn_weights

    variants = [("full", None), ("swa", None), (f"{method} untrained", None)]
    if weights is not None:
        variants.append((f"{method} trained", weights))
    sums: dict[str, dict[str, torch.Tensor]] = {}
    T = rows.shape[1]
    for i in range(rows.shape[0]):
        ids = rows[i : i + 1]
        with torch.no_grad():
            teacher = base(ids).logits.float()
            results = {"full": per_position(teacher, teacher, ids)}
            with attach_method(base, MethodSpec("swa", window, sinks)):
                results["swa"] = per_position(base(ids).logits, teacher, ids)
            with attach_method(base, MethodSpec(method, window, sinks), seed=0):
                results[f"{method} untrained"] = per_position(base(ids).logits, teacher, ids)
                if weights is not None:
                    load_ahn_weights(base, weights)
                    results[f"{method} trained"] = per_position(base(ids).logits, teacher, ids)
        for name, r in results.items():
            acc = sums.setdefault(name, {"kl": torch.zeros(T), "nll": torch.zeros(T - 1)})
            acc["kl"] += r["kl"]
            acc["nll"] += r["nll"]
    n, c = rows.shape[0], sinks + window
    edges = bucket_edges(T, c)
    out = []
    for name, _ in variants:
        for lo, hi in zip(edges[:-1], edges[1:]):
            kl = sums[name]["kl"][lo:hi].sum().item() / (n * (hi - lo))
            nll_hi = min(hi, T - 1)
            nll = sums[name]["nll"][lo:nll_hi].sum().item() / (n * max(1, nll_hi - lo))
            out.append({"variant": name, "lo": lo, "hi": hi, "bucket": f"{lo / c:g}-{hi / c:g}c",
                        "kl": kl, "nll": nll, "ppl": math.exp(nll), "rows": n, "seq_len": T,
                        "window": window, "sinks": sinks})  # fmt: skip
    return out


def format_table(rows: list[dict]) -> str:
    variants = list(dict.fromkeys(r["variant"] for r in rows))
    buckets = list(dict.fromkeys((r["lo"], r["hi"]) for r in rows))
    by = {(r["variant"], r["lo"]): r for r in rows}
    head = "| positions | " + " | ".join(f"KL {v}" for v in variants if v != "full")
    head += " | " + " | ".join(f"NLL {v}" for v in variants) + " |"
    lines = [head, "|" + "---|" * (1 + 2 * len(variants) - 1)]
    for lo, hi in buckets:
        kls = [f"{by[(v, lo)]['kl']:.4f}" for v in variants if v != "full"]
        nlls = [f"{by[(v, lo)]['nll']:.4f}" for v in variants]
        lines.append(f"| {lo}-{hi} | " + " | ".join(kls) + " | " + " | ".join(nlls) + " |")
    return "\n".join(lines)


def evaluate_cli(args) -> dict:
    from ahn.models import load_base_model, load_tokenizer
    from ahn.weights import find_shipped_weights

    spec = MethodSpec(args.method, args.window, args.sinks)
    if spec.memory is None:
        raise UserError(f"distill-eval compares an AHN method with swa, not {args.method!r}")
    if args.seq_len <= spec.exact_tokens:
        raise UserError(f"seq-len {args.seq_len} must exceed sinks + window = {spec.exact_tokens}")
    weights = find_shipped_weights(args.model, args.method) if args.weights == "shipped" else args.weights
    if weights is None:
        raise UserError(f"no shipped {args.method} weights for {args.model}: pass --weights FILE")
    base = load_base_model(args.model, "float32")
    max_pos = getattr(base.config, "max_position_embeddings", None)
    if max_pos and args.seq_len > max_pos:
        raise UserError(f"seq-len {args.seq_len} exceeds the model's {max_pos} positions")
    all_rows = pack([args.data], load_tokenizer(args.model), args.seq_len)
    pick = torch.linspace(0, all_rows.shape[0] - 1, min(args.rows, all_rows.shape[0])).round().long()
    rows = evaluate(base, all_rows[pick], args.method, args.window, args.sinks, weights)
    table = format_table(rows)
    print(f"{args.data}: {len(pick)} rows x {args.seq_len} tokens, S={args.sinks} W={args.window}, "
          f"weights {weights}\n{table}")  # fmt: skip
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "eval_rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        (out / "eval_table.md").write_text(table + "\n")
    return {"rows": rows, "weights": str(weights)}
