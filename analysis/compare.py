"""`ahn-bench compare BASELINE_DIR NEW_DIR`: match two runs row by row and flag regressions.

Rows match on (model, method, benchmark, task, length, metric, source, window, sinks) plus extra.depth,
extra.sample_id and extra.aggregate where present. Each matched pair is judged by its metric's kind
(`benchmarks.results.METRICS`):
  deterministic  FLOPs, cache bytes, ...: must agree to a relative 1e-6 in either direction (a cost model or
                 a counted quantity changed);
  memory         peak memory: may grow by at most --memory-tolerance (default 10%);
  timing         new/base ratio; timings are noisy, so only a slowdown beyond --timing-ratio (default 2.0x)
                 fails;
  accuracy       aggregate scores may drop by at most --accuracy-drop points (default 5). Per-sample scores
                 are listed when they change but do not fail by themselves: one flipped greedy sample is
                 noise, the aggregate is the claim.
Rows only in the baseline are "missing" (a regression unless --allow-missing); rows only in the new run are
"new" (reported, fine).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from ahn.errors import UserError
from analysis.averages import mean_scores
from analysis.tables import Run, format_length, format_value, load_run
from benchmarks.results import METRICS

# `convention` (physical | paper cost accounting) defaults to physical for rows that do not carry it.
KEY_FIELDS = (
    "model",
    "method",
    "benchmark",
    "task",
    "length",
    "metric",
    "source",
    "window",
    "sinks",
    "convention",
)
EXTRA_KEY_FIELDS = ("extra.depth", "extra.sample_id", "extra.aggregate")
ALL_KEY_FIELDS = KEY_FIELDS + EXTRA_KEY_FIELDS
DETERMINISTIC_RTOL = 1e-6
LIST_LIMIT = 200  # rows named per Markdown section; the JSON payload always has them all
SUMMARY_LIMIT = 15  # rows named per kind in the short summary a CI job posts


@dataclass(frozen=True)
class Thresholds:
    timing_ratio: float = 2.0
    accuracy_drop: float = 5.0
    memory_tolerance: float = 0.10
    allow_missing: bool = False

    def __post_init__(self):
        if not self.timing_ratio > 1:
            raise UserError(f"--timing-ratio must be > 1, got {self.timing_ratio}")
        if not self.accuracy_drop >= 0:
            raise UserError(f"--accuracy-drop must be >= 0, got {self.accuracy_drop}")
        if not self.memory_tolerance >= 0:
            raise UserError(f"--memory-tolerance must be >= 0, got {self.memory_tolerance}")


def _norm(v: Any) -> Any:
    """Key-safe value: NaN/None -> None, integral floats -> int (window 448.0 and 448 are the same)."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return None
    if isinstance(v, float) and v.is_integer():
        return int(v)
    return v


def _with_derived_aggregates(frame: pd.DataFrame) -> pd.DataFrame:
    """Add a mean-score row for each group of per-sample scores that has no aggregate row of its own, so that
    runs from harnesses that wrote only samples are still judged on their aggregate."""
    keys = list(KEY_FIELDS)
    means = mean_scores(frame, keys, intervals=False).rename(columns={"score": "value"}).drop(columns="n")
    if means.empty:
        return frame
    overall = frame[
        (frame["metric"] == "score") & frame["extra.aggregate"].notna() & frame["extra.depth"].isna()
    ]
    have = {tuple(_norm(v) for v in r) for r in overall[keys].itertuples(index=False)}
    derived = means[[tuple(_norm(v) for v in r) not in have for r in means[keys].itertuples(index=False)]]
    if derived.empty:
        return frame
    derived = derived.assign(
        **{
            "extra.aggregate": "mean",
            "extra.depth": None,
            "extra.sample_id": None,
            "unit": METRICS["score"].unit,
        }
    )
    return pd.concat([frame, derived], ignore_index=True)


def keyed_values(run: Run) -> dict[tuple, dict[str, Any]]:
    """key -> {value (median of duplicates), unit, n}."""
    frame = _with_derived_aggregates(run.frame)
    cols = list(ALL_KEY_FIELDS)
    out: dict[tuple, dict[str, Any]] = {}
    values: dict[tuple, list[float]] = {}
    for rec in frame[cols + ["value", "unit"]].itertuples(index=False):
        key = tuple(_norm(v) for v in rec[: len(cols)])
        values.setdefault(key, []).append(float(rec.value))
        out.setdefault(key, {"unit": rec.unit})
    for key, vs in values.items():
        out[key]["value"] = float(pd.Series(vs).median())
        out[key]["n"] = len(vs)
    return out


