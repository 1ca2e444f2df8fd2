"""Tables derived from result rows: head-to-head at one length, scaling with length, accuracy by task/depth.

Everything here takes the DataFrame of `benchmarks.results.load_frame` (one row per measurement, `extra`
flattened to `extra.<key>` columns) and returns DataFrames; formatting for humans is in `format_value`.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ahn.errors import UserError
from ahn.methods import METHODS
from analysis.averages import is_aggregate, mean_scores
from analysis.stats import Estimate, paired_difference, percentile_spread, sign_test_p
from benchmarks.results import METRICS, load_frame, read_manifest
from benchmarks.rundir import ROWS_FILE

METHOD_ORDER = tuple(METHODS)  # the registry's order (ahn/methods/__init__.py)
# Efficiency metrics in the order tables and plots show them (p10/p90 ride along with p50 as a spread).
EFFICIENCY_METRICS = (
    "prefill_flops",
    "decode_flops_per_token",
    "cache_bytes",
    "peak_memory_bytes",
    "prefill_seconds",
    "decode_seconds_p50",
)
EXTRA_KEYS = ("extra.depth", "extra.sample_id", "extra.aggregate", "extra.n", "extra.seconds")
# Efficiency rows may say which accounting they follow (issue 9): "physical" (what the cache really holds,
# every FLOP counted; the default and what rows without the field mean) or "paper" (the paper's formulas).
DEFAULT_CONVENTION = "physical"


@dataclass
class Run:
    path: Path
    manifest: dict[str, Any]
    frame: pd.DataFrame

    @property
    def run_id(self) -> str:
        return str(self.manifest.get("run_id") or self.path.name)

    @property
    def models(self) -> list[str]:
        return sorted(self.frame["model"].unique())


def load_run(run_dir: str | os.PathLike) -> Run:
    """A run directory as manifest + frame; anything that is not one is a one-line UserError."""
    path = Path(run_dir)
    if not path.is_dir():
        raise UserError(f"{path}: no such run directory")
    manifest = read_manifest(path)
    if not (path / ROWS_FILE).exists():
        raise UserError(f"{path}: not a run directory (no {ROWS_FILE})")
    frame = load_frame(path)
    if frame.empty:
        raise UserError(f"{path}/{ROWS_FILE}: no result rows")
    return Run(path, manifest, prepare_frame(frame))


def prepare_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Add the columns analysis relies on: the optional extras (as NaN), `convention` and `variant`, the
    method label.

    `variant` is the method name, or `method (sinks+window)` when a run holds several window settings of one
    method for one model (a window sweep), so that lines and table rows stay distinct."""
    frame = frame.copy()
    for col in EXTRA_KEYS:
        if col not in frame:
            frame[col] = np.nan
    frame.loc[frame["window"].isna(), "sinks"] = np.nan  # no window, no sinks: full attention's 0 or None
    # The convention may come as a top-level field or inside `extra`, depending on the writer.
    convention = frame["convention"] if "convention" in frame else pd.Series(np.nan, index=frame.index)
    if "extra.convention" in frame:
        convention = convention.fillna(frame["extra.convention"])
    frame["convention"] = convention.fillna(DEFAULT_CONVENTION).astype(str)
    frame["variant"] = frame["method"]
    # Per model: the paper's configs costed at 128 + 32640 do not make the measured model's swa a sweep.
    settings = frame[["model", "method", "sinks", "window"]].drop_duplicates()
    for (model, method), n in settings.groupby(["model", "method"]).size().items():
        if n > 1:
            mask = (frame["model"] == model) & (frame["method"] == method)
            sub = frame.loc[mask]
            frame.loc[mask, "variant"] = [
                f"{method} ({_int_or_dash(s)}+{_int_or_dash(w)})" for s, w in zip(sub["sinks"], sub["window"])
            ]
    return frame


def _int_or_dash(x) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else str(int(x))


