"""`ahn-bench report`, `ahn-bench compare` and `ahn-bench history`. The handlers import their modules
lazily so that building the
parser (`ahn-bench --help`) does not pay for matplotlib and pandas."""

from __future__ import annotations


def _report(args):
    from analysis.report import handler

    return handler(args)


def _compare(args):
    from analysis.compare import handler

    return handler(args)


def _history(args):
    from analysis.history import handler

    return handler(args)


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "report",
        help="write RUN_DIR/report.md, a self-contained report.html and figures/*.png from a run's rows",
    )
    p.add_argument("run_dir", metavar="RUN_DIR", help="run directory (rows.jsonl + manifest.json)")
    p.set_defaults(handler=_report)

    c = subparsers.add_parser(
        "compare",
        help="compare two runs row by row; exit 1 on a regression",
        description="Deterministic metrics must match (rel 1e-6), memory may grow by --memory-tolerance, "
        "timings may slow down by --timing-ratio, aggregate accuracy may drop by --accuracy-drop points.",
    )
    c.add_argument("baseline_dir", metavar="BASELINE_DIR")
    c.add_argument("new_dir", metavar="NEW_DIR")
    c.add_argument("--timing-ratio", type=float, default=2.0, help="fail when new/base time exceeds this")
    c.add_argument("--accuracy-drop", type=float, default=5.0, help="fail when a score drops by more points")
    c.add_argument("--memory-tolerance", type=float, default=0.10, help="allowed relative peak-memory growth")
    c.add_argument("--allow-missing", action="store_true", help="rows absent from NEW_DIR do not fail")
    c.add_argument(
        "--summary", metavar="FILE", help="also write the short Markdown summary (for a CI comment)"
    )
    c.set_defaults(handler=_compare)

    h = subparsers.add_parser(
        "history",
        help="trend figures per metric and method over several runs (e.g. the CI baseline and each CI run)",
    )
    h.add_argument(
        "run_dirs", metavar="RUN_DIR", nargs="+", help="run directories, ordered by their manifests' time"
    )
    h.add_argument("--out", default="history", help="directory for history.md, history.json and figures/")
    h.set_defaults(handler=_history)
