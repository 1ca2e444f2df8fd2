"""Evaluate several methods on the same samples: one row per sample, aggregates, resumable, shardable.

An output directory (benchmarks/rundir.py; never overwritten, `--resume` continues it) holds the manifest,
rows.jsonl (per-sample rows, then the aggregate rows written when the run completes), rows.rank{i}.jsonl
while a sharded run is in flight, and predictions/{method}/{file}, the official prediction dumps that
`ahn-bench score` re-scores.

A run appends each sample's prediction and row as soon as it is generated, so an interruption loses at most
the sample in flight; a resumed run skips every (method, task, sample_id) already in the rows files. When
all samples are done, `finalize` rewrites rows.jsonl in canonical order with fresh aggregates, so an
interrupted-and-resumed run and an uninterrupted one produce the same rows (timings aside).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ahn.distributed import barrier
from ahn.errors import UserError
from ahn.files import check_run_dir, claim_run_dir
from ahn.methods import MethodSpec
from ahn.models import DTYPES
from analysis.averages import group_means  # the one place means are taken (see its docstring)
from benchmarks.accuracy.jsonl import iter_jsonl
from benchmarks.accuracy.samples import BENCHMARKS, Sample, get_benchmark, natural_key
from benchmarks.accuracy.truncation import encode_prompt
from benchmarks.efficiency.shapes import method_settings
from benchmarks.results import (
    ResultRow,
    RowWriter,
    drop_torn_row,
    new_run_id,
    read_manifest,
    read_rows,
    write_manifest,
)
from benchmarks.rundir import (
    MANIFEST_FILE,
    PREDICTIONS_DIR,
    ROWS_FILE,
    prediction_path,
    prediction_paths,
    row_paths,
    rows_path,
    shard_rows_paths,
    unsharded_name,
    write_records,
    write_rows,
)

GENERATED = "generated"
DEFAULT_METHODS = ("full", "swa", "ahn-gdn")
# Keys that decide which samples exist and what each one's prompt, model and budget are: a resumed run
# must agree on all of them with the run it continues (methods and tasks may be added).
SAMPLE_KEYS = (
    "benchmark", "data", "model", "lengths", "depths", "levels", "n", "limit", "seed", "haystack",
    "template", "chat", "max_input_tokens", "max_new_tokens", "window", "sinks", "dtype", "ahn_weights",
    "qa_data",
)  # fmt: skip


@dataclass
class EvalConfig:
    benchmark: str
    data: str  # a directory of official files, or "generated"
    out: str
    tasks: list[str] = field(default_factory=list)  # empty: the benchmark's default set
    methods: list[str] = field(default_factory=lambda: list(DEFAULT_METHODS))
    model: str = "smollm2-135m"
    lengths: list[int] = field(default_factory=list)  # generated data: prompt lengths in tokens
    depths: list[float] = field(default_factory=list)  # generated data: needle depths in [0, 1]
    levels: list[str] = field(default_factory=list)  # LV-Eval files: length levels (empty: all present)
    n: int = 1  # generated data: samples per (length, depth)
    limit: int | None = None  # official files: first N records of each file
    seed: int = 42
    haystack: str | None = (
        "auto"  # generated factrecall: "auto" (natural text if prepared), "noise", corpus, file
    )
    template: str = "gpt4"  # InfiniteBench prompt family: gpt4 | completion
    chat: bool = True  # apply the tokenizer's chat template (after truncation)
    max_input_tokens: int | None = None  # middle-truncate prompts longer than this (None: never)
    max_new_tokens: int | None = None  # cap on the official per-task budget (None: official)
    window: int | None = None  # None: the ahn default for windowed methods
    sinks: int | None = None
    dtype: str = "float32"
    ahn_weights: str = (
        "shipped"  # "shipped" (repo's trained weights when present), "none" (untrained), a path
    )
    device: str = "auto"
    qa_data: list[str] | None = None  # RULER qa_1 / qa_2: the user's SQuAD / HotpotQA JSON files
    # The official harness's protocol for open models: truncate to the benchmark's upstream budget (unless
    # max_input_tokens is given) and feed the raw prompt. Resolved into `chat` / `max_input_tokens` here.
    upstream: bool = False

    def __post_init__(self):
        bench = get_benchmark(self.benchmark)
        if self.upstream:
            self.chat = False
            if self.max_input_tokens is None:
                self.max_input_tokens = bench.UPSTREAM_MAX_INPUT_TOKENS
        generated = self.data == GENERATED
        if not self.tasks:
            self.tasks = list(bench.DEFAULT_GENERATED_TASKS if generated else bench.TASKS)
        known = bench.GENERATED_TASKS if generated else bench.TASKS
        bad = [t for t in self.tasks if t not in known]
        if bad:
            what = "generated " if generated else ""
            raise UserError(
                f"unknown {what}{self.benchmark} task(s) {', '.join(bad)}; known: {', '.join(known)}"
            )
        if not self.methods:
            raise UserError("no methods given")
        if len(set(self.methods)) != len(self.methods):
            raise UserError("a method is listed twice")
        for method in self.methods:  # every method's spec before the first one runs
            MethodSpec.build(method, self.window, self.sinks)
        if generated and not self.lengths:
            raise UserError("--data generated needs --lengths (prompt lengths in tokens)")
        if any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in self.lengths):
            raise UserError(f"lengths must be integers >= 1, got {self.lengths}")
        if any(not 0 <= d <= 1 for d in self.depths):
            raise UserError(f"depths must lie in [0, 1], got {self.depths}")
        if self.dtype not in DTYPES:
            raise UserError(f"unknown dtype {self.dtype!r}; known: {', '.join(DTYPES)}")
        resolve_device(self.device)
        if self.qa_data and not hasattr(bench, "QA_TASKS"):
            raise UserError(f"--qa-data: {self.benchmark} has no QA tasks that read it (RULER qa_1, qa_2 do)")
        if not generated and not Path(self.data).is_dir():
            raise UserError(f"{self.data}: not a directory (or use --data generated)")
        if self.template not in ("gpt4", "completion"):
            raise UserError(f"--template must be gpt4 or completion, got {self.template!r}")
        for name in ("n", "limit", "max_input_tokens", "max_new_tokens"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise UserError(f"{name} must be at least 1, got {value}")

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# ---------------------------------------------------------------------------------------------- samples
def build_samples(cfg: EvalConfig, tokenizer) -> list[Sample]:
    """All samples of the run in canonical order; every record is validated before anything is generated."""
    bench = get_benchmark(cfg.benchmark)
    if cfg.data == GENERATED:
        files = {"qa_data": cfg.qa_data} if cfg.qa_data else {}  # only benchmarks with QA_TASKS take it
        return bench.generate(
            tokenizer, cfg.tasks, cfg.lengths, cfg.depths, cfg.n, cfg.seed, cfg.haystack, **files
        )
    return bench.load(cfg.data, cfg.tasks, cfg.levels or None, cfg.limit)


def select_shard(samples: list[Sample], rank: int, world: int) -> list[Sample]:
    """Round-robin so every shard gets a mix of tasks and lengths."""
    if not 0 <= rank < world:
        raise UserError(f"shard {rank}/{world}: rank must be in 0..{world - 1}")
    return samples[rank::world]


def shard_from_env() -> tuple[int, int]:
    """The launcher's rank and process count (accelerate launch, torchrun, mpirun); (0, 1) otherwise."""
    from ahn.distributed import launched_rank_world

    return launched_rank_world()