def method_key(variant: str) -> tuple[int, str]:
    base = variant.split(" ")[0]
    return (METHOD_ORDER.index(base) if base in METHOD_ORDER else len(METHOD_ORDER), variant)


def ordered_variants(frame: pd.DataFrame) -> list[str]:
    return sorted(frame["variant"].unique(), key=method_key)


# ---------------------------------------------------------------- efficiency


def efficiency_values(frame: pd.DataFrame, convention: str = DEFAULT_CONVENTION) -> pd.DataFrame:
    """One value per (model, variant, metric, source, length) under one cost convention; repeated
    measurements give their median."""
    eff = frame[(frame["benchmark"] == "efficiency") & (frame["convention"] == convention)]
    keys = ["model", "variant", "method", "sinks", "window", "metric", "unit", "source", "length"]
    return eff.groupby(keys, dropna=False, sort=False)["value"].median().reset_index()


def _baseline_lookup(values: pd.DataFrame, keys: list[str], row: pd.Series, method: str) -> float:
    """Value of `method` in the same group as `row`; for swa prefer the same sinks/window as the row."""
    same = values[(values["method"] == method)]
    for k in keys:
        same = same[same[k] == row[k]]
    if method == "swa" and len(same) > 1:
        matched = same[(same["sinks"] == row["sinks"]) & (same["window"] == row["window"])]
        same = matched if len(matched) else same
    return float(same["value"].iloc[0]) if len(same) else float("nan")


