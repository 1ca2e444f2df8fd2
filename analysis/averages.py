"""Accuracy averages: the one place where per-sample scores become means.

A mean score is the arithmetic mean of the per-sample score rows of a group (`statistics.fmean`), with its
count; the accuracy runner's aggregate rows (benchmarks/accuracy/runner.py), the report's tables and needle
maps (analysis/tables.py), the regression gate (analysis/compare.py) and the history all take it from
here. `group_means` works on rows (ResultRow objects or records); `mean_scores` on a rows frame, with a
95% interval and, for groups whose samples the harness did not keep, its aggregate row instead.

The runner's import of `group_means` is the one arrow from benchmarks/ up into analysis/ (the issue asks
for the averages to live here); this module therefore imports nothing from benchmarks/ and, at import time,
nothing from analysis/ (mean_scores' interval comes from analysis.stats, imported when it runs).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field
from statistics import fmean
from typing import Any

import numpy as np
import pandas as pd


@dataclass
class Mean:
    mean: float
    n: int
    members: list[Any] = field(repr=False)  # the group's rows, in input order


def group_means(
    rows: Iterable[Any], key: Callable[[Any], Hashable | None], value: Callable[[Any], float]
) -> dict[Hashable, Mean]:
    """Per `key(row)` (rows whose key is None are left out), the mean of `value(row)`; groups in order of
    first appearance."""
    groups: dict[Hashable, list[Any]] = {}
    for row in rows:
        k = key(row)
        if k is not None:
            groups.setdefault(k, []).append(row)
    return {k: Mean(fmean(value(r) for r in members), len(members), members) for k, members in groups.items()}


# ---------------------------------------------------------------------------------------------- frames
def _key_safe(v: Any) -> Any:
    return None if isinstance(v, float) and np.isnan(v) else v


def is_aggregate(frame: pd.DataFrame) -> pd.Series:
    return frame["extra.aggregate"].notna()


def score_samples(frame: pd.DataFrame) -> pd.DataFrame:
    """Per-sample accuracy rows: metric `score`, not an aggregate the harness wrote."""
    return frame[(frame["metric"] == "score") & ~is_aggregate(frame)]


def mean_scores(
    frame: pd.DataFrame, keys: list[str], aggregates: pd.DataFrame | None = None, intervals: bool = True
) -> pd.DataFrame:
    """Mean score and n per `keys` over the per-sample score rows of `frame` (columns keys + score, n, and
    with `intervals` lo, hi, interval: analysis.stats.mean_interval's 95% interval). Groups that have no
    samples but a row in `aggregates` take its value and extra.n, with no interval."""
    from analysis.stats import mean_interval

    samples = score_samples(frame)
    records = []
    columns = keys + ["score", "n"] + (["lo", "hi", "interval"] if intervals else [])
    means = group_means(
        samples[keys + ["value"]].itertuples(index=False, name=None),
        key=lambda r: tuple(_key_safe(v) for v in r[:-1]),  # NaN != NaN: a missing value is one group
        value=lambda r: float(r[-1]),
    )
    for m in means.values():
        record = [*m.members[0][:-1], m.mean, m.n]
        if intervals:
            est = mean_interval([r[-1] for r in m.members])
            record += [est.lo, est.hi, est.method]
        records.append(record)
    from_samples = pd.DataFrame.from_records(records, columns=columns)
    if aggregates is None or aggregates.empty:
        return from_samples
    agg = aggregates.rename(columns={"value": "score"}).assign(n=aggregates["extra.n"])[keys + ["score", "n"]]
    if intervals:
        agg = agg.assign(lo=np.nan, hi=np.nan, interval="aggregate only")
    if len(from_samples):
        have = pd.MultiIndex.from_frame(from_samples[keys])
        agg = agg[~pd.MultiIndex.from_frame(agg[keys]).isin(have)]
    parts = [d for d in (from_samples, agg) if len(d)]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=columns)
