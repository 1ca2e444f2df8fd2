"""`ahn-bench eval | score | generate | needle-map`: the accuracy harness on the command line.

  ahn-bench eval --benchmark infinitebench --data generated --tasks passkey,kv_retrieval \
      --lengths 2048,4096,8192 --depths 0,0.25,0.5,0.75,1 --n 4 --methods full,swa,ahn-gdn \
      --window 256 --sinks 32 --out runs/needle
  ahn-bench eval --benchmark lveval --data ~/LVEval --levels 16k --limit 20 --max-input-tokens 7500
  ahn-bench eval --benchmark lm --lengths 2048 --window 256 --sinks 32     # NLL by position: benchmarks/lm
  ahn-bench score lveval outputs/my-model/               # official prediction dumps, scored here
  ahn-bench generate infinitebench --task passkey --tokens 4096 --depths 0,0.5,1 --n 5 --out passkey.jsonl
  accelerate launch --multi_gpu --num_processes 4 -m ahn_bench eval ... --out runs/x   # shards, merges
  ahn-bench eval --shard 0/2 ... --out runs/x; ... --shard 1/2 ...; ahn-bench eval --merge runs/x
"""

from __future__ import annotations

import datetime as _dt
from pathlib import Path
from typing import Any

from ahn.errors import UserError
from benchmarks.accuracy import needle, runner
from benchmarks.accuracy.samples import BENCHMARKS, get_benchmark, natural_key, parse_csv
from benchmarks.results import read_rows
from benchmarks.rundir import ROWS_FILE, write_records

QA_DATA_HELP = (
    "RULER qa_1 / qa_2: the local SQuAD (v2.0 dev) and/or HotpotQA (distractor dev) JSON files, comma list, "
    "each recognised by its format; nothing is downloaded"
)


def register(subparsers) -> None:
    _register_eval(subparsers)
    _register_score(subparsers)
    _register_generate(subparsers)
    p = subparsers.add_parser("needle-map", help="print the depth x length score grids of an eval run")
    p.add_argument("run_dir", help="an `ahn-bench eval` output directory")
    p.set_defaults(handler=needle_map_command)


# ---------------------------------------------------------------------------------------------- eval
def _register_eval(subparsers) -> None:
    p = subparsers.add_parser(
        "eval",
        help="LV-Eval / InfiniteBench / RULER / LongBench accuracy (lm: NLL by position) of several methods "
        "on the same samples",
        description="Evaluate methods on the same samples; one result row per sample plus aggregates.",
    )
    p.add_argument("--benchmark", choices=sorted([*BENCHMARKS, "lm"]))
    p.add_argument(
        "--data",
        help="directory of official .jsonl files, or 'generated' (synthetic, offline); "
        "lm: a corpus name or a .txt/.jsonl file (default paradise-lost)",
    )
    p.add_argument("--tasks", help="comma list (default: all; generated infinitebench: passkey,kv_retrieval)")
    p.add_argument("--methods", default=",".join(runner.DEFAULT_METHODS), help="comma list of ahn methods")
    p.add_argument("--model", default="smollm2-135m", help="ahn model name or local HF directory")
    p.add_argument("--lengths", "--tokens", dest="lengths", help="generated data and lm: lengths in tokens")
    p.add_argument("--depths", help="generated data: needle depths in [0,1] (default 0.5)")
    p.add_argument("--levels", help="LV-Eval: length levels, e.g. 16k,32k (default: all files present)")
    p.add_argument("--n", type=int, help="generated data: samples per length and depth (default 1; lm: 4)")
    p.add_argument("--limit", type=int, help="official data: first N records of each file")
    p.add_argument("--window", type=int, help="sliding window of the windowed methods (ahn default if unset)")
    p.add_argument("--sinks", type=int, help="attention sinks of the windowed methods (ahn default if unset)")
    p.add_argument("--max-input-tokens", type=int, help="middle-truncate longer prompts (default: never)")
    p.add_argument("--max-new-tokens", type=int, help="cap on the official per-task generation budget")
    p.add_argument("--template", default="gpt4", choices=["gpt4", "completion"], help="InfiniteBench prompts")
    p.add_argument("--no-chat-template", dest="chat", action="store_false", help="feed the raw prompt")
    p.add_argument(
        "--upstream",
        action="store_true",
        help="the official harness's protocol for open models: raw prompt, truncated to the benchmark's "
        "upstream budget (LV-Eval 15500, InfiniteBench 131072, LongBench 31500 tokens; RULER none) unless "
        "--max-input-tokens is given",
    )
    p.add_argument(
        "--haystack",
        default="auto",
        help="generated factrecall: auto (a prepared public-domain book if any, else noise), noise, a corpus "
        "name (paradise-lost, alice, as-you-like-it, kjv: `ahn-bench distill --prepare-data`) or a text file",
    )
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--qa-data", help=QA_DATA_HELP)
    p.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    p.add_argument(
        "--ahn-weights",
        default="shipped",
        help="'shipped' (trained weights in the repo if any), 'none', or a path",
    )
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, ...")
    p.add_argument("--out", help="output directory (default runs/accuracy-<benchmark>-<time>)")
    p.add_argument("--resume", action="store_true", help="continue --out, skipping finished samples")
    p.add_argument("--overwrite", action="store_true", help="replace the run already in --out")
    p.add_argument("--shard", help="i/n: evaluate every n-th sample from i (default: RANK/WORLD_SIZE env)")
    p.add_argument("--merge", metavar="DIR", help="merge the shards of DIR and write its aggregates")
    p.add_argument("--no-progress", dest="progress", action="store_false")
    p.set_defaults(handler=eval_command)


