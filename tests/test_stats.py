"""synoploss.stats against scipy (the oracle) and against values worked out by hand."""
import math

import numpy as np
import pytest
from scipy import stats as scipy_stats

from synoploss.stats import (
    Interval,
    average_ranks,
    bootstrap,
    bootstrap_units_and_samples,
    common_range,
    jackknife,
    mean_gap_over_overlap,
    mean_interval,
    mean_ratio,
    polyline,
    spearman,
    t_quantile,
    verdict,
    wilson,
)


@pytest.mark.parametrize("correct,total", [(0, 10), (3, 10), (90, 100), (270, 300),
                                           (1812, 2000), (2000, 2000)])
def test_wilson_equals_scipy(correct, total):
    expected = scipy_stats.binomtest(correct, total).proportion_ci(method="wilson")
    interval = wilson(correct, total)
    assert interval.value == correct / total
    assert interval.low == pytest.approx(expected.low, abs=1e-12)
    assert interval.high == pytest.approx(expected.high, abs=1e-12)


def test_wilson_at_90_percent_of_300_is_the_issues_1_7_points():
    """The issue's numbers: 90% on 300 chunks has a standard error of 1.7 points, so a
    95% interval of about +-3.4."""
    interval = wilson(270, 300)
    assert (interval.high - interval.low) / 2 == pytest.approx(0.034, abs=0.002)


@pytest.mark.parametrize("values", [[1.0, 2.0, 3.0], [0.9, 0.95, 0.88, 0.91], list(range(40))])
def test_mean_interval_equals_scipy(values):
    expected = scipy_stats.t.interval(0.95, len(values) - 1, loc=np.mean(values),
                                      scale=scipy_stats.sem(values))
    interval = mean_interval(values)
    assert (interval.low, interval.high) == pytest.approx(expected, rel=1e-12)


def test_one_value_has_no_interval():
    interval = mean_interval([4.2])
    assert interval.value == 4.2 and math.isnan(interval.low) and verdict(interval) == "not shown"


def test_t_quantile_by_hand():
    assert t_quantile(1) == pytest.approx(12.706, abs=1e-3)
    assert t_quantile(2) == pytest.approx(4.303, abs=1e-3)
    with pytest.raises(ValueError):
        t_quantile(0)


def test_bootstrap_covers_a_known_accuracy_and_pairs_the_draw():
    rng = np.random.default_rng(0)
    correct = rng.random(2000) < 0.9
    interval = bootstrap(lambda idx: correct[idx].mean(), len(correct), resamples=500)
    exact = wilson(int(correct.sum()), len(correct))
    assert interval.value == correct.mean()
    assert interval.low == pytest.approx(exact.low, abs=0.005)
    assert interval.high == pytest.approx(exact.high, abs=0.005)
    # paired: the same samples for both sides, so a difference of a model with itself is 0
    same = bootstrap(lambda idx: correct[idx].mean() - correct[idx].mean(), len(correct), 200)
    assert (same.low, same.value, same.high) == (0.0, 0.0, 0.0)


def test_undefined_draws_widen_the_interval():
    values = np.arange(100.0)
    sometimes = bootstrap(lambda idx: values[idx].mean() if idx[0] % 3 else math.nan, 100, 300)
    always = bootstrap(lambda idx: values[idx].mean(), 100, 300)
    assert sometimes.high - sometimes.low > always.high - always.low
    assert math.isinf(sometimes.low) or sometimes.low < always.low


@pytest.mark.parametrize("low,high,expected", [(0.5, 2.0, "supported"),
                                               (-2.0, -0.5, "contradicted"),
                                               (-1.0, 1.0, "not shown"), (0.0, 1.0, "not shown")])
def test_verdicts(low, high, expected):
    assert verdict(Interval(0.0, low, high)) == expected


# ------------------------------------------------------------------ #33: beyond points


@pytest.mark.parametrize("upper,lower,expected", [
    # the same x range: the gap grows linearly from 0 to 0.4, its mean is 0.2
    (([0, 2], [0.5, 0.9]), ([0, 2], [0.5, 0.5]), 0.2),
    # partial overlap [1, 2]: the gap is x there, its mean 1.5
    (([0, 2], [0, 2]), ([1, 3], [0, 0]), 1.5),
    # a tent on [0, 2] against 0: area 1 over width 2
    (([0, 1, 2], [0, 1, 0]), ([0, 2], [0, 0]), 0.5),
    # a point of the lower curve inside the overlap [1, 4]: 4 - (0 -> 2) on [1, 2] (area
    # 3), then 4 - 2 on [2, 4] (area 4): 7 / 3
    (([0, 4], [4, 4]), ([1, 2, 5], [0, 2, 2]), 7 / 3),
    # unsorted, two points at x = 2 averaged (1 and 3: 2): the line y = x on [0, 2]
    (([2, 0, 2], [1, 0, 3]), ([0, 2], [0, 0]), 1.0),
])
def test_the_mean_gap_over_the_overlap_by_hand(upper, lower, expected):
    assert mean_gap_over_overlap(*upper, *lower) == pytest.approx(expected, rel=1e-12)
    # swapped, the gap changes sign
    assert mean_gap_over_overlap(*lower, *upper) == pytest.approx(-expected, rel=1e-12)


@pytest.mark.parametrize("upper_x,lower_x", [([0, 1], [2, 3]),    # apart
                                             ([0, 1], [1, 2]),    # touching at one point
                                             ([1, 1], [0, 2]),    # one x: no range
                                             ([], [0, 1])])
