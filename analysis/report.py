"""`ahn-bench report RUN_DIR`: RUN_DIR/report.md, a self-contained RUN_DIR/report.html, RUN_DIR/figures/*.png.

Everything comes from the run's rows and manifest. The verdict comes first; environment, configuration and
per-task detail follow. Sections with nothing to show are omitted and what they lacked is listed once under
"Not measured in this run" (analysis/document.py).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from ahn.methods import METHODS
from analysis import lm, paper_section, plots, verdict
from analysis.document import Doc, slug
from analysis.stats import significant
from analysis.tables import (
    EFFICIENCY_METRICS,
    Run,
    accuracy_by_depth,
    accuracy_by_length,
    analytic_vs_measured,
    depth_grid,
    efficiency_values,
    exponent_table,
    format_length,
    format_ratio,
    format_value,
    head_to_head,
    headline_length,
    load_run,
    method_key,
    metric_unit,
    ordered_variants,
    paired,
    scaling_table,
)

REPORT_MD, REPORT_HTML, FIGURES_DIR = "report.md", "report.html", "figures"


class _Builder:
    def __init__(self, run: Run):
        self.run = run
        self.frame = run.frame
        self.doc = Doc(f"AHN benchmark report: {run.run_id}")
        self.figures: list[Path] = []
        self.fig_dir = run.path / FIGURES_DIR
        self.acc = accuracy_by_length(self.frame)
        self.depth_acc = accuracy_by_depth(self.frame)
        self.eff = efficiency_values(self.frame)

    def figure(self, draw, name: str, caption: str, *args) -> None:
        path = draw(*args, self.fig_dir / f"{name}.png")
        self.figures.append(path)
        self.doc.fig(f"{FIGURES_DIR}/{path.name}", caption)

    def lengths(self, model: str) -> list[int]:
        return sorted(int(x) for x in self.eff[self.eff["model"] == model]["length"].unique())

    def build(self) -> Doc:
        if self.run.manifest.get("fixture") or self.run.manifest.get("note"):
            self.doc.p(f"**Note:** {self.run.manifest.get('note') or 'this run is a test fixture.'}")
        self.verdict()
        self.costs()
        self.scaling()
        self.analytic_vs_measured()
        self.accuracy()
        self.language_modelling()
        paper_section.build(self)
        self.ahn_weights()
        self.environment()
        return self.doc

    # ------------------------------------------------------------ verdict

    def verdict(self) -> None:
        doc, run = self.doc, self.run
        doc.section(verdict.TITLE)
        for model in verdict.primary_models(run):
            cost_length = verdict.longest_cost_length(run, model)
            acc_length = verdict.longest_accuracy_length(run, model)
            doc.h3(model)
            ratios, facts = {}, []
            if cost_length is not None:
                rows, ratios = verdict.cost_rows(run, model, cost_length)
            if acc_length is not None:
                qrows, facts = verdict.quality_rows(run, model, acc_length)
            doc.ul(verdict.bullets(ratios, cost_length, facts, acc_length))
            if cost_length is not None:
                doc.p(f"**Cost at {format_length(cost_length)} tokens** (ratios: this method / full, / swa).")
                doc.table(
                    [
                        "method",
                        "prefill FLOPs (analytic)",
                        "vs full",
                        "vs swa",
                        "cache (analytic)",
                        "vs full",
                        "vs swa",
                        "decode latency p50 (measured)",
                        "vs full",
                        "vs swa",
                    ],
                    rows,
                )
            else:
                doc.missing(f"{model}: no efficiency rows (cost).")
            if acc_length is not None:
                doc.p(
                    f"**Accuracy at {format_length(acc_length)} tokens**: mean score (0-100) with its 95% "
                    "interval (Wilson for pass/fail scores, else bootstrap); differences are paired on the "
                    f"same samples, with a 95% bootstrap interval; {verdict.SIGNIFICANT} = significant (the "
                    "interval excludes 0 and, for pass/fail scores, the exact sign test gives p < 0.05)."
                )
                doc.table(
                    ["task", "method", "score [95% CI]", "n", "vs full (points)", "vs swa (points)"], qrows
                )
            else:
                doc.missing(f"{model}: no per-sample accuracy rows.")
            lm_rows, lm_length = verdict.lm_rows(run, model)
            if lm_rows:
                doc.p(
                    f"**Language modelling at {format_length(lm_length)} tokens**: NLL (nats/token) over the "
                    "positions beyond the window; gap closed = share of swa's NLL gap to full "
                    "attention recovered."
                )
                doc.table(["method", "NLL beyond W", "vs full", "vs swa", "gap closed"], lm_rows)
            self._frontier(model)
        paper_section.verdict_claims(self)
        doc.p(
            "Detail below: cost at every length, accuracy per task and needle depth, the paper's "
            "figures, the "
            "environment and the resolved configuration."
        )

    def _frontier(self, model: str) -> None:
        cache = self.eff[(self.eff["model"] == model) & (self.eff["metric"] == "cache_bytes")]
        acc = self.acc[self.acc["model"] == model] if len(self.acc) else self.acc
        if cache.empty or acc.empty:
            self.doc.missing(
                f"{model}: the accuracy-vs-cache frontier needs both `cache_bytes` and score rows."
            )
            return
        self.figure(
            plots.plot_accuracy_vs_cache,
            f"tradeoff-{slug(model)}",
            f"Accuracy vs cache bytes, {model}: the frontier (up and left is better; bars: 95% intervals)",
            acc,
            self.frame,
            model,
        )

    # ------------------------------------------------------------ cost detail

    def costs(self) -> None:
        doc = self.doc
        doc.section("Cost at the longest length")
        single = []
        for model in self.run.models:
            length = headline_length(self.frame, model)
            if length is None:
                continue
            if len(self.lengths(model)) == 1:
                single.append((model, length))
                continue
            doc.h3(f"{model} at {format_length(length)} tokens")
            rows = [_head_to_head_cells(r) for r in head_to_head(self.frame, model, length).itertuples()]
            doc.table(["metric", "source", "method", "value", "vs full", "vs swa"], rows)
        if single:
            # One measured length: a table, never a line plot or a growth exponent.
            doc.h3("Models measured at a single length")
            rows = []
            for model, length in single:
                for r in head_to_head(self.frame, model, length).itertuples():
                    rows.append([model, format_length(length), *_head_to_head_cells(r)])
            doc.table(["model", "length", "metric", "source", "method", "value", "vs full", "vs swa"], rows)

    def scaling(self) -> None:
        doc = self.doc
        doc.section("Scaling with context length")
        for model in self.run.models:
            lengths = self.lengths(model)
            if len(lengths) < 2:
                continue  # nothing scales over one length: its table is in "Cost at the longest length"
            exps = exponent_table(self.frame, model)
            doc.h3(f"Growth exponents ({model})")
            doc.p(
                f"Exponent b of a least-squares fit of log(value) = a + b log(length) over "
                f"{format_length(lengths[0])}-{format_length(lengths[-1])} tokens: 2 = quadratic, "
                "1 = linear, 0 = constant."
            )
            variants = [c for c in exps.columns if c not in ("metric", "source")]
            doc.table(
                ["metric", "source", *variants],
                [[r["metric"], r["source"], *(_num(r[v]) for v in variants)] for _, r in exps.iterrows()],
            )
            for metric in EFFICIENCY_METRICS:
                have = self.eff[(self.eff["model"] == model) & (self.eff["metric"] == metric)]
                if have["length"].nunique() < 2:
                    if have.empty:
                        doc.missing(f"{model}: no `{metric}` rows.")
                    continue
                name = plots.METRIC_TITLES[metric]
                doc.h3(f"{name} ({model})")
                self.figure(
                    plots.plot_scaling,
                    f"scaling-{slug(model)}-{metric}",
                    f"{name} vs context length, {model} (lines: analytic, markers: measured)",
                    self.frame,
                    model,
                    metric,
                )
                for source in ("analytic", "measured"):
                    table = scaling_table(self.frame, model, metric, source)
                    if table.empty:
                        continue
                    unit = metric_unit(metric)
                    rows = [
                        [
                            format_length(i) if i != "exponent" else "**exponent**",
                            *(format_value(v, unit) if i != "exponent" else _num(v) for v in r),
                        ]
                        for i, r in zip(table.index, table.to_numpy())
                    ]
                    doc.table([f"length ({source})", *table.columns], rows)

    def analytic_vs_measured(self) -> None:
        doc = self.doc
        doc.section("Analytic cost model vs measurement")
        for model in self.run.models:
            t = analytic_vs_measured(self.frame, model)
            if t.empty:
                continue
            doc.p(f"measured / analytic for {model}: median and range over the lengths where both exist.")
            doc.table(
                ["metric", "method", "median ratio", "min", "max", "lengths"],
                [
                    [r.metric, r.variant, f"{r.median:.4f}", f"{r.min:.4f}", f"{r.max:.4f}", r.count]
                    for r in t.itertuples()
                ],
            )
        if not doc.body[-1].has_content:
            doc.missing("analytic vs measured: no metric has both analytic and measured rows at one length.")

    # ------------------------------------------------------------ accuracy

    def accuracy(self) -> None:
        doc, acc = self.doc, self.acc
        doc.section("Accuracy per task")
        if acc.empty:
            doc.missing("accuracy: no `score` rows in this run.")
            return
        doc.p(
            "Mean score (0-100) per task and length with n and the 95% interval (Wilson for "
            "pass/fail scores, "
            "bootstrap otherwise; none where the harness kept only an aggregate)."
        )
        for (model, benchmark), sub in acc.groupby(["model", "benchmark"], sort=True):
            doc.h3(f"{benchmark}, {model}")
            rows = [
                [
                    r.task,
                    r.variant,
                    format_length(r.length),
                    verdict.fmt_interval(r.score, r.lo, r.hi),
                    "n/a" if not _ok(r.n) else str(int(r.n)),
                ]
                for r in sub.itertuples()
            ]
            doc.table(["task", "method", "length", "score [95% CI]", "n"], rows)
            self._paired_table(model, benchmark, sub)
        self._depth_maps()
        doc.h3("Per-task scores")
        for model in self.run.models:
            for benchmark in sorted(acc[acc["model"] == model]["benchmark"].unique()):
                self.figure(
                    plots.plot_task_bars,
                    f"tasks-{slug(model)}-{slug(benchmark)}",
                    f"{benchmark}: mean score per task and method with 95% intervals, {model}",
                    acc,
                    model,
                    benchmark,
                )

    def _paired_table(self, model: str, benchmark: str, sub) -> None:
        variants = ordered_variants(sub)
        bases = [b for b in variants if b == "full" or b.split(" ")[0] == "swa"]
        rows = []
        for (task, length), _ in sub.groupby(["task", "length"], sort=False):
            for variant in variants:
                for base in bases:
                    if base == variant or method_key(base) > method_key(variant):
                        continue
                    est, p = paired(self.frame, model, int(length), variant, base, benchmark, task)
                    if est.n == 0:
                        continue
                    rows.append(
                        [
                            task,
                            format_length(length),
                            f"{variant} - {base}",
                            verdict.fmt_diff(est, p),
                            str(est.n),
                            "yes" if est.excludes_zero else "no",
                            "n/a" if not np.isfinite(p) else f"{p:.2g}",
                            "yes" if significant(est, p) else "no",
                        ]
                    )
        if rows:
            self.doc.p(
                f"Paired differences on the same samples ({benchmark}, {model}): mean difference in "
                "points with "
                "its 95% bootstrap interval, and the exact sign test on the samples where the two disagree; "
                "significant = the interval excludes 0 and, for pass/fail scores, p < 0.05."
            )
            self.doc.table(
                [
                    "task",
                    "length",
                    "difference",
                    "points [95% CI]",
                    "n",
                    "excludes 0",
                    "sign test p",
                    "significant",
                ],
                rows,
            )

    def _depth_maps(self) -> None:
        doc = self.doc
        doc.h3("Needle depth x context length")
        if self.depth_acc.empty:
            doc.missing("needle maps: no rows carry a needle depth (`extra.depth`).")
            return
        keys = self.depth_acc[["model", "benchmark", "task"]].drop_duplicates().itertuples(index=False)
        for model, benchmark, task in keys:
            sub = self.depth_acc[
                (self.depth_acc["model"] == model)
                & (self.depth_acc["benchmark"] == benchmark)
                & (self.depth_acc["task"] == task)
            ]
            grids = {v: depth_grid(sub, model, benchmark, task, v) for v in ordered_variants(sub)}
            n = sub["n"].dropna()
            per_cell = (
                f"n = {int(n.min())}" + (f"-{int(n.max())}" if n.max() != n.min() else "") if len(n) else ""
            )
            self.figure(
                plots.plot_depth_heatmap,
                f"depth-{slug(model)}-{slug(benchmark)}-{slug(task)}",
                f"{benchmark}/{task}: score by needle depth and context length, {model} ({per_cell} "
                "per cell)",
                grids,
                f"{benchmark} / {task}: score (%) by needle depth ({model}, {per_cell} per cell)",
            )

    # ------------------------------------------------------------ language modelling

    def language_modelling(self) -> None:
        doc = self.doc
        doc.section("Long-context language modelling")
        found = False
        for model in self.run.models:
            for metric in lm.LM_METRICS:
                curve = lm.lm_curve(self.frame, model, metric)
                if curve.empty:
                    continue
                found = True
                title = "NLL vs position" if metric == "nll" else "KL to full attention vs position"
                doc.h3(f"{title} ({model})")
                self.figure(
                    plots.plot_nll_vs_position,
                    f"lm-{slug(metric)}-{slug(model)}",
                    f"{title}, {model}: mean over the tokens of each position bucket; dashed: the "
                    "window edge W",
                    curve,
                    model,
                    metric,
                )
                if metric != "nll":
                    continue
                gaps = lm.gap_closed(curve)
                if gaps.empty:
                    doc.missing(f"{model}: the NLL gap table needs full, swa and another method in lm rows.")
                    continue
                doc.p(
                    "Share of swa's NLL gap to full attention that each method closes beyond the window: "
                    "(NLL_swa - NLL_method) / (NLL_swa - NLL_full); 100% = as good as full "
                    "attention, 0% = no "
                    "better than the window."
                )
                doc.table(
                    ["method", "length", "positions", "full", "swa", "method NLL", "gap closed"],
                    [
                        [
                            r.variant,
                            format_length(r.length),
                            r.bucket,
                            f"{r.full:.4f}",
                            f"{r.swa:.4f}",
                            f"{r.value:.4f}",
                            "n/a (no gap)" if not np.isfinite(r.share) else f"{r.share * 100:.1f}%",
                        ]
                        for r in gaps.itertuples()
                    ],
                )
        if not found:
            doc.missing("long-context language modelling: no `lm` rows (`nll` / `kl_to_full` by position).")

    # ------------------------------------------------------------ provenance

    def ahn_weights(self) -> None:
        doc = self.doc
        doc.section("AHN weights: trained or untrained")
        status = ahn_weight_status(self.run)
        if not status:
            doc.missing("AHN weights: the run has no AHN method rows and the manifest names no AHN weights.")
            return
        meaning = {
            "trained": "weights trained (distilled); results measure the memory",
            # The AHN output projection is zero-initialised (spec ahn.md §1), so untrained AHN == SWA.
            "untrained": "**untrained**: with its zero-initialised output projection AHN is exactly "
            "sinks + sliding window; AHN accuracy here does not measure a learned memory",
        }
        rows = []
        for method, (s, where) in sorted(status.items(), key=lambda kv: method_key(kv[0])):
            default = "mixed weights within the run" if s == "mixed" else "treat AHN accuracy as unverified"
            rows.append([method, f"**{s}**", where, meaning.get(s, default)])
        doc.table(["method", "AHN weights", "recorded in", "meaning"], rows)

    def environment(self) -> None:
        doc, m, f = self.doc, self.run.manifest, self.frame
        doc.section("Run and environment")
        settings = f[f["window"].notna()][
            ["model", "method", "sinks", "window"]
        ].drop_duplicates()  # windowed
        settings_text = "; ".join(
            f"{r.model} {r.method}: {_int(r.sinks)} sinks + {_int(r.window)} window"
            for r in settings.itertuples()
        )
        rows = [
            ["run id", self.run.run_id],
            ["run directory", f"`{self.run.path}`"],
            ["model(s)", ", ".join(self.run.models)],
            ["methods", ", ".join(ordered_variants(f))],
            ["benchmarks", ", ".join(sorted(f["benchmark"].unique()))],
            ["context lengths", ", ".join(format_length(x) for x in sorted(f["length"].unique()) if x)],
            ["sinks + window", settings_text or "n/a"],
            ["rows", f"{len(f)} ({', '.join(f'{k}: {v}' for k, v in f['source'].value_counts().items())})"],
        ]
        env = m.get("environment") or {}
        rows += [[k, _cell(v)] for k, v in sorted(env.items())]
        doc.table(["field", "value"], rows)
        if not env:
            doc.missing("environment: the manifest records no device, versions or git commit.")
        for resume in m.get("resumed", []):
            doc.p(f"Resumed on {resume.get('time_utc', '?')} at commit `{resume.get('git_commit')}`.")
        config = {k: v for k, v in (m.get("config") or {}).items() if k != "ahn_weights"}
        if config:
            doc.h3("Resolved configuration")
            doc.table(["setting", "value"], [[f"`{k}`", v] for k, v in flatten_config(config)])


def flatten_config(config: Any, prefix: str = "") -> list[tuple[str, str]]:
    """A nested config as (dotted.key, readable value) rows: lists of scalars joined, lists of tables
    numbered (`suite.accuracy[1].tasks`), None as "-"."""
    if isinstance(config, dict):
        out = []
        for k in sorted(config):
            out += flatten_config(config[k], f"{prefix}.{k}" if prefix else str(k))
        return out
    if isinstance(config, list) and any(isinstance(x, dict | list) for x in config):
        out = []
        for i, x in enumerate(config, start=1):
            out += flatten_config(x, f"{prefix}[{i}]")
        return out
    return [(prefix, _cell(config))]


def _trainable(method: str) -> bool:
    """Whether the method has weights (the registry's word; a name it no longer knows: an `ahn-*` name)."""
    return METHODS[method].trainable if method in METHODS else method.startswith("ahn")


def ahn_weight_status(run: Run) -> dict[str, tuple[str, str]]:
    """method -> (trained | untrained | mixed | not recorded, where it was read) for every AHN method.

    Rows written by the accuracy runner carry `extra.ahn_weights` ("untrained", or the weights file that was
    loaded): they win over the manifest, whose `config.ahn_weights` is either {method: status} or the
    runner's request ("shipped", "none" or a path)."""
    config = (run.manifest.get("config") or {}).get("ahn_weights")
    frame = run.frame
    methods = {m for m in frame["method"].unique() if _trainable(m)}
    methods |= {m for m in config if _trainable(m)} if isinstance(config, dict) else set()
    out = {}
    for method in methods:
        seen = set()
        if "extra.ahn_weights" in frame:
            seen = set(frame.loc[frame["method"] == method, "extra.ahn_weights"].dropna().astype(str))
        seen.discard("none")
        if seen:
            kinds = {"untrained" if s == "untrained" else "trained" for s in seen}
            files = sorted(Path(s).name for s in seen if s != "untrained")
            status = kinds.pop() if len(kinds) == 1 else "mixed"
            out[method] = (status, "rows" + (f" ({', '.join(files)})" if files else ""))
        elif isinstance(config, dict) and method in config:
            out[method] = (str(config[method]), "manifest config")
        elif config == "none":
            out[method] = ("untrained", "manifest config (ahn_weights=none)")
        elif isinstance(config, str) and config != "shipped":
            out[method] = ("trained", f"manifest config ({Path(config).name})")
        else:
            out[method] = ("not recorded", "shipped weights requested" if config else "-")
    return out


def _num(x: float, digits: int = 2) -> str:
    if x is None or not np.isfinite(x):
        return "n/a"
    return f"{0.0 if abs(x) < 0.5 * 10**-digits else x:.{digits}f}"


def _int(x) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else str(int(x))


def _ok(x) -> bool:
    return x is not None and not (isinstance(x, float) and math.isnan(x))


def _cell(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items())
    if isinstance(value, list):
        return ", ".join(map(str, value))
    return "-" if value is None else str(value)


def _head_to_head_cells(r) -> list[str]:
    """metric | source | method | value | vs full | vs swa, for one row of `head_to_head`."""
    return [
        r.metric,
        r.source,
        r.variant,
        format_value(r.value, r.unit),
        _vs(r.vs_full_ratio, r.method == "full"),
        _vs(r.vs_swa_ratio, r.method == "swa"),
    ]


def _vs(ratio: float, is_self: bool) -> str:
    return "-" if is_self else format_ratio(ratio)


# ---------------------------------------------------------------- entry points


def build_report(run_dir) -> dict[str, Any]:
    """Write report.md, report.html and figures/ into the run directory; return what was written."""
    run = load_run(run_dir)
    builder = _Builder(run)
    doc = builder.build()
    # Figures an earlier report drew that this one does not (a section now omitted) would mislead: they go.
    for stale in set(builder.fig_dir.glob("*.png")) - set(builder.figures):
        stale.unlink()
    md_path, html_path = run.path / REPORT_MD, run.path / REPORT_HTML
    md_path.write_text(doc.to_markdown(), encoding="utf-8")
    html_path.write_text(doc.to_html(run.path), encoding="utf-8")
    return {
        "run_id": run.run_id,
        "report_md": str(md_path),
        "report_html": str(html_path),
        "figures": [str(p) for p in builder.figures],
        "sections": doc.sections(),
        "not_measured": doc.not_measured,
    }


def handler(args) -> dict[str, Any]:
    payload = build_report(args.run_dir)
    print(f"wrote {payload['report_md']}")
    print(f"wrote {payload['report_html']} ({len(payload['figures'])} figures embedded)")
    if payload["not_measured"]:
        print(
            f"not measured in this run: {len(payload['not_measured'])} item(s), listed at the end of "
            "the report"
        )
    return payload