def config_from_args(args) -> runner.EvalConfig:
    if not args.benchmark or not args.data:
        raise UserError("eval needs --benchmark and --data (or --merge DIR)")
    out = args.out or str(
        Path("runs") / f"accuracy-{args.benchmark}-{_dt.datetime.now().strftime('%Y%m%d-%H%M%S')}"
    )
    return runner.EvalConfig(
        benchmark=args.benchmark,
        data=args.data,
        out=out,
        tasks=parse_csv(args.tasks, str, "task"),
        methods=parse_csv(args.methods, str, "method"),
        model=args.model,
        lengths=parse_csv(args.lengths, int, "length"),
        depths=parse_csv(args.depths, float, "depth"),
        levels=parse_csv(args.levels, str, "level"),
        n=1 if args.n is None else args.n,
        limit=args.limit,
        seed=args.seed,
        haystack=args.haystack,
        template=args.template,
        chat=args.chat,
        max_input_tokens=args.max_input_tokens,
        max_new_tokens=args.max_new_tokens,
        window=args.window,
        sinks=args.sinks,
        dtype=args.dtype,
        ahn_weights=args.ahn_weights,
        device=args.device,
        upstream=args.upstream,
        qa_data=parse_csv(args.qa_data, str, "file") or None,
    )


def eval_command(args) -> dict[str, Any]:
    if args.benchmark == "lm":
        from benchmarks.lm.cli import lm_command

        return lm_command(args)
    if args.merge:
        summary = runner.finalize(args.merge)
    elif not args.shard and runner.shard_from_env()[1] > 1:
        summary = _launched_eval(args)
        if summary is None:  # not rank 0: rank 0 merged the shards and reports for all of them
            return {"quiet": True}
    else:
        cfg = config_from_args(args)
        shard = runner.parse_shard(args.shard) if args.shard else (0, 1)
        if shard[1] > 1 and not args.out:
            raise UserError("a sharded run needs an explicit --out shared by all shards")
        summary = runner.run_eval(
            cfg, resume=args.resume, shard=shard, progress=args.progress, overwrite=args.overwrite
        )
        if shard[1] > 1:
            print(f"shard {summary['shard']}: {summary['generated']} generated, {summary['skipped']} skipped")
            print(summary["note"])
            return summary
    print_scores(summary["scores"])
    grids = needle.needle_grids(read_rows(summary["run_dir"]))
    for grid in grids:
        print()
        print(needle.render(grid))
    print(f"\nrows: {Path(summary['run_dir']) / ROWS_FILE}")
    return {**summary, "needle_maps": grids}


def _launched_eval(args) -> dict[str, Any] | None:
    """One process of `accelerate launch` / torchrun / mpirun: evaluate this rank's shard, wait for the
    others (gloo barrier), and on rank 0 merge the shards into one run. Returns rank 0's summary."""
    from ahn.distributed import barrier, process_group

    if not args.out:
        raise UserError("a multi-process run needs an explicit --out shared by all processes")
    cfg = config_from_args(args)
    with process_group() as (rank, world):
        summary = runner.run_eval(
            cfg, resume=args.resume, shard=(rank, world), progress=args.progress and rank == 0
        )
        barrier()  # every shard's rows are on disk
        if rank != 0:
            return None
        merged = runner.finalize(cfg.out)
    print(f"{world} processes: merged {merged['samples']} rows into {cfg.out} (rank 0 generated "
          f"{summary['generated']}, skipped {summary['skipped']})")  # fmt: skip
    return {**merged, "processes": world}


def print_scores(scores: dict[str, dict[str, float]]) -> None:
    tasks = list(dict.fromkeys(t for per in scores.values() for t in per))
    width = max([len("method"), *map(len, scores)])
    print(f"{'method':<{width}}  " + "  ".join(f"{t:>14}" for t in tasks))
    for method, per in scores.items():
        cells = "  ".join(f"{per[t]:>14.2f}" if t in per else f"{'-':>14}" for t in tasks)
        print(f"{method:<{width}}  {cells}")


