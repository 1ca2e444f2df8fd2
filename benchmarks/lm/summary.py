"""From lm rows: the per-bucket table a person reads, and the share of swa's NLL gap to full attention that
each memory closes beyond the window (the issue's headline figure).

  gap closed = (NLL_swa - NLL_method) / (NLL_swa - NLL_full), pooled over every position past S + W

1 means the memory recovers everything the window forgot, 0 means it is no better than swa.
"""

from __future__ import annotations

from typing import Any

from benchmarks.results import ResultRow


def _pooled(rows: list[ResultRow]) -> float:
    n = sum(r.extra["n_tokens"] for r in rows)
    return sum(r.value * r.extra["n_tokens"] for r in rows) / n


def beyond_window(rows: list[ResultRow]) -> dict[int, dict[str, Any]]:
    """length -> the positions past the window, NLL and KL per method pooled over them, and gap closed."""
    out = {}
    for length in dict.fromkeys(r.length for r in rows):
        past = [r for r in rows if r.length == length and r.extra["start"] >= r.extra["window_edge"]]
        if not past:
            continue  # the text fits in the exact memory: nothing is evicted
        methods = list(dict.fromkeys(r.method for r in past))
        entry: dict[str, Any] = {"start": min(r.extra["start"] for r in past),
                                 "end": max(r.extra["end"] for r in past)}  # fmt: skip
        for metric in ("nll", "kl_to_full"):
            entry[metric] = {
                m: _pooled([r for r in past if r.method == m and r.metric == metric]) for m in methods
            }
        nll = entry["nll"]
        if "full" in nll and "swa" in nll and nll["swa"] != nll["full"]:
            gap = nll["swa"] - nll["full"]
            memories = [m for m in nll if m not in ("full", "swa")]
            entry["gap_closed"] = {m: (nll["swa"] - nll[m]) / gap for m in memories}
        out[length] = entry
    return out


def format_table(rows: list[ResultRow]) -> str:
    """One table per length: NLL of every method and KL of every other method to full, per bucket."""
    blocks = []
    for length in dict.fromkeys(r.length for r in rows):
        sel = [r for r in rows if r.length == length]
        methods = list(dict.fromkeys(r.method for r in sel))
        by = {(r.method, r.task, r.metric): r for r in sel}
        first = sel[0].extra
        head = [f"positions ({first.get('sequences', 1)} x {length} tokens)", "bucket",
                *(f"NLL {m}" for m in methods), *(f"KL {m}" for m in methods if m != "full")]  # fmt: skip
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for task in dict.fromkeys(r.task for r in sel):
            cells = [task, by[(methods[0], task, "nll")].extra["bucket"]]
            cells += [f"{by[(m, task, 'nll')].value:.4f}" for m in methods]
            cells += [f"{by[(m, task, 'kl_to_full')].value:.4f}" for m in methods if m != "full"]
            lines.append("| " + " | ".join(cells) + " |")
        past = beyond_window(sel).get(length)
        if past and "gap_closed" in past:
            shares = ", ".join(f"{m} {100 * s:.1f}%" for m, s in past["gap_closed"].items())
            lines.append(
                f"\nbeyond the window (positions {past['start']}-{past['end']}), share of swa's NLL gap "
                f"to full attention closed: {shares or 'no memory method'}"
            )
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)