def parse_shard(text: str) -> tuple[int, int]:
    try:
        rank, world = (int(p) for p in text.split("/"))
    except ValueError:
        raise UserError(f"--shard must look like i/n, got {text!r}") from None
    if world < 1 or not 0 <= rank < world:
        raise UserError(f"--shard {text}: need 0 <= i < n")
    return rank, world


# ---------------------------------------------------------------------------------------------- files
def _is_aggregate(row: ResultRow) -> bool:
    return "aggregate" in (row.extra or {})


def _drop_torn_lines(out: Path, rank: int = 0, world: int = 1) -> None:
    """A killed run may leave a torn last line in each file it appended to; a shard repairs only its own."""
    if world == 1:
        files = [*row_paths(out), *prediction_paths(out)]
    else:
        files = [rows_path(out, rank, world), *prediction_paths(out, rank)]
    for path in files:
        drop_torn_row(path)


def _done_keys(paths: list[Path]) -> set[tuple[str, str, str]]:
    done = set()
    for path in paths:
        for row in read_rows(path):
            if not _is_aggregate(row):
                done.add((row.method, row.task, row.extra["sample_id"]))
    return done


def _run_id(cfg: EvalConfig, world: int) -> str:
    if world == 1:
        return new_run_id(cfg.benchmark)
    # Every shard must agree on the id without talking to the others: derive it from what decides the
    # samples and their answers (methods and tasks may be added on resume, as for one process).
    config = cfg.to_json()
    digest = hashlib.sha256(json.dumps([config[k] for k in SAMPLE_KEYS]).encode()).hexdigest()[:12]
    return f"{cfg.benchmark}-sharded-{digest}"


