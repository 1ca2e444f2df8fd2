"""Cache memory, analytic and measured, and the process's peak memory.

Analytic, two ways:
- `cache_bytes` mirrors exactly what the method's cache layer holds after L tokens (batch 1), as the
  method states it (`spec.method.cache_parts`, ahn/methods/<family>.py): full attention keeps every
  token's K and V; swa the sinks' and the last W tokens' K and V in the model dtype; AHN adds the write
  scalars of those W tokens [W, Hq, n_write] fp32 and, once a token has been evicted (L > S + W), the
  state [Hq, D, D] fp32; CT adds its compressed entries and pending group, SnapKV holds its budget and
  the observation window's queries.
- `paper_cache_bytes` is the paper's formula (spec ahn.md §3): per layer 2 L D Hkv elements for full
  attention and 2 W D Hkv + D^2 Hq with AHN, every element at one size. It omits the write scalars, keeps
  the state at the KV's precision, and its W must be read as the whole lossless memory (sinks + window);
  other methods count their KV entries the same way (`spec.method.paper_cache_elements`).

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

from ahn.methods import MethodSpec
from benchmarks.efficiency import flops
from benchmarks.efficiency.shapes import ModelShape


def dtype_bytes(dtype: torch.dtype | str) -> int:
    from ahn.models import DTYPES

    dtype = DTYPES[dtype] if isinstance(dtype, str) else dtype
    return torch.empty((), dtype=dtype).element_size()


@dataclass(frozen=True)
class CacheBreakdown:
    kv: int = 0
    write_scalars: int = 0
    state: int = 0
    observation: int = 0  # queries an eviction method keeps to score with (snapkv)

    @property
    def total(self) -> int:
        return self.kv + self.write_scalars + self.state + self.observation

    def as_dict(self) -> dict[str, int]:
        return {**asdict(self), "total": self.total}


def cache_bytes(shape: ModelShape, spec: MethodSpec, length: int, kv_bytes: int) -> CacheBreakdown:
    """Bytes the cache holds after `length` tokens, as ahn.cache stores them (batch 1)."""
    return CacheBreakdown(**spec.method.cache_parts(spec, shape, length, kv_bytes))


def paper_cache_bytes(shape: ModelShape, spec: MethodSpec, length: int, bytes_per_element: int) -> int:
    """The paper's formula: 2 L D Hkv per layer (full), 2 W D Hkv + D^2 Hq (AHN), W = sinks + window."""
    return shape.layers * spec.method.paper_cache_elements(spec, shape, length) * bytes_per_element


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


def cycle_peak_cache_bytes(shape: ModelShape, spec: MethodSpec, length: int, kv_bytes: int) -> int:
    """The most bytes the cache holds after any of `length`, ..., `length + period - 1` tokens, period the
    method's cache cycle (Method.cache_cycle): what a cycling method (snapkv, ct) needs room for, where
    cache_bytes at a cycle boundary is its minimum."""
    period = flops.cycle_period(shape, spec)
    return max(cache_bytes(shape, spec, t, kv_bytes).total for t in range(length, length + period))
