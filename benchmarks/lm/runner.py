"""Run the lm benchmark: every method on the same sequences of held-out text, rows by position bucket.

Layout of an output directory (never overwritten; `resume=True` continues it):
  manifest.json     resolved config, the token ids' sha256, run id, environment (benchmarks/results.py)
  sequences.jsonl   per-sequence rows (extra.sample_id), appended one whole unit at a time
  rows.jsonl        the result: per (length, method, bucket, metric) the mean over all sequences' positions,
                    written when every unit is done

A unit is one (length, sequence): full attention's forward (the teacher: the base model with nothing
attached) then each method's, all rows of the unit appended together. A resumed run keeps the complete
units, drops a unit cut short by the interruption (a torn last line included) and computes the rest; the
aggregates are computed from the per-sequence rows read back from disk, so an interrupted-and-resumed run
writes the same rows.jsonl as an uninterrupted one (run id aside).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from ahn.attach import attach_method
from ahn.errors import UserError
from benchmarks.efficiency.shapes import method_settings
from benchmarks.lm.buckets import Bucket, position_buckets
from benchmarks.lm.config import LmConfig, check_resumable
from benchmarks.lm.inputs import check_positions, load_sequences, resolve_weights, token_sha256
from benchmarks.lm.losses import final_hidden, position_losses
from benchmarks.results import ResultRow, RowWriter, new_run_id, read_manifest, write_manifest
from benchmarks.rundir import MANIFEST_FILE, ROWS_FILE, SEQUENCES_FILE, write_rows

BENCHMARK = "lm"
METRIC_ORDER = ("nll", "kl_to_full")


# ---------------------------------------------------------------------------------------------- one unit
def evaluate_sequence(
    base, ids: torch.Tensor, cfg: LmConfig, weight_files: dict[str, Path | None], on_method=None
) -> list[tuple[str, Bucket, str, float]]:
    """Every method on one sequence ids [1, T] -> (method, bucket, metric, mean over the bucket)."""
    from ahn.weights import load_ahn_weights

    buckets = position_buckets(ids.shape[1], cfg.window, cfg.sinks)
    targets = ids[0, 1:]  # position t predicts token t + 1
    teacher = final_hidden(base, ids)[:-1]  # [T-1, H]: the base model, nothing attached
    hidden = {}
    for method in cfg.methods:
        if cfg.spec(method).method.equals_base_model:  # full attention: the teacher itself
            hidden[method] = teacher
        else:
            with attach_method(base, cfg.spec(method), seed=0):
                if weight_files[method] is not None:
                    load_ahn_weights(base, weight_files[method])
                hidden[method] = final_hidden(base, ids)[:-1]
        if on_method is not None:
            on_method()
    losses = position_losses(hidden, teacher, base.get_output_embeddings(), targets)
    out = []
    for method, (nll, kl) in losses.items():
        for bucket in buckets:
            for metric, values in (("nll", nll), ("kl_to_full", kl)):
                out.append((method, bucket, metric, values[bucket.start : bucket.end].double().mean().item()))
    return out


# ---------------------------------------------------------------------------------------------- progress file
def read_units(path: Path, cfg: LmConfig) -> list[ResultRow]:
    """The complete units' rows of a sequences file, which is rewritten without any unit cut short."""
    if not path.exists():
        return []
    lines = path.read_text(encoding="utf-8").split("\n")
    rows = []
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            rows.append(ResultRow.from_json(json.loads(line)))
        except json.JSONDecodeError:
            if lineno == len(lines):  # no newline after it: the write the interruption cut off
                break
            raise UserError(f"{path}:{lineno}: malformed JSON (not a torn last line: corrupt)") from None
    units: dict[tuple, list[ResultRow]] = {}
    for row in rows:
        units.setdefault((row.length, row.extra["sample_id"]), []).append(row)
    kept = [row for (n, _), unit in units.items() if len(unit) == rows_per_unit(cfg, n) for row in unit]
    if len(kept) != len(rows) or lines[-1]:
        write_rows(path, kept)  # atomically: an interruption leaves the old file or the new one
    return kept


def rows_per_unit(cfg: LmConfig, length: int) -> int:
    return len(cfg.methods) * len(position_buckets(length, cfg.window, cfg.sinks)) * len(METRIC_ORDER)


def aggregate(per_sequence: list[ResultRow], cfg: LmConfig) -> list[ResultRow]:
    """Per (length, method, bucket, metric): the mean over every sequence's positions, in canonical order."""
    groups: dict[tuple, list[ResultRow]] = {}
    for row in sorted(per_sequence, key=lambda r: int(r.extra["sample_id"].rsplit("row", 1)[1])):
        groups.setdefault((row.length, row.method, row.task, row.metric), []).append(row)
    out = []
    for members in groups.values():
        first = members[0]
        n_tokens = sum(r.extra["n_tokens"] for r in members)
        value = sum(r.value * r.extra["n_tokens"] for r in members) / n_tokens
        extra = {k: v for k, v in first.extra.items() if k != "sample_id"}
        extra.update(aggregate="mean", n_tokens=n_tokens, sequences=len(members))
        out.append(ResultRow(**{**first.to_json(), "value": value, "extra": extra}))
    order = {m: i for i, m in enumerate(cfg.methods)}
    return sorted(out, key=lambda r: (cfg.lengths.index(r.length), order[r.method], r.extra["start"],
                                      METRIC_ORDER.index(r.metric)))  # fmt: skip


