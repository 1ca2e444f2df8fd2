"""One efficiency run: for every model, method and length, the analytic rows (FLOPs, cache bytes) and, unless
analytic-only, the measured rows (counted FLOPs, cache bytes, peak memory, prefill time, decode latency).

Prefill-side measurements go length by length and, within a length, method by method on one base model
(the method is attached and detached around each). Decode latency is then measured for all cells together,
from caches prefilled again, one step of each cell per round, so the ratios between methods and between
lengths are taken side by side under the same machine load. Every row is appended to
DIR/rows.jsonl as soon as it is measured.

    run = EfficiencyConfig(models=("smollm2-135m",), methods=("full", "swa", "ahn-gdn"), lengths=(1024, 2048))
    rows = run_efficiency(run, out_dir="runs/eff")
"""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from ahn.attach import attach_method, new_cache
from ahn.errors import UserError
from ahn.files import claim_run_dir
from ahn.generate import DEFAULT_PREFILL_CHUNK  # the streaming path measured here uses the same chunk
from ahn.methods import DEFAULT_SINKS, DEFAULT_WINDOW, MethodSpec
from ahn.models import DEFAULT_MODEL, DTYPES
from benchmarks.efficiency import flop_counting, flops, latency, memory, paper_configs
from benchmarks.efficiency.shapes import ModelShape
from benchmarks.results import METRICS, ResultRow, RowWriter, new_run_id, write_manifest

BENCHMARK = "efficiency"
CONVENTIONS = ("physical", "paper")
TINY_MODELS = {"tiny-llama": "llama", "tiny-qwen2": "qwen2", "tiny-qwen3": "qwen3"}  # random, for tests


@dataclass
class EfficiencyConfig:
    # Names ("smollm2-135m", "qwen2.5-3b", "tiny-llama") or local Hugging Face directories.
    models: tuple[str, ...] = (DEFAULT_MODEL,)
    methods: tuple[str, ...] = ("full", "swa", "ahn-gdn")
    lengths: tuple[int, ...] = (1024, 2048, 4096, 8192)
    window: int = DEFAULT_WINDOW
    sinks: int = DEFAULT_SINKS
    dtype: str = "float32"
    analytic_only: bool = False
    device: str = "auto"  # "auto": cuda when available
    prefill_chunk: int = DEFAULT_PREFILL_CHUNK
    decode_tokens: int = 32
    decode_warmup: int = 4
    counters: tuple[str, ...] = flop_counting.COUNTERS
    count_max_length: int = 4096  # count FLOPs (a second prefill per counter) only up to this length
    threads: int | None = None  # torch CPU threads (None: torch's default)
    seed: int = 0
    # "physical": as ahn.cache holds it and ahn computes it; "paper": also rows (source "paper") following
    # the paper's own accounting (flops.paper_forward_flops, memory.paper_cache_bytes), for its Table 9.
    convention: str = "physical"

    def __post_init__(self):
        self.models, self.methods = tuple(self.models), tuple(self.methods)
        self.lengths, self.counters = tuple(self.lengths), tuple(self.counters)
        if not self.models:
            raise UserError("no model given")
        if not self.methods:
            raise UserError("no methods given")
        for name in self.methods:
            self.spec(name)  # unknown method, bad window or sinks -> UserError
        if not self.lengths:
            raise UserError("no lengths given")
        for length in self.lengths:
            if isinstance(length, bool) or not isinstance(length, int) or length <= 0:
                raise UserError(f"lengths must be integers > 0, got {length!r}")
        if self.dtype not in DTYPES:
            raise UserError(f"unknown dtype {self.dtype!r}; known: {', '.join(DTYPES)}")
        for name, value, least in (
            ("prefill chunk", self.prefill_chunk, 1), ("decode tokens", self.decode_tokens, 1),
            ("decode warm-up", self.decode_warmup, 0), ("count max length", self.count_max_length, 0),
        ):  # fmt: skip
            if value < least:
                raise UserError(f"{name} must be >= {least}, got {value}")
        unknown = [c for c in self.counters if c not in flop_counting.COUNTERS]
        if unknown:
            raise UserError(f"unknown FLOP counter(s) {unknown}; known: {', '.join(flop_counting.COUNTERS)}")
        if self.threads is not None and self.threads < 1:
            raise UserError(f"threads must be >= 1, got {self.threads}")
        if self.convention not in CONVENTIONS:
            raise UserError(f"unknown convention {self.convention!r}; known: {', '.join(CONVENTIONS)}")
        if self.device not in ("auto", "cpu") and not self.device.startswith("cuda"):
            raise UserError(f"device must be auto, cpu or cuda[:N], got {self.device!r}")

    def spec(self, method: str) -> MethodSpec:
        return MethodSpec.build(method, self.window, self.sinks)

    def resolved_device(self) -> torch.device:
        if self.device == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        if self.device.startswith("cuda") and not torch.cuda.is_available():
            raise UserError(f"device {self.device} requested but CUDA is not available")
        return torch.device(self.device)


