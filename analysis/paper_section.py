"""The report's comparison with the AHN paper: its efficiency claims beside ours under both cost conventions
(in the verdict), and its LV-Eval / InfiniteBench scores beside ours where the run measured the same task.

Conventions (issue 9): "physical" rows cost what the cache really holds (fp32 state and write scalars) and
every FLOP; "paper" rows follow the paper's own formulas. Where a run has only physical rows, the cache by
the paper's formula still comes from `extra.paper_formula_bytes`, which the efficiency harness records.
"""

from __future__ import annotations

import math

from analysis import paper
from analysis.tables import efficiency_values, format_length, ordered_variants

CONVENTIONS = ("physical", "paper")


def _reduction(vals, metric: str, claim: dict, value_of) -> tuple[float, str] | None:
    """(our % reduction of claim['method'] vs full, 'sinks + window'), from analytic rows (the paper
    convention's rows carry source "paper"), else measured ones."""
    for source in ("analytic", "paper", "measured"):
        sel = vals[(vals["metric"] == metric) & (vals["source"] == source)]
        full = sel[sel["method"] == "full"]
        ahn = sel[sel["method"] == claim["method"]]
        if full.empty or ahn.empty:
            continue
        # With a window sweep, the paper's setting (128 sinks + 32640 window) is the one to match.
        exact = ahn[(ahn["sinks"] == claim["sinks"]) & (ahn["window"] == claim["window"])]
        r = (exact if len(exact) else ahn).iloc[0]
        full_value, ahn_value = value_of(full.iloc[0]), value_of(r)
        if full_value is None or ahn_value is None or not full_value:
            continue
        return (1 - ahn_value / full_value) * 100, f"{_int(r['sinks'])} + {_int(r['window'])}"
    return None


def claim_rows(frame) -> tuple[list[list[str]], list[str]]:
    """Rows 'quantity | paper | ours (physical) | ours (paper convention) | our setting' for every model the
    paper made an efficiency claim for, and what could not be compared."""
    rows, missing = [], []
    for model in sorted(frame["model"].unique()):
        claim = paper.EFFICIENCY_CLAIMS.get(paper.model_size(model) or "")
        if claim is None:
            continue
        per_convention = {}
        for convention in CONVENTIONS:
            vals = efficiency_values(frame, convention)
            per_convention[convention] = vals[(vals["model"] == model) & (vals["length"] == claim["length"])]
        if all(v.empty for v in per_convention.values()):
            missing.append(
                f"{model}: no efficiency rows at {format_length(claim['length'])} tokens for the "
                "paper's claims."
            )
            continue
        # Recorded beside physical rows: the cache by the paper's formula.
        formula_col = "extra.paper_formula_bytes"
        for metric, paper_pct in claim["reduction_pct"].items():
            cells, setting = [], "-"
            for convention in CONVENTIONS:
                got = _reduction(per_convention[convention], metric, claim, lambda r: r["value"])
                if got is None and convention == "paper" and metric == "cache_bytes" and formula_col in frame:
                    got = _formula_reduction(frame, model, claim, formula_col)
                    if got is not None:
                        got = (got[0], got[1] + " (paper formula recorded with physical rows)")
                if got is None:
                    cells.append("not measured")
                    continue
                ours, setting = got
                cells.append(f"{ours:.1f}% ({ours - paper_pct:+.1f} pts)")
            rows.append(
                [
                    f"{model}: {metric} reduction, {claim['method']} vs full, "
                    f"{format_length(claim['length'])}",
                    f"{paper_pct:.1f}%",
                    *cells,
                    setting,
                ]
            )
    return rows, missing


def _formula_reduction(frame, model: str, claim: dict, col: str) -> tuple[float, str] | None:
    sel = frame[
        (frame["model"] == model)
        & (frame["length"] == claim["length"])
        & (frame["metric"] == "cache_bytes")
        & (frame["source"] == "analytic")
        & (frame["convention"] == "physical")
    ]
    formula = sel.dropna(subset=[col]).assign(value=lambda d: d[col].astype(float))
    return _reduction(formula, "cache_bytes", claim, lambda r: r["value"])


