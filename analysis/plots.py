"""PNG figures from result rows (matplotlib, Agg backend): scaling curves, accuracy trade-off, needle
heatmaps, per-task bars. Each function draws one figure, writes it to `path` and returns the path."""

from __future__ import annotations

import zlib
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; never open a window

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.ticker import EngFormatter, FixedLocator, LogLocator, NullFormatter, NullLocator  # noqa: E402

from ahn.methods import METHODS  # noqa: E402
from analysis.tables import (  # noqa: E402
    efficiency_values,
    format_length,
    method_key,
    metric_unit,
)

# Each method's colour is its own (ahn/methods/<family>.py; Okabe-Ito, colour-blind safe, where it has room).
METHOD_COLORS = {name: method.colour for name, method in METHODS.items()}
METRIC_TITLES = {
    "prefill_flops": "Prefill FLOPs",
    "decode_flops_per_token": "Decode FLOPs per token",
    "cache_bytes": "Cache size",
    "peak_memory_bytes": "Peak memory",
    "prefill_seconds": "Prefill time",
    "decode_seconds_p50": "Decode latency per token (p50)",
}
DPI = 110


# Methods the registry does not know (rows of a method since removed) take one of these, by a name hash,
# so a method keeps its colour across figures and runs without a code change.
FALLBACK_COLORS = ("#D55E00", "#56B4E9", "#F0E442", "#8C564B", "#7F7F7F", "#BCBD22", "#17BECF", "#9467BD")


def color_of(variant: str, variants: list[str] | None = None) -> str:
    """Colour of a method label: its method's fixed colour, else a stable hash of the method name.
    Window-sweep labels (`swa (32+256)`) differ from each other by line style, not colour."""
    method = variant.split(" ")[0]
    if method in METHOD_COLORS:
        return METHOD_COLORS[method]
    return FALLBACK_COLORS[zlib.crc32(method.encode()) % len(FALLBACK_COLORS)]


def _save(fig, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI)  # constrained layout already fits labels; "tight" would draw twice
    plt.close(fig)
    return path


def _length_axis(ax, lengths) -> None:
    ax.set_xscale("log", base=2)
    lengths = sorted({int(x) for x in lengths})
    ax.xaxis.set_major_locator(FixedLocator(lengths))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xticklabels([format_length(x) for x in lengths])
    ax.set_xlabel("context length (tokens)")


def plot_scaling(frame: pd.DataFrame, model: str, metric: str, path: str | Path) -> Path:
    """One metric vs context length, log-log: analytic rows as lines, measured rows as markers."""
    vals = efficiency_values(frame)
    vals = vals[vals["model"] == model]
    sel = vals[vals["metric"] == metric]
    unit = metric_unit(metric)
    variants = sorted(sel["variant"].unique(), key=method_key)
    fig, ax = plt.subplots(figsize=(6.4, 4.4), layout="constrained")
    for i, variant in enumerate(variants):
        color = color_of(variant, variants)
        # Spread bars sideways a little so overlapping p10-p90 ranges of different methods stay readable.
        dodge = 1 + 0.03 * (i - (len(variants) - 1) / 2) if metric == "decode_seconds_p50" else 1.0
        for source, style in (("analytic", dict(ls="-", marker="")), ("measured", dict(ls="", marker="o"))):
            s = sel[(sel["variant"] == variant) & (sel["source"] == source)].sort_values("length")
            if s.empty:
                continue
            x, y = s["length"].to_numpy(float), s["value"].to_numpy(float)
            if source == "measured":
                x = x * dodge
            ax.plot(x, y, color=color, lw=1.8, ms=6, mfc="none" if source == "measured" else color, **style)
            if metric == "decode_seconds_p50" and source == "measured":
                lo = _matching(vals, variant, "decode_seconds_p10", s["length"])
                hi = _matching(vals, variant, "decode_seconds_p90", s["length"])
                if lo is not None and hi is not None:
                    ax.errorbar(x, y, yerr=[y - lo, hi - y], fmt="none", ecolor=color, capsize=3, lw=1)
    _log_axis(ax, "y", sel["value"], unit)
    _length_axis(ax, sel["length"])
    name = METRIC_TITLES.get(metric, metric)
    ax.set_ylabel(f"{name} ({unit}, log scale)")
    spread = "; bars: p10-p90" if metric == "decode_seconds_p50" else ""
    ax.set_title(f"{name} vs context length\n{model}{spread}", fontsize=11)
    ax.grid(True, which="major", alpha=0.3)
    handles = [Line2D([], [], color=color_of(v, variants), lw=2.5, label=v) for v in variants]
    sources = set(sel["source"])
    if "analytic" in sources:
        handles.append(Line2D([], [], color="gray", ls="-", label="analytic (cost model)"))
    if "measured" in sources:
        handles.append(Line2D([], [], color="gray", ls="", marker="o", mfc="none", label="measured"))
    ax.legend(handles=handles, fontsize=9, loc="upper left", framealpha=0.9)
    return _save(fig, path)


