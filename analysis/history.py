"""`ahn-bench history RUN_DIR... [--out DIR]`: how each headline metric moved over commits.

Every run directory (the CI baseline, each CI run, any suite run) gives one point per method and metric:
  efficiency  the value at the longest length every run measured for that model (analytic preferred for
              FLOPs and cache, measured for time and memory), one figure per metric and source;
  accuracy    the mean score over all samples of a task, with its 95% interval;
  lm          the NLL beyond the window at the longest length.
Runs are ordered by the time in their manifests and labelled by commit. DIR gets history.md, history.json
and figures/history-*.png (one line per method).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ahn.errors import UserError
from analysis import lm, plots
from analysis.averages import mean_scores
from analysis.document import slug
from analysis.tables import (
    EFFICIENCY_METRICS,
    Run,
    efficiency_values,
    format_length,
    format_value,
    load_run,
    sample_scores,
)
from analysis.verdict import primary_models


def run_label(run: Run, seen: set[str]) -> str:
    env = run.manifest.get("environment") or {}
    commit = env.get("git_commit")
    label = str(commit)[:7] if commit else run.run_id
    base, i = label, 2
    while label in seen:  # two runs of one commit stay two points
        label, i = f"{base}#{i}", i + 1
    seen.add(label)
    return label


def _order(runs: list[Run]) -> list[Run]:
    """By the manifests' run time; runs without one keep their command-line order, after the others."""

    def key(item):
        i, run = item
        t = (run.manifest.get("environment") or {}).get("time_utc")
        return (t is None, str(t or ""), i)

    return [run for _, run in sorted(enumerate(runs), key=key)]


def points(run: Run, label: str, lengths: dict[str, int]) -> list[dict[str, Any]]:
    """The run's headline values: one dict per (series, variant)."""
    out = []
    eff = efficiency_values(run.frame)
    for model in primary_models(run):
        length = lengths.get(model)
        sel = eff[
            (eff["model"] == model) & (eff["length"] == length) & eff["metric"].isin(EFFICIENCY_METRICS)
        ]
        for r in sel.itertuples():
            series = f"{model} {r.metric} ({r.source}) at {format_length(length)}"
            out.append(
                dict(series=series, unit=r.unit, variant=r.variant, value=r.value, lo=np.nan, hi=np.nan, n=1)
            )
        scores = sample_scores(run.frame, model)
        for r in mean_scores(scores, ["benchmark", "task", "variant"]).itertuples():
            out.append(
                dict(
                    series=f"{model} {r.benchmark}/{r.task} score (all lengths)",
                    unit="%",
                    variant=r.variant,
                    value=r.score,
                    lo=r.lo,
                    hi=r.hi,
                    n=r.n,
                )
            )
        curve = lm.lm_curve(run.frame, model, "nll")
        if len(curve):
            longest = int(curve["length"].max())
            for r in lm.beyond_window(curve[curve["length"] == longest]).itertuples():
                out.append(
                    dict(
                        series=f"{model} lm NLL beyond W at {format_length(longest)}",
                        unit="nat",
                        variant=r.variant,
                        value=r.value,
                        lo=np.nan,
                        hi=np.nan,
                        n=1,
                    )
                )
    return [dict(p, run_label=label) for p in out]


def common_lengths(runs: list[Run]) -> dict[str, int]:
    """Per model, the longest efficiency length every run that has the model measured."""
    per_run: dict[str, list[set[int]]] = {}
    for run in runs:
        eff = efficiency_values(run.frame)
        for model in primary_models(run):
            per_run.setdefault(model, []).append(set(int(x) for x in eff[eff["model"] == model]["length"]))
    return {m: max(set.intersection(*sets)) for m, sets in per_run.items() if set.intersection(*sets)}


def build_history(run_dirs: list[str], out: str | Path) -> dict[str, Any]:
    if len(run_dirs) < 2:
        raise UserError("history needs at least two run directories")
    runs = _order([load_run(d) for d in run_dirs])
    seen: set[str] = set()
    labels = [run_label(r, seen) for r in runs]
    lengths = common_lengths(runs)
    trend = pd.DataFrame([p for run, label in zip(runs, labels) for p in points(run, label, lengths)])
    out = Path(out)
    (out / "figures").mkdir(parents=True, exist_ok=True)
    figures, lines = [], {}
    if trend.empty:
        raise UserError("the runs have no rows a trend can be drawn from")
    for series, g in trend.groupby("series", sort=True):
        unit = g["unit"].iloc[0]
        path, drawn = plots.plot_history(g, series, unit, out / "figures" / f"history-{slug(series)}.png")
        figures.append(str(path))
        lines[series] = drawn
    md = to_markdown(trend, labels, runs)
    (out / "history.md").write_text(md, encoding="utf-8")
    records = json.loads(trend.to_json(orient="records"))
    (out / "history.json").write_text(json.dumps({"runs": labels, "points": records}, indent=1) + "\n")
    return {"out": str(out), "runs": labels, "figures": figures, "lines": lines, "markdown": md}


def to_markdown(trend: pd.DataFrame, labels: list[str], runs: list[Run]) -> str:
    lines = ["# ahn-bench history", "", "| run | run id | time (UTC) |", "|---|---|---|"]
    for label, run in zip(labels, runs):
        lines.append(
            f"| {label} | {run.run_id} | {(run.manifest.get('environment') or {}).get('time_utc', '-')} |"
        )
    lines += [
        "",
        f"| series | method | {' | '.join(labels)} | last change |",
        "|---|---|" + "---:|" * (len(labels) + 1),
    ]
    for (series, variant), g in trend.groupby(["series", "variant"], sort=True):
        by = g.set_index("run_label")
        unit = g["unit"].iloc[0]
        cells = [format_value(by.loc[lb, "value"], unit) if lb in by.index else "-" for lb in labels]
        present = [by.loc[lb, "value"] for lb in labels if lb in by.index]
        change = "-"
        if len(present) >= 2 and unit == "%":
            change = f"{present[-1] - present[-2]:+.1f} pts"
        elif len(present) >= 2 and present[-2]:
            change = f"{(present[-1] / present[-2] - 1) * 100:+.1f}%"
        lines.append(f"| {series} | {variant} | {' | '.join(cells)} | {change} |")
    return "\n".join(lines) + "\n"


def handler(args) -> dict[str, Any]:
    payload = build_history(args.run_dirs, args.out)
    print(payload["markdown"], end="")
    print(f"wrote {payload['out']}/history.md and {len(payload['figures'])} figures")
    return {k: v for k, v in payload.items() if k != "markdown"}
