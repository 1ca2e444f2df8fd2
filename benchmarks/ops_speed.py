"""Forward speed of the gated delta rule forms on this machine: ours (chunked, recurrent) vs fla's naive refs.

    python -m benchmarks.ops_speed [--B 1 --T 4096 --H 9 --D 64 --chunk-sizes 64 32 --threads 2 --json]

Candidates are timed round-robin (one call of each per round) so that load from other processes hits them
alike; the table reports median, min and max seconds, the speed-up of our chunked form (at the first chunk
size) over each candidate, and the analytic FLOPs of the chunked form. fla's naive chunk form runs at its
default chunk size, 64. With --json the last stdout line is one JSON object
with the config, environment, timings and ratios.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import statistics
import time
import warnings

import torch
import torch.nn.functional as F

from ahn.ops import gated_delta_rule_chunked, gated_delta_rule_recurrent


def chunked_gdn_flops(B: int, T: int, H: int, K: int, V: int, C: int) -> int:
    """Matmul FLOPs (2 per multiply-add) of gated_delta_rule_chunked, per (token, head):
    K K^T and Q K^T: 2 * 2CK; (I + A)^{-1} by triangular solve: C^2 / 3; T V, T K: 2C(V + K);
    (Q K^T * D) U: 2CV; W S0, K^T U (inter-chunk loop) and Q S0: 3 * 2KV."""
    per_token_head = 4 * C * K + C * C // 3 + 2 * C * (V + K) + 2 * C * V + 6 * K * V
    return B * T * H * per_token_head


def fla_version() -> str | None:
    try:
        return importlib.metadata.version("flash-linear-attention")
    except importlib.metadata.PackageNotFoundError:
        return None


def make_inputs(B: int, T: int, H: int, D: int, seed: int = 0) -> dict[str, torch.Tensor]:
    """Inputs as the AHN GDN memory produces them: L2-normalised q, k; beta in (0, 1); small log decays."""
    gen = torch.Generator().manual_seed(seed)
    q, k, v = (torch.randn(B, T, H, D, generator=gen) for _ in range(3))
    return dict(
        q=F.normalize(q, dim=-1),
        k=F.normalize(k, dim=-1),
        v=v,
        beta=torch.rand(B, T, H, generator=gen).sigmoid(),
        g=-F.softplus(torch.randn(B, T, H, generator=gen) - 3.0),
    )


def candidates(chunk_sizes: list[int]) -> dict:
    """name -> f(inputs) returning o; the first is the reference for ratios and differences.
    fla's naive refs are skipped where fla is not installed."""
    runs = {
        f"ahn_chunked_c{c}": lambda x, c=c: gated_delta_rule_chunked(**x, chunk_size=c)[0]
        for c in chunk_sizes
    }
    runs["ahn_recurrent"] = lambda x: gated_delta_rule_recurrent(**x)[0]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # fla warns that its Triton kernels need a GPU
            from fla.ops.gated_delta_rule.naive import (
                naive_chunk_gated_delta_rule,
                naive_recurrent_gated_delta_rule,
            )
    except ImportError:
        return runs
    runs["fla_naive_recurrent"] = lambda x: naive_recurrent_gated_delta_rule(**x)[0]
    runs["fla_naive_chunk"] = lambda x: naive_chunk_gated_delta_rule(**x)[0]
    return runs


def time_round_robin(runs: dict, inputs: dict, repeats: int, warmup: int) -> dict[str, list[float]]:
    seconds = {name: [] for name in runs}
    with torch.no_grad():
        for i in range(warmup + repeats):
            for name, run in runs.items():
                start = time.perf_counter()
                run(inputs)  # CPU ops are synchronous: no device sync needed
                if i >= warmup:
                    seconds[name].append(time.perf_counter() - start)
    return seconds


def max_abs_diff_to_first(runs: dict, inputs: dict) -> dict[str, float]:
    """Sanity check that every candidate computes the same thing (fp32 differences ~1e-6)."""
    with torch.no_grad():
        ref = next(iter(runs.values()))(inputs)
        return {name: (run(inputs) - ref).abs().max().item() for name, run in runs.items()}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--B", type=int, default=1)
    parser.add_argument("--T", type=int, default=4096)
    parser.add_argument("--H", type=int, default=9)
    parser.add_argument("--D", type=int, default=64)
    parser.add_argument("--chunk-sizes", type=int, nargs="+", default=[64, 32], help="first: the ratio base")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    from benchmarks.results import environment

    inputs = make_inputs(args.B, args.T, args.H, args.D)
    runs = candidates(args.chunk_sizes)
    base = next(iter(runs))
    diffs = max_abs_diff_to_first(runs, inputs)
    seconds = time_round_robin(runs, inputs, args.repeats, args.warmup)
    median = {name: statistics.median(s) for name, s in seconds.items()}
    flops = {c: chunked_gdn_flops(args.B, args.T, args.H, args.D, args.D, c) for c in args.chunk_sizes}

    shape = f"B={args.B} T={args.T} H={args.H} D={args.D}"
    print(f"gated delta rule forward, {shape}, fp32, {args.threads} threads, {args.repeats} rounds")
    print(f"{'form':20s} {'median s':>9s} {'min s':>9s} {'max s':>9s} {'/ ' + base:>19s} {'max|diff|':>9s}")
    for name, s in seconds.items():
        ratio = median[name] / median[base]
        print(f"{name:20s} {median[name]:9.4f} {min(s):9.4f} {max(s):9.4f} {ratio:19.2f} {diffs[name]:9.1e}")
    for c, f in flops.items():
        rate = f / median[f"ahn_chunked_c{c}"] / 1e9
        print(f"ahn_chunked_c{c}: {f / 1e9:.2f} GFLOP analytic (matmuls), {rate:.1f} GFLOP/s at the median")

    result = {
        "config": vars(args),
        "environment": environment() | {"fla": fla_version()},
        "seconds": seconds,
        "median_seconds": median,
        "ratio_base": base,
        "speedup_of_base": {name: median[name] / median[base] for name in runs},
        "max_abs_diff_to_base": diffs,
        "chunked_flops": flops,
    }
    if args.json:
        print(json.dumps(result, sort_keys=True))
    return result


if __name__ == "__main__":
    main()