def _log_axis(ax, which: str, values: pd.Series, unit: str) -> None:
    """Log axis labelled in engineering units; over a narrow range label 1-2-5 (or every) step, since a
    plain log axis would show one labelled tick or none."""
    v = values[values > 0]
    decades = np.log10(v.max() / v.min()) if len(v) else 0.0
    subs = (1.0,) if decades >= 3 else (1.0, 2.0, 5.0) if decades >= 0.5 else tuple(range(1, 10))
    getattr(ax, f"set_{which}scale")("log")
    axis = ax.xaxis if which == "x" else ax.yaxis
    axis.set_major_locator(LogLocator(base=10, subs=subs))
    axis.set_major_formatter(EngFormatter(unit=unit))
    axis.set_minor_formatter(NullFormatter())


def _matching(vals: pd.DataFrame, variant: str, metric: str, lengths: pd.Series) -> np.ndarray | None:
    """Measured values of `metric` for `variant` at `lengths`, or None unless every length has one."""
    s = vals[(vals["variant"] == variant) & (vals["metric"] == metric) & (vals["source"] == "measured")]
    s = s.set_index("length")["value"]
    lengths = list(lengths)
    if not all(x in s.index for x in lengths):
        return None
    return s.loc[lengths].to_numpy(float)


def plot_accuracy_vs_cache(acc: pd.DataFrame, frame: pd.DataFrame, model: str, path: str | Path) -> Path:
    """Trade-off: mean score (y) against cache bytes (x) per task; one line per method through its lengths."""
    vals = efficiency_values(frame)
    cache = vals[(vals["model"] == model) & (vals["metric"] == "cache_bytes")]
    # The analytic cache is the definition; measured fills in where no analytic row exists.
    cache = cache.sort_values("source").drop_duplicates(["variant", "length"], keep="first")
    cache = cache.set_index(["variant", "length"])["value"]
    acc = acc[acc["model"] == model]
    tasks = list(acc[["benchmark", "task"]].drop_duplicates().itertuples(index=False, name=None))
    variants = sorted(acc["variant"].unique(), key=method_key)
    ncols = min(len(tasks), 3)
    nrows = -(-len(tasks) // ncols)
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(5.2 * ncols, 4.2 * nrows), squeeze=False, layout="constrained"
    )
    for ax, (benchmark, task) in zip(axes.flat, tasks):
        sub = acc[(acc["benchmark"] == benchmark) & (acc["task"] == task)]
        for variant in variants:
            s = sub[sub["variant"] == variant].sort_values("length")
            keys = [(variant, int(x)) for x in s["length"]]
            have = [k in cache.index for k in keys]
            if not any(have):
                continue
            x = np.array([cache[k] for k, h in zip(keys, have) if h])
            y = s["score"].to_numpy(float)[np.array(have)]
            color = color_of(variant, variants)
            ax.plot(x, y, "-o", color=color, label=variant, lw=1.5, ms=5)
            lo = s["lo"].to_numpy(float)[np.array(have)]
            hi = s["hi"].to_numpy(float)[np.array(have)]
            ok = np.isfinite(lo) & np.isfinite(hi)
            if ok.any():
                ax.errorbar(x[ok], y[ok], yerr=[y[ok] - lo[ok], hi[ok] - y[ok]], fmt="none", ecolor=color,
                            capsize=3, lw=1)  # fmt: skip
            # A windowed method keeps the same cache at every length: one label per point, not a pile.
            labels: dict[tuple[float, float], list[str]] = {}
            for xi, yi, (_, length) in zip(x, y, [k for k, h in zip(keys, have) if h]):
                labels.setdefault((xi, yi), []).append(format_length(length))
            for (xi, yi), names in labels.items():
                ax.annotate(
                    ",".join(names),
                    (xi, yi),
                    textcoords="offset points",
                    xytext=(4, 4),
                    fontsize=7,
                    color=color,
                )
        _log_axis(ax, "x", cache[cache.index.get_level_values(0).isin(variants)], "B")
        ax.set_ylim(-5, 105)
        ax.set_xlabel("KV cache + memory state (bytes, log scale)")
        ax.set_ylabel("mean score (%)")
        ax.set_title(f"{benchmark} / {task}", fontsize=10)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8, loc="best")
    for ax in axes.flat[len(tasks) :]:
        ax.set_visible(False)
    fig.suptitle(
        f"Accuracy vs cache size ({model}); labels = context length, bars = 95% interval", fontsize=11
    )
    return _save(fig, path)