def judge(key: tuple, base: float, new: float, th: Thresholds) -> tuple[str, str, str]:
    """(verdict, change, rule) for one matched row; verdict in ok / regression / improved / changed."""
    metric = key[KEY_FIELDS.index("metric")]
    m = METRICS[metric]
    sign = 1 if m.lower_is_better else -1  # > 0 means worse
    rel = (new - base) / abs(base) if base else (0.0 if new == base else math.inf)
    if m.kind == "deterministic":
        bad = abs(rel) > DETERMINISTIC_RTOL
        return ("regression" if bad else "ok"), f"{rel * 100:+.4g}%", f"|rel| <= {DETERMINISTIC_RTOL:g}"
    if m.kind == "memory":
        tol = th.memory_tolerance
        verdict = "regression" if sign * rel > tol else "improved" if sign * rel < -tol else "ok"
        return verdict, f"{rel * 100:+.1f}%", f"growth <= {tol * 100:g}%"
    if m.kind == "timing":
        ratio = new / base if base > 0 else math.inf
        worse = ratio if m.lower_is_better else 1 / ratio
        r = th.timing_ratio
        verdict = "regression" if worse > r else "improved" if worse < 1 / r else "ok"
        return verdict, f"{ratio:.2f}x", f"slowdown <= {r:g}x"
    # accuracy: points, not relative
    delta = new - base
    if key[ALL_KEY_FIELDS.index("extra.sample_id")] is not None:  # per-sample row: informative only
        return ("changed" if delta else "ok"), f"{delta:+.1f} pts", "per-sample (informative)"
    d = th.accuracy_drop
    verdict = "regression" if sign * delta > d else "improved" if sign * delta < -d else "ok"
    return verdict, f"{delta:+.1f} pts", f"drop <= {d:g} pts"


def describe(key: tuple) -> str:
    """'ahn-gdn efficiency/prefill @8k prefill_flops (analytic) [sinks 64 + window 448]' and extras."""
    f = dict(zip(ALL_KEY_FIELDS, key))
    text = f"{f['model']} {f['method']} {f['benchmark']}/{f['task']}"
    if f["length"]:
        text += f" @{format_length(f['length'])}"
    text += f" {f['metric']} ({f['source']})"
    if f["sinks"] is not None or f["window"] is not None:
        text += f" [sinks {f['sinks']} + window {f['window']}]"
    if f["convention"] not in (None, "physical"):
        text += f" convention={f['convention']}"
    for name in ("depth", "sample_id", "aggregate"):
        if f[f"extra.{name}"] is not None:
            text += f" {name}={f[f'extra.{name}']}"
    return text


def compare_runs(base: Run, new: Run, th: Thresholds) -> dict[str, Any]:
    shared = set(base.models) & set(new.models)
    if not shared:
        raise UserError(
            f"baseline {base.path} is model {', '.join(base.models)} but {new.path} is model "
            f"{', '.join(new.models)}: runs of different models are not comparable"
        )
    b, n = keyed_values(base), keyed_values(new)
    results = []
    for key in sorted(set(b) | set(n), key=lambda k: tuple(str(x) for x in k)):
        rb, rn = b.get(key), n.get(key)
        if rb is None:
            verdict, change, rule = "new", "", "only in new run"
        elif rn is None:
            verdict, change = "missing", ""
            rule = "only in baseline" + (" (allowed)" if th.allow_missing else "")
        else:
            verdict, change, rule = judge(key, rb["value"], rn["value"], th)
        unit = (rb or rn)["unit"]
        results.append(
            {
                "row": describe(key),
                "key": dict(zip(ALL_KEY_FIELDS, key)),
                "verdict": verdict,
                "baseline": None if rb is None else rb["value"],
                "new": None if rn is None else rn["value"],
                "unit": unit,
                "change": change,
                "rule": rule,
            }
        )
    if not any(r["verdict"] not in ("new", "missing") for r in results):
        raise UserError(
            f"{base.path} and {new.path} share no rows (no common method, benchmark, task, length and "
            "metric): they are unrelated runs, there is nothing to compare"
        )
    counts = {v: 0 for v in ("ok", "regression", "missing", "improved", "changed", "new")}
    for r in results:
        counts[r["verdict"]] += 1
    failures = counts["regression"] + (0 if th.allow_missing else counts["missing"])
    return {
        "ok": failures == 0,
        "passed": failures == 0,
        "exit_code": 0 if failures == 0 else 1,
        "baseline": str(base.path),
        "new": str(new.path),
        "counts": counts,
        "thresholds": th.__dict__,
        "regressions": [r for r in results if r["verdict"] == "regression"],
        "missing": [r for r in results if r["verdict"] == "missing"],
        "improved": [r for r in results if r["verdict"] == "improved"],
        "changed": [r for r in results if r["verdict"] == "changed"],
        "new_rows": [r for r in results if r["verdict"] == "new"],
        "environments": {"baseline": _env(base), "new": _env(new)},
    }


def _env(run: Run) -> dict[str, Any]:
    env = run.manifest.get("environment") or {}
    return {"run_id": run.run_id, "git_commit": env.get("git_commit"), "device": env.get("device")}


def _fmt(value: float | None, unit: str) -> str:
    return "-" if value is None else format_value(value, unit)