def test_curves_without_a_common_range_have_no_gap(upper_x, lower_x):
    assert common_range(upper_x, lower_x) is None
    assert math.isnan(mean_gap_over_overlap(upper_x, [0.5] * len(upper_x),
                                            lower_x, [0.1] * len(lower_x)))


def test_the_mean_gap_equals_a_dense_numerical_average():
    """Independent check: np.interp on a fine grid of the overlap, averaged."""
    rng = np.random.default_rng(3)
    for _ in range(20):
        upper_x, lower_x = np.sort(rng.uniform(0, 10, 5)), np.sort(rng.uniform(0, 10, 4))
        upper_y, lower_y = rng.uniform(0, 1, 5), rng.uniform(0, 1, 4)
        span = common_range(upper_x, lower_x)
        if span is None:
            continue
        grid = np.linspace(*span, 400_001)
        dense = np.mean(np.interp(grid, upper_x, upper_y) - np.interp(grid, lower_x, lower_y))
        assert mean_gap_over_overlap(upper_x, upper_y, lower_x, lower_y) == pytest.approx(
            dense, abs=1e-5)
    assert common_range([0, 2], [1, 3]) == (1, 2)
    knots, values = polyline([2, 0, 2], [1, 0, 3])
    assert knots.tolist() == [0, 2] and values.tolist() == [0, 2]


@pytest.mark.parametrize("values", [[1.0, 2.0, 4.0], [0.3, 0.1], list(np.linspace(-1, 5, 7))])
def test_the_jackknife_of_a_mean_is_its_t_interval(values):
    values = np.asarray(values)
    interval = jackknife(lambda units: float(values[units].mean()), len(values))
    expected = mean_interval(values)
    assert interval.value == pytest.approx(expected.value)
    assert (interval.low, interval.high) == pytest.approx((expected.low, expected.high),
                                                          rel=1e-12)


def test_the_jackknife_of_the_log_of_a_mean_by_hand():
    """log(mean) of 3, 2, 1: leaving one out gives log 1.5, log 2, log 2.5; the standard
    error is sqrt(2/3 * sum of their squared deviations), times t(2) = 4.303."""
    values = np.array([3.0, 2.0, 1.0])
    interval = jackknife(lambda units: math.log(values[units].mean()), 3)
    left_out = np.log([1.5, 2.0, 2.5])
    half = 4.302653 * math.sqrt(2 / 3 * np.sum((left_out - left_out.mean()) ** 2))
    assert interval.value == pytest.approx(math.log(2.0))
    assert (interval.low, interval.high) == pytest.approx((math.log(2) - half,
                                                           math.log(2) + half), rel=1e-6)
    assert math.isnan(jackknife(lambda units: 1.0, 1).low)  # one seed: no spread known
    assert math.isnan(jackknife(lambda units: math.nan if len(units) < 3 else 1.0, 3).low)


def test_mean_ratio_by_hand():
    # mean 2, t(2) * sd 1 / sqrt(3) = 2.484; over the reference 2
    interval = mean_ratio([1.0, 2.0, 3.0], 2.0)
    half = 4.302653 / math.sqrt(3)
    assert (interval.value, interval.low, interval.high) == pytest.approx(
        (1.0, (2 - half) / 2, (2 + half) / 2), rel=1e-6)
    assert math.isnan(mean_ratio([1.0, 2.0], 0.0).value)


def test_spearman_equals_scipy_with_and_without_ties():
    rng = np.random.default_rng(5)
    for _ in range(20):
        x = rng.integers(0, 6, 12).astype(float)     # many ties
        y = x + rng.normal(0, 2, 12)
        y[:3] = y[3]                                 # ties on the other side too
        assert spearman(x, y) == pytest.approx(scipy_stats.spearmanr(x, y).statistic,
                                               abs=1e-12)
        assert average_ranks(x).tolist() == pytest.approx(scipy_stats.rankdata(x).tolist())
    # by hand: two neighbours swapped among 4: 1 - 6 * 2 / (4 * 15) = 0.8
    assert spearman([1, 2, 3, 4], [10, 20, 40, 30]) == pytest.approx(0.8)
    assert math.isnan(spearman([1, 2, 3], [5, 5, 5])) and math.isnan(spearman([1], [2]))


def test_the_bootstrap_over_units_keeps_each_group_and_pairs_the_samples():
    groups = ["a", "a", "b", "b", "b"]
    # each draw keeps 2 units of group a (units 0, 1) and 3 of group b
    counts = bootstrap_units_and_samples(lambda units, samples: float(np.sum(units < 2)),
                                         groups, 10, resamples=200)
    assert (counts.value, counts.low, counts.high) == (2.0, 2.0, 2.0)
    # paired: units measured on the same samples agree on every draw (5 equal rows)
    data = np.random.default_rng(0).normal(size=(5, 50))
    equal = np.repeat(data[:1], 5, axis=0)
    same = bootstrap_units_and_samples(
        lambda units, samples: float(np.ptp(equal[np.ix_(units, samples)].mean(1))),
        groups, 50, resamples=100)
    assert (same.value, same.low, same.high) == (0.0, 0.0, 0.0)
    # an average over units and samples: its interval covers the mean and has width
    spread = bootstrap_units_and_samples(
        lambda units, samples: float(data[np.ix_(units, samples)].mean()), groups, 50, 300)
    assert spread.low < data.mean() < spread.high
