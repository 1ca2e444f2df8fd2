"""Suites: a config file naming the model, methods, sizes, efficiency lengths and accuracy tasks, run stage
by stage into one run directory.

    RUN_DIR/stages/<stage>/        each harness's own output (rows.jsonl, manifest.json, predictions)
    RUN_DIR/stages/<stage>/DONE    written when a stage finishes; `--resume` skips finished stages and
                                   resumes an unfinished accuracy (lm) stage sample (sequence) by sample
    RUN_DIR/rows.jsonl             every stage's rows under the suite's run id (rewritten at the end)
    RUN_DIR/manifest.json          the resolved suite config and environment

`deterministic=True` runs only what must reproduce exactly (analytic costs, greedy accuracy on generated
data): the part CI compares against the committed baseline. The lm stage is not part of it: its NLL and KL
are fp32 means whose last digits depend on the CPU's kernels and thread count, and the gate's tolerance for
deterministic rows is 1e-6 relative (analysis/compare.py).
"""

from __future__ import annotations

import json
import shutil
import tomllib
import types
import typing
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from ahn.errors import UserError
from ahn.files import claim_run_dir, read_text
from ahn.methods import MethodSpec
from benchmarks.results import new_run_id, read_manifest, read_rows, write_manifest
from benchmarks.rundir import DONE_FILE, ROWS_FILE, mark_done, stage_path, write_rows

SUITES_DIR = Path(__file__).resolve().parent / "suites"


@dataclass
class EfficiencyPlan:
    lengths: list[int]
    decode_tokens: int = 16
    counters: list[str] = field(default_factory=lambda: ["torch"])  # FLOP counters: torch, fvcore
    count_max_length: int = 2048  # counting costs one more prefill per counter: only up to this length
    paper_models: list[str] = field(default_factory=list)
    paper_lengths: list[int] = field(default_factory=list)
    paper_window: int = 32640
    paper_sinks: int = 128


@dataclass
class AccuracyPlan:
    benchmark: str
    tasks: list[str]
    lengths: list[int]
    data: str = "generated"
    depths: list[float] = field(default_factory=list)
    n: int = 1
    template: str = "gpt4"
    chat: bool = True  # wrap prompts in the model's chat template (after truncation)
    limit: int | None = None
    max_input_tokens: int | None = None


@dataclass
class LmPlan:
    """The lm benchmark (benchmarks/lm): NLL and KL to full attention by position on held-out text."""

    lengths: list[int]
    n: int = 4  # sequences per length
    data: str = "paradise-lost"  # a prepared corpus (`ahn-bench distill --prepare-data`) or a text file


@dataclass
class Suite:
    name: str
    model: str
    methods: list[str]
    window: int
    sinks: int
    dtype: str = "float32"
    efficiency: EfficiencyPlan | None = None
    accuracy: list[AccuracyPlan] = field(default_factory=list)
    lm: LmPlan | None = None

    def __post_init__(self):
        for method in self.methods:
            MethodSpec.build(method, self.window, self.sinks)  # unknown method, bad sizes -> UserError


def _type_name(kind) -> str:
    origin = typing.get_origin(kind)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(k) for k in typing.get_args(kind))
    if origin is list:
        return f"a list of {_type_name(typing.get_args(kind)[0])}"
    return {int: "integer", float: "number", str: "string", bool: "true/false", type(None): "absent"}.get(
        kind, getattr(kind, "__name__", str(kind))
    )


def _has_type(value, kind) -> bool:
    """`value` (from TOML) fits the annotation `kind`: int, float, str, bool, list[...], X | None."""
    origin = typing.get_origin(kind)
    if origin in (typing.Union, types.UnionType):
        return any(_has_type(value, k) for k in typing.get_args(kind))
    if origin is list:
        return isinstance(value, list) and all(_has_type(v, typing.get_args(kind)[0]) for v in value)
    if kind is type(None):
        return value is None
    if kind is float:  # TOML writes 1 for 1.0
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return not isinstance(kind, type) or isinstance(value, kind)


