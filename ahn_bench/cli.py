"""`ahn-bench SUBCOMMAND ...`.

Each subcommand lives beside the code it drives and exposes `register(subparsers)`, which adds its parser
and sets `handler(args) -> dict`. The handler prints for humans and returns a JSON-able payload; with
`--json` that payload is printed as the last line of stdout. An interrupted run says how to resume and exits
130.

One guard here serves every subcommand: bad input -- a `UserError`, a bad command line, a file that cannot
be read or written (`OSError`), invalid UTF-8 -- is one line on stderr naming the path, exit code 2, and
under `--json` the error object `{"ok": false, "error": ...}`. Anything else is a bug: its traceback, exit
1, and the error object all the same. `AHN_BENCH_DEBUG=1` shows the traceback of every error.
"""

from __future__ import annotations

import argparse
import importlib
import io
import json
import os
import sys
import traceback
import warnings

from ahn.errors import Note, UserError

# Modules that each define `register(subparsers)`; the order is the order of `ahn-bench --help`.
SUBCOMMAND_MODULES = [
    "ahn_bench.run",
    "ahn_bench.demo",
    "ahn.distill.cli",
    "analysis.cli",
    "benchmarks.accuracy.cli",
    "benchmarks.efficiency.cli",
    "ahn.weights.cli",
]


class _Parser(argparse.ArgumentParser):
    """argparse prints its usage and exits; here a bad command line is a UserError like any bad input."""

    def error(self, message: str):
        raise UserError(f"{message} (see {self.prog} --help)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="ahn-bench", description="Benchmark and analysis suite for Artificial Hippocampus Networks (AHN)"
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="SUBCOMMAND")
    for module_name in SUBCOMMAND_MODULES:
        importlib.import_module(module_name).register(subparsers)
    for sub in subparsers.choices.values():
        if not any("--json" in a.option_strings for a in sub._actions):
            sub.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    return parser


def _file_in_traceback(exc: BaseException) -> str | None:
    """The file being read when `exc` was raised: the innermost frame holding an open file object. A
    UnicodeDecodeError does not say which file it came from; this names it for readers we do not own."""
    tb, name = exc.__traceback__, None
    while tb is not None:
        for value in tb.tb_frame.f_locals.values():
            if isinstance(value, io.IOBase) and isinstance(getattr(value, "name", None), str):
                name = value.name
        tb = tb.tb_next
    return name


def describe_input_error(exc: BaseException) -> str | None:
    """One line for bad input, or None when `exc` is a bug."""
    if isinstance(exc, UserError):
        return str(exc)
    if isinstance(exc, UnicodeDecodeError):
        where = _file_in_traceback(exc) or "an input file"
        return f"{where}: not valid UTF-8 (byte 0x{exc.object[exc.start]:02x} at offset {exc.start})"
    if isinstance(exc, OSError) and exc.filename is not None:
        return f"{exc.filename}: {exc.strerror or exc}"
    return None


def _show_notes(prog: str, show):
    """Print our `Note` warnings as one line each ("ahn-bench eval: note: ..."); others as Python does."""

    def showwarning(message, category, filename, lineno, file=None, line=None):
        if issubclass(category, Note):
            print(f"{prog}: note: {message}", file=sys.stderr)
        else:
            show(message, category, filename, lineno, file, line)

    return showwarning


def _command_of(argv: list[str]) -> str:
    return next((a for a in argv if not a.startswith("-")), "")


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing downloads at run time
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
    argv = sys.argv[1:] if argv is None else list(argv)
    debug = os.environ.get("AHN_BENCH_DEBUG", "") not in ("", "0")
    want_json, command = "--json" in argv, _command_of(argv)
    try:
        args = build_parser().parse_args(argv)
        want_json, command = args.json, args.command
        with warnings.catch_warnings():
            warnings.showwarning = _show_notes(f"ahn-bench {command}", warnings.showwarning)
            payload = args.handler(args)
    except KeyboardInterrupt:
        print(
            f"\nahn-bench {command}: interrupted; rows written so far are kept "
            "(rerun with --resume where supported)",
            file=sys.stderr,
        )
        return 130
    except Exception as e:
        message = describe_input_error(e)
        if message is None or debug:
            traceback.print_exc()
        message = message or f"internal error: {type(e).__name__}: {e} (a bug: please report it)"
        message = " ".join(message.split())  # one line, whatever the exception text held
        print(f"{'ahn-bench ' + command if command else 'ahn-bench'}: error: {message}", file=sys.stderr)
        if want_json:
            print(json.dumps({"ok": False, "error": message}))
        return 2 if describe_input_error(e) is not None else 1
    if (payload or {}).get("quiet"):  # a launched process other than rank 0: rank 0 reports for all
        return 0
    if want_json:
        print(json.dumps({"ok": True, **(payload or {})}, default=str))
    return int((payload or {}).get("exit_code", 0))  # a handler may ask for 1 (compare: a regression)


if __name__ == "__main__":
    sys.exit(main())
