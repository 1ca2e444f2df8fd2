"""`ahn-bench report RUN_DIR`: RUN_DIR/report.md, a self-contained RUN_DIR/report.html, RUN_DIR/figures/*.png.

Everything comes from the run's rows and manifest. A section with no data says so instead of vanishing, so a
reader can tell "not measured" from "forgotten".
"""

from __future__ import annotations

import base64
import html
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from analysis import paper, plots
from analysis.tables import (
    DISTILL_METRICS,
    EFFICIENCY_METRICS,
    Run,
    accuracy_by_depth,
    accuracy_by_length,
    accuracy_head_to_head,
    analytic_vs_measured,
    depth_grid,
    distill_table,
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
    scaling_table,
)

REPORT_MD, REPORT_HTML, FIGURES_DIR = "report.md", "report.html", "figures"
AHN_METHODS = ("ahn-gdn", "ahn-dn", "ahn-mamba2")


# ---------------------------------------------------------------- a tiny document model, rendered twice


@dataclass
class Doc:
    """Blocks: ("h", level, text), ("p", text), ("table", header, rows), ("fig", relpath, caption)."""

    blocks: list[tuple] = field(default_factory=list)
    sections: dict[str, str] = field(default_factory=dict)  # h2 title -> "present" | "missing"
    _current: str | None = None

    def section(self, title: str) -> None:
        self.blocks.append(("h", 2, title))
        self.sections[title] = "missing"
        self._current = title

    def h3(self, text: str) -> None:
        self.blocks.append(("h", 3, text))

    def p(self, text: str) -> None:
        self.blocks.append(("p", text))

    def missing(self, text: str) -> None:
        self.blocks.append(("p", f"**Missing:** {text}"))

    def table(self, header: list[str], rows: list[list[Any]]) -> None:
        self.blocks.append(("table", [str(h) for h in header], [[str(c) for c in r] for r in rows]))
        self._present()

    def fig(self, relpath: str, caption: str) -> None:
        self.blocks.append(("fig", relpath, caption))
        self._present()

    def _present(self) -> None:
        if self._current:
            self.sections[self._current] = "present"

    def to_markdown(self) -> str:
        out = []
        for block in self.blocks:
            kind = block[0]
            if kind == "h":
                out.append("#" * block[1] + " " + block[2])
            elif kind == "p":
                out.append(block[1])
            elif kind == "table":
                header, rows = block[1], block[2]
                lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
                lines += ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in rows]
                out.append("\n".join(lines))
            elif kind == "fig":
                out.append(f"![{block[2]}]({block[1]})\n\n*{block[2]}*")
        return "\n\n".join(out) + "\n"

    def to_html(self, root: Path, title: str) -> str:
        body = []
        for block in self.blocks:
            kind = block[0]
            if kind == "h":
                body.append(f"<h{block[1]}>{_inline(block[2])}</h{block[1]}>")
            elif kind == "p":
                body.append(f"<p>{_inline(block[1])}</p>")
            elif kind == "table":
                head = "".join(f"<th>{_inline(h)}</th>" for h in block[1])
                rows = "".join(
                    "<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in r) + "</tr>" for r in block[2]
                )
                body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
            elif kind == "fig":
                data = base64.b64encode((root / block[1]).read_bytes()).decode("ascii")
                body.append(
                    f'<figure><img alt="{html.escape(block[2])}" src="data:image/png;base64,{data}">'
                    f"<figcaption>{_inline(block[2])}</figcaption></figure>"
                )
        return _HTML_PAGE.format(title=html.escape(title), body="\n".join(body))


def _inline(text: str) -> str:
    """Escape, then the two bits of Markdown the report uses inline: **bold** and `code`."""
    text = html.escape(text)
    text = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", text)
    return re.sub(r"`(.+?)`", r"<code>\1</code>", text)