def _build(cls, table: dict, where: str):
    """`cls(**table)` with every key known and every value of its field's type, else one UserError."""
    hints = typing.get_type_hints(cls)
    known = {f.name for f in fields(cls)}
    for key, value in table.items():
        if key not in known:
            raise UserError(f"{where}: unknown key {key!r}; known: {', '.join(sorted(known))}")
        if key in hints and not _has_type(value, hints[key]):
            raise UserError(f"{where}: {key} must be {_type_name(hints[key])}, got {value!r}")
    try:
        return cls(**table)
    except TypeError as e:  # missing keys
        raise UserError(f"{where}: {e}") from None


def load_suite(name_or_path: str, model: str | None = None) -> Suite:
    """A committed suite by name (`quick`, `full`) or a TOML file; `model` overrides the suite's model."""
    path = Path(name_or_path)
    if not path.suffix:
        path = SUITES_DIR / f"{name_or_path}.toml"
        if not path.exists():
            known = ", ".join(sorted(p.stem for p in SUITES_DIR.glob("*.toml")))
            raise UserError(f"unknown suite {name_or_path!r}; known: {known}, or a path to a .toml file")
    if not path.exists():
        raise UserError(f"{path}: no such suite file")
    try:
        table = tomllib.loads(read_text(path))
    except tomllib.TOMLDecodeError as e:
        raise UserError(f"{path}: invalid TOML ({e})") from None
    efficiency = table.pop("efficiency", None)
    accuracy = table.pop("accuracy", [])
    lm = table.pop("lm", None)
    if not (efficiency is None or isinstance(efficiency, dict)):
        raise UserError(f"{path}: efficiency must be a table ([efficiency])")
    if not (isinstance(accuracy, list) and all(isinstance(a, dict) for a in accuracy)):
        raise UserError(f"{path}: accuracy must be an array of tables ([[accuracy]])")
    if not (lm is None or isinstance(lm, dict)):
        raise UserError(f"{path}: lm must be a table ([lm])")
    suite = _build(Suite, table, str(path))
    if efficiency is not None:
        suite.efficiency = _build(EfficiencyPlan, efficiency, f"{path} [efficiency]")
    suite.accuracy = [_build(AccuracyPlan, a, f"{path} [[accuracy]] #{n}") for n, a in enumerate(accuracy, 1)]
    if lm is not None:
        suite.lm = _build(LmPlan, lm, f"{path} [lm]")
    return replace(suite, model=model) if model else suite


def _stages(suite: Suite, deterministic: bool) -> list[tuple[str, Any]]:
    stages = []
    if suite.efficiency is not None:
        stages.append(("efficiency-analytic", suite.efficiency))
        if suite.efficiency.paper_models:
            stages.append(("efficiency-paper", suite.efficiency))
        if not deterministic:
            stages.append(("efficiency-measured", suite.efficiency))
    for i, plan in enumerate(suite.accuracy):
        stages.append((f"accuracy-{i + 1}-{plan.benchmark}", plan))
    if suite.lm is not None and not deterministic:
        stages.append(("lm", suite.lm))
    return stages


def _stage_config(name: str, plan, suite: Suite, stage_dir: Path):
    """The harness config of one stage; constructing it validates it (UserError on anything wrong)."""
    if name.startswith("efficiency"):
        from benchmarks.efficiency.harness import EfficiencyConfig

        if name == "efficiency-paper":
            return EfficiencyConfig(
                models=tuple(plan.paper_models), methods=tuple(suite.methods),
                lengths=tuple(plan.paper_lengths), window=plan.paper_window, sinks=plan.paper_sinks,
                dtype="bfloat16", analytic_only=True, convention="paper",
            )  # fmt: skip
        return EfficiencyConfig(
            models=(suite.model,), methods=tuple(suite.methods), lengths=tuple(plan.lengths),
            window=suite.window, sinks=suite.sinks, dtype=suite.dtype,
            analytic_only=name == "efficiency-analytic", decode_tokens=plan.decode_tokens,
            counters=tuple(plan.counters), count_max_length=plan.count_max_length,
        )  # fmt: skip
    if name == "lm":
        from benchmarks.lm.config import LmConfig

        return LmConfig(
            out=str(stage_dir), data=plan.data, methods=list(suite.methods), model=suite.model,
            lengths=list(plan.lengths), n=plan.n, window=suite.window, sinks=suite.sinks, dtype=suite.dtype,
        )  # fmt: skip
    from benchmarks.accuracy.runner import EvalConfig

    return EvalConfig(
        benchmark=plan.benchmark, data=plan.data, out=str(stage_dir), tasks=list(plan.tasks),
        methods=list(suite.methods), model=suite.model, lengths=list(plan.lengths), depths=list(plan.depths),
        n=plan.n, limit=plan.limit, template=plan.template, chat=plan.chat,
        max_input_tokens=plan.max_input_tokens,
        window=suite.window, sinks=suite.sinks, dtype=suite.dtype,
    )  # fmt: skip