# --- models --------------------------------------------------------------------------------------------
@dataclass
class ModelSource:
    name: str
    kind: str  # "hf" (a loadable checkpoint), "tiny" (random, built in code), "paper" (config only)
    shape: ModelShape
    config: object = field(repr=False)

    def load(self, dtype: torch.dtype, device: torch.device, seed: int) -> nn.Module:
        """The base model, no method attached."""
        if self.kind == "paper":
            raise UserError(
                f"{self.name} is built from published hyperparameters, without weights: use --analytic-only "
                "(or pass a local directory holding the checkpoint)"
            )
        if self.kind == "tiny":
            from transformers import AutoModelForCausalLM

            torch.manual_seed(seed)
            model = AutoModelForCausalLM.from_config(self.config, attn_implementation="sdpa", dtype=dtype)
        else:
            from ahn.models import load_base_model

            model = load_base_model(self.name, dtype)
        return model.to(device).eval()


def resolve_model(name: str) -> ModelSource:
    """A model name or directory -> its shape (and how to load it); unknown names are a UserError."""
    if paper_configs.paper_model_key(name):
        key = paper_configs.paper_model_key(name)
        return ModelSource(key, "paper", paper_configs.qwen25_shape(key), paper_configs.qwen25_config(key))
    if name in TINY_MODELS:
        from ahn.models import tiny_config

        config = tiny_config(TINY_MODELS[name])
        return ModelSource(name, "tiny", ModelShape.from_config(config, name), config)
    from transformers import AutoConfig

    from ahn.models import resolve_model_dir

    try:
        directory = resolve_model_dir(name)
    except UserError as e:
        known = ", ".join([DEFAULT_MODEL, *paper_configs.QWEN25, *TINY_MODELS])
        raise UserError(f"{e}; known names: {known}") from None
    try:
        config = AutoConfig.from_pretrained(directory, local_files_only=True)
    except (OSError, ValueError) as e:  # unreadable or malformed config.json
        raise UserError(f"{directory}: cannot read its config ({e})") from None
    return ModelSource(name, "hf", ModelShape.from_config(config, name), config)


def check_fits(config: EfficiencyConfig, shape: ModelShape) -> None:
    if shape.max_positions and config.window > shape.max_positions:
        raise UserError(
            f"window {config.window} exceeds {shape.name}'s {shape.max_positions} position embeddings"
        )


# --- rows ----------------------------------------------------------------------------------------------
class Rows:
    """Builds result rows for one run and appends each to the writer as it is made."""

    def __init__(self, run_id: str, writer: RowWriter | None, shapes: dict[str, ModelShape] | None = None):
        self.run_id, self.writer, self.rows = run_id, writer, []
        self.shapes = shapes or {}  # model name -> shape, for the methods' effective settings (ct: c, M)

    def add(
        self, model: str, spec: MethodSpec, task: str, length: int, metric: str, value, source: str, **extra
    ):
        row = ResultRow(
            run_id=self.run_id, model=model, method=spec.name, benchmark=BENCHMARK, task=task, length=length,
            metric=metric, value=float(value), unit=METRICS[metric].unit, source=source,
            window=spec.window, sinks=spec.sinks if spec.windowed else None,
            extra={**spec.method.settings(spec, self.shapes.get(model)), **extra},
        )  # fmt: skip
        self.rows.append(row)
        if self.writer is not None:
            self.writer.write(row)
        return row