_HTML_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em; }}
table {{ border-collapse: collapse; margin: 0.8em 0; font-size: 0.9em; }}
th, td {{ border: 1px solid #ccc; padding: 3px 8px; text-align: right; }}
th {{ background: #f2f2f2; }} td:first-child, th:first-child {{ text-align: left; }}
img {{ max-width: 100%; }} figure {{ margin: 1em 0; }} figcaption {{ color: #555; font-size: 0.9em; }}
code {{ background: #f5f5f5; padding: 0 3px; }}
</style></head><body>
{body}
</body></html>
"""


# ---------------------------------------------------------------- sections


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _num(x: float, digits: int = 2) -> str:
    if x is None or not np.isfinite(x):
        return "n/a"
    return f"{0.0 if abs(x) < 0.5 * 10**-digits else x:.{digits}f}"


class _Builder:
    def __init__(self, run: Run):
        self.run = run
        self.frame = run.frame
        self.doc = Doc()
        self.figures: list[Path] = []
        self.fig_dir = run.path / FIGURES_DIR
        self.acc = accuracy_by_length(self.frame)
        self.depth_acc = accuracy_by_depth(self.frame)
        self.eff = efficiency_values(self.frame)

    def figure(self, draw, name: str, caption: str, *args) -> None:
        path = draw(*args, self.fig_dir / f"{name}.png")
        self.figures.append(path)
        self.doc.fig(f"{FIGURES_DIR}/{path.name}", caption)

    def build(self) -> Doc:
        self.doc.blocks.append(("h", 1, f"AHN benchmark report: {self.run.run_id}"))
        self.environment()
        self.ahn_weights()
        self.headline()
        self.scaling()
        self.analytic_vs_measured()
        self.accuracy()
        self.distillation()
        self.paper_comparison()
        return self.doc

    def environment(self) -> None:
        doc, m, f = self.doc, self.run.manifest, self.frame
        doc.section("Run and environment")
        if m.get("fixture") or m.get("note"):
            doc.p(f"**Note:** {m.get('note') or 'this run is a test fixture.'}")
        settings = f[f["method"] != "full"][["method", "sinks", "window"]].drop_duplicates()
        settings_text = "; ".join(
            f"{r.method}: {_int(r.sinks)} sinks + {_int(r.window)} window" for r in settings.itertuples()
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
        rows += [[f"environment: {k}", _cell(v)] for k, v in sorted(env.items())]
        config = m.get("config") or {}
        rows += [[f"config: {k}", _cell(v)] for k, v in sorted(config.items()) if k != "ahn_weights"]
        doc.table(["field", "value"], rows)
        if not env:
            doc.missing("the manifest records no environment (device, versions, git commit).")
        for resume in m.get("resumed", []):
            doc.p(f"Resumed on {resume.get('time_utc', '?')} at commit `{resume.get('git_commit')}`.")

    def ahn_weights(self) -> None:
        doc = self.doc
        doc.section("AHN weights: trained or untrained")
        status = ahn_weight_status(self.run)
        if not status:
            doc.missing("the run has no AHN method rows and the manifest names no AHN weights.")
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

    def headline(self) -> None:
        doc = self.doc
        doc.section("Headline comparison")
        for model in self.run.models:
            length = headline_length(self.frame, model)
            if length is None:
                doc.missing(f"no efficiency rows for {model}.")
                continue
            doc.h3(f"{model} at {format_length(length)} tokens")
            h2h = head_to_head(self.frame, model, length)
            rows = []
            for r in h2h.itertuples():
                rows.append(
                    [
                        r.metric,
                        r.source,
                        r.variant,
                        format_value(r.value, r.unit),
                        _vs(r.vs_full_ratio, r.method == "full"),
                        _vs(r.vs_swa_ratio, r.method == "swa"),
                    ]
                )
            doc.p("Ratios are this method / the baseline at the same length, metric and source.")
            doc.table(["metric", "source", "method", "value", "vs full", "vs swa"], rows)
            acc = accuracy_head_to_head(self.frame, model, length)
            if acc.empty:
                doc.missing(f"no accuracy rows for {model} at {format_length(length)} tokens.")
                continue
            rows = [
                [
                    f"{r.benchmark}/{r.task}",
                    r.variant,
                    _num(r.value, 1),
                    str(int(r.n)) if _ok(r.n) else "n/a",
                    _pts(r.vs_full_delta, r.method == "full"),
                    _pts(r.vs_swa_delta, r.method == "swa"),
                ]
                for r in acc.itertuples()
            ]
            doc.p(f"Mean score (0-100) at {format_length(length)} tokens; deltas in points.")
            doc.table(["task", "method", "score", "n", "vs full", "vs swa"], rows)

    def scaling(self) -> None:
        doc = self.doc
        doc.section("Scaling with context length")
        for model in self.run.models:
            exps = exponent_table(self.frame, model)
            if exps.empty:
                doc.missing(f"no efficiency rows for {model}.")
                continue
            doc.h3(f"Growth exponents ({model})")
            lengths = sorted(self.eff[self.eff["model"] == model]["length"].unique())
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
                name = plots.METRIC_TITLES[metric]
                doc.h3(f"{name} ({model})")
                if have.empty:
                    doc.missing(f"no `{metric}` rows for {model}.")
                    continue
                self.figure(
                    plots.plot_scaling,
                    f"scaling-{_slug(model)}-{metric}",
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
        any_rows = False
        for model in self.run.models:
            t = analytic_vs_measured(self.frame, model)
            if t.empty:
                continue
            any_rows = True
            doc.p(f"measured / analytic for {model}: median and range over the lengths where both exist.")
            doc.table(
                ["metric", "method", "median ratio", "min", "max", "lengths"],
                [
                    [r.metric, r.variant, f"{r.median:.4f}", f"{r.min:.4f}", f"{r.max:.4f}", r.count]
                    for r in t.itertuples()
                ],
            )
        if not any_rows:
            doc.missing("no metric has both analytic and measured rows at the same length.")

    def accuracy(self) -> None:
        doc, acc = self.doc, self.acc
        doc.section("Accuracy")
        if acc.empty:
            doc.missing("no accuracy (`score`) rows in this run.")
            return
        doc.h3("Mean score per task and context length")
        doc.p("Scores are 0-100: the mean over samples, or the harness's aggregate row where it kept none.")
        for (model, benchmark), sub in acc.groupby(["model", "benchmark"], sort=True):
            table = sub.pivot_table(index=["task", "variant"], columns="length", values="score", sort=False)
            table = table[sorted(table.columns)]
            doc.p(f"{benchmark}, {model}:")
            doc.table(
                ["task", "method", *(format_length(x) for x in table.columns)],
                [[*idx, *(_num(v, 1) for v in vals)] for idx, vals in zip(table.index, table.to_numpy())],
            )

        doc.h3("Needle depth x context length")
        if self.depth_acc.empty:
            doc.missing("no rows carry a needle depth (`extra.depth`).")
            keys = []
        else:
            keys = self.depth_acc[["model", "benchmark", "task"]].drop_duplicates().itertuples(index=False)
        for model, benchmark, task in keys:
            sub = self.depth_acc[(self.depth_acc["model"] == model) & (self.depth_acc["task"] == task)]
            grids = {v: depth_grid(sub, model, benchmark, task, v) for v in ordered_variants(sub)}
            self.figure(
                plots.plot_depth_heatmap,
                f"depth-{_slug(model)}-{_slug(benchmark)}-{_slug(task)}",
                f"{benchmark}/{task}: score by needle depth and context length, {model}",
                grids,
                f"{benchmark} / {task}: score (%) by needle depth ({model})",
            )
            cols = sorted({c for g in grids.values() for c in g.columns})
            rows = [
                [v, plots._depth_label(d), *(_num(g.loc[d].get(c, np.nan), 0) for c in cols)]
                for v, g in grids.items()
                for d in g.index
            ]
            doc.table(["method", "depth", *(format_length(c) for c in cols)], rows)

        doc.h3("Per-task scores")
        for model in self.run.models:
            for benchmark in sorted(acc[acc["model"] == model]["benchmark"].unique()):
                self.figure(
                    plots.plot_task_bars,
                    f"tasks-{_slug(model)}-{_slug(benchmark)}",
                    f"{benchmark}: mean score per task and method, {model}",
                    acc,
                    model,
                    benchmark,
                )

        doc.h3("Accuracy vs cache size")
        for model in self.run.models:
            cache = self.eff[(self.eff["model"] == model) & (self.eff["metric"] == "cache_bytes")]
            if cache.empty or acc[acc["model"] == model].empty:
                doc.missing(f"{model}: the trade-off needs both `cache_bytes` and score rows.")
                continue
            self.figure(
                plots.plot_accuracy_vs_cache,
                f"tradeoff-{_slug(model)}",
                f"Accuracy vs cache bytes, {model}",
                acc,
                self.frame,
                model,
            )

    def distillation(self) -> None:
        doc = self.doc
        doc.section("Distillation quality")
        found = False
        for model in self.run.models:
            for metric in DISTILL_METRICS:
                t = distill_table(self.frame, model, metric)
                if t.empty:
                    continue
                found = True
                doc.p(f"`{metric}` ({metric_unit(metric)}, lower is better), {model}, mean over samples:")
                doc.table(
                    ["method", *(format_length(c) for c in t.columns)],
                    [[v, *(f"{x:.4f}" for x in r)] for v, r in zip(t.index, t.to_numpy())],
                )
        if not found:
            doc.missing("no `kl_to_teacher` / `nll` rows (no distillation evaluation in this run).")

    def paper_comparison(self) -> None:
        doc = self.doc
        doc.section("Comparison with the AHN paper")
        doc.p(
            "Published figures from arXiv 2510.07318 (Tables 2, 6 and 9), shown only where this run measured "
            "the same quantity (same base model, benchmark task and setting)."
        )
        sizes = {m: paper.model_size(m) for m in self.run.models}
        self._paper_efficiency(sizes)
        self._paper_scores(sizes, "lveval", "LV-Eval (paper Table 6; average: Table 2)")
        self._paper_scores(sizes, "infinitebench", "InfiniteBench En.QA / Zh.QA (paper Table 2)")

    def _paper_efficiency(self, sizes: dict[str, str | None]) -> None:
        doc = self.doc
        doc.h3("Efficiency at 128k (paper Table 9 headline)")
        done = False
        for model, size in sizes.items():
            claim = paper.EFFICIENCY_CLAIMS.get(size or "")
            if claim is None:
                continue
            vals = self.eff[(self.eff["model"] == model) & (self.eff["length"] == claim["length"])]
            if vals.empty:
                have = sorted(self.eff[self.eff["model"] == model]["length"].unique())
                doc.missing(
                    f"{model}: no efficiency rows at {claim['length']} tokens "
                    f"(have: {', '.join(map(format_length, have)) or 'none'})."
                )
                continue
            rows = []
            for metric, paper_pct in claim["reduction_pct"].items():
                for source in ("analytic", "paper", "measured"):  # paper: the paper's own accounting
                    sel = vals[(vals["metric"] == metric) & (vals["source"] == source)]
                    full = sel[sel["method"] == "full"]["value"]
                    ahn = sel[sel["method"] == claim["method"]]
                    if full.empty or ahn.empty:
                        continue
                    # With a window sweep, the paper's setting (128 sinks + 32640 window) is the one to match.
                    exact = ahn[(ahn["sinks"] == claim["sinks"]) & (ahn["window"] == claim["window"])]
                    r = (exact if len(exact) else ahn).iloc[0]
                    ours = (1 - r["value"] / full.iloc[0]) * 100
                    rows.append(
                        [
                            f"{metric} reduction, {claim['method']} vs full",
                            source,
                            f"{paper_pct:.1f}%",
                            f"{ours:.1f}%",
                            f"{ours - paper_pct:+.1f}",
                            f"{_int(r['sinks'])} + {_int(r['window'])}",
                        ]
                    )
            if rows:
                done = True
                doc.p(
                    f"{model} at {format_length(claim['length'])} tokens. Paper setting: "
                    f"{claim['sinks']} sinks + {claim['window']} window, FLOPs counted over matmuls only."
                )
                doc.table(
                    ["quantity", "our source", "paper", "ours", "ours - paper (pts)", "our sinks + window"],
                    rows,
                )
            else:
                doc.missing(
                    f"{model}: rows at {claim['length']} tokens lack full and {claim['method']} "
                    "prefill_flops / cache_bytes."
                )
        if not done and not any(paper.EFFICIENCY_CLAIMS.get(s or "") for s in sizes.values()):
            doc.missing(
                "the paper's efficiency claims are for Qwen2.5-3B at 128,000 tokens; this run's "
                f"model(s) ({', '.join(sizes)}) have no published counterpart."
            )

    def _paper_scores(self, sizes: dict[str, str | None], benchmark: str, title: str) -> None:
        doc = self.doc
        doc.h3(title)
        published = paper.LVEVAL if benchmark == "lveval" else paper.INFINITEBENCH
        acc = self.acc[self.acc["benchmark"] == benchmark] if len(self.acc) else self.acc
        if len(acc):
            acc = acc.assign(paper_task=[paper.paper_task(benchmark, t) for t in acc["task"]])
            acc = acc[acc["paper_task"].notna()]
        if acc.empty:
            tasks = published["3B"]["full"]
            doc.missing(f"no `{benchmark}` score rows for the paper's tasks ({', '.join(tasks)}).")
            return
        for model in sorted(acc["model"].unique()):
            size = sizes.get(model)
            if size not in published:
                doc.missing(f"{model}: the paper reports these tasks only for Qwen2.5-3B/7B/14B-Instruct.")
                continue
            sub = acc[acc["model"] == model]
            length = int(sub["length"].max())
            sub = sub[sub["length"] == length]
            methods = [v for v in ordered_variants(sub) if v.split(" ")[0] in paper.METHODS]
            table_rows = []
            for task in published[size]["full"]:
                cells = []
                for variant in methods:
                    ours = sub[(sub["paper_task"] == task) & (sub["variant"] == variant)]["score"]
                    pub = published[size][variant.split(" ")[0]][task]
                    cells.append(f"{ours.iloc[0]:.2f} ({pub:.2f})" if len(ours) else f"n/a ({pub:.2f})")
                if any(not c.startswith("n/a") for c in cells):
                    table_rows.append([task, *cells])
            if not table_rows or not methods:
                doc.missing(f"{model}: no {benchmark} task matches the paper's task names.")
                continue
            if benchmark == "lveval" and len(table_rows) == len(paper.LVEVAL_TASKS):
                avg = []
                for variant in methods:
                    ours = sub[(sub["paper_task"].notna()) & (sub["variant"] == variant)]["score"]
                    pub = paper.LVEVAL_AVG[size][variant.split(" ")[0]]
                    avg.append(
                        f"{ours.mean():.2f} ({pub:.2f})"
                        if len(ours) == len(paper.LVEVAL_TASKS)
                        else f"n/a ({pub:.2f})"
                    )
                table_rows.append(["**average (11 tasks)**", *avg])
            doc.p(
                f"{model} (paper: Qwen2.5-{size}-Instruct), our rows at length {length}. "
                f"Cells: ours (paper). The paper evaluates at 128k with {paper.EVAL_SINKS} sinks + "
                f"{paper.EVAL_WINDOW} window."
            )
            doc.table(["task", *methods], table_rows)


def ahn_weight_status(run: Run) -> dict[str, tuple[str, str]]:
    """method -> (trained | untrained | mixed | not recorded, where it was read) for every AHN method.

    Rows written by the accuracy runner carry `extra.ahn_weights` ("untrained", or the weights file that was
    loaded): they win over the manifest, whose `config.ahn_weights` is either {method: status} or the
    runner's request ("shipped", "none" or a path)."""
    config = (run.manifest.get("config") or {}).get("ahn_weights")
    frame = run.frame
    methods = {m for m in frame["method"].unique() if m.startswith("ahn")}
    methods |= {m for m in config if m.startswith("ahn")} if isinstance(config, dict) else set()
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


def _int(x) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else str(int(x))


def _ok(x) -> bool:
    return x is not None and not (isinstance(x, float) and math.isnan(x))


def _cell(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items())
    if isinstance(value, list):
        return ", ".join(map(str, value))
    return "n/a" if value is None else str(value)


def _vs(ratio: float, is_self: bool) -> str:
    return "-" if is_self else format_ratio(ratio)


def _pts(delta: float, is_self: bool) -> str:
    return "-" if is_self else ("n/a" if not np.isfinite(delta) else f"{delta:+.1f}")


# ---------------------------------------------------------------- entry points


def build_report(run_dir) -> dict[str, Any]:
    """Write report.md, report.html and figures/ into the run directory; return what was written."""
    run = load_run(run_dir)
    builder = _Builder(run)
    doc = builder.build()
    md_path, html_path = run.path / REPORT_MD, run.path / REPORT_HTML
    md_path.write_text(doc.to_markdown(), encoding="utf-8")
    html_path.write_text(doc.to_html(run.path, f"AHN benchmark report: {run.run_id}"), encoding="utf-8")
    return {
        "run_id": run.run_id,
        "report_md": str(md_path),
        "report_html": str(html_path),
        "figures": [str(p) for p in builder.figures],
        "sections": doc.sections,
    }


def handler(args) -> dict[str, Any]:
    payload = build_report(args.run_dir)
    missing = [s for s, state in payload["sections"].items() if state == "missing"]
    print(f"wrote {payload['report_md']}")
    print(f"wrote {payload['report_html']} ({len(payload['figures'])} figures embedded)")
    if missing:
        print(f"sections without data: {', '.join(missing)}")
    return payload