def verdict_claims(b) -> None:
    """The paper's efficiency claims beside ours, in the verdict."""
    rows, missing = claim_rows(b.frame)
    for text in missing:
        b.doc.missing(text)
    if not rows:
        if not any(paper.EFFICIENCY_CLAIMS.get(paper.model_size(m) or "") for m in b.run.models):
            b.doc.missing(
                "paper claims: the paper's efficiency claims are for Qwen2.5-3B at 128k tokens; this run's "
                f"model(s) ({', '.join(b.run.models)}) have no published counterpart."
            )
        return
    b.doc.p(
        "**The paper's claims beside ours** (Table 9, 128k tokens; reductions of AHN-GDN against "
        "full attention). "
        "Physical: what the cache really holds and every FLOP; paper convention: the paper's own formulas."
    )
    b.doc.table(["claim", "paper", "ours (physical)", "ours (paper convention)", "our sinks + window"], rows)


def build(b) -> None:
    doc = b.doc
    doc.section("Comparison with the AHN paper")
    doc.p(
        "Published scores from arXiv 2510.07318 (Tables 2 and 6) beside ours where this run measured "
        "the same "
        "task and base model; the efficiency claims are in the verdict."
    )
    sizes = {m: paper.model_size(m) for m in b.run.models}
    _scores(b, sizes, "lveval", "LV-Eval (paper Table 6; average: Table 2)")
    _scores(b, sizes, "infinitebench", "InfiniteBench En.QA / Zh.QA (paper Table 2)")


def _int(x) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else str(int(x))


def _scores(b, sizes: dict[str, str | None], benchmark: str, title: str) -> None:
    doc = b.doc
    doc.h3(title)
    published = paper.LVEVAL if benchmark == "lveval" else paper.INFINITEBENCH
    acc = b.acc[b.acc["benchmark"] == benchmark] if len(b.acc) else b.acc
    if len(acc):
        acc = acc.assign(paper_task=[paper.paper_task(benchmark, t) for t in acc["task"]])
        acc = acc[acc["paper_task"].notna()]
    if acc.empty:
        tasks = published["3B"]["full"]
        doc.missing(
            f"paper comparison: no `{benchmark}` score rows for the paper's tasks ({', '.join(tasks)})."
        )
        return
    for model in sorted(acc["model"].unique()):
        size = sizes.get(model)
        if size not in published:
            doc.missing(f"{model}: the paper reports these tasks only for Qwen2.5-3B/7B/14B-Instruct.")
            continue
        sub = acc[acc["model"] == model]
        length = int(sub["length"].max())
        sub = sub[sub["length"] == length]
        methods = [v for v in ordered_variants(sub) if v.split(" ")[0] in paper.METHODS]
        table_rows = []
        for task in published[size]["full"]:
            cells = []
            for variant in methods:
                ours = sub[(sub["paper_task"] == task) & (sub["variant"] == variant)]["score"]
                pub = published[size][variant.split(" ")[0]][task]
                cells.append(f"{ours.iloc[0]:.2f} ({pub:.2f})" if len(ours) else f"n/a ({pub:.2f})")
            if any(not c.startswith("n/a") for c in cells):
                table_rows.append([task, *cells])
        if not table_rows or not methods:
            doc.missing(f"{model}: no {benchmark} task matches the paper's task names.")
            continue
        if benchmark == "lveval" and len(table_rows) == len(paper.LVEVAL_TASKS):
            avg = []
            for variant in methods:
                ours = sub[(sub["paper_task"].notna()) & (sub["variant"] == variant)]["score"]
                pub = paper.LVEVAL_AVG[size][variant.split(" ")[0]]
                avg.append(
                    f"{ours.mean():.2f} ({pub:.2f})"
                    if len(ours) == len(paper.LVEVAL_TASKS)
                    else f"n/a ({pub:.2f})"
                )
            table_rows.append(["**average (11 tasks)**", *avg])
        doc.p(
            f"{model} (paper: Qwen2.5-{size}-Instruct), our rows at length {length}. "
            f"Cells: ours (paper). The paper evaluates at 128k with {paper.EVAL_SINKS} sinks + "
            f"{paper.EVAL_WINDOW} window."
        )
        doc.table(["task", *methods], table_rows)
