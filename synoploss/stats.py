"""Uncertainty of the numbers the experiments compare: 95% intervals for one run's
accuracy (Wilson), for a mean over samples or over seeds (Student's t), and paired
bootstrap intervals for quantities computed from several models tested on the same
samples (a reduction of SynOps at equal accuracy, an accuracy gap).

Every function is pure (arrays in, numbers out) so that tests can check it against values
worked out by hand or by scipy.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
from scipy import stats as _scipy

CONFIDENCE = 0.95
_Z = float(_scipy.norm.ppf(1 - (1 - CONFIDENCE) / 2))  # 1.96


@dataclass(frozen=True)
class Interval:
    """An estimate with its 95% interval."""
    value: float
    low: float
    high: float

    def contains(self, x: float) -> bool:
        return self.low <= x <= self.high

    def __str__(self):
        return f"{self.value:.4g} [{self.low:.4g}, {self.high:.4g}]"


def t_quantile(degrees_of_freedom: int) -> float:
    """Student's t quantile of a two-sided 95% interval."""
    if degrees_of_freedom < 1:
        raise ValueError(f"degrees of freedom must be >= 1, got {degrees_of_freedom}")
    return float(_scipy.t.ppf(1 - (1 - CONFIDENCE) / 2, degrees_of_freedom))


def wilson(correct: int, total: int) -> Interval:
    """The Wilson score interval of a proportion (an accuracy measured on `total` samples):
    unlike the normal approximation it stays inside [0, 1] and is honest near 0 and 1."""
    if total <= 0:
        raise ValueError("wilson: no samples")
    if not 0 <= correct <= total:
        raise ValueError(f"wilson: {correct} correct of {total}")
    p = correct / total
    denominator = 1 + _Z ** 2 / total
    centre = (p + _Z ** 2 / (2 * total)) / denominator
    half = _Z * math.sqrt(p * (1 - p) / total + _Z ** 2 / (4 * total ** 2)) / denominator
    return Interval(p, max(0.0, centre - half), min(1.0, centre + half))


def mean_interval(values: Sequence[float]) -> Interval:
    """Mean and its t interval (samples or seeds). One value: the interval is unknown (NaN
    bounds), never zero-width."""
    values = np.asarray(values, dtype=np.float64)
    if values.size == 0:
        raise ValueError("mean_interval: no values")
    mean = float(values.mean())
    if values.size == 1:
        return Interval(mean, math.nan, math.nan)
    half = t_quantile(values.size - 1) * float(values.std(ddof=1)) / math.sqrt(values.size)
    return Interval(mean, mean - half, mean + half)


def bootstrap(statistic: Callable[[np.ndarray], float], n_samples: int, resamples: int = 2000,
              seed: int = 0) -> Interval:
    """Percentile bootstrap of `statistic(indices)` over test samples drawn with
    replacement: the same draw for every model in the statistic (paired), as they were
    tested on the same samples. The value is the statistic on all samples; resamples
    whose statistic is undefined (NaN) count as outside, so a statistic that often
    cannot be computed gets a wide interval rather than a flattering one."""
    rng = np.random.default_rng(seed)
    value = float(statistic(np.arange(n_samples)))
    draws = np.array([statistic(rng.integers(0, n_samples, n_samples))
                      for _ in range(resamples)], dtype=np.float64)
    undefined = np.isnan(draws)
    if undefined.all():
        return Interval(value, math.nan, math.nan)
    # undefined draws are put at both ends, half each: they widen the interval
    finite = np.sort(draws[~undefined])
    pad = int(undefined.sum())
    padded = np.concatenate([np.full(pad // 2, -np.inf), finite, np.full(pad - pad // 2, np.inf)])
    low, high = np.quantile(padded, [(1 - CONFIDENCE) / 2, 1 - (1 - CONFIDENCE) / 2],
                            method="inverted_cdf")
    return Interval(value, float(low), float(high))


def verdict(interval: Interval, threshold: float = 0.0) -> str:
    """How an interval for "x > threshold" reads: supported (all of it above), contradicted
    (all of it at or below), or not shown (it includes both)."""
    if math.isnan(interval.low) or math.isnan(interval.high):
        return "not shown"
    if interval.low > threshold:
        return "supported"
    if interval.high <= threshold:
        return "contradicted"
    return "not shown"