def to_markdown(result: dict[str, Any]) -> str:
    eb, en = result["environments"]["baseline"], result["environments"]["new"]
    th = result["thresholds"]
    lines = [
        f"# ahn-bench compare: {eb['run_id']} -> {en['run_id']}",
        "",
        f"- baseline: `{result['baseline']}` (commit {eb['git_commit']}, {eb['device']})",
        f"- new: `{result['new']}` (commit {en['git_commit']}, {en['device']})",
        f"- rules: deterministic |rel| <= {DETERMINISTIC_RTOL:g}; "
        f"memory growth <= {th['memory_tolerance'] * 100:g}%; timing slowdown <= {th['timing_ratio']:g}x; "
        f"aggregate accuracy drop <= {th['accuracy_drop']:g} points",
    ]
    if eb["device"] != en["device"]:
        lines.append(
            f"- note: devices differ ({eb['device']} vs {en['device']}); timings compare across machines"
        )
    sections = [
        ("Regressions", result["regressions"]),
        (
            "Missing in new run" + (" (allowed)" if th["allow_missing"] else " (regression)"),
            result["missing"],
        ),
        ("Improvements", result["improved"]),
        ("Changed per-sample scores (informative)", result["changed"]),
        ("New rows (only in new run)", result["new_rows"]),
    ]
    for title, rows in sections:
        if not rows:
            continue
        lines += [
            "",
            f"## {title} ({len(rows)})",
            "",
            "| row | baseline | new | change | rule |",
            "|---|---|---|---|---|",
        ]
        for r in rows[:LIST_LIMIT]:
            lines.append(
                f"| {r['row']} | {_fmt(r['baseline'], r['unit'])} | {_fmt(r['new'], r['unit'])} | "
                f"{r['change'] or '-'} | {r['rule']} |"
            )
        if len(rows) > LIST_LIMIT:
            lines.append(f"| ... and {len(rows) - LIST_LIMIT} more (see --json) | | | | |")
    lines += ["", "## Counts", "", "| verdict | rows |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in result["counts"].items()]
    n_fail = result["counts"]["regression"] + (0 if th["allow_missing"] else result["counts"]["missing"])
    lines += [
        "",
        "**Result: PASS**"
        if result["passed"]
        else f"**Result: FAIL** ({n_fail} failing row{'s' if n_fail > 1 else ''})",
    ]
    return "\n".join(lines) + "\n"


def summary_markdown(result: dict[str, Any]) -> str:
    """A short Markdown summary for a CI job to post: the verdict, then what moved, by how much and against
    which tolerance (regressions and missing rows first, then improvements and changed per-sample scores)."""
    eb, en = result["environments"]["baseline"], result["environments"]["new"]
    c = result["counts"]
    verdict = "PASS" if result["passed"] else "FAIL"
    lines = [
        f"### ahn-bench compare: **{verdict}** ({eb['run_id']} @ {_short(eb['git_commit'])} -> "
        f"{en['run_id']} @ {_short(en['git_commit'])})",
        "",
        f"{sum(c.values())} rows: {c['ok']} within tolerance, {c['regression']} regressed, "
        f"{c['missing']} missing"
        f"{' (allowed)' if result['thresholds']['allow_missing'] else ''}, {c['improved']} improved, "
        f"{c['changed']} per-sample changes, {c['new']} new.",
    ]
    moved = [("regression", result["regressions"]), ("missing", result["missing"]),
             ("improved", result["improved"]), ("changed", result["changed"])]  # fmt: skip
    if any(rows for _, rows in moved):
        lines += [
            "",
            "| verdict | row | baseline | new | change | tolerance |",
            "|---|---|---:|---:|---:|---|",
        ]
        for verdict_name, rows in moved:
            for r in rows[:SUMMARY_LIMIT]:
                lines.append(
                    f"| {verdict_name} | {r['row']} | {_fmt(r['baseline'], r['unit'])} | "
                    f"{_fmt(r['new'], r['unit'])} "
                    f"| {r['change'] or '-'} | {r['rule']} |"
                )
            if len(rows) > SUMMARY_LIMIT:
                lines.append(f"| {verdict_name} | ... and {len(rows) - SUMMARY_LIMIT} more | | | | |")
    else:
        lines += ["", "Nothing moved beyond its tolerance."]
    return "\n".join(lines) + "\n"


def _short(commit: str | None) -> str:
    return str(commit)[:7] if commit else "?"


def handler(args) -> dict[str, Any]:
    th = Thresholds(args.timing_ratio, args.accuracy_drop, args.memory_tolerance, args.allow_missing)
    result = compare_runs(load_run(args.baseline_dir), load_run(args.new_dir), th)
    summary = summary_markdown(result)
    print(to_markdown(result), end="")
    print("\n" + summary, end="")
    if args.summary:
        Path(args.summary).write_text(summary, encoding="utf-8")
    return {**result, "summary_markdown": summary}