def _check_resumable(out: Path, cfg: EvalConfig, action: str = "resume") -> str:
    manifest = read_manifest(out)
    old = manifest.get("config", {})
    new = cfg.to_json()
    changed = [k for k in SAMPLE_KEYS if old.get(k) != new.get(k)]
    if changed:
        diffs = "; ".join(f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in changed)
        raise UserError(f"{out}: cannot {action} with a different config ({diffs})")
    return manifest["run_id"]


# ---------------------------------------------------------------------------------------------- model side
def default_model_loader(cfg: EvalConfig) -> Callable[[str], Any]:
    """method -> ahn.LoadedModel, loading the base model afresh for each method."""
    import ahn

    weights: str | None = {"shipped": "shipped", "none": None}.get(cfg.ahn_weights, cfg.ahn_weights)

    def load(method: str):
        windowed = ahn.methods.get_method(method).windowed
        return ahn.load_model(
            cfg.model,
            method=method,
            window=cfg.window if windowed else None,
            sinks=cfg.sinks if windowed else None,
            dtype=cfg.dtype,
            weights=weights,
        )

    return load


def resolve_device(name: str):
    """auto | cpu | cuda | cuda:N -> torch.device; a device this machine lacks is a UserError."""
    import torch

    if name == "auto":
        if not torch.cuda.is_available():
            return torch.device("cpu")
        # Under accelerate launch / torchrun each process takes the GPU of its local rank.
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)) % torch.cuda.device_count())
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError):
        device = None
    if device is None or device.type not in ("cpu", "cuda"):
        raise UserError(f"device must be auto, cpu, cuda or cuda:N, got {name!r}")
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise UserError(f"device {name!r} requested but CUDA is not available")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise UserError(f"device {name!r}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    return device


def generate_text(
    loaded, tokenizer, input_ids: list[int], max_new_tokens: int, device
) -> tuple[str, int, float]:
    """(decoded prediction, new tokens, seconds) with ahn's greedy generate."""
    import torch

    import ahn

    ids = torch.tensor([input_ids], dtype=torch.long, device=device)
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    new = ahn.generate(loaded.model, ids, max_new_tokens=max_new_tokens)
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    return tokenizer.decode(new[0].tolist(), skip_special_tokens=True), int(new.shape[1]), seconds


# ---------------------------------------------------------------------------------------------- run
def run_eval(
    cfg: EvalConfig,
    *,
    resume: bool = False,
    shard: tuple[int, int] = (0, 1),
    tokenizer=None,
    load_model: Callable[[str], Any] | None = None,
    progress: bool = True,
    on_sample: Callable[[int], None] | None = None,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Evaluate cfg.methods on the same samples. `on_sample(count)` runs after each finished sample (the
    tests interrupt a run through it). Returns the summary (finalize's, or the shard's counts).
    An existing run in cfg.out is continued only with `resume` (same sample config), replaced only with
    `overwrite`."""
    out = Path(cfg.out)
    rank, world = shard
    bench = get_benchmark(cfg.benchmark)
    if world == 1:
        existing = check_run_dir(out, resume=resume, overwrite=overwrite) == "resume"
    else:  # other shards' files are theirs; only this shard's and a merged file matter here
        if overwrite:
            raise UserError("--overwrite cannot be used by a sharded run (the shards share --out)")
        if ((out / ROWS_FILE).exists() or rows_path(out, rank, world).exists()) and not resume:
            raise UserError(
                f"{out} already holds results; pass --resume to continue it or choose another --out"
            )
        existing = resume
    if existing and world == 1 and not (out / MANIFEST_FILE).exists():
        raise UserError(f"{out}: not an ahn-bench eval run (no {MANIFEST_FILE}); nothing to resume")
    if tokenizer is None:
        import ahn

        tokenizer = ahn.load_tokenizer(cfg.model)
    samples = build_samples(cfg, tokenizer)  # validates all data before any model is loaded
    if world > len(samples):
        raise UserError(
            f"{world} processes (shards) for {len(samples)} samples: every process needs one; "
            f"use at most {len(samples)}"
        )
    mine = select_shard(samples, rank, world)
    claim_run_dir(out, resume=resume or world > 1, overwrite=overwrite)  # all validated: now write

    manifest_exists = (out / MANIFEST_FILE).exists()
    if world > 1:
        # Shards never read each other's rows: only rank 0 writes the manifest; every shard checks that the
        # run it joins has its config (a shard of another config would merge into a mixed run).
        joining = "add a shard to this run"
        if rank == 0:
            if manifest_exists:
                _check_resumable(out, cfg, joining)
            write_manifest(out, _run_id(cfg, world), cfg.to_json())
        barrier()  # launched shards: rank 0's manifest is on disk before the others read it
        has_manifest = (out / MANIFEST_FILE).exists()
        run_id = _check_resumable(out, cfg, joining) if has_manifest else _run_id(cfg, world)
    elif existing:
        run_id = _check_resumable(out, cfg)
        write_manifest(out, run_id, cfg.to_json())  # appends this resume to the manifest
    else:
        run_id = _run_id(cfg, world)
        write_manifest(out, run_id, cfg.to_json())
    if not resume:
        done = set()
    else:
        _drop_torn_lines(out, rank, world)
        if world == 1:
            done = _done_keys(row_paths(out))
        else:
            done = _done_keys([p for p in (out / ROWS_FILE, rows_path(out, rank, world)) if p.exists()])
    writer = RowWriter(out, rows_path(out, rank, world))  # a shard appends to its own file
    load_model = load_model or default_model_loader(cfg)
    device = resolve_device(cfg.device)

    counts = {"generated": 0, "skipped": 0}
    for method in cfg.methods:
        todo = [s for s in mine if (method, s.task, s.sample_id) not in done]
        counts["skipped"] += len(mine) - len(todo)
        if not todo:
            continue
        loaded = load_model(method)
        loaded.model.to(device)
        bar = _progress(len(todo), f"{cfg.benchmark} {method}", progress)
        try:
            for sample in todo:
                row = _evaluate_one(
                    cfg, bench, sample, loaded, tokenizer, method, run_id, device, out, rank, world
                )
                writer.write(row)
                counts["generated"] += 1
                bar.update(1)
                if on_sample is not None:
                    on_sample(counts["generated"])
        finally:
            bar.close()
            del loaded
    if world > 1:
        note = f"merge the shards with `ahn-bench eval --merge {out}` when all have finished"
        return {"run_dir": str(out), "run_id": run_id, "shard": f"{rank}/{world}", **counts, "note": note}
    return {**finalize(out), **counts}


def _evaluate_one(
    cfg, bench, sample, loaded, tokenizer, method, run_id, device, out, rank, world
) -> ResultRow:
    prompt = bench.build_prompt(sample, cfg.template)
    enc = encode_prompt(tokenizer, prompt, cfg.max_input_tokens, chat=cfg.chat, join=bench.TRUNCATION_JOIN)
    budget = bench.max_new_tokens(sample.task)
    if cfg.max_new_tokens is not None:
        budget = min(budget, cfg.max_new_tokens)
    prediction, new_tokens, seconds = generate_text(loaded, tokenizer, enc.input_ids, budget, device)
    value = 100.0 * bench.score(sample, prediction)
    # The prediction line goes first: a crash between the two writes re-generates the sample on resume
    # (finalize keeps the last prediction of a sample), never leaves a row without its prediction.
    write_records(
        prediction_path(out, method, bench.prediction_file(sample), rank, world),
        [bench.prediction_record(sample, prediction)],
        append=True,
    )
    extra = {
        "sample_id": sample.sample_id,
        "prompt_sha256": enc.sha256,
        "input_tokens": len(enc.input_ids),
        "prompt_tokens": enc.prompt_tokens,
        "truncated": enc.truncated,
        "prediction": prediction,
        "new_tokens": new_tokens,
        "max_new_tokens": budget,
        "seconds": round(seconds, 4),
        "ahn_weights": getattr(loaded, "ahn_weights", None),
        "ahn_weights_note": getattr(loaded, "weights_note", None),  # official <name> / ahn-bench, N steps
        **method_settings(loaded.spec, loaded.model.config, cfg.model),  # ct: compression c, slots M
    }
    if sample.depth is not None:
        extra["depth"] = sample.depth
    if sample.level is not None:
        extra["level"] = sample.level
    if "haystack" in sample.record:
        extra["haystack"] = sample.record["haystack"]
    return ResultRow(
        run_id=run_id,
        model=cfg.model,
        method=method,
        benchmark=cfg.benchmark,
        task=sample.task,
        length=sample.length,
        metric="score",
        value=value,
        unit="%",
        source="measured",
        window=loaded.spec.window,
        sinks=loaded.spec.sinks,
        extra=extra,
    )


def _progress(total: int, desc: str, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="sample", disable=not enabled, leave=False)


# ---------------------------------------------------------------------------------------------- finalize
def finalize(out: str | os.PathLike) -> dict[str, Any]:
    """Merge shard files, order the per-sample rows canonically, recompute aggregates and rewrite rows.jsonl
    and the prediction dumps. Idempotent; this is also `ahn-bench eval --merge DIR`."""
    out = Path(out)
    manifest = read_manifest(out)
    config = manifest.get("config")
    if not isinstance(config, dict) or config.get("benchmark") not in BENCHMARKS:
        raise UserError(f"{out / MANIFEST_FILE}: not the manifest of an `ahn-bench eval` run")
    bench = get_benchmark(config["benchmark"])
    _drop_torn_lines(out, 0, 1)
    method_order = {m: i for i, m in enumerate(config.get("methods", []))}
    task_order = {t: i for i, t in enumerate(bench.TASKS)}

    latest: dict[tuple[str, str, str], ResultRow] = {}
    for path in row_paths(out):
        for row in read_rows(path):
            if _is_aggregate(row):
                continue
            if row.run_id != manifest["run_id"]:
                raise UserError(
                    f"{path}: rows of run {row.run_id}, but {out} is run {manifest['run_id']} "
                    "(a shard ran with another config; rerun it with this run's config)"
                )
            latest[(row.method, row.task, row.extra["sample_id"])] = row
    if not latest:
        raise UserError(f"{out}: no per-sample rows to merge")

    def order(row: ResultRow):
        depth = row.extra.get("depth")
        return (
            method_order.get(row.method, len(method_order)),
            row.method,
            task_order.get(row.task, len(task_order)),
            row.task,
            row.length,
            -1.0 if depth is None else depth,
            natural_key(row.extra["sample_id"]),
        )

    rows = sorted(latest.values(), key=order)
    aggregates = aggregate_rows(rows, config["benchmark"])
    write_rows(out / ROWS_FILE, [*rows, *aggregates])
    for path in shard_rows_paths(out):
        path.unlink()
    position = {(r.method, r.extra["sample_id"], r.task): i for i, r in enumerate(rows)}
    _finalize_predictions(out, position, bench)
    return summarize(rows, aggregates, out)


def _finalize_predictions(out: Path, position: dict, bench) -> None:
    root = out / PREDICTIONS_DIR
    if not root.is_dir():
        return
    for method_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        groups: dict[str, list[Path]] = {}
        for path in method_dir.glob("*.jsonl"):
            groups.setdefault(unsharded_name(path), []).append(path)
        for base, paths in groups.items():
            latest: dict[str, dict] = {}
            for path in sorted(paths):
                for _, record in iter_jsonl(path):
                    latest[record["sample_id"]] = record
            task, method = bench.task_from_file(base), method_dir.name
            last = len(position)
            records = sorted(
                latest.values(),
                key=lambda r: (
                    position.get((method, r["sample_id"], task), last),
                    natural_key(r["sample_id"]),
                ),
            )
            write_records(method_dir / base, records)  # replaced atomically, then the shards' files go
            for path in paths:
                if path.name != base:
                    path.unlink()


def aggregate_rows(rows: list[ResultRow], benchmark: str) -> list[ResultRow]:
    """Means per (method, task); per (method, task, length) and, for needle tasks, per depth and per
    (length, depth) -- the needle-map grid; for LV-Eval also the per-level mean over subsets. Every mean is
    analysis.averages.group_means'."""

    def groups(row: ResultRow):
        depth = row.extra.get("depth")
        yield (row.method, row.task, 0, None)
        if row.length:
            yield (row.method, row.task, row.length, None)
        if depth is not None:
            yield (row.method, row.task, 0, depth)
            if row.length:
                yield (row.method, row.task, row.length, depth)

    pairs = [(key, row) for row in rows for key in groups(row)]  # a row counts in each of its groups
    out = []
    for (_method, task, length, depth), m in group_means(pairs, _first, _value_of_second).items():
        first = m.members[0][1]
        extra: dict[str, Any] = {"aggregate": "mean", "n": m.n}
        if depth is not None:
            extra["depth"] = depth
        level = first.extra.get("level")
        if length and level is not None:
            extra["level"] = level
        out.append(_aggregate(first, task, length, m.mean, extra))
    named = getattr(get_benchmark(benchmark), "NAMED_AGGREGATES", {})
    per_task = {(r.method, r.task): r for r in out if not r.length and "depth" not in r.extra}
    for name, members in named.items():  # e.g. LongBench's paper-6: the mean of the per-task means
        for method in dict.fromkeys(m for m, _ in per_task):
            found = [per_task[(method, t)] for t in members if (method, t) in per_task]
            if len(found) == len(members):
                m = group_means(found, lambda r: "all", lambda r: r.value)["all"]
                extra = {"aggregate": "mean", "over": "tasks", "n": m.n, "tasks": list(members)}
                out.append(_aggregate(found[0], name, 0, m.mean, extra))
    if getattr(get_benchmark(benchmark), "OVERALL_PER_LENGTH", False):
        # LV-Eval README "overall": per level, the unweighted mean of the subsets' scores.
        per_subset = {(r.method, r.length, r.task): r for r in out if r.length and "depth" not in r.extra}
        levels = group_means(per_subset.items(), lambda kv: kv[0][:2], _value_of_second)
        for (_method, length), m in levels.items():
            members = [r for _, r in m.members]
            extra = {"aggregate": "mean", "over": "subsets", "n": m.n,
                     "subsets": sorted(r.task for r in members)}  # fmt: skip
            if "level" in members[0].extra:
                extra["level"] = members[0].extra["level"]
            out.append(_aggregate(members[0], "overall", length, m.mean, extra))
    return out


def _first(pair):
    return pair[0]


def _value_of_second(pair) -> float:
    return pair[1].value


def _aggregate(template: ResultRow, task: str, length: int, value: float, extra: dict) -> ResultRow:
    return dataclasses.replace(template, task=task, length=length, value=value, extra=extra)


def summarize(rows: list[ResultRow], aggregates: list[ResultRow], out: Path) -> dict[str, Any]:
    scores: dict[str, dict[str, float]] = {}
    for row in aggregates:
        if row.length == 0 and "depth" not in row.extra:
            scores.setdefault(row.method, {})[row.task] = round(row.value, 2)
    return {"run_dir": str(out), "samples": len(rows), "scores": scores}
