"""synoploss.reporting.claims: the paper's claims from per-sample arrays, checked by hand."""
import math

import numpy as np
import pandas as pd
import pytest

from synoploss.io import save_npz
from synoploss.reporting.claims import (
    Model,
    fewest_synops_within,
    format_claims,
    gap_at_equal_synops,
    load_models,
    measure,
    mnist_dvs_claims,
    qat_claim,
)
from synoploss.reporting.readers import SpikingResults


def model(label, accuracy, synops, n=1000):
    correct = np.zeros(n, dtype=bool)
    correct[:round(accuracy * n)] = True
    return Model(label, correct, np.full(n, float(synops)))


ALL = np.arange(1000)


def test_the_reduction_at_the_allowed_drop_by_hand():
    baseline = model("base", 0.90, 100)
    candidates = [model("a", 0.89, 20), model("b", 0.80, 5), model("c", 0.895, 30)]
    # 1.3 points: accuracy >= 88.7% -> a (20) and c (30); 100 / 20 = 5
    assert fewest_synops_within(baseline, candidates, 1.3, ALL) == pytest.approx(5.0)
    # 0.5 points: accuracy >= 89.5%, only c
    assert fewest_synops_within(baseline, candidates, 0.5, ALL) == pytest.approx(100 / 30)
    assert math.isnan(fewest_synops_within(baseline, [model("d", 0.5, 1)], 1.3, ALL))


def test_the_gap_at_equal_synops_by_hand():
    lower = [model("w1", 0.5, 10), model("w2", 0.7, 100)]
    # 10^1.5 = 31.6 SynOps: half way in log SynOps, 0.6 interpolated; 0.8 - 0.6 = 20 points
    assert gap_at_equal_synops([model("q", 0.8, 10 ** 1.5)], lower, ALL) == pytest.approx(20.0)
    # outside the lower curve's range: not compared
    assert math.isnan(gap_at_equal_synops([model("q", 0.8, 1000)], lower, ALL))


def test_one_seed_gives_its_bootstrap_several_give_a_t_interval():
    statistic = (lambda idx: float(np.mean(idx < 900)), 1000)
    per_seed, overall = measure({1: statistic}, resamples=200)
    assert overall is per_seed[1] and overall.low < 0.9 < overall.high
    per_seed, overall = measure({1: statistic, 2: statistic, 3: statistic}, resamples=200)
    assert overall.value == pytest.approx(0.9) and overall.low == overall.high == pytest.approx(0.9)


def test_a_ratio_is_averaged_on_a_log_scale():
    # 2x and 8x: geometric mean 4x; t(1) = 12.706, log-scale sd = ln(4) / sqrt(2)
    fixed = lambda value: (lambda idx: value, 10)  # noqa: E731
    _, overall = measure({1: fixed(2.0), 2: fixed(8.0)}, resamples=20, ratio=True)
    half = 12.706 * math.log(4) / math.sqrt(2) / math.sqrt(2)
    assert overall.value == pytest.approx(4.0)
    assert overall.low == pytest.approx(4.0 * math.exp(-half), rel=1e-3)
    assert overall.high == pytest.approx(4.0 * math.exp(half), rel=1e-3)
    assert overall.low > 0
    _, overall = measure({1: fixed(2.0), 2: fixed(0.0)}, resamples=20, ratio=True)
    assert math.isnan(overall.value)


def write_model(workdir, name, accuracy, synops, seed=1, n=400, **extra):
    path = f"results/samples/{name}_{seed}.npz"
    correct = np.zeros(n, dtype=bool)
    correct[:round(accuracy * n)] = True
    save_npz(workdir / path, correct=correct, synops=np.full(n, float(synops)))
    return dict(model_path=f"models/{name}.pth", samples_path=path, seed=seed,
                snn_accuracy=accuracy, snn_synops=synops, ann_synops=synops, **extra)