def analytic_rows(rows: Rows, config: EfficiencyConfig, shape: ModelShape) -> None:
    kv_bytes = memory.dtype_bytes(config.dtype)
    for length in config.lengths:
        for method in config.methods:
            spec = config.spec(method)
            positions = flops.chunks(length, config.prefill_chunk)
            pf = flops.prefill_flops(shape, spec, length, lm_head_positions=positions)
            rows.add(shape.name, spec, "prefill", length, "prefill_flops", pf.total, "analytic",
                     **pf.as_dict(), lm_head_positions=positions, prefill_chunk=config.prefill_chunk,
                     all_logits_total=flops.prefill_flops(shape, spec, length, length).total)  # fmt: skip
            # A method whose cache cycles (snapkv, ct) is at its cheapest at some lengths: its rows also
            # give the decode FLOPs amortised over one cycle and the largest cache over it.
            period = flops.cycle_period(shape, spec)
            cycling = {"cycle_period": period} if period > 1 else {}
            df = flops.decode_flops(shape, spec, length)
            amortised = {"amortised_total": flops.amortised_decode_flops(shape, spec, length)}
            rows.add(shape.name, spec, "decode", length, "decode_flops_per_token", df.total, "analytic",
                     **df.as_dict(), **cycling, **(amortised if cycling else {}))  # fmt: skip
            cb = memory.cache_bytes(shape, spec, length, kv_bytes)
            peak = {"cycle_peak": memory.cycle_peak_cache_bytes(shape, spec, length, kv_bytes)}
            rows.add(shape.name, spec, "prefill", length, "cache_bytes", cb.total, "analytic", **cb.as_dict(),
                     kv_bytes_per_element=kv_bytes, dtype=config.dtype,
                     paper_formula_bytes=memory.paper_cache_bytes(shape, spec, length, kv_bytes),
                     **cycling, **(peak if cycling else {}))  # fmt: skip
            if config.convention == "paper":
                paper_rows(rows, shape, spec, length, kv_bytes)


def paper_rows(rows: Rows, shape: ModelShape, spec: MethodSpec, length: int, kv_bytes: int) -> None:
    """The paper's accounting (Table 9): FLOPs with every weight matrix at every position, cache by its
    formula with every element at `kv_bytes` (W read as sinks + window)."""
    pf = flops.paper_prefill_flops(shape, spec, length)
    rows.add(shape.name, spec, "prefill", length, "prefill_flops", pf.total, "paper", convention="paper",
             **pf.as_dict())  # fmt: skip
    df = flops.paper_decode_flops(shape, spec, length)
    rows.add(shape.name, spec, "decode", length, "decode_flops_per_token", df.total, "paper",
             convention="paper", **df.as_dict())  # fmt: skip
    rows.add(shape.name, spec, "prefill", length, "cache_bytes", memory.paper_cache_bytes(shape, spec, length,
             kv_bytes), "paper", convention="paper", bytes_per_element=kv_bytes)  # fmt: skip