def plot_depth_heatmap(grids: dict[str, pd.DataFrame], title: str, path: str | Path) -> Path:
    """Needle retrieval heatmaps, one panel per method: rows = needle depth, columns = context length."""
    variants = list(grids)
    fig, axes = plt.subplots(
        1, len(variants), figsize=(3.6 * len(variants) + 1.2, 3.8), squeeze=False, layout="constrained"
    )
    image = None
    for ax, variant in zip(axes[0], variants):
        grid = grids[variant]
        image = ax.imshow(grid.to_numpy(float), vmin=0, vmax=100, cmap="viridis", aspect="auto")
        for (i, j), v in np.ndenumerate(grid.to_numpy(float)):
            if np.isfinite(v):
                ax.text(
                    j,
                    i,
                    f"{v:.0f}",
                    ha="center",
                    va="center",
                    fontsize=8,
                    color="black" if v > 60 else "white",
                )
        ax.set_xticks(range(grid.shape[1]), [format_length(x) for x in grid.columns])
        ax.set_yticks(range(grid.shape[0]), [_depth_label(d) for d in grid.index] if ax is axes[0][0] else [])
        ax.set_xlabel("context length (tokens)")
        ax.set_title(variant, fontsize=10)
    axes[0][0].set_ylabel("needle depth (0% = start)")
    fig.colorbar(image, ax=axes[0].tolist(), label="score (%)", shrink=0.9)
    fig.suptitle(title, fontsize=11)
    return _save(fig, path)


def _depth_label(depth: float) -> str:
    return f"{depth * 100:.0f}%" if 0 <= depth <= 1 else f"{depth:g}"


def plot_task_bars(acc: pd.DataFrame, model: str, benchmark: str, path: str | Path) -> Path:
    """Mean score per task, grouped bars per method; one panel per context length (the longest six)."""
    acc = acc[(acc["model"] == model) & (acc["benchmark"] == benchmark)]
    lengths = sorted(acc["length"].unique())[-6:]
    tasks = sorted(acc["task"].unique())
    variants = sorted(acc["variant"].unique(), key=method_key)
    width = 0.8 / len(variants)
    panel_w = max(3.2, 0.45 * len(tasks) * len(variants) ** 0.5 + 1.5)
    fig, axes = plt.subplots(
        1,
        len(lengths),
        figsize=(panel_w * len(lengths), 4.2),
        squeeze=False,
        sharey=True,
        layout="constrained",
    )
    for ax, length in zip(axes[0], lengths):
        sub = acc[acc["length"] == length].set_index(["task", "variant"])
        for i, variant in enumerate(variants):
            cells = [sub.loc[(t, variant)] if (t, variant) in sub.index else None for t in tasks]
            heights = np.array([np.nan if c is None else c["score"] for c in cells], dtype=float)
            lo = np.array([np.nan if c is None else c["lo"] for c in cells], dtype=float)
            hi = np.array([np.nan if c is None else c["hi"] for c in cells], dtype=float)
            x = np.arange(len(tasks)) + (i - (len(variants) - 1) / 2) * width
            ax.bar(x, heights, width, color=color_of(variant, variants), label=variant)
            ok = np.isfinite(lo) & np.isfinite(hi)
            if ok.any():  # 95% intervals; a bar at 0 still shows how high the truth could be
                yerr = [heights[ok] - lo[ok], hi[ok] - heights[ok]]
                ax.errorbar(x[ok], heights[ok], yerr=yerr, fmt="none", ecolor="#333333", capsize=2, lw=0.9)
        ax.set_xticks(
            range(len(tasks)),
            tasks,
            rotation=30 if len(tasks) > 3 else 0,
            ha="right" if len(tasks) > 3 else "center",
            fontsize=8,
        )
        ax.set_title(f"{format_length(length)} tokens", fontsize=10)
        ax.set_ylim(0, 105)
        ax.grid(True, axis="y", alpha=0.3)
    axes[0][0].set_ylabel("mean score (%), bars: 95% interval")
    axes[0][-1].legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.suptitle(f"{benchmark}: score per task ({model})", fontsize=11)
    return _save(fig, path)