def validate_stages(suite: Suite, stages: list[tuple[str, Any]], out: Path) -> list:
    """Every stage's config, built (and so validated) before the first stage starts: a typo in the last
    stage fails at once, not after the earlier stages have run. Official accuracy data is read and checked
    record by record here too; models are resolved by name (config only, no weights)."""
    from benchmarks.accuracy.runner import GENERATED, EvalConfig
    from benchmarks.accuracy.samples import get_benchmark
    from benchmarks.efficiency.harness import check_fits, resolve_model

    configs = []
    for index, (name, plan) in enumerate(stages, start=1):
        try:
            config = _stage_config(name, plan, suite, stage_path(out, name))
            if isinstance(config, EvalConfig) and config.data != GENERATED:
                get_benchmark(config.benchmark).load(
                    config.data, config.tasks, config.levels or None, config.limit
                )
            elif hasattr(config, "models"):  # efficiency
                for model in config.models:
                    check_fits(config, resolve_model(model).shape)
        except UserError as e:
            raise UserError(f"stage {index} ({name}): {e}") from None
        configs.append(config)
    return configs


def _run_stage(name: str, config, stage_dir: Path, run_id: str, resume: bool) -> None:
    if name.startswith("efficiency"):
        from benchmarks.efficiency.harness import run_efficiency

        if stage_dir.exists():
            shutil.rmtree(stage_dir)  # an unfinished efficiency stage restarts (timings must be whole)
        run_efficiency(config, out_dir=stage_dir, run_id=run_id, progress=True)
        return
    if name == "lm":
        from benchmarks.lm.runner import run_lm

        run_lm(config, resume=resume and stage_dir.exists())
        return
    from benchmarks.accuracy.runner import run_eval

    run_eval(config, resume=resume and stage_dir.exists())


def run_suite(
    suite: Suite, out: str | Path, resume: bool = False, deterministic: bool = False, overwrite: bool = False
) -> dict:
    """Run every stage of `suite` into `out`; returns a summary with the merged row count. Every stage is
    validated first; an existing run in `out` is continued only with `resume` (same config), replaced only
    with `overwrite`."""
    out = Path(out)
    config = {"suite": asdict(suite), "deterministic": deterministic}
    stages = _stages(suite, deterministic)
    stage_configs = validate_stages(suite, stages, out)
    if claim_run_dir(out, resume=resume, overwrite=overwrite):
        manifest = read_manifest(out)
        if manifest.get("config") != json.loads(json.dumps(config)):
            raise UserError(f"{out}: holds a run of another suite config; it cannot be resumed with this one")
        run_id = manifest["run_id"]
    else:
        run_id = new_run_id(suite.name)
    write_manifest(out, run_id, config)
    for index, ((name, _), stage_config) in enumerate(zip(stages, stage_configs), start=1):
        stage_dir = stage_path(out, name)
        if (stage_dir / DONE_FILE).exists():
            print(f"[{index}/{len(stages)}] {name}: done earlier, skipped", flush=True)
            continue
        print(f"[{index}/{len(stages)}] {name}", flush=True)
        _run_stage(name, stage_config, stage_dir, run_id, resume)
        mark_done(stage_dir)
    rows = merge_stage_rows(out, run_id, [name for name, _ in stages])
    return {"run_id": run_id, "out": str(out), "stages": [name for name, _ in stages], "rows": rows}


def merge_stage_rows(out: Path, run_id: str, stage_names: list[str]) -> int:
    """Rewrite out/rows.jsonl from the stages' rows, all under the suite's run id."""
    merged = [replace(row, run_id=run_id) for name in stage_names for row in read_rows(stage_path(out, name))]
    write_rows(out / ROWS_FILE, merged)
    return len(merged)
