"""Uncertainty of the numbers the experiments compare: 95% intervals for one run's
accuracy (Wilson), for a mean over samples or over seeds (Student's t), paired
bootstrap intervals for quantities computed from several models tested on the same
samples (a reduction of SynOps at equal accuracy, an accuracy gap; over models and
samples for a statistic over a sweep, Spearman's rank correlation), and the jackknife
over seeds for a statistic that is not a mean of per-seed values; and the mean gap
between two curves over the range both cover.

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
    draws = [statistic(rng.integers(0, n_samples, n_samples)) for _ in range(resamples)]
    return percentile_interval(value, draws)


def percentile_interval(value: float, draws: Sequence[float]) -> Interval:
    """`value` with the 2.5% and 97.5% percentiles of its bootstrap `draws`; undefined
    (NaN) draws are put at both ends, half each, so that they widen the interval."""
    draws = np.asarray(draws, dtype=np.float64)
    undefined = np.isnan(draws)
    if undefined.all():
        return Interval(value, math.nan, math.nan)
    finite = np.sort(draws[~undefined])
    pad = int(undefined.sum())
    padded = np.concatenate([np.full(pad // 2, -np.inf), finite, np.full(pad - pad // 2, np.inf)])
    low, high = np.quantile(padded, [(1 - CONFIDENCE) / 2, 1 - (1 - CONFIDENCE) / 2],
                            method="inverted_cdf")
    return Interval(value, float(low), float(high))


def bootstrap_units_and_samples(statistic: Callable[[np.ndarray, np.ndarray], float],
                                groups: Sequence, n_samples: int, resamples: int = 2000,
                                seed: int = 0) -> Interval:
    """Percentile bootstrap of `statistic(units, samples)` for a statistic over units (the
    models of a sweep) each measured on the same test samples: the units drawn with
    replacement within their group (a training seed keeps its number of models, as the
    sweep was designed per seed), and the test samples drawn with replacement, the same
    draw for every unit (paired). The value is the statistic on every unit and sample;
    undefined draws widen the interval (`percentile_interval`)."""
    groups = np.asarray(groups)
    members = [np.flatnonzero(groups == group) for group in dict.fromkeys(groups.tolist())]
    rng = np.random.default_rng(seed)
    value = float(statistic(np.arange(len(groups)), np.arange(n_samples)))
    draws = [statistic(np.concatenate([rng.choice(units, len(units)) for units in members]),
                       rng.integers(0, n_samples, n_samples)) for _ in range(resamples)]
    return percentile_interval(value, draws)


def jackknife(statistic: Callable[[np.ndarray], float], n_units: int) -> Interval:
    """`statistic(units)` on all units (training seeds) with a t interval (n - 1 degrees of
    freedom) from its leave-one-out (jackknife) standard error.

    Why: a statistic that is not a mean of per-seed values (the log of a mean over seeds
    against a mean of logs, a selection that depends on every seed) still gets the seeds'
    spread, computed the same way as for a mean: for a mean of per-seed values the
    interval is exactly the t interval of `mean_interval`, for a smooth function of means
    it is the delta method's. A bootstrap over 2 to 5 seeds would not do: 3 seeds have
    10 distinct resamples, and the percentile interval has no small-sample correction.
    Fewer than 2 units, or an undefined (NaN) statistic on any subset: NaN bounds."""
    units = np.arange(n_units)
    value = float(statistic(units))
    if n_units < 2 or math.isnan(value):
        return Interval(value, math.nan, math.nan)
    left_out = np.array([statistic(np.delete(units, unit)) for unit in units], dtype=np.float64)
    if np.isnan(left_out).any():
        return Interval(value, math.nan, math.nan)
    spread = float(np.sum((left_out - left_out.mean()) ** 2))
    half = t_quantile(n_units - 1) * math.sqrt((n_units - 1) / n_units * spread)
    return Interval(value, value - half, value + half)


def mean_ratio(values: Sequence[float], reference: float) -> Interval:
    """mean(values) / reference with the t interval of the mean, the reference taken as
    exact: how far a measurement (per test sample) lies from a fixed value, with the
    uncertainty of which samples were measured, and no other."""
    interval = mean_interval(values)
    if not reference > 0:
        return Interval(math.nan, math.nan, math.nan)
    return Interval(interval.value / reference, interval.low / reference,
                    interval.high / reference)


def average_ranks(values: Sequence[float]) -> np.ndarray:
    """Ranks 1..n, tied values sharing the mean of their ranks (as Spearman's coefficient
    ranks them)."""
    values = np.asarray(values, dtype=np.float64)
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    counts = np.diff(np.r_[starts, len(values)])
    ranks = np.empty(len(values))
    ranks[order] = np.repeat(starts + (counts + 1) / 2, counts)
    return ranks


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman's rank correlation: the Pearson correlation of the average ranks. NaN with
    fewer than 2 values or when either side is constant (no order to compare)."""
    if len(x) != len(y):
        raise ValueError(f"spearman: {len(x)} against {len(y)} values")
    if len(x) < 2:
        return math.nan
    x_ranks, y_ranks = average_ranks(x), average_ranks(y)
    x_ranks, y_ranks = x_ranks - x_ranks.mean(), y_ranks - y_ranks.mean()
    scale = math.sqrt(float(np.sum(x_ranks ** 2) * np.sum(y_ranks ** 2)))
    return math.nan if scale == 0 else float(np.sum(x_ranks * y_ranks) / scale)


def polyline(x: Sequence[float], y: Sequence[float]) -> tuple:
    """(x, y) sorted by x, the mean of y where points share an x: a curve that is linear
    between its measured points."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    knots, where = np.unique(x, return_inverse=True)
    return knots, np.bincount(where, weights=y) / np.bincount(where)


def common_range(upper_x: Sequence[float], lower_x: Sequence[float]) -> tuple | None:
    """(low, high) of the x range both curves cover; None when it is empty or one point."""
    if len(upper_x) == 0 or len(lower_x) == 0:
        return None
    low = max(float(np.min(upper_x)), float(np.min(lower_x)))
    high = min(float(np.max(upper_x)), float(np.max(lower_x)))
    return (low, high) if high > low else None


def mean_gap_over_overlap(upper_x: Sequence[float], upper_y: Sequence[float],
                          lower_x: Sequence[float], lower_y: Sequence[float]) -> float:
    """The mean of upper(x) - lower(x) over the x range both curves cover, each curve
    linear between its points (`polyline`): the integral of the gap over that range
    divided by its width. Exact: both curves are linear between the union of their
    points, so the trapezoid rule on those points is the integral. A gap at one x (a
    model against the other curve) says little about curves measured at different
    places; the mean over the common range weighs the whole of both. NaN when the
    curves share no range of x (nothing to compare)."""
    span = common_range(upper_x, lower_x)
    if span is None:
        return math.nan
    upper_x, upper_y = polyline(upper_x, upper_y)
    lower_x, lower_y = polyline(lower_x, lower_y)
    knots = np.union1d(np.concatenate([upper_x, lower_x]), span)
    knots = knots[(knots >= span[0]) & (knots <= span[1])]
    gap = np.interp(knots, upper_x, upper_y) - np.interp(knots, lower_x, lower_y)
    return float(np.trapezoid(gap, knots) / (span[1] - span[0]))


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