def measure(
    rows: Rows, config: EfficiencyConfig, source: ModelSource, model: nn.Module, device, progress
) -> None:
    """Measured rows for every length x method on the loaded base `model`: first, cell by cell, the
    prefill-side figures (each cell's cache is dropped before the next, so peak memory is that cell's);
    then decode latency of all cells at once, round-robin (`decode_round_robin`)."""
    generator = torch.Generator().manual_seed(config.seed)
    warmed, prompts = set(), {}
    for length in config.lengths:
        ids = torch.randint(0, source.shape.vocab, (1, length), generator=generator).to(device)
        prompts[length] = ids
        for method in config.methods:
            spec = config.spec(method)
            with attach_method(model, spec, seed=config.seed):
                if method not in warmed:  # a method's first calls pay one-off costs: not timed
                    progress.set_postfix_str(f"{method} warm-up")
                    warm = ids[:, : min(length, spec.sinks + (spec.window or 0) + 64)]
                    cache = new_cache(model)
                    _, logits = latency.time_prefill(model, warm, cache, config.prefill_chunk)
                    latency.time_decode_step(model, logits.argmax(-1), cache)
                    warmed.add(method)
                _measure_prefill(rows, config, source.name, model, spec, ids, progress)
            progress.update(1)
    cells = []
    for length, ids in prompts.items():  # the caches decode starts from, prefilled again (untimed)
        for method in config.methods:
            progress.set_postfix_str(f"{method} L={length} prefill for decode")
            spec = config.spec(method)
            with attach_method(model, spec, seed=config.seed):
                cache = new_cache(model)
                _, logits = latency.time_prefill(model, ids, cache, config.prefill_chunk)
            cells.append(DecodeCell(spec, length, cache, logits.argmax(-1)))
    decode_round_robin(rows, config, source.name, model, cells, progress)


@dataclass
class DecodeCell:
    """A (method, length) whose cache is kept, prefilled, for the decode latency measurement."""

    spec: MethodSpec
    length: int
    cache: object
    token: torch.Tensor
    seconds: list[float] = field(default_factory=list)


def _measure_prefill(rows: Rows, config, model_name: str, model, spec: MethodSpec, ids, progress) -> None:
    """Prefill time, peak memory, cache bytes and (up to count_max_length) counted FLOPs of one cell."""
    length = ids.shape[1]

    def add(task, metric, value, **extra):
        rows.add(model_name, spec, task, length, metric, value, "measured", **extra)

    def fresh_cache():
        return new_cache(model)

    progress.set_postfix_str(f"{spec.name} L={length} prefill")
    cache = fresh_cache()
    with memory.PeakMemory(ids.device) as peak:
        seconds, logits = latency.time_prefill(model, ids, cache, config.prefill_chunk)
    add("prefill", "prefill_seconds", seconds, prefill_chunk=config.prefill_chunk)
    add("prefill", "peak_memory_bytes", peak.bytes, kind=peak.kind, baseline_bytes=peak.baseline)
    logical, storage = memory.held_cache_bytes(cache)
    add("prefill", "cache_bytes", logical, storage_bytes=storage)

    if length <= config.count_max_length:
        chunk = config.prefill_chunk
        for counter in config.counters:
            progress.set_postfix_str(f"{spec.name} L={length} count prefill ({counter})")
            counted = flop_counting.count_prefill(counter, model, ids, fresh_cache, chunk)
            extra = dataclasses.asdict(counted)
            if counter == "torch" and spec.memory is not None:  # what the default dispatch runs instead
                executed = flop_counting.count_prefill(counter, model, ids, fresh_cache, chunk, "executed")
                extra["executed_dispatch_flops"] = executed.flops
            add("prefill", "prefill_flops", counted.flops, **extra)
            progress.set_postfix_str(f"{spec.name} L={length} count decode ({counter})")
            counted = flop_counting.count_decode(counter, model, logits.argmax(-1), cache)
            add("decode", "decode_flops_per_token", counted.flops, **dataclasses.asdict(counted))