def with_baselines(values: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Add vs_full_ratio/delta and vs_swa_ratio/delta columns, comparing within each group of `keys`."""
    out = values.copy()
    for base in ("full", "swa"):
        ref = np.array(
            [_baseline_lookup(values, keys, row, base) for _, row in values.iterrows()], dtype=float
        )
        with np.errstate(divide="ignore", invalid="ignore"):
            out[f"vs_{base}_ratio"] = out["value"].to_numpy(dtype=float) / ref
        out[f"vs_{base}_delta"] = out["value"].to_numpy(dtype=float) - ref
    return out


def head_to_head(frame: pd.DataFrame, model: str, length: int) -> pd.DataFrame:
    """Efficiency metrics of every method at one length, with ratios and deltas against full and swa."""
    vals = efficiency_values(frame)
    vals = vals[(vals["model"] == model) & (vals["length"] == length)]
    vals = vals[vals["metric"].isin(EFFICIENCY_METRICS)]
    if vals.empty:
        return vals
    out = with_baselines(vals.reset_index(drop=True), ["metric", "source"])
    out["_m"] = out["metric"].map(EFFICIENCY_METRICS.index)
    out["_v"] = out["variant"].map(method_key)
    out = out.sort_values(["_m", "source", "_v"]).drop(columns=["_m", "_v"])
    return out.reset_index(drop=True)


def headline_length(frame: pd.DataFrame, model: str) -> int | None:
    """The longest context with efficiency rows for this model (preferably one where full attention ran)."""
    vals = efficiency_values(frame)
    vals = vals[vals["model"] == model]
    if vals.empty:
        return None
    with_full = vals[vals["method"] == "full"]["length"]
    return int((with_full if len(with_full) else vals["length"]).max())


def fit_exponent(lengths, values) -> float:
    """Exponent b of value ~ a * length^b, by least squares on log-log; NaN with under 2 usable points."""
    x = np.asarray(lengths, dtype=float)
    y = np.asarray(values, dtype=float)
    ok = (x > 0) & (y > 0) & np.isfinite(y)
    if len(np.unique(x[ok])) < 2:
        return float("nan")
    return float(np.polyfit(np.log(x[ok]), np.log(y[ok]), 1)[0])


def scaling_table(frame: pd.DataFrame, model: str, metric: str, source: str) -> pd.DataFrame:
    """Metric vs length (rows) per variant (columns), plus a last row `exponent` from a log-log fit."""
    vals = efficiency_values(frame)
    vals = vals[(vals["model"] == model) & (vals["metric"] == metric) & (vals["source"] == source)]
    if vals.empty:
        return pd.DataFrame()
    table = vals.pivot_table(index="length", columns="variant", values="value", aggfunc="median")
    table = table[sorted(table.columns, key=method_key)]
    exps = {v: fit_exponent(table.index, table[v]) for v in table.columns}
    table.loc["exponent"] = pd.Series(exps)
    return table


def exponent_table(frame: pd.DataFrame, model: str) -> pd.DataFrame:
    """Fitted growth exponents: one row per (metric, source), one column per variant."""
    records = []
    vals = efficiency_values(frame)
    vals = vals[vals["model"] == model]
    for metric in EFFICIENCY_METRICS:
        for source in ("analytic", "measured"):
            sel = vals[(vals["metric"] == metric) & (vals["source"] == source)]
            if sel.empty:
                continue
            rec = {"metric": metric, "source": source}
            for variant, g in sel.groupby("variant"):
                rec[variant] = fit_exponent(g["length"], g["value"])
            records.append(rec)
    if not records:
        return pd.DataFrame()
    out = pd.DataFrame.from_records(records)
    cols = sorted([c for c in out.columns if c not in ("metric", "source")], key=method_key)
    return out[["metric", "source", *cols]]


def analytic_vs_measured(frame: pd.DataFrame, model: str) -> pd.DataFrame:
    """measured / analytic per (metric, variant): median ratio and its range over lengths where both exist."""
    vals = efficiency_values(frame)
    vals = vals[vals["model"] == model]
    keys = ["metric", "variant", "length"]
    a = vals[vals["source"] == "analytic"][keys + ["value"]]
    m = vals[vals["source"] == "measured"][keys + ["value"]]
    both = a.merge(m, on=keys, suffixes=("_analytic", "_measured"))
    if both.empty:
        return pd.DataFrame()
    both["ratio"] = both["value_measured"] / both["value_analytic"]
    out = both.groupby(["metric", "variant"])["ratio"].agg(["median", "min", "max", "count"]).reset_index()
    out["_m"] = out["metric"].map(lambda x: EFFICIENCY_METRICS.index(x) if x in EFFICIENCY_METRICS else 99)
    out["_v"] = out["variant"].map(method_key)
    return out.sort_values(["_m", "_v"]).drop(columns=["_m", "_v"]).reset_index(drop=True)


# ---------------------------------------------------------------- accuracy


def _score_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """Score rows, without the aggregates over all lengths (length 0) that the accuracy runner also writes."""
    scores = frame[(frame["metric"] == "score") & (frame["benchmark"] != "efficiency")]
    return scores[~(is_aggregate(scores) & (scores["length"] == 0))]


ACC_KEYS = ["model", "benchmark", "task", "variant", "length"]


def accuracy_by_length(frame: pd.DataFrame) -> pd.DataFrame:
    """Mean score per (model, benchmark, task, variant, length), columns score and n."""
    scores = _score_rows(frame)
    overall = scores[is_aggregate(scores) & scores["extra.depth"].isna()]
    out = mean_scores(scores, ACC_KEYS, overall)
    return _sort_acc(out, ACC_KEYS)


def accuracy_by_depth(frame: pd.DataFrame) -> pd.DataFrame:
    """Mean score per (model, benchmark, task, variant, depth, length) for rows that carry a needle depth."""
    scores = _score_rows(frame)
    scores = scores[scores["extra.depth"].notna()]
    keys = ACC_KEYS[:4] + ["extra.depth", "length"]
    out = mean_scores(scores, keys, scores[is_aggregate(scores)])
    return _sort_acc(out.rename(columns={"extra.depth": "depth"}), [*ACC_KEYS[:4], "depth", "length"])


def _sort_acc(out: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    if out.empty:
        return out
    out = out.copy()
    out["_v"] = out["variant"].map(method_key)
    sort = [k if k != "variant" else "_v" for k in keys]
    return out.sort_values(sort).drop(columns="_v").reset_index(drop=True)


def depth_grid(depth_acc: pd.DataFrame, model: str, benchmark: str, task: str, variant: str) -> pd.DataFrame:
    """Score grid for one needle task and method: rows = depth, columns = length."""
    sel = depth_acc[
        (depth_acc["model"] == model)
        & (depth_acc["benchmark"] == benchmark)
        & (depth_acc["task"] == task)
        & (depth_acc["variant"] == variant)
    ]
    return sel.pivot_table(index="depth", columns="length", values="score").sort_index()


def accuracy_head_to_head(frame: pd.DataFrame, model: str, length: int) -> pd.DataFrame:
    """Mean score per task at one length, with point deltas against full and swa."""
    acc = accuracy_by_length(frame)
    acc = acc[(acc["model"] == model) & (acc["length"] == length)]
    if acc.empty:
        return acc
    settings = frame[["variant", "method", "sinks", "window"]].drop_duplicates("variant")
    values = acc.rename(columns={"score": "value"}).merge(settings, on="variant", how="left")
    return with_baselines(values.reset_index(drop=True), ["benchmark", "task"])


def sample_scores(frame: pd.DataFrame, model: str, length: int | None = None) -> pd.DataFrame:
    """Per-sample score rows (not aggregates) of one model, optionally at one length."""
    scores = _score_rows(frame)
    scores = scores[(scores["model"] == model) & ~is_aggregate(scores) & scores["extra.sample_id"].notna()]
    return scores if length is None else scores[scores["length"] == length]


def paired(
    frame: pd.DataFrame,
    model: str,
    length: int,
    variant: str,
    baseline: str,
    benchmark: str,
    task: str | None = None,
) -> tuple[Estimate, float]:
    """Paired difference variant - baseline (points) over the samples both answered at one length, pooled
    over the benchmark's tasks unless `task` is given; and the exact sign-test p for pass/fail scores (NaN
    otherwise). Samples pair on (task, depth, sample id)."""
    s = sample_scores(frame, model, length)
    s = s[s["benchmark"] == benchmark]
    if task is not None:
        s = s[s["task"] == task]
    keys = ["task", "extra.depth", "extra.sample_id"]
    a = s[s["variant"] == variant].drop_duplicates(keys).set_index(keys)["value"]
    b = s[s["variant"] == baseline].drop_duplicates(keys).set_index(keys)["value"]
    both = a.to_frame("a").join(b.to_frame("b"), how="inner")
    est = paired_difference(both["a"], both["b"])
    binary = len(both) and all(set(both[c].unique()) <= {0.0, 100.0} for c in ("a", "b"))
    return est, (sign_test_p(both["a"], both["b"]) if binary else float("nan"))


def benchmark_scores(frame: pd.DataFrame, model: str, length: int, max_tasks: int = 4) -> pd.DataFrame:
    """Mean score per (benchmark, task, variant) at one length; a benchmark with more than `max_tasks` tasks
    is pooled over its tasks' samples (task "all"). Columns benchmark, task, variant, score, n, lo, hi,
    interval."""
    s = sample_scores(frame, model, length)
    if s.empty:
        return pd.DataFrame()
    many = s.groupby("benchmark")["task"].nunique()
    s = s.assign(task=[("all" if many[b] > max_tasks else t) for b, t in zip(s["benchmark"], s["task"])])
    keys = ["benchmark", "task", "variant"]
    return _sort_acc(mean_scores(s, keys), keys)


# ---------------------------------------------------------------- formatting

_SI = [(1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")]


def format_value(value: float, unit: str) -> str:
    """Human form of a value in its unit: 1.23 TFLOP, 12.0 MiB, 4.56 ms, 87.5 %."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if unit == "B":
        for scale, name in ((2**40, "TiB"), (2**30, "GiB"), (2**20, "MiB"), (2**10, "KiB")):
            if abs(value) >= scale:
                return f"{value / scale:.3g} {name}"
        return f"{value:.0f} B"
    if unit == "s":
        if abs(value) < 1e-3:
            return f"{value * 1e6:.3g} µs"
        return f"{value * 1e3:.3g} ms" if abs(value) < 1 else f"{value:.3g} s"
    if unit == "FLOP":
        for scale, prefix in _SI:
            if abs(value) >= scale:
                return f"{value / scale:.3g} {prefix}FLOP"
        return f"{value:.3g} FLOP"
    if unit == "%":
        return f"{value:.1f}"
    return f"{value:.4g}" + (f" {unit}" if unit and unit != "1" else "")