def _device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


# ---------------------------------------------------------------------------------------------- run
def run_lm(
    cfg: LmConfig,
    *,
    resume: bool = False,
    base_model=None,
    tokenizer=None,
    progress: bool = True,
    on_unit: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Evaluate cfg.methods on held-out text. `base_model` / `tokenizer` replace loading cfg.model (tests
    pass tiny random models); `on_unit(count)` runs after each finished unit (tests interrupt through it)."""
    from ahn.models import load_base_model, load_tokenizer, resolve_model_dir

    out = Path(cfg.out)
    started = any((out / name).exists() for name in (MANIFEST_FILE, SEQUENCES_FILE, ROWS_FILE))
    if started and not resume:
        raise UserError(f"{out} already holds results; pass --resume to continue it or choose another --out")
    # Everything is validated before the model is loaded: sizes, positions, weights files, the text.
    if base_model is not None and getattr(base_model, "ahn_attached", None) is not None:
        raise UserError("the lm benchmark needs the base model with no method attached (it is the teacher)")
    if base_model is None:
        from transformers import AutoConfig

        model_config = AutoConfig.from_pretrained(resolve_model_dir(cfg.model), local_files_only=True)
    else:
        model_config = base_model.config
    check_positions(cfg, model_config)
    weights = {m: resolve_weights(cfg, m, model_config) for m in cfg.methods}
    settings = {m: method_settings(cfg.spec(m), model_config, cfg.model) for m in cfg.methods}  # ct: c, M
    tokenizer = tokenizer if tokenizer is not None else load_tokenizer(cfg.model)
    sequences = load_sequences(cfg, tokenizer)
    config = {**cfg.to_json(), "token_sha256": token_sha256(sequences)}

    if started:
        manifest = read_manifest(out)
        check_resumable(manifest["config"], cfg)
        if manifest["config"].get("token_sha256") != config["token_sha256"]:
            raise UserError(f"{out}: cannot resume: the text of {cfg.data} changed since the run started")
        run_id = manifest["run_id"]
    else:
        run_id = new_run_id(BENCHMARK)
    write_manifest(out, run_id, config)  # a resume is appended to the manifest
    (out / ROWS_FILE).unlink(missing_ok=True)  # rewritten from the sequences when every unit is done
    done = {(r.length, r.extra["sample_id"]) for r in read_units(out / SEQUENCES_FILE, cfg)}
    todo = [(n, sid, ids) for n in cfg.lengths for sid, ids in sequences[n] if (n, sid) not in done]

    def make_row(sample_id, length, method, bucket, metric, value) -> ResultRow:
        spec = cfg.spec(method)
        extra = {"sample_id": sample_id, "bucket": bucket.label, "start": bucket.start, "end": bucket.end,
                 "n_tokens": bucket.size, "window_edge": cfg.sinks + cfg.window, "data": cfg.data,
                 "dtype": cfg.dtype, **weights[method][1], **settings[method]}  # fmt: skip
        return ResultRow(
            run_id=run_id, model=cfg.model, method=method, benchmark=BENCHMARK, task=bucket.task,
            length=length, metric=metric, value=value, unit="nat", source="measured",
            window=spec.window, sinks=spec.sinks if spec.windowed else None, extra=extra,
        )  # fmt: skip

    if todo:
        device = _device(cfg.device)
        base = base_model if base_model is not None else load_base_model(cfg.model, cfg.dtype)
        base.to(device)
        writer = RowWriter(out, out / SEQUENCES_FILE)
        bar = _progress(len(todo) * len(cfg.methods), progress)
        try:
            for count, (length, sample_id, ids) in enumerate(todo, start=1):
                bar.set_description(f"lm L={length} {sample_id}")
                files = {m: path for m, (path, _) in weights.items()}
                results = evaluate_sequence(base, ids.to(device), cfg, files, lambda: bar.update(1))
                writer.write([make_row(sample_id, length, *r) for r in results])  # one append per unit
                if on_unit is not None:
                    on_unit(count)
        finally:
            bar.close()
    rows = aggregate(read_units(out / SEQUENCES_FILE, cfg), cfg)
    write_rows(out / ROWS_FILE, rows)
    return {"run_dir": str(out), "run_id": run_id, "units": len(done) + len(todo), "computed": len(todo),
            "skipped": len(done), "rows": rows}  # fmt: skip


def _progress(total: int, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, unit="forward", disable=not enabled, leave=False)
