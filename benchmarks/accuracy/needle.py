"""Needle map: score over needle depth x prompt length, per method and task, read from result rows.

The data are the runner's aggregate rows that carry both a length and a depth (one per grid cell); this
module only arranges them for a heatmap and prints them as text.
"""

from __future__ import annotations

from typing import Any

from benchmarks.results import ResultRow


def needle_grids(rows: list[ResultRow]) -> list[dict[str, Any]]:
    """One grid per (method, task) with depth cells: {"method", "task", "lengths", "depths", "scores"},
    scores[i][j] = mean score at depths[i], lengths[j] (None where the run has no such cell)."""
    cells: dict[tuple[str, str], dict[tuple[float, int], float]] = {}
    for row in rows:
        extra = row.extra or {}
        if extra.get("aggregate") and "depth" in extra and row.length and "over" not in extra:
            cells.setdefault((row.method, row.task), {})[(extra["depth"], row.length)] = row.value
    grids = []
    for (method, task), values in cells.items():
        depths = sorted({d for d, _ in values})
        lengths = sorted({n for _, n in values})
        scores = [[values.get((d, n)) for n in lengths] for d in depths]
        grids.append({"method": method, "task": task, "lengths": lengths, "depths": depths, "scores": scores})
    return grids


def render(grid: dict[str, Any]) -> str:
    head = f"{grid['task']} / {grid['method']}: score (%) by depth (rows) x length in tokens (columns)"
    lines = [head, "depth  " + "".join(f"{n:>8}" for n in grid["lengths"])]
    for depth, row in zip(grid["depths"], grid["scores"]):
        lines.append(f"{depth:5.2f}  " + "".join(f"{'-' if v is None else f'{v:.1f}':>8}" for v in row))
    return "\n".join(lines)
