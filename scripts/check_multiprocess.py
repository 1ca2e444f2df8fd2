"""CI check: two launched processes give the results of one (.ci/run runs this; ~1-2 min on 2 cores).

On a tiny random Llama saved as a local HF directory (with the SmolLM2 tokenizer):
  distill  one process, batch 2   vs  `accelerate launch --multi_gpu --num_processes 2`, batch 1 each
           (the same global batch): the AHN parameters after N steps agree to fp32 reduction order;
  eval     one process            vs  the same launch: generated passkey + kv_retrieval under full, swa and
           the AHN distilled above: per-sample rows identical (run id and timings aside), merged by rank 0.
accelerate's `--multi_gpu` launcher is torchrun; on a machine without GPUs the processes run on CPU and
join a gloo group (`--cpu --num_processes N` starts one process unless given an MPI hostfile; ahn-bench
refuses that launch). Every process runs one thread, the single-process runs too, so eval compares the
same arithmetic. Prints a table, then one JSON line; exit 1 when a check fails.

  python scripts/check_multiprocess.py [--work DIR] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PROCESSES = 2
DISTILL_STEPS = 4
EVAL_ARGS = [
    "--benchmark", "infinitebench", "--data", "generated", "--tasks", "passkey,kv_retrieval",
    "--lengths", "256,512", "--depths", "0,1", "--methods", "full,swa,ahn-gdn", "--window", "64",
    "--sinks", "4", "--max-new-tokens", "8", "--no-chat-template", "--no-progress",
]  # fmt: skip


def build_tiny_model(directory: Path) -> None:
    """A 2-layer random Llama with SmolLM2's tokenizer, saved as safetensors (what `--model DIR` loads)."""
    import torch
    from transformers import AutoModelForCausalLM

    import ahn
    from ahn.models import tiny_config

    tokenizer = ahn.load_tokenizer()
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(tiny_config("llama", vocab_size=len(tokenizer)))
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)


def training_text(path: Path) -> None:
    """Deterministic text, enough rows for the steps (the model is random: any text trains it)."""
    words = "memory window sink token state gate delta write read evict query key value".split()
    lines = [" ".join(words[(i * 7 + j) % len(words)] for j in range(12)) + f" {i}." for i in range(600)]
    path.write_text("\n".join(lines) + "\n")


def free_port() -> int:
    with socket.socket() as s:  # other jobs on this machine may hold accelerate's default 29500
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ahn_bench(args: list[str], launched: bool) -> float:
    """Run `ahn-bench ARGS` in one process or launched as PROCESSES; returns seconds."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO)}
    if launched:
        launcher = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu",
                    "--num_processes", str(PROCESSES), "--num_machines", "1", "--mixed_precision", "no",
                    "--dynamo_backend", "no", "--main_process_port", str(free_port()), "-m"]  # fmt: skip
    else:
        launcher = [sys.executable, "-m"]
    start = time.perf_counter()
    done = subprocess.run([*launcher, "ahn_bench", *args], env=env, cwd=REPO, text=True, capture_output=True)
    if done.returncode != 0:
        sys.stderr.write(done.stdout[-3000:] + done.stderr[-3000:])
        raise SystemExit(f"check_multiprocess: `ahn-bench {' '.join(args[:3])} ...` failed")
    return time.perf_counter() - start


def comparable_rows(run_dir: Path) -> list[dict]:
    """Per-sample and aggregate rows without what differs between two runs: the run id and timings."""
    rows = []
    for line in (run_dir / "rows.jsonl").read_text().splitlines():
        row = json.loads(line)
        row.pop("run_id")
        row.get("extra", {}).pop("seconds", None)
        rows.append(row)
    return rows


def ahn_tensors(path: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(path))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", help="working folder (default: a new temporary one)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    work = Path(args.work or tempfile.mkdtemp(prefix="ahn-multiprocess-"))
    work.mkdir(parents=True, exist_ok=True)
    model_dir, text = work / "tiny-llama", work / "train.txt"
    if not (model_dir / "config.json").exists():
        build_tiny_model(model_dir)
    training_text(text)

    # distill: the same global batch of 2 rows per step, as 1 x 2 and as 2 processes x 1
    common = ["distill", "--model", str(model_dir), "--method", "ahn-gdn", "--steps", str(DISTILL_STEPS),
              "--seq-len", "256", "--data", str(text), "--lr", "1e-2", "--warmup", "0"]  # fmt: skip
    seconds = {
        "distill_1": ahn_bench([*common, "--batch-size", "2", "--out", str(work / "distill-1")], False)
    }
    seconds["distill_2"] = ahn_bench([*common, "--batch-size", "1", "--out", str(work / "distill-2")], True)
    one = ahn_tensors(work / "distill-1" / "ahn.safetensors")
    two = ahn_tensors(work / "distill-2" / "ahn.safetensors")
    diff = max(float((one[k] - two[k]).abs().max()) for k in one)
    moved = max(float(one[k].abs().max()) for k in one if k.endswith("o_proj"))  # W_o starts at zero
    distill_ok = one.keys() == two.keys() and diff <= 1e-4 and moved > 100 * diff

    # eval: the AHN distilled above, so the memory contributes to the answers
    weights = str(work / "distill-1" / "ahn.safetensors")
    eval_args = [*EVAL_ARGS, "--model", str(model_dir), "--ahn-weights", weights]
    seconds["eval_1"] = ahn_bench(["eval", *eval_args, "--out", str(work / "eval-1")], False)
    seconds["eval_2"] = ahn_bench(["eval", *eval_args, "--out", str(work / "eval-2")], True)
    rows_1, rows_2 = comparable_rows(work / "eval-1"), comparable_rows(work / "eval-2")
    per_sample = [r for r in rows_1 if "aggregate" not in r["extra"]]
    eval_ok = rows_1 == rows_2 and not list((work / "eval-2").glob("rows.rank*.jsonl"))

    print(f"{'check':<10} {'1 process':>12} {f'{PROCESSES} processes':>12}  result")
    print(f"{'distill':<10} {seconds['distill_1']:>11.1f}s {seconds['distill_2']:>11.1f}s  "
          f"max |AHN param diff| {diff:.2e} (largest trained W_o entry {moved:.2e}): "
          f"{'ok' if distill_ok else 'FAIL'}")  # fmt: skip
    print(f"{'eval':<10} {seconds['eval_1']:>11.1f}s {seconds['eval_2']:>11.1f}s  "
          f"{len(per_sample)} per-sample rows + {len(rows_1) - len(per_sample)} aggregates "
          f"{'identical' if rows_1 == rows_2 else 'DIFFER'}: {'ok' if eval_ok else 'FAIL'}")  # fmt: skip
    result = {"ok": distill_ok and eval_ok, "processes": PROCESSES, "distill_steps": DISTILL_STEPS,
              "distill_max_abs_diff": diff, "distill_max_trained_w_o": moved,
              "eval_rows": len(rows_1), "eval_rows_identical": rows_1 == rows_2,
              "seconds": {k: round(v, 1) for k, v in seconds.items()}, "work": str(work)}  # fmt: skip
    print(json.dumps(result))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
