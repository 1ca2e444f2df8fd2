"""The report's first section: does each method buy long context cheaply, against full attention and SWA?

For each model the run really measured: cost at the longest length with efficiency rows (prefill FLOPs,
cache, decode latency with its p10-p90), quality at the longest length with accuracy samples (per
benchmark, with 95% intervals and paired differences on the same samples) and the NLL beyond the window
where lm rows exist, then the accuracy-vs-cache figure and the paper's claims beside ours.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from analysis import lm
from analysis.stats import significant
from analysis.tables import (
    Run,
    benchmark_scores,
    efficiency_values,
    format_length,
    format_spread,
    format_value,
    headline_length,
    method_key,
    paired,
    sample_scores,
    timing_spread,
    with_baselines,
)

TITLE = "Verdict"
COST_METRICS = (("prefill_flops", "prefill FLOPs"), ("cache_bytes", "cache"))
SIGNIFICANT = "*"


def primary_models(run: Run) -> list[str]:
    """Models the run measured (accuracy, lm or measured efficiency rows); analytic-only models (the paper's
    configs costed from their shapes) belong to the paper comparison, not the verdict."""
    f = run.frame
    measured = f[(f["source"] == "measured") | (f["benchmark"] != "efficiency")]
    return sorted(measured["model"].unique()) or run.models


def fmt_interval(mean: float, lo: float, hi: float, digits: int = 1) -> str:
    if not np.isfinite(mean):
        return "n/a"
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]"


def fmt_diff(est, sign_p: float = math.nan, digits: int = 1) -> str:
    """'-66.7 [-88.9, -44.4]*' (* = significant: the 95% paired interval excludes 0 and, for pass/fail
    scores, the exact sign test agrees), 'n/a' without shared samples."""
    if est.n == 0 or not np.isfinite(est.mean):
        return "n/a"
    text = f"{est.mean:+.{digits}f}"
    if np.isfinite(est.lo) and np.isfinite(est.hi):
        text += f" [{est.lo:+.{digits}f}, {est.hi:+.{digits}f}]" + (
            SIGNIFICANT if significant(est, sign_p) else ""
        )
    return text


def _ratio(x: float) -> str:
    return "n/a" if x is None or not np.isfinite(x) else f"{x:.3g}x"


def _vs_cells(variant: str, vs_full: float, vs_swa: float) -> list[str]:
    """Ratio cells against full and swa; a baseline against itself is '-'."""
    return [
        "-" if variant == "full" else _ratio(vs_full),
        "-" if variant.split(" ")[0] == "swa" else _ratio(vs_swa),
    ]


def cost_rows(run: Run, model: str, length: int) -> tuple[list[list[str]], dict[str, dict[str, float]]]:
    """Rows of the cost table, and {variant: {metric: ratio vs full}} for the bullets."""
    vals = efficiency_values(run.frame)
    vals = vals[(vals["model"] == model) & (vals["length"] == length)]
    # The analytic model is the definition (and is tested equal to the counted FLOPs); measured fills gaps.
    vals = vals.sort_values("source").drop_duplicates(["variant", "metric"], keep="first")
    ratios: dict[str, dict[str, float]] = {}
    table = {}
    for metric, _ in COST_METRICS:
        sel = with_baselines(vals[vals["metric"] == metric].reset_index(drop=True), ["metric"])
        for r in sel.itertuples():
            table.setdefault(r.variant, {})[metric] = (
                r.value,
                r.unit,
                r.vs_full_ratio,
                r.vs_swa_ratio,
                r.source,
            )
            ratios.setdefault(r.variant, {})[metric] = r.vs_full_ratio
    spreads = {v: timing_spread(run.frame, model, v, "decode_seconds_p50", length) for v in table}
    full_p50 = next((s["p50"] for v, s in spreads.items() if v == "full"), math.nan)
    swa_p50 = next((s["p50"] for v, s in spreads.items() if v.split(" ")[0] == "swa"), math.nan)
    rows = []
    for variant in sorted(table, key=method_key):
        cells = [variant]
        for metric, _ in COST_METRICS:
            value, unit, vs_full, vs_swa, source = table[variant].get(
                metric, (math.nan, "", math.nan, math.nan, "")
            )
            mark = "" if source in ("analytic", "") else " (measured)"  # the header says analytic
            cells += [format_value(value, unit) + mark, *_vs_cells(variant, vs_full, vs_swa)]
        s = spreads[variant]
        cells += [format_spread(s), *_vs_cells(variant, s["p50"] / full_p50, s["p50"] / swa_p50)]
        ratios.setdefault(variant, {})["decode_seconds_p50"] = s["p50"] / full_p50
        rows.append(cells)
    return rows, ratios


def quality_rows(run: Run, model: str, length: int) -> tuple[list[list[str]], list[dict]]:
    """Rows of the accuracy table at one length, and per-(benchmark, variant) facts for the bullets."""
    scores = benchmark_scores(run.frame, model, length)
    rows, facts = [], []
    variants = set(scores["variant"]) if len(scores) else set()
    swa = next((v for v in sorted(variants, key=method_key) if v.split(" ")[0] == "swa"), None)
    for r in scores.itertuples():
        vs = {}
        for name, base in (("full", "full" if "full" in variants else None), ("swa", swa)):
            task = None if r.task == "all" else r.task
            vs[name] = (
                (None, math.nan)
                if base is None or base == r.variant
                else paired(run.frame, model, length, r.variant, base, r.benchmark, task)
            )
        rows.append(
            [
                f"{r.benchmark}/{r.task}",
                r.variant,
                fmt_interval(r.score, r.lo, r.hi),
                str(int(r.n)),
                "-" if vs["full"][0] is None else fmt_diff(*vs["full"]),
                "-" if vs["swa"][0] is None else fmt_diff(*vs["swa"]),
            ]
        )
        facts.append({"benchmark": f"{r.benchmark}/{r.task}", "variant": r.variant, "score": r, **vs})
    return rows, facts


def lm_rows(run: Run, model: str) -> tuple[list[list[str]], int | None]:
    """NLL beyond the window at the longest lm length: value, difference to full and swa, share of swa's
    gap to full attention closed."""
    curve = lm.lm_curve(run.frame, model, "nll")
    if curve.empty:
        return [], None
    length = int(curve["length"].max())
    curve = curve[curve["length"] == length]
    far = lm.beyond_window(curve).set_index("variant")["value"]
    gaps = lm.gap_closed(curve)
    gaps = gaps[gaps["bucket"] == "all beyond W"].set_index("variant")["share"] if len(gaps) else pd.Series()
    full = far.get("full", math.nan)
    swa = next((far[v] for v in far.index if v.split(" ")[0] == "swa"), math.nan)
    rows = []
    for variant in sorted(far.index, key=method_key):
        share = gaps.get(variant, math.nan)
        rows.append(
            [
                variant,
                f"{far[variant]:.4f}",
                "-" if variant == "full" else f"{far[variant] - full:+.4f}",
                "-" if variant.split(" ")[0] == "swa" else f"{far[variant] - swa:+.4f}",
                "-" if not np.isfinite(share) else f"{share * 100:.0f}%",
            ]
        )
    return rows, length


def bullets(
    cost_ratios: dict, cost_length: int | None, facts: list[dict], acc_length: int | None
) -> list[str]:
    """One sentence per method other than full attention: what it costs and what it keeps."""
    out = []
    for variant in sorted({*cost_ratios, *(f["variant"] for f in facts)}, key=method_key):
        if variant == "full":
            continue
        parts = []
        r = cost_ratios.get(variant, {})
        if cost_length and r:
            parts.append(
                f"at {format_length(cost_length)} tokens {_ratio(r.get('prefill_flops'))} full attention's "
                f"prefill FLOPs, {_ratio(r.get('cache_bytes'))} its cache, "
                f"{_ratio(r.get('decode_seconds_p50'))} "
                "its decode latency"
            )
        scores = []
        for f in (f for f in facts if f["variant"] == variant):
            s = f["score"]
            text = f"{f['benchmark']} {fmt_interval(s.score, s.lo, s.hi)} (n={int(s.n)})"
            for name in ("full", "swa"):
                est, p = f[name]
                if est is not None and est.n:
                    text += (
                        f", {est.mean:+.1f} vs {name} ({'' if significant(est, p) else 'not '}significant)"
                    )
            scores.append(text)
        if scores:
            parts.append(f"at {format_length(acc_length)} tokens: " + "; ".join(scores))
        if parts:
            out.append(f"**{variant}**: " + "; ".join(parts) + ".")
    return out


def longest_accuracy_length(run: Run, model: str) -> int | None:
    s = sample_scores(run.frame, model)
    return int(s["length"].max()) if len(s) else None


def longest_cost_length(run: Run, model: str) -> int | None:
    return headline_length(run.frame, model)
