"""Side-by-side wall time of prefill and decode: native transformers vs `full`, `swa`, each AHN; one process.

    python -m benchmarks.speed                                   # L=2048, fp32 and bf16 (~5 min on 2 cores)
    python -m benchmarks.speed --lengths 8192 --wide-window 4096 # the issue's 8k table (~30 min on 2 cores)
    python -m benchmarks.speed --device cuda --lengths 8192,32768 # where CUDA is present

Every cell (method x dtype x length) runs on the same base model and the same token ids. Within one round
the cells run one after another (method attached, prefilled into a fresh cache, decoded, detached), and
rounds repeat, so load from other processes hits every cell alike; prefill reports the min over rounds,
decode the p50 of every timed step of every round. `native` is the unpatched model (sdpa + DynamicCache)
fed the same prefill chunks. The table gives each cell's ratio to native and each AHN's ratio to swa; with
--wide-window, a second `swa` with that window shows what a wider window costs per decoded token, next to
the ratio of attention FLOPs per decoded token, (S + W_wide) / (S + W). --json prints one JSON object last.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

import torch
from transformers import DynamicCache

from ahn.attach import attach_method, new_cache
from ahn.generate import DEFAULT_PREFILL_CHUNK, decode_one_token, prefill
from ahn.methods import METHODS, MethodSpec
from ahn.models import DEFAULT_MODEL, DTYPES, load_base_model
from benchmarks.efficiency.latency import synchronize

NATIVE = "native"
DTYPE_LABELS = {"float32": "fp32", "bfloat16": "bf16", "float16": "fp16"}


def _timed(fn, device):
    synchronize(device)
    start = time.perf_counter()
    result = fn()
    synchronize(device)
    return time.perf_counter() - start, result


def run_cell(model, spec: MethodSpec | None, ids, chunk: int, steps: int, warmup: int) -> dict:
    """One prefill of `ids` into a fresh cache, then `warmup` + `steps` greedy decode steps, each timed.
    spec None: the native model."""
    device = ids.device
    handle = None if spec is None else attach_method(model, spec)
    try:
        # the same chunked prefill and decode step for both: only the cache differs
        cache = DynamicCache(config=model.config) if handle is None else new_cache(model)
        prefill_s, logits = _timed(lambda: prefill(model, ids, cache, chunk), device)
        token, decode_s = logits.argmax(-1), []
        for step in range(warmup + steps):
            elapsed, logits = _timed(lambda token=token: decode_one_token(model, token, cache), device)
            token = logits.argmax(-1)
            if step >= warmup:
                decode_s.append(elapsed)
    finally:
        if handle is not None:
            handle.detach()
    return {"prefill_s": prefill_s, "decode_s": decode_s}


def cell_specs(methods, window, sinks, wide_window, length) -> dict[str, MethodSpec | None]:
    specs = {}
    for name in methods:
        if name == NATIVE:
            specs[name] = None
        elif METHODS[name].windowed:
            specs[name] = MethodSpec(name, window, sinks)
        else:
            specs[name] = MethodSpec(name)
    if wide_window and length > sinks + wide_window:  # the wide window must be full to cost what it costs
        specs[f"swa-W{wide_window}"] = MethodSpec("swa", wide_window, sinks)
    return specs


def summarise(samples: dict[str, list[dict]]) -> dict[str, dict]:
    out = {}
    for name, runs in samples.items():
        prefill_s = [r["prefill_s"] for r in runs]
        decode_s = [s for r in runs for s in r["decode_s"]]
        out[name] = {
            "prefill_min_s": min(prefill_s),
            "prefill_median_s": statistics.median(prefill_s),
            "decode_p50_s": statistics.median(decode_s),
            "decode_min_s": min(decode_s),
            "prefill_s": prefill_s,
            "decode_s": decode_s,
        }
    return out


def ratios(cells: dict[str, dict], window: int, sinks: int, wide_window: int | None) -> dict[str, float]:
    """name -> ratio; the figures the issue's goals are stated in."""
    out = {}
    for metric, key in (("prefill", "prefill_min_s"), ("decode", "decode_p50_s")):
        for base in (NATIVE, "swa"):
            if base not in cells:
                continue
            for name, cell in cells.items():
                if name != base and (base == NATIVE or (name in METHODS and METHODS[name].windowed)):
                    out[f"{metric} {name}/{base}"] = cell[key] / cells[base][key]
    wide = f"swa-W{wide_window}"
    if wide in cells and "swa" in cells:
        out[f"decode {wide}/swa"] = cells[wide]["decode_p50_s"] / cells["swa"]["decode_p50_s"]
        out[f"attention FLOPs {wide}/swa"] = (sinks + wide_window) / (sinks + window)
    return out


