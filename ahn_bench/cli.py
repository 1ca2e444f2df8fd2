"""`ahn-bench SUBCOMMAND ...`.

Each subcommand lives beside the code it drives and exposes `register(subparsers)`, which adds its parser
and sets `handler(args) -> dict`. The handler prints for humans and returns a JSON-able payload; with
`--json` that payload is printed as the last line of stdout. Bad input (`UserError`) is one line on
stderr and exit code 2; an interrupted run says how to resume and exits 130.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys

from ahn.errors import UserError

# Modules that each define `register(subparsers)`; the order is the order of `ahn-bench --help`.
SUBCOMMAND_MODULES = [
    "ahn_bench.run",
    "ahn_bench.demo",
    "ahn.distill.cli",
    "analysis.cli",
    "benchmarks.accuracy.cli",
    "benchmarks.efficiency.cli",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ahn-bench", description="Benchmark and analysis suite for Artificial Hippocampus Networks (AHN)"
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="SUBCOMMAND")
    for module_name in SUBCOMMAND_MODULES:
        importlib.import_module(module_name).register(subparsers)
    for sub in subparsers.choices.values():
        if not any("--json" in a.option_strings for a in sub._actions):
            sub.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    return parser


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing downloads at run time
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
    args = build_parser().parse_args(argv)
    try:
        payload = args.handler(args)
    except UserError as e:
        print(f"ahn-bench {args.command}: error: {e}", file=sys.stderr)
        if args.json:
            print(json.dumps({"ok": False, "error": str(e)}))
        return 2
    except KeyboardInterrupt:
        print(
            f"\nahn-bench {args.command}: interrupted; rows written so far are kept "
            "(rerun with --resume where supported)",
            file=sys.stderr,
        )
        return 130
    if (payload or {}).get("quiet"):  # a launched process other than rank 0: rank 0 reports for all
        return 0
    if args.json:
        print(json.dumps({"ok": True, **(payload or {})}, default=str))
    return int((payload or {}).get("exit_code", 0))  # a handler may ask for 1 (compare: a regression)


if __name__ == "__main__":
    sys.exit(main())
