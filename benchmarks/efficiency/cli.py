"""`ahn-bench efficiency`: FLOPs, cache memory and latency per method, analytic and measured.

  ahn-bench efficiency --model smollm2-135m --methods full,swa,ahn-gdn --lengths 1024,2048,4096,8192 \\
      --window 512 --sinks 32 --dtype bfloat16 --out runs/eff-cpu
  ahn-bench efficiency --model qwen2.5-3b,qwen2.5-7b,qwen2.5-14b --methods full,swa,ahn-gdn \\
      --lengths 128000 --window 32640 --sinks 128 --dtype float32 --analytic-only \\
      --convention paper   # paper Table 9 setting (L = 128,000 tokens, 4-byte elements)
"""

from __future__ import annotations

from pathlib import Path

from ahn.errors import UserError
from ahn.methods import DEFAULT_SINKS, DEFAULT_WINDOW
from ahn.models import DEFAULT_MODEL
from benchmarks.efficiency import flop_counting, harness, table
from benchmarks.results import new_run_id
from benchmarks.rundir import ROWS_FILE


def _ints(text: str, what: str) -> tuple[int, ...]:
    try:
        return tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise UserError(f"{what} must be comma-separated integers, got {text!r}") from None


def _names(text: str) -> tuple[str, ...]:
    return tuple(x.strip() for x in text.split(",") if x.strip())


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "efficiency",
        help="FLOPs, cache bytes, peak memory, prefill time and decode latency per method",
        description=__doc__.split("\n")[0],
    )
    p.add_argument(
        "--model",
        default=DEFAULT_MODEL,
        help=f"name or local HF directory; several comma-separated (default {DEFAULT_MODEL}; "
        "also qwen2.5-3b/7b/14b (configs only: --analytic-only) and tiny-llama/qwen2/qwen3)",
    )
    p.add_argument("--methods", default="full,swa,ahn-gdn", help="comma-separated (default full,swa,ahn-gdn)")
    p.add_argument("--lengths", default="1024,2048,4096,8192", help="context lengths L, comma-separated")
    p.add_argument("--window", type=int, default=DEFAULT_WINDOW, help=f"window W (default {DEFAULT_WINDOW})")
    p.add_argument("--sinks", type=int, default=DEFAULT_SINKS, help=f"sinks S (default {DEFAULT_SINKS})")
    p.add_argument("--analytic-only", action="store_true", help="cost models only: no model is loaded")
    p.add_argument(
        "--dtype", default="float32", help="float32 | bfloat16 (also the analytic KV bytes/element)"
    )
    p.add_argument("--device", default="auto", help="auto (cuda when available) | cpu | cuda[:N]")
    p.add_argument("--out", help="run directory for rows.jsonl + manifest.json (default runs/<run id>)")
    p.add_argument("--overwrite", action="store_true", help="replace the run already in --out")
    p.add_argument(
        "--prefill-chunk",
        type=int,
        default=harness.DEFAULT_PREFILL_CHUNK,
        help="tokens per prefill forward (ahn.prefill); the LM head runs once per chunk",
    )
    p.add_argument("--decode-tokens", type=int, default=32, help="timed decode steps per (method, L)")
    p.add_argument("--decode-warmup", type=int, default=4, help="untimed decode steps before them")
    p.add_argument(
        "--counters",
        default=",".join(flop_counting.COUNTERS),
        help="FLOP counters to run: torch,fvcore (empty: none)",
    )
    p.add_argument(
        "--count-max-length",
        type=int,
        default=4096,
        help="count FLOPs only at L up to this (each count is another prefill)",
    )
    p.add_argument("--threads", type=int, help="torch CPU threads (default: torch's default)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--convention",
        default="physical",
        help=f"{' | '.join(harness.CONVENTIONS)}; paper: add rows (source 'paper') in the AHN paper's "
        "own accounting (its Table 9)",
    )
    p.set_defaults(handler=handle)  # fmt: skip


def handle(args) -> dict:
    config = harness.EfficiencyConfig(
        models=_names(args.model), methods=_names(args.methods), lengths=_ints(args.lengths, "--lengths"),
        window=args.window, sinks=args.sinks, dtype=args.dtype, analytic_only=args.analytic_only,
        device=args.device, prefill_chunk=args.prefill_chunk, decode_tokens=args.decode_tokens,
        decode_warmup=args.decode_warmup, counters=_names(args.counters),
        count_max_length=args.count_max_length, threads=args.threads, seed=args.seed,
        convention=args.convention,
    )  # fmt: skip
    run_id = new_run_id("efficiency")
    out = Path(args.out) if args.out else Path("runs") / run_id
    rows = harness.run_efficiency(
        config, out_dir=out, run_id=run_id, progress=not args.json, overwrite=args.overwrite
    )
    print(f"FLOPs: matmuls only, multiply-add = 2; KV {args.dtype}, AHN write scalars and states fp32; "
          f"W={config.window}, S={config.sinks}\n")  # fmt: skip
    print(table.analytic_table(rows))
    if config.convention == "paper":
        print()
        print(table.paper_table(rows))
    if not config.analytic_only:
        print()
        print(table.measured_table(rows))
    print(f"\nrows: {out / ROWS_FILE}")
    return {"run_dir": str(out), "run_id": run_id, "rows": [r.to_json() for r in rows]}
