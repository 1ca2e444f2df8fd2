"""`ahn-bench eval --benchmark lm`: the lm benchmark on the eval command line (its parser lives in
benchmarks/accuracy/cli.py, shared with the accuracy benchmarks).

  ahn-bench eval --benchmark lm --methods full,swa,ahn-gdn --lengths 2048 --window 256 --sinks 32 --json
  ahn-bench eval --benchmark lm --data my_book.txt --lengths 1024,4096 --n 8 --out runs/lm-book [--resume]
"""

from __future__ import annotations

import datetime as _dt
from pathlib import Path
from typing import Any

from ahn.distill.data import EVAL_CORPUS
from ahn.errors import UserError
from benchmarks.lm.config import DEFAULT_LENGTHS, DEFAULT_METHODS, DEFAULT_SEQUENCES, LmConfig
from benchmarks.lm.runner import run_lm
from benchmarks.lm.summary import beyond_window, format_table
from benchmarks.rundir import ROWS_FILE

# eval options of the accuracy benchmarks that mean nothing here: naming one is a mistake, not a no-op.
NOT_FOR_LM = ("tasks", "depths", "levels", "limit", "max_input_tokens", "max_new_tokens", "shard", "merge",
              "qa_data")  # fmt: skip


def _csv(text: str | None, kind, what: str) -> list:
    out = []
    for item in (p.strip() for p in (text or "").split(",")):
        if item:
            try:
                out.append(kind(item))
            except ValueError:
                raise UserError(f"bad {what} {item!r}") from None
    return out


def config_from_args(args) -> LmConfig:
    given = [f"--{name.replace('_', '-')}" for name in NOT_FOR_LM if getattr(args, name, None) is not None]
    if given:
        raise UserError(f"{', '.join(given)}: not an option of --benchmark lm")
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return LmConfig(
        out=args.out or str(Path("runs") / f"lm-{stamp}"),
        data=args.data or EVAL_CORPUS,
        methods=_csv(args.methods, str, "method") if args.methods else list(DEFAULT_METHODS),
        model=args.model,
        lengths=_csv(args.lengths, int, "length") or list(DEFAULT_LENGTHS),
        n=DEFAULT_SEQUENCES if args.n is None else args.n,
        window=args.window,
        sinks=args.sinks,
        dtype=args.dtype,
        ahn_weights=args.ahn_weights,
        device=args.device,
    )


def lm_command(args) -> dict[str, Any]:
    cfg = config_from_args(args)
    summary = run_lm(cfg, resume=args.resume, progress=args.progress)
    rows = summary["rows"]
    print(f"{cfg.data}, {cfg.model} {cfg.dtype}, sinks {cfg.sinks} + window {cfg.window}: NLL and KL to full "
          f"attention in nats per token, by query position\n")  # fmt: skip
    print(format_table(rows))
    print(f"\nrows: {Path(summary['run_dir']) / ROWS_FILE}")
    return {**summary, "rows": [r.to_json() for r in rows], "beyond_window": beyond_window(rows)}