def decode_round_robin(rows: Rows, config, model_name: str, model, cells: list[DecodeCell], progress) -> None:
    """Decode latency of every cell, interleaved: each round times one step of every (method, length), in
    alternating order, so that a shared machine's changing load falls on all cells alike and the ratios
    between methods and between lengths are taken side by side. The first `decode_warmup` rounds are not
    timed. The method is attached around its cells' steps (re-attaching builds the same AHN weights from
    the seed); attaching is outside the timed step."""
    rounds = config.decode_warmup + config.decode_tokens
    for r in range(rounds):
        progress.set_postfix_str(f"decode round {r + 1}/{rounds} (all cells)")
        order = cells if r % 2 == 0 else cells[::-1]
        for method in dict.fromkeys(c.spec.name for c in order):
            with attach_method(model, config.spec(method), seed=config.seed):
                for cell in (c for c in order if c.spec.name == method):
                    seconds, cell.token = latency.time_decode_step(model, cell.token, cell.cache)
                    if r >= config.decode_warmup:
                        cell.seconds.append(seconds)
    for cell in cells:
        times = latency.DecodeTimes(tuple(cell.seconds), cell.length + config.decode_warmup)
        timing = dict(new_tokens=config.decode_tokens, warmup=config.decode_warmup,
                      first_context=times.first_context, schedule="round-robin over all cells")  # fmt: skip
        for q in ("p50", "p10", "p90"):
            extra = dict(timing, seconds=[round(x, 6) for x in times.seconds]) if q == "p50" else timing
            rows.add(model_name, cell.spec, "decode", cell.length, f"decode_seconds_{q}", getattr(times, q),
                     "measured", **extra)  # fmt: skip
        cell.cache = None  # free it


# --- the run -------------------------------------------------------------------------------------------
def run_efficiency(
    config: EfficiencyConfig,
    out_dir: str | Path | None = None,
    run_id: str | None = None,
    progress: bool = False,
    overwrite: bool = False,
) -> list[ResultRow]:
    """Run `config`; with `out_dir`, rows are appended to out_dir/rows.jsonl as they are made. An existing
    run in `out_dir` is refused unless `overwrite` (timings must come from one run: no resume)."""
    from tqdm import tqdm

    sources = [resolve_model(name) for name in config.models]  # every input is checked before any work
    for source in sources:
        check_fits(config, source.shape)
        if not config.analytic_only and source.kind == "paper":
            source.load(
                DTYPES[config.dtype], torch.device("cpu"), config.seed
            )  # the UserError saying why not
    device = config.resolved_device()
    if config.threads:
        torch.set_num_threads(config.threads)  # before the manifest, which records the thread count
    run_id = run_id or new_run_id(BENCHMARK)
    writer = None
    if out_dir is not None:
        claim_run_dir(out_dir, overwrite=overwrite, resumable=False)
        writer = RowWriter(out_dir)
        write_manifest(out_dir, run_id, manifest_config(config, sources, device))
    shapes = {name: s.shape for s in sources for name in (s.name, s.shape.name)}
    rows = Rows(run_id, writer, shapes)
    for source in sources:
        analytic_rows(rows, config, source.shape)
    if config.analytic_only:
        return rows.rows
    total = len(sources) * len(config.lengths) * len(config.methods)
    with tqdm(total=total, desc="efficiency", file=sys.stderr, disable=not progress) as bar:
        for source in sources:
            model = source.load(DTYPES[config.dtype], device, config.seed)
            measure(rows, config, source, model, device, bar)
            del model
    return rows.rows


def manifest_config(config: EfficiencyConfig, sources: list[ModelSource], device: torch.device) -> dict:
    return {
        **dataclasses.asdict(config),
        "benchmark": BENCHMARK,
        "resolved_device": str(device),
        "model_shapes": {s.name: {"kind": s.kind, **dataclasses.asdict(s.shape)} for s in sources},
        "accounting": {
            "flops": "matmuls only, multiply-add = 2 FLOPs (flops.py); attention over exact (query, key) "
            "pairs; AHN memory counted in its recurrent form",
            "prefill": f"ahn.prefill in {config.prefill_chunk}-token calls, logits of each call's last "
            "position",
            "decode": "one token after L cached tokens",
            "cache": "bytes of the tensors ahn.cache holds (KV in the model dtype, AHN write scalars "
            "and state fp32)",
            "kv_bytes_per_element": memory.dtype_bytes(config.dtype),
        },
    }