def test_mnist_dvs_claims_from_files(tmp_path):
    rows = lambda *items: pd.DataFrame(list(items))  # noqa: E731
    baseline = rows(write_model(tmp_path, "base", 0.90, 4e6))
    qat = rows(write_model(tmp_path, "q1", 0.895, 1e6), write_model(tmp_path, "q2", 0.80, 4e5))
    scaling = rows(write_model(tmp_path, "w1", 0.60, 5e5), write_model(tmp_path, "w2", 0.88, 2e6))
    results = SpikingResults(baseline, {"SynOp+QAT": qat, "weight scaling": scaling},
                             evaluation={}, data="STAND-IN", others=[])
    claims = {claim.name.split(":")[0].split(" at")[0]: claim
              for claim in mnist_dvs_claims(tmp_path, results, resamples=100)}
    reduction = claims["SynOp+QAT"]
    assert reduction.measured.value == pytest.approx(4.0)  # 4e6 / 1e6, q2 is 10 points down
    assert reduction.verdict == "supported" and "lies below the paper's 6x" in reduction.note
    gap = claims["SynOp+QAT above weight scaling"]
    # q1 at 1e6: weight scaling interpolated at log10(1e6) between (5e5, 60%) and (2e6, 88%)
    expected = (0.895 - (0.60 + (0.88 - 0.60) * 0.5)) * 100
    assert gap.measured.value == pytest.approx(expected)


def test_missing_per_sample_arrays_are_named(tmp_path):
    frame = pd.DataFrame([dict(model_path="models/x.pth", samples_path="results/samples/x.npz")])
    with pytest.raises(FileNotFoundError, match="x.npz: the per-sample arrays of models/x.pth"):
        load_models(tmp_path, frame)


def test_qat_claim_from_files(tmp_path):
    plain = pd.DataFrame([dict(write_model(tmp_path, f"p{s}", 0.80, 1e5), scale=s)
                          for s in (0.5, 1.0)])
    qat = pd.DataFrame([dict(write_model(tmp_path, f"q{s}", 0.95, 1e5), scale=s)
                        for s in (0.5, 1.0)])
    claim, = qat_claim({1: (tmp_path, plain, qat)}, resamples=100)
    assert claim.measured.value == pytest.approx(15.0) and claim.verdict == "supported"


def qat_sweep(tmp_path, log_models):
    """A baseline (90%, 4e6 SynOps) and 2 SynOp+QAT models tested (89.5% at 1e6, 80% at
    4e5), with `log_models` as the training log's."""
    rows = lambda *items: pd.DataFrame(list(items))  # noqa: E731
    return SpikingResults(rows(write_model(tmp_path, "base", 0.90, 4e6)),
                          {"SynOp+QAT": rows(write_model(tmp_path, "q1", 0.895, 1e6),
                                             write_model(tmp_path, "q2", 0.80, 4e5))},
                          evaluation={}, data="STAND-IN", others=[], log_models=log_models)


def test_a_claim_from_a_partial_sweep_is_incomplete_and_names_the_untested(tmp_path):
    """#31.5: with q3 of the training log untested, the reduction (4e6 / 1e6 = 4x on the
    tested models, supported) could move either way: "incomplete", from 3 of 4 models (the
    baseline and 2 of 3 SynOp+QAT), q3 named; likewise the estimate (2 of 3)."""
    results = qat_sweep(tmp_path, {"baseline": ["models/base.pth"],
                                   "SynOp+QAT": ["models/q1.pth", "models/q2.pth",
                                                 "models/q3.pth"]})
    reduction, estimate = mnist_dvs_claims(tmp_path, results, resamples=100)
    assert reduction.measured.value == pytest.approx(4.0) and reduction.verdict == "incomplete"
    assert reduction.note == ("from 3 of 4 models; untested: models/q3.pth; the tested ones "
                              "alone: supported; the interval lies below the paper's 6x")
    row = reduction.row()
    assert (row["verdict"], row["models_tested"], row["models_in_log"], row["untested"]) == (
        "incomplete", 3, 4, "models/q3.pth")
    assert estimate.verdict == "incomplete"  # estimate == measurement here: supported alone
    assert estimate.note.startswith("from 2 of 3 models; untested: models/q3.pth; the tested "
                                    "ones alone: supported; value: the largest difference")
    assert "INCOMPLETE    SynOp+QAT: fewer SynOps" in format_claims([reduction])
    assert "from 3 of 4 models; untested: models/q3.pth" in format_claims([reduction])


def test_a_claim_from_the_whole_sweep_keeps_its_verdict_and_says_so(tmp_path):
    results = qat_sweep(tmp_path, {"baseline": ["models/base.pth"],
                                   "SynOp+QAT": ["models/q1.pth", "models/q2.pth"]})
    reduction, _ = mnist_dvs_claims(tmp_path, results, resamples=100)
    assert reduction.verdict == "supported" and reduction.note.startswith("the interval lies")
    row = reduction.row()
    assert (row["models_tested"], row["models_in_log"], row["untested"]) == (3, 3, "")