def plot_nll_vs_position(curve: pd.DataFrame, model: str, metric: str, path: str | Path) -> Path:
    """NLL (or KL to full) per token-position bucket, one line per method, one panel per context length (the
    longest three); the window edge W is a dashed line: beyond it a sliding window has forgotten tokens."""
    lengths = sorted(curve["length"].unique())[-3:]
    variants = sorted(curve["variant"].unique(), key=method_key)
    fig, axes = plt.subplots(
        1, len(lengths), figsize=(5.4 * len(lengths), 4.2), squeeze=False, sharey=True, layout="constrained"
    )
    for ax, length in zip(axes[0], lengths):
        sub = curve[curve["length"] == length]
        for i, variant in enumerate(variants):
            s = sub[sub["variant"] == variant].sort_values("start")
            if s.empty:
                continue
            x = (s["start"].to_numpy(float) + s["end"].to_numpy(float)) / 2
            y = s["value"].to_numpy(float)
            color = color_of(variant, variants)
            # Later lines thinner: an untrained AHN equals swa exactly and must not hide it.
            ax.plot(x, y, "-o", color=color, label=variant, lw=max(1.0, 3.4 - 0.7 * i), ms=max(3, 7 - i))
            lo, hi = s["lo"].to_numpy(float), s["hi"].to_numpy(float)
            if np.isfinite(lo).all() and np.isfinite(hi).all():
                ax.fill_between(x, lo, hi, color=color, alpha=0.15, lw=0)
        edges = sub["edge"].dropna().unique()
        for edge in edges:
            ax.axvline(edge, color="gray", ls="--", lw=1)
            ax.annotate(f"window W={int(edge)}", (edge, 0), xycoords=("data", "axes fraction"),
                        xytext=(3, 4), textcoords="offset points", fontsize=8, color="gray")  # fmt: skip
        ax.set_xscale("log", base=2)
        ticks = sorted({int(x) for x in np.r_[sub["start"], sub["end"]] if x > 0})
        ax.xaxis.set_major_locator(FixedLocator(ticks))
        ax.xaxis.set_minor_locator(NullLocator())
        ax.set_xticklabels([format_length(t) for t in ticks], fontsize=8)
        ax.set_xlabel("token position (bucket, log scale)")
        ax.set_title(f"{format_length(length)}-token documents", fontsize=10)
        ax.grid(True, alpha=0.3)
    unit = "nats/token"
    axes[0][0].set_ylabel(f"{'NLL' if metric == 'nll' else 'KL to full attention'} ({unit})")
    axes[0][-1].legend(fontsize=8, loc="best")
    title = "NLL vs position" if metric == "nll" else "KL to full attention vs position"
    fig.suptitle(f"{title} ({model})", fontsize=11)
    return _save(fig, path)


def plot_history(trend: pd.DataFrame, title: str, unit: str, path: str | Path) -> tuple[Path, list[str]]:
    """One metric over runs (x: runs in order, labelled by commit), one line per method; intervals as bars
    where the trend has lo/hi. Returns the path and the labels of the lines drawn."""
    runs = list(dict.fromkeys(trend["run_label"]))
    variants = sorted(trend["variant"].unique(), key=method_key)
    fig, ax = plt.subplots(figsize=(max(5.0, 1.1 * len(runs) + 2.5), 3.8), layout="constrained")
    for i, variant in enumerate(variants):
        s = trend[trend["variant"] == variant].set_index("run_label").reindex(runs)
        x = np.arange(len(runs))
        y = s["value"].to_numpy(float)
        color = color_of(variant, variants)
        # Later lines thinner, so that methods with equal values (untrained AHN == swa) stay visible.
        ax.plot(x, y, "-o", color=color, label=variant, lw=max(1.0, 3.4 - 0.7 * i), ms=max(3, 7 - i))
        lo, hi = s["lo"].to_numpy(float), s["hi"].to_numpy(float)
        ok = np.isfinite(lo) & np.isfinite(hi) & np.isfinite(y)
        if ok.any():
            ax.errorbar(x[ok], y[ok], yerr=[y[ok] - lo[ok], hi[ok] - y[ok]], fmt="none", ecolor=color,
                        capsize=3, lw=1)  # fmt: skip
    ax.set_xticks(range(len(runs)), runs, rotation=20, ha="right", fontsize=8)
    ax.yaxis.set_major_formatter(EngFormatter(unit=unit if unit not in ("%", "1") else ""))
    ax.set_ylabel(f"{unit}" if unit else "value")
    ax.set_title(title, fontsize=10)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    drawn = [line.get_label() for line in ax.get_lines() if not line.get_label().startswith("_")]
    return _save(fig, path), drawn
