"""Cache memory, analytic and measured, and the process's peak memory.

Analytic, two ways:
- `cache_bytes` mirrors exactly what ahn.cache.MemoryCacheLayer holds after L tokens (batch 1):
  full attention keeps every token's K and V; a windowed method keeps the sinks' and the last W tokens'
  K and V in the model dtype, and with AHN the write scalars of those W tokens [W, Hq, n_write] fp32 and,
  once a token has been evicted (L > S + W), the state [Hq, D, D] fp32.
- `paper_cache_bytes` is the paper's formula (spec ahn.md §3): per layer 2 L D Hkv elements for full
  attention and 2 W D Hkv + D^2 Hq with AHN, every element at one size. It omits the write scalars, keeps
  the state at the KV's precision, and its W must be read as the whole lossless memory (sinks + window).

Measured: `held_cache_bytes` sums what the cache's tensors hold (numel x element size) and, separately,
the bytes of the storages they keep alive (a slice keeps its whole parent tensor alive).
Peak memory: `PeakMemory` resets the high-water mark before a measurement and reads it after: on CUDA
torch's allocator statistics; on Linux CPU the kernel's resident-set high-water mark (VmHWM, reset by
writing 5 to /proc/self/clear_refs), which counts everything the process has resident (weights, the
framework) and is reported as such.
"""

from __future__ import annotations

import ctypes
import gc
import re
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from ahn.memory import MEMORIES
from ahn.methods import MethodSpec
from benchmarks.efficiency.shapes import ModelShape

FP32_BYTES = 4  # AHN write scalars and states are fp32 whatever the model dtype (ahn/memory.py)


def dtype_bytes(dtype: torch.dtype | str) -> int:
    from ahn.models import DTYPES

    dtype = DTYPES[dtype] if isinstance(dtype, str) else dtype
    return torch.empty((), dtype=dtype).element_size()


@dataclass(frozen=True)
class CacheBreakdown:
    kv: int = 0
    write_scalars: int = 0
    state: int = 0

    @property
    def total(self) -> int:
        return self.kv + self.write_scalars + self.state

    def as_dict(self) -> dict[str, int]:
        return {**asdict(self), "total": self.total}


def cache_bytes(shape: ModelShape, spec: MethodSpec, length: int, kv_bytes: int) -> CacheBreakdown:
    """Bytes the cache holds after `length` tokens, as ahn.cache stores them (batch 1)."""
    kv_token = 2 * shape.kv_heads * shape.head_dim * kv_bytes  # K and V of one token in one layer
    if not spec.windowed:
        return CacheBreakdown(kv=shape.layers * length * kv_token)
    S, W = spec.sinks, spec.window
    sinks, stream = min(length, S), min(max(length - S, 0), W)
    breakdown = CacheBreakdown(kv=shape.layers * (sinks + stream) * kv_token)
    if spec.memory is None:
        return breakdown
    n_write = MEMORIES[spec.memory].n_write
    state = shape.q_heads * shape.head_dim**2 * FP32_BYTES if length > S + W else 0  # created at 1st write
    return CacheBreakdown(
        kv=breakdown.kv,
        write_scalars=shape.layers * stream * shape.q_heads * n_write * FP32_BYTES,
        state=shape.layers * state,
    )


def paper_cache_bytes(shape: ModelShape, spec: MethodSpec, length: int, bytes_per_element: int) -> int:
    """The paper's formula: 2 L D Hkv per layer (full), 2 W D Hkv + D^2 Hq (AHN), W = sinks + window."""
    D = shape.head_dim
    if not spec.windowed:
        per_layer = 2 * length * D * shape.kv_heads
    else:
        kept = min(length, spec.sinks + spec.window)
        per_layer = 2 * kept * D * shape.kv_heads + (D * D * shape.q_heads if spec.memory else 0)
    return shape.layers * per_layer * bytes_per_element


def held_cache_bytes(cache) -> tuple[int, int]:
    """(bytes of the tensors the cache holds, bytes of the distinct storages those tensors keep alive)."""
    tensors = [t for layer in cache.layers for t in layer.tensors()]
    logical = sum(t.numel() * t.element_size() for t in tensors)
    storages = {t.untyped_storage().data_ptr(): t.untyped_storage().nbytes() for t in tensors}
    return logical, sum(storages.values())


# --- peak memory ---------------------------------------------------------------------------------
_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


def _status_kib(field: str) -> int | None:
    try:
        match = re.search(rf"^{field}:\s+(\d+) kB", _STATUS.read_text(), re.MULTILINE)
    except OSError:
        return None
    return int(match.group(1)) if match else None


def _release_free_memory() -> None:
    """Return freed heap pages to the OS, so the RSS we start from holds no earlier garbage."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


class PeakMemory:
    """`with PeakMemory(device) as peak: ...` then `peak.bytes`, `peak.kind`, `peak.baseline`.

    kind: "cuda_max_allocated" (bytes allocated by torch on the device), "rss_hwm" (resident set
    high-water mark, reset before the block), or "rss_maxrss_lifetime" where the mark cannot be reset
    (then the figure is the process's lifetime peak, monotone across measurements)."""

    def __init__(self, device: torch.device | str = "cpu"):
        self.device = torch.device(device)
        self.bytes = self.baseline = None
        self.kind = None

    def __enter__(self) -> PeakMemory:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats(self.device)
            self.kind, self.baseline = "cuda_max_allocated", torch.cuda.memory_allocated(self.device)
            return self
        _release_free_memory()
        try:
            _CLEAR_REFS.write_text("5")  # Linux >= 4.0: reset VmHWM to the current RSS
            self.kind = "rss_hwm"
        except OSError:
            self.kind = "rss_maxrss_lifetime"
        rss = _status_kib("VmRSS")
        self.baseline = None if rss is None else rss * 1024
        return self

    def __exit__(self, *exc) -> None:
        if self.kind == "cuda_max_allocated":
            torch.cuda.synchronize(self.device)
            self.bytes = torch.cuda.max_memory_allocated(self.device)
        elif self.kind == "rss_hwm":
            self.bytes = (_status_kib("VmHWM") or 0) * 1024
        else:
            import resource

            self.bytes = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
