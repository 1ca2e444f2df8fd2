"""Long-context language modelling rows (`benchmark: "lm"`, issue 13): NLL and KL to full attention by token
position, and the share of the sliding window's NLL gap to full attention that each memory closes.

A row's `task` is its position bucket `START-END` (token positions; buckets are relative to the window W:
inside, 1-2x, 2-4x W, ...). A bucket "beyond the window" starts at or after W: there, a sliding window has
forgotten tokens and only a memory can bring them back (the paper's Fig. 3c curve).
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from analysis.stats import mean_interval
from analysis.tables import method_key

LM_BENCHMARK = "lm"
LM_METRICS = ("nll", "kl_to_full")
TOKEN_COUNT_KEYS = ("extra.n_tokens", "extra.tokens", "extra.n")  # whichever the writer used
_BUCKET = re.compile(r"^\s*(\d+)\s*-\s*(\d+)\s*$")


def parse_bucket(task: str) -> tuple[int, int] | None:
    m = _BUCKET.match(str(task))
    return (int(m.group(1)), int(m.group(2))) if m else None


def lm_curve(frame: pd.DataFrame, model: str, metric: str = "nll") -> pd.DataFrame:
    """One value per (variant, length, bucket): the token-weighted mean over the rows (documents) of that
    cell, with a 95% bootstrap interval over documents where there are several. Columns: variant, method,
    window, sinks, length, start, end, value, lo, hi, docs, tokens, edge (the window W this curve is read
    against: the variant's own, or for full attention the windowed methods' W at that length)."""
    sel = frame[
        (frame["benchmark"] == LM_BENCHMARK) & (frame["model"] == model) & (frame["metric"] == metric)
    ]
    if sel.empty:
        return pd.DataFrame()
    sel = sel.copy()
    bounds = [parse_bucket(t) for t in sel["task"]]
    sel = sel[[b is not None for b in bounds]]
    if sel.empty:
        return pd.DataFrame()
    sel["start"] = [b[0] for b in bounds if b is not None]
    sel["end"] = [b[1] for b in bounds if b is not None]
    tokens = next((sel[k] for k in TOKEN_COUNT_KEYS if k in sel and sel[k].notna().any()), None)
    sel["tokens"] = tokens.fillna(np.nan) if tokens is not None else np.nan
    records = []
    keys = ["variant", "method", "window", "sinks", "length", "start", "end"]
    for key, g in sel.groupby(keys, dropna=False, sort=False):
        w = g["tokens"].to_numpy(float)
        v = g["value"].to_numpy(float)
        value = float(np.average(v, weights=w)) if np.all(np.isfinite(w)) and w.sum() > 0 else float(v.mean())
        est = mean_interval(v, top=None) if len(g) > 1 else None
        total = float(w.sum()) if np.all(np.isfinite(w)) else np.nan
        records.append((*key, value, est.lo if est else np.nan, est.hi if est else np.nan, len(g), total))
    out = pd.DataFrame.from_records(records, columns=[*keys, "value", "lo", "hi", "docs", "tokens"])
    windows = out.dropna(subset=["window"]).groupby("length")["window"].min()
    out["edge"] = [
        w if np.isfinite(w) else windows.get(n, np.nan) for w, n in zip(out["window"], out["length"])
    ]
    out["_v"] = out["variant"].map(method_key)
    return out.sort_values(["length", "_v", "start"]).drop(columns="_v").reset_index(drop=True)


def beyond_window(curve: pd.DataFrame) -> pd.DataFrame:
    """Mean per (variant, length) over the buckets beyond the window, weighted by tokens where known."""
    far = curve[curve["start"] >= curve["edge"]]
    records = []
    for (variant, length), g in far.groupby(["variant", "length"], sort=False):
        w = g["tokens"].to_numpy(float)
        weights = w if np.all(np.isfinite(w)) and w.sum() > 0 else g["end"].to_numpy(float) - g["start"]
        records.append(
            (
                variant,
                length,
                float(np.average(g["value"], weights=weights)),
                int(g["start"].min()),
                int(g["end"].max()),
                float(w.sum()) if np.all(np.isfinite(w)) else np.nan,
            )
        )
    return pd.DataFrame.from_records(
        records, columns=["variant", "length", "value", "start", "end", "tokens"]
    )


def gap_closed(curve: pd.DataFrame) -> pd.DataFrame:
    """Share of swa's NLL gap to full attention that each other method closes, per length and bucket beyond
    the window plus `all` (their token-weighted mean): (NLL_swa - NLL_m) / (NLL_swa - NLL_full). 1 = as good
    as full attention, 0 = no better than the window; NaN where swa is not worse than full (no gap)."""
    parts = [
        curve[curve["start"] >= curve["edge"]].assign(
            bucket=lambda d: d["start"].astype(str) + "-" + d["end"].astype(str)
        )
    ]
    overall = beyond_window(curve)
    if len(overall):
        parts.append(overall.assign(bucket="all beyond W"))
    both = pd.concat(parts, ignore_index=True)
    records = []
    for (length, bucket), g in both.groupby(["length", "bucket"], sort=False):
        by = g.drop_duplicates("variant").set_index("variant")["value"]
        full = by.get("full", np.nan)
        swa = [v for v in by.index if v.split(" ")[0] == "swa"]
        if not np.isfinite(full) or not swa:
            continue
        gap = by[swa[0]] - full
        for variant, value in by.items():
            if variant == "full" or variant in swa:
                continue
            share = (by[swa[0]] - value) / gap if gap > 0 else np.nan
            records.append((variant, length, bucket, full, by[swa[0]], value, share))
    return pd.DataFrame.from_records(
        records, columns=["variant", "length", "bucket", "full", "swa", "value", "share"]
    )