def format_ratio(ratio: float) -> str:
    """0.62x (-38.0%)."""
    if ratio is None or not np.isfinite(ratio):
        return "n/a"
    return f"{ratio:.3g}x ({(ratio - 1) * 100:+.1f}%)"


def format_length(length: int) -> str:
    """131072 -> '128k', 3072 -> '3k'; 128000 -> '128,000' (LV-Eval's word levels are not binary 'k')."""
    length = int(length)
    if length >= 1024 and length % 1024 == 0 and length % 1000 != 0:
        return f"{length // 1024}k"
    return f"{length:,}"


def metric_unit(metric: str) -> str:
    return METRICS[metric].unit if metric in METRICS else ""


# ---------------------------------------------------------------- timings with their spread

TIMING_METRICS = ("prefill_seconds", "decode_seconds_p50")


def timing_spread(frame: pd.DataFrame, model: str, variant: str, metric: str, length: int) -> dict[str, Any]:
    """{p50, p10, p90, repeats} of one measured timing. The harness's own p10/p90 rows win (decode); else the
    spread of the repeats a row lists in `extra.seconds`, or of repeated rows; one bare value has none."""
    sel = frame[
        (frame["model"] == model) & (frame["variant"] == variant) & (frame["length"] == length)
        & (frame["source"] == "measured") & (frame["benchmark"] == "efficiency")
        & (frame["convention"] == DEFAULT_CONVENTION)
    ]  # fmt: skip
    rows = sel[sel["metric"] == metric]
    if rows.empty:
        return {"p50": float("nan"), "p10": float("nan"), "p90": float("nan"), "repeats": 0}
    repeats = [x for v in rows["extra.seconds"] if isinstance(v, list) for x in v]
    p10, p50, p90, n = percentile_spread(repeats if repeats else list(rows["value"]))
    if not repeats:  # the count may be recorded without the timings: repeats, or decode's timed tokens
        for key in ("extra.repeats", "extra.new_tokens"):
            if key in rows and rows[key].notna().any():
                n = int(rows[key].dropna().iloc[0]) * len(rows)
                break
    if metric.endswith("_p50"):
        p50 = float(rows["value"].median())
        recorded = {
            q: sel[sel["metric"] == metric.replace("_p50", f"_{q}")]["value"].median() for q in ("p10", "p90")
        }
        p10 = float(recorded["p10"]) if np.isfinite(recorded["p10"]) else p10
        p90 = float(recorded["p90"]) if np.isfinite(recorded["p90"]) else p90
    elif not repeats:
        p50 = float(rows["value"].median())
    return {"p50": p50, "p10": p10, "p90": p90, "repeats": n}


def format_spread(spread: dict[str, Any]) -> str:
    """'93.3 ms (p10-p90 88.1-101 ms, n=12)'; a single timing says n=1."""
    p50, n = spread["p50"], spread["repeats"]
    if not np.isfinite(p50):
        return "n/a"
    if not (np.isfinite(spread["p10"]) and np.isfinite(spread["p90"])):
        return f"{format_value(p50, 's')} (n={n}, " + ("one timing)" if n < 2 else "spread not recorded)")
    lo, hi = format_value(spread["p10"], "s"), format_value(spread["p90"], "s")
    if lo.split(" ")[1:] == hi.split(" ")[1:]:  # same unit: '105-139 ms'
        lo = lo.split(" ")[0]
    return f"{format_value(p50, 's')} (p10-p90 {lo}-{hi}, n={n})"
