"""analysis/averages.py: the one place accuracy means are taken; the runner, tables and compare agree."""

import math

from analysis.averages import group_means, mean_scores
from analysis.compare import _with_derived_aggregates
from analysis.tables import accuracy_by_depth, accuracy_by_length, prepare_frame
from benchmarks.accuracy.runner import aggregate_rows
from benchmarks.results import ResultRow, rows_to_frame


def _rows():
    out = []
    for method, window in (("full", None), ("swa", 256)):
        for i, (length, depth, value) in enumerate(
            [(2048, 0.0, 100.0), (2048, 1.0, 0.0), (4096, 0.0, 100.0), (4096, 1.0, 100.0), (4096, 1.0, 0.0)]
        ):
            value = value if method == "full" else 100.0 - value
            out.append(ResultRow("r", "m", method, "ruler", "niah_single_1", length, "score", value, "%",
                                 "measured", window=window, sinks=None if window is None else 32,
                                 extra={"sample_id": str(i), "depth": depth}))  # fmt: skip
    return out


def test_group_means_by_hand():
    means = group_means([("a", 1.0), ("b", 2.0), ("a", 2.0)], lambda r: r[0], lambda r: r[1])
    assert list(means) == ["a", "b"]  # order of first appearance
    assert (means["a"].mean, means["a"].n, means["b"].mean) == (1.5, 2, 2.0)


def test_runner_tables_and_compare_agree():
    rows = _rows()
    aggregates = aggregate_rows(rows, "ruler")
    by_key = {(r.method, r.length, r.extra.get("depth")): (r.value, r.extra["n"]) for r in aggregates}
    assert by_key[("full", 4096, None)] == (200 / 3, 3)  # by hand: 100, 100, 0
    assert by_key[("full", 4096, 1.0)] == (50.0, 2)
    assert by_key[("swa", 0, None)] == (40.0, 5)  # 0, 100, 0, 0, 100
    frame = prepare_frame(rows_to_frame(rows))
    for r in accuracy_by_length(frame).itertuples():
        assert (r.score, r.n) == by_key[(r.variant, r.length, None)]
    for r in accuracy_by_depth(frame).itertuples():
        assert (r.score, r.n) == by_key[(r.variant, r.length, r.depth)]
    derived = _with_derived_aggregates(frame)
    derived = derived[derived["extra.aggregate"].notna()]
    assert len(derived) == 4  # (full, swa) x (2048, 4096); swa's window is a key, full's NaN one group
    for r in derived.itertuples():
        assert r.value == by_key[(r.method, r.length, None)][0]


def test_aggregate_only_groups_keep_their_row():
    rows = [r for r in aggregate_rows(_rows(), "ruler") if r.extra.get("depth") is None]
    frame = prepare_frame(rows_to_frame(rows))  # a harness that kept only aggregates
    out = mean_scores(frame, ["method", "length"], frame[frame["extra.aggregate"].notna()])
    full = out[(out["method"] == "full") & (out["length"] == 2048)].iloc[0]
    assert (full["score"], full["n"], full["interval"]) == (50.0, 2, "aggregate only")
    assert math.isnan(full["lo"])