def print_table(dtype_label: str, length: int, cells: dict[str, dict]) -> None:
    names = list(cells)
    print(f"\nL={length} {dtype_label}   " + " ".join(f"{n:>12s}" for n in names))
    rows = [
        ("prefill min", "prefill_min_s", 1.0, "s"),
        ("decode p50", "decode_p50_s", 1e3, "ms"),
    ]
    for label, key, mult, unit in rows:
        print(f"{label + ' ' + unit:17s} " + " ".join(f"{cells[n][key] * mult:12.3f}" for n in names))
        for base in (NATIVE, "swa"):
            if base in cells:
                print(
                    f"{'  / ' + base:17s} "
                    + " ".join(f"{cells[n][key] / cells[base][key]:11.3f}x" for n in names)
                )


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--methods", default=",".join([NATIVE, *METHODS]))
    parser.add_argument("--lengths", default="2048", help="comma-separated prompt lengths")
    parser.add_argument("--dtypes", default="float32,bfloat16")
    parser.add_argument("--window", type=int, default=512)
    parser.add_argument("--sinks", type=int, default=32)
    parser.add_argument("--wide-window", type=int, default=None, help="add swa with this window (decode)")
    parser.add_argument("--decode-steps", type=int, default=12)
    parser.add_argument("--decode-warmup", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2, help="rounds over all cells")
    parser.add_argument("--chunk", type=int, default=DEFAULT_PREFILL_CHUNK, help="prefill chunk")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="auto", help="auto (cuda when present), cpu or cuda")
    parser.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    device = torch.device(
        ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
    )
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    lengths = [int(x) for x in args.lengths.split(",")]
    dtypes = [d.strip() for d in args.dtypes.split(",")]

    from benchmarks.results import environment

    load_before = os.getloadavg()
    results = {}
    for dtype in dtypes:
        model = load_base_model(args.model, DTYPES[dtype]).to(device)
        vocab = model.config.vocab_size
        for length in lengths:
            gen = torch.Generator().manual_seed(length)
            ids = torch.randint(0, vocab, (1, length), generator=gen).to(device)
            specs = cell_specs(methods, args.window, args.sinks, args.wide_window, length)
            samples = {name: [] for name in specs}
            for round_ in range(args.repeats):
                for name, spec in specs.items():
                    cell = run_cell(model, spec, ids, args.chunk, args.decode_steps, args.decode_warmup)
                    samples[name].append(cell)
                    print(
                        f"  [{DTYPE_LABELS.get(dtype, dtype)} L={length} round {round_ + 1}/{args.repeats}]"
                        f" {name}: prefill {cell['prefill_s']:.2f} s, decode p50"
                        f" {statistics.median(cell['decode_s']) * 1e3:.1f} ms",
                        file=sys.stderr,
                        flush=True,
                    )
            cells = summarise(samples)
            print_table(DTYPE_LABELS.get(dtype, dtype), length, cells)
            results[f"{dtype}/L{length}"] = {
                "cells": cells,
                "ratios": ratios(cells, args.window, args.sinks, args.wide_window),
            }
        del model
    load_after = os.getloadavg()
    load = f"load average (1 min) before {load_before[0]:.2f}, after {load_after[0]:.2f}"
    print(f"\n{load}; {args.threads} threads")
    for key, result in results.items():
        print(key + ": " + ", ".join(f"{k} {v:.3f}" for k, v in result["ratios"].items()))
    summary = {
        "config": vars(args),
        "environment": environment() | {"torch_device": str(device)},
        "load_average": {"before": load_before, "after": load_after},
        "results": results,
    }
    if args.json:
        print(json.dumps(summary, sort_keys=True))
    return summary


if __name__ == "__main__":
    main()
