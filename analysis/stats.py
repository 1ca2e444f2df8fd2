"""Uncertainty for every sample mean the report shows: Wilson intervals for pass/fail scores, percentile
bootstrap for other means and for paired differences, p10-p90 for timings.

All intervals are 95% and deterministic (the bootstrap has a fixed seed), so a report rebuilt from the same
rows is byte-identical.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

Z95 = 1.959963984540054  # two-sided 95% normal quantile
BOOTSTRAP_RESAMPLES = 4000
SEED = 0


@dataclass(frozen=True)
class Estimate:
    """A sample mean with its 95% interval; `method` names how the interval was made."""

    mean: float
    lo: float
    hi: float
    n: int
    method: str  # "wilson", "bootstrap", "paired bootstrap", "none" (one sample, or an aggregate only)

    @property
    def excludes_zero(self) -> bool:
        return bool(self.lo > 0 or self.hi < 0)


def wilson(successes: int, n: int) -> tuple[float, float]:
    """Wilson score interval for a proportion (Wilson 1927), as fractions in [0, 1].

    centre = (p + z^2/2n) / (1 + z^2/n), half-width = z sqrt(p(1-p)/n + z^2/4n^2) / (1 + z^2/n)."""
    if n <= 0:
        return (math.nan, math.nan)
    p, z2 = successes / n, Z95**2
    denom = 1 + z2 / n
    centre = (p + z2 / (2 * n)) / denom
    half = Z95 * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denom
    # At p = 0 or 1 one bound equals p exactly; rounding must not put p outside its own interval.
    return (max(0.0, min(p, centre - half)), min(1.0, max(p, centre + half)))


def _bootstrap_means(values: np.ndarray) -> np.ndarray:
    rng = np.random.default_rng(SEED)
    idx = rng.integers(0, len(values), size=(BOOTSTRAP_RESAMPLES, len(values)))
    return values[idx].mean(axis=1)


def is_pass_fail(values, top: float = 100.0) -> bool:
    """Scores that are all 0 or `top` (exact match, passkey, needle retrieval): a proportion."""
    v = np.asarray(values, dtype=float)
    return bool(len(v)) and bool(np.all((v == 0) | (v == top)))


def mean_interval(values, top: float | None = 100.0) -> Estimate:
    """Mean of per-sample values with a 95% interval: Wilson where every value is 0 or `top` (a proportion,
    scaled by `top`; `top=None` for quantities that are never one), else the percentile bootstrap."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    n = len(v)
    if n == 0:
        return Estimate(math.nan, math.nan, math.nan, 0, "none")
    mean = float(v.mean())
    if top is not None and is_pass_fail(v, top):
        lo, hi = wilson(int(round((v == top).sum())), n)
        return Estimate(mean, lo * top, hi * top, n, "wilson")
    if n == 1:
        return Estimate(mean, math.nan, math.nan, 1, "none")
    boot = _bootstrap_means(v)
    lo, hi = np.percentile(boot, [2.5, 97.5])
    return Estimate(mean, float(lo), float(hi), n, "bootstrap")


def paired_difference(a, b) -> Estimate:
    """Mean of a_i - b_i over samples both methods answered, with the percentile bootstrap of that mean
    (resampling samples, so the pairing is kept). Identical predictions give exactly 0 and a zero-width
    interval; so do samples that all differ by the same amount, which says the interval reflects only the
    samples drawn (read it with n and, for pass/fail scores, `sign_test_p`)."""
    d = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    d = d[np.isfinite(d)]
    n = len(d)
    if n == 0:
        return Estimate(math.nan, math.nan, math.nan, 0, "none")
    if n == 1:
        return Estimate(float(d[0]), math.nan, math.nan, 1, "none")
    boot = _bootstrap_means(d)
    lo, hi = np.percentile(boot, [2.5, 97.5])
    return Estimate(float(d.mean()), float(lo), float(hi), n, "paired bootstrap")


def significant(est: Estimate, sign_p: float = math.nan, alpha: float = 0.05) -> bool:
    """A paired difference is called significant when its 95% interval excludes 0 and, for pass/fail scores
    (where `sign_p` is given), the exact sign test agrees at `alpha`: when every pair moves the same way the
    bootstrap interval has zero width at any n, and 3 of 3 is not evidence (sign test p = 0.25)."""
    return est.excludes_zero and (not math.isfinite(sign_p) or sign_p < alpha)


def sign_test_p(a, b) -> float:
    """Exact two-sided McNemar (sign) test on the discordant pairs of two pass/fail score lists."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    wins, losses = int((a > b).sum()), int((a < b).sum())
    k, n = min(wins, losses), wins + losses
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2**n
    return min(1.0, 2 * tail)


def percentile_spread(samples) -> tuple[float, float, float, int]:
    """(p10, p50, p90, repeats) of repeated timings; NaN spread with fewer than two repeats."""
    s = np.asarray([x for x in (samples or []) if x is not None], dtype=float)
    if len(s) == 0:
        return (math.nan, math.nan, math.nan, 0)
    if len(s) == 1:
        return (math.nan, float(s[0]), math.nan, 1)
    p10, p50, p90 = np.percentile(s, [10, 50, 90])
    return (float(p10), float(p50), float(p90), len(s))
