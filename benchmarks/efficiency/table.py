"""Human-readable tables derived from efficiency rows (the rows are the data; these are views of them)."""

from __future__ import annotations

from collections import defaultdict
from statistics import median

from benchmarks.results import ResultRow


def fmt_flops(x: float | None) -> str:
    return "-" if x is None else f"{x:.4g}"


def fmt_bytes(x: float | None) -> str:
    if x is None:
        return "-"
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if abs(x) >= size:
            return f"{x / size:.2f} {unit}"
    return f"{x:.0f} B"


def fmt_seconds(x: float | None) -> str:
    if x is None:
        return "-"
    return f"{x * 1e3:.1f} ms" if x < 1 else f"{x:.2f} s"


def _pct(value: float | None, base: float | None) -> str:
    """How much less than `base` (full attention), in percent; "-" for full attention itself."""
    return "-" if value is None or not base or value == base else f"{100 * (1 - value / base):.1f}%"


def _markdown(header: list[str], body: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in body])


def _index(rows: list[ResultRow]):
    """(model, length, method) -> {(metric, source): [values]}, in first-seen order."""
    cells: dict[tuple, dict[tuple, list]] = defaultdict(lambda: defaultdict(list))
    for r in rows:
        cells[(r.model, r.length, r.method)][(r.metric, r.source)].append(r)
    return cells


def _value(cell, metric: str, source: str) -> float | None:
    found = cell.get((metric, source))
    return median(r.value for r in found) if found else None


def analytic_table(rows: list[ResultRow]) -> str:
    """Per model, length and method: prefill FLOPs, decode FLOPs per token and cache bytes (as ahn.cache holds
    them, and by the paper's formula), each with its reduction against full attention at the same length."""
    cells = _index(rows)
    body = []
    for (model, length, method), cell in cells.items():
        full = cells.get((model, length, "full"), {})
        pf, df, cb = (
            _value(cell, m, "analytic") for m in ("prefill_flops", "decode_flops_per_token", "cache_bytes")
        )
        paper = cell.get(("cache_bytes", "analytic"), [None])[0]
        paper = paper.extra.get("paper_formula_bytes") if paper else None
        full_paper = full.get(("cache_bytes", "analytic"), [None])[0]
        full_paper = full_paper.extra.get("paper_formula_bytes") if full_paper else None
        body.append([
            model, str(length), method,
            fmt_flops(pf), _pct(pf, _value(full, "prefill_flops", "analytic")),
            fmt_flops(df), _pct(df, _value(full, "decode_flops_per_token", "analytic")),
            fmt_bytes(cb), _pct(cb, _value(full, "cache_bytes", "analytic")),
            fmt_bytes(paper), _pct(paper, full_paper),
        ])  # fmt: skip
    header = [
        "model", "L", "method", "prefill FLOPs", "less than full", "decode FLOPs/token", "less than full",
        "cache (as held)", "less than full", "cache (paper formula)", "less than full",
    ]  # fmt: skip
    return _markdown(header, body)


def measured_table(rows: list[ResultRow]) -> str:
    """Per model, length and method: analytic vs measured FLOPs and cache, peak memory, prefill time and
    decode latency (p50 [p10, p90]) with its ratio to full attention at the same length."""
    cells = _index(rows)
    body = []
    for (model, length, method), cell in cells.items():
        if not any(source == "measured" for _, source in cell):
            continue
        full = cells.get((model, length, "full"), {})
        p50 = _value(cell, "decode_seconds_p50", "measured")
        full_p50 = _value(full, "decode_seconds_p50", "measured")
        body.append([
            model, str(length), method,
            fmt_flops(_value(cell, "prefill_flops", "analytic")),
            fmt_flops(_value(cell, "prefill_flops", "measured")),
            fmt_flops(_value(cell, "decode_flops_per_token", "analytic")),
            fmt_flops(_value(cell, "decode_flops_per_token", "measured")),
            fmt_bytes(_value(cell, "cache_bytes", "analytic")),
            fmt_bytes(_value(cell, "cache_bytes", "measured")),
            fmt_bytes(_value(cell, "peak_memory_bytes", "measured")),
            fmt_seconds(_value(cell, "prefill_seconds", "measured")),
            f"{fmt_seconds(p50)} [{fmt_seconds(_value(cell, 'decode_seconds_p10', 'measured'))}, "
            f"{fmt_seconds(_value(cell, 'decode_seconds_p90', 'measured'))}]",
            "-" if p50 is None or not full_p50 else f"{p50 / full_p50:.2f}x",
        ])  # fmt: skip
    header = [
        "model", "L", "method", "prefill FLOPs (analytic)", "(measured)", "decode FLOPs/token (analytic)",
        "(measured)", "cache (analytic)", "(measured)", "peak memory", "prefill", "decode p50 [p10, p90]",
        "decode vs full",
    ]  # fmt: skip
    return _markdown(header, body)


def paper_table(rows: list[ResultRow]) -> str:
    """The rows in the paper's own accounting (source "paper"), each with its reduction against full
    attention at the same length: what paper Table 9 tabulates."""
    cells = _index(rows)
    body = []
    for (model, length, method), cell in cells.items():
        if not any(source == "paper" for _, source in cell):
            continue
        full = cells.get((model, length, "full"), {})
        pf, df, cb = (
            _value(cell, m, "paper") for m in ("prefill_flops", "decode_flops_per_token", "cache_bytes")
        )
        body.append([
            model, str(length), method,
            f"{pf / 1e12:.1f} T", _pct(pf, _value(full, "prefill_flops", "paper")),
            fmt_flops(df), _pct(df, _value(full, "decode_flops_per_token", "paper")),
            f"{cb / 1e9:.2f} GB", _pct(cb, _value(full, "cache_bytes", "paper")),
        ])  # fmt: skip
    header = [
        "model", "L", "method", "prefill FLOPs (paper convention)", "less than full", "decode FLOPs/token",
        "less than full", "cache (paper formula, 1e9 B)", "less than full",
    ]  # fmt: skip
    return _markdown(header, body)