def needle_map_command(args) -> dict[str, Any]:
    grids = needle.needle_grids(read_rows(args.run_dir))
    if not grids:
        print(f"{args.run_dir}: no depth x length cells (run generated needle tasks with --depths)")
    for grid in grids:
        print(needle.render(grid))
        print()
    return {"run_dir": args.run_dir, "needle_maps": grids}


# ---------------------------------------------------------------------------------------------- score
def _register_score(subparsers) -> None:
    p = subparsers.add_parser(
        "score",
        help="score official prediction dumps "
        "(LV-Eval {subset}_{level}.jsonl, InfiniteBench preds_{task}.jsonl)",
    )
    p.add_argument("benchmark", choices=sorted(BENCHMARKS))
    p.add_argument("predictions", nargs="+", help="prediction .jsonl files or directories of them")
    p.add_argument("--task", help="the subset/task when it cannot be read from the file name")
    p.add_argument(
        "--model-name", help="InfiniteBench: 'gpt4' applies upstream's math_calc first-number shift"
    )
    p.set_defaults(handler=score_command)


def _prediction_files(benchmark: str, paths: list[str]) -> list[Path]:
    files = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            pattern = get_benchmark(benchmark).PREDICTION_GLOB
            found = sorted(path.glob(pattern), key=lambda p: natural_key(p.name))
            if not found:
                raise UserError(f"{path}: no {pattern} files")
            files += found
        elif path.is_file():
            files.append(path)
        else:
            raise UserError(f"{path}: no such file or directory")
    return files


def score_command(args) -> dict[str, Any]:
    bench = get_benchmark(args.benchmark)
    results = [
        bench.score_file(path, subset=args.task, task=args.task, model_name=args.model_name)
        for path in _prediction_files(args.benchmark, args.predictions)
    ]
    for r in results:
        level = f" {r['level']}" if r.get("level") else ""
        print(f"{r['task']}{level}: {r['score']:.2f}  (n={r['n']}, {r['file']})")
        for key in ("by_length", "by_depth"):
            if key in r:
                print(f"    {key}: " + ", ".join(f"{k}: {v:.2f}" for k, v in r[key].items()))
    payload: dict[str, Any] = {"results": [{k: v for k, v in r.items() if k != "scores"} for r in results]}
    if hasattr(bench, "summarize_scores"):  # LV-Eval: per-level means; LongBench: the paper's six
        key = getattr(bench, "SUMMARY_KEY", "aggregates")
        payload[key] = bench.summarize_scores(results)
        for name, s in payload[key].items():
            n = s.get("n_subsets", s.get("n_datasets"))
            print(f"overall {name}: {s['score']:.2f}  (mean of {n})")
    return payload


# ---------------------------------------------------------------------------------------------- generate
def _register_generate(subparsers) -> None:
    p = subparsers.add_parser(
        "generate",
        help="write synthetic records (RULER, InfiniteBench generators, LV-Eval factrecall) at token lengths",
    )
    p.add_argument("benchmark", choices=sorted(BENCHMARKS))
    p.add_argument("--task", required=True, help="a generated task, e.g. passkey, niah_single_1")
    p.add_argument("--tokens", required=True, help="prompt length(s) in tokens, comma list")
    p.add_argument("--depths", help="needle depths in [0,1] (needle tasks; default 0.5)")
    p.add_argument("--n", type=int, default=1, help="records per length and depth")
    p.add_argument("--out", required=True, help="output .jsonl file")
    p.add_argument("--tokenizer", default="smollm2-135m", help="ahn model name or local HF directory")
    p.add_argument(
        "--haystack", default="auto", help="factrecall, RULER essay tasks: auto, noise, corpus or text file"
    )
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--qa-data", help=QA_DATA_HELP)
    p.set_defaults(handler=generate_command)


def generate_command(args) -> dict[str, Any]:
    import ahn

    bench = get_benchmark(args.benchmark)
    lengths = parse_csv(args.tokens, int, "token length")
    depths = parse_csv(args.depths, float, "depth")
    out = Path(args.out)
    if out.exists():
        raise UserError(f"{out} exists; choose another --out")
    tokenizer = ahn.load_tokenizer(args.tokenizer)
    if not hasattr(bench, "generate_records"):
        raise UserError(f"{args.benchmark} has no synthetic tasks")
    files = {"qa_data": parse_csv(args.qa_data, str, "file")} if args.qa_data else {}
    if files and not hasattr(bench, "QA_TASKS"):
        raise UserError(f"--qa-data: {args.benchmark} has no QA tasks that read it (RULER qa_1, qa_2 do)")
    records = bench.generate_records(
        tokenizer, args.task, lengths, depths, args.n, args.seed, args.haystack, **files
    )
    write_records(out, records)
    print(f"{out}: {len(records)} {args.task} records at {', '.join(map(str, lengths))} tokens")
    return {"out": str(out), "records": len(records), "task": args.task, "lengths": lengths}
