"""`ahn-bench run --suite quick|full|FILE`: the main job. Runs a suite, then writes its report."""

from __future__ import annotations

import time
from pathlib import Path


def register(subparsers) -> None:
    p = subparsers.add_parser("run", help="run a benchmark suite and write its report (the main job)")
    p.add_argument("--suite", default="quick", help="quick, full, or a path to a suite .toml file")
    p.add_argument("--model", default=None, help="override the suite's model (name or local HF directory)")
    p.add_argument("--out", default=None, help="run directory (default: reports/<suite>-<date>)")
    p.add_argument("--resume", action="store_true", help="continue an interrupted run in --out")
    p.add_argument("--overwrite", action="store_true", help="replace the run already in --out")
    p.add_argument(
        "--deterministic", action="store_true",
        help="only what must reproduce exactly (analytic costs, greedy accuracy): what CI compares",
    )  # fmt: skip
    p.add_argument("--no-report", action="store_true", help="write rows only")
    p.set_defaults(handler=run_main_job)


def run_main_job(args) -> dict:
    from benchmarks.rundir import ROWS_FILE
    from benchmarks.suite import load_suite, run_suite

    suite = load_suite(args.suite, args.model)
    out = Path(args.out or f"reports/{suite.name}-{time.strftime('%Y%m%d-%H%M%S')}")
    start = time.perf_counter()
    summary = run_suite(
        suite, out, resume=args.resume, deterministic=args.deterministic, overwrite=args.overwrite
    )
    if not args.no_report:
        from analysis.report import build_report

        summary["report"] = build_report(out)["report_md"]
    summary["seconds"] = round(time.perf_counter() - start, 1)
    print(f"\n{summary['rows']} rows in {out / ROWS_FILE}; {summary['seconds']} s")
    if "report" in summary:
        print(f"report: {out}/report.md and {out}/report.html")
    return summary
