"""synoploss.stats against scipy (the oracle) and against values worked out by hand."""
import math

import numpy as np
import pytest
from scipy import stats as scipy_stats

from synoploss.stats import Interval, bootstrap, mean_interval, t_quantile, verdict, wilson


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
