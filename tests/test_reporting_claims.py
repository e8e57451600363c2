"""synoploss.reporting.claims: the paper's claims from per-sample arrays, checked by hand."""
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as scipy_stats

from synoploss.io import save_npz
from synoploss.reporting.claims import (
    Model,
    baseline_spread,
    compare_curves,
    curve_gap,
    estimate_ranking,
    estimate_ratios,
    fewest_synops_within,
    format_claims,
    gap_at_equal_synops,
    load_models,
    measure,
    measured_per_sample,
    mnist_dvs_analysis,
    mnist_dvs_claims,
    qat_claim,
    ranking_claim,
    reduction_against_mean_baseline,
    reduction_by_own_baseline,
    synops_overlap,
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


# ------------------------------------------------------------------ #33: beyond points
def seeds_of(tmp_path, baselines, candidates):
    """SpikingResults of one baseline per seed ({seed: (accuracy, SynOps)}) and SynOp+QAT
    models ({seed: [(accuracy, SynOps), ...]})."""
    base = pd.DataFrame([write_model(tmp_path, f"base_s{seed}", accuracy, synops, seed=seed)
                         for seed, (accuracy, synops) in baselines.items()])
    qat = pd.DataFrame([write_model(tmp_path, f"q{k}_s{seed}", accuracy, synops, seed=seed)
                        for seed, models in candidates.items()
                        for k, (accuracy, synops) in enumerate(models)])
    return SpikingResults(base, {"SynOp+QAT": qat}, evaluation={}, data="STAND-IN", others=[])


def test_against_equal_baselines_the_mean_gives_the_per_seed_factor(tmp_path):
    """Every seed's baseline the same (90%, 2e6): the baselines' mean is each seed's own,
    so both factors and their intervals are the same: 2e6 / (5e5, 4e5, 1e6) = 4, 5, 2."""
    results = seeds_of(tmp_path, {seed: (0.90, 2e6) for seed in (1, 2, 3)},
                       {1: [(0.895, 5e5), (0.80, 1e5)], 2: [(0.895, 4e5)], 3: [(0.90, 1e6)]})
    own = reduction_by_own_baseline(tmp_path, results, resamples=50)
    against_mean = reduction_against_mean_baseline(tmp_path, results, resamples=50)
    assert own.measured.value == pytest.approx((4 * 5 * 2) ** (1 / 3))
    for got, expected in zip((against_mean.measured.value, against_mean.measured.low,
                              against_mean.measured.high),
                             (own.measured.value, own.measured.low, own.measured.high),
                             strict=True):
        assert got == pytest.approx(expected, rel=1e-9)
    assert against_mean.name.startswith("SynOp+QAT: fewer SynOps than the baselines' mean")
    assert sorted(against_mean.per_seed) == [1, 2, 3]


def test_against_the_baselines_mean_their_spread_enters_once(tmp_path):
    """Baselines of 3e6, 2e6 and 1e6 SynOps (all 90%), and in every seed the same model
    (89.5%, 5e5; 80% at 2e5 is too far down). Against each seed's own baseline: 6, 4 and
    2, a geometric mean of 48^(1/3). Against their mean, 2e6 / 5e5 = 4; the jackknife
    leaves out one seed: 1.5e6, 2e6, 2.5e6 over 5e5 = 3, 4, 5, log standard error
    sqrt(2/3 * sum of squared deviations of log 3, log 4, log 5), times t(2)."""
    results = seeds_of(tmp_path, {1: (0.90, 3e6), 2: (0.90, 2e6), 3: (0.90, 1e6)},
                       {seed: [(0.895, 5e5), (0.80, 2e5)] for seed in (1, 2, 3)})
    own = reduction_by_own_baseline(tmp_path, results, resamples=50)
    assert own.measured.value == pytest.approx(48 ** (1 / 3))
    claim = reduction_against_mean_baseline(tmp_path, results, resamples=50)
    left_out = np.log([3.0, 4.0, 5.0])
    half = 4.302653 * math.sqrt(2 / 3 * np.sum((left_out - left_out.mean()) ** 2))
    assert claim.measured.value == pytest.approx(4.0)
    assert claim.measured.low == pytest.approx(4.0 * math.exp(-half), rel=1e-6)
    assert claim.measured.high == pytest.approx(4.0 * math.exp(half), rel=1e-6)
    assert claim.per_seed[1].value == pytest.approx(4.0)  # every seed against the mean
    # 4 [1.12, 14.3]: more than 1, and the paper's 6 inside
    assert claim.verdict == "supported" and claim.note == (
        "the paper's 6x lies inside the interval; interval: jackknife over 3 seeds")
    spread = baseline_spread(tmp_path, results, resamples=50)
    assert spread.mean_synops.value == pytest.approx(2e6)
    assert spread.mean_synops.high == pytest.approx(2e6 + 4.302653 * 1e6 / math.sqrt(3))
    # the per-sample SynOps are constant: no test-sample noise in max / min
    assert (spread.max_over_min.value, spread.max_over_min.low) == pytest.approx((3.0, 3.0))


def test_the_floor_against_the_mean_is_the_baselines_mean_accuracy(tmp_path):
    """Baselines at 92% and 88% (mean 90%, floor 88.7%): seed 2's 88.5% model, within 1.3
    points of its own baseline, is below the mean's floor; its 89% model is chosen."""
    results = seeds_of(tmp_path, {1: (0.92, 2e6), 2: (0.88, 2e6)},
                       {1: [(0.91, 5e5)], 2: [(0.885, 2e5), (0.89, 1e6)]})
    own = reduction_by_own_baseline(tmp_path, results, resamples=50)
    assert own.per_seed[2].value == pytest.approx(10.0)    # 2e6 / 2e5
    claim = reduction_against_mean_baseline(tmp_path, results, resamples=50)
    assert claim.per_seed[2].value == pytest.approx(2.0)   # 2e6 / 1e6
    assert claim.measured.value == pytest.approx(2e6 / math.sqrt(5e5 * 1e6))


def test_one_seed_has_no_factor_against_a_mean_nor_a_spread(tmp_path):
    results = seeds_of(tmp_path, {1: (0.90, 2e6)}, {1: [(0.895, 5e5)]})
    assert reduction_against_mean_baseline(tmp_path, results, resamples=20) is None
    assert baseline_spread(tmp_path, results, resamples=20) is None


def test_the_gap_over_the_common_range_by_hand():
    """Upper: 80% at 10^2, 90% at 10^4 SynOps; lower: 50% at 10^1, 70% at 10^3. They share
    [2, 3] in log SynOps: there upper goes 80 -> 85, lower 60 -> 70, the gap 20 -> 15
    points, its mean 17.5."""
    upper = [model("q1", 0.8, 100), model("q2", 0.9, 1e4)]
    lower = [model("w1", 0.5, 10), model("w2", 0.7, 1000)]
    assert curve_gap(upper, lower, ALL) == pytest.approx(17.5)
    assert synops_overlap(upper, lower, ALL) == pytest.approx((100, 1000))
    assert math.isnan(curve_gap(upper, [model("w", 0.5, 1e5), model("v", 0.7, 1e6)], ALL))


def curves_of(tmp_path, lower_synops):
    """SynOp+QAT (80% at 1e2, 90% at 1e4) and weight scaling (50%, 70% at
    `lower_synops[seed]`) in each seed of `lower_synops`."""
    qat = pd.DataFrame([write_model(tmp_path, f"q{k}_s{seed}", accuracy, synops, seed=seed)
                        for seed in lower_synops
                        for k, (accuracy, synops) in enumerate([(0.8, 100), (0.9, 1e4)])])
    lower = pd.DataFrame([write_model(tmp_path, f"w{k}_s{seed}", accuracy, synops, seed=seed)
                          for seed, pair in lower_synops.items()
                          for k, (accuracy, synops) in enumerate(zip((0.5, 0.7), pair,
                                                                     strict=True))])
    return SpikingResults(pd.DataFrame(), {"SynOp+QAT": qat, "weight scaling": lower},
                          evaluation={}, data="STAND-IN", others=[])


def test_compare_curves_leaves_out_a_seed_without_overlap_and_names_it(tmp_path):
    results = curves_of(tmp_path, {1: (10, 1000), 2: (10, 1000), 3: (1e5, 1e6)})
    comparison = compare_curves(tmp_path, results, "SynOp+QAT", "weight scaling", 50)
    assert comparison.overlaps[1] == pytest.approx((100, 1000)) and comparison.overlaps[3] is None
    claim = comparison.claim
    assert sorted(claim.per_seed) == [1, 2]
    assert (claim.measured.value, claim.measured.low, claim.measured.high) == pytest.approx(
        (17.5, 17.5, 17.5))   # the same in both seeds, constant SynOps per sample
    assert claim.verdict == "supported" and "seed(s) 3 left out: no common range" in claim.note
    assert comparison.no_overlap_text() == ("SynOp+QAT against weight scaling: no common range "
                                            "of SynOps in seed(s) 3, left out")


def test_curves_without_any_overlap_make_no_claim_and_say_so(tmp_path):
    results = curves_of(tmp_path, {1: (1e5, 1e6)})
    comparison = compare_curves(tmp_path, results, "SynOp+QAT", "weight scaling", 50)
    assert comparison.claim is None and comparison.overlaps == {1: None}
    assert comparison.no_overlap_text() == ("SynOp+QAT against weight scaling: the curves "
                                            "share no range of SynOps in any seed (a curve of one "
                                            "model covers none), no claim")
    assert compare_curves(tmp_path, results, "SynOp+QAT", "SynOp", 50) is None  # no rows
    analysis = mnist_dvs_analysis(tmp_path, results, resamples=20)
    assert not any(claim.name.startswith("SynOp+QAT above weight scaling")
                   for claim in analysis.claims)
    assert "SynOp+QAT against weight scaling: the curves share no range" in analysis.notes()[0]


def test_measured_per_sample_finds_the_weight_layers_by_the_rows_mean():
    a, b, c = [1.0, 2.0, 3.0], [10.0, 10.0, 10.0], [0.0, 1.0, 2.0]
    layer_synops = np.array([a, b, c]).T                         # 3 samples x 3 weight layers
    row = {"snn_synops_x": 2.0, "snn_synops_y": 11.0, "snn_synops_z": 7.0}
    found = measured_per_sample(layer_synops, row, ["x", "y", "z"])
    assert found["x"].tolist() == a                              # mean 2: a alone
    assert found["y"].tolist() == [10.0, 11.0, 12.0]             # mean 11: b + c
    assert "z" not in found                                      # no set has mean 7
    # a fourth layer with a's mean but other samples: x is ambiguous, left out
    ambiguous = measured_per_sample(np.array([a, b, c, [3.0, 2.0, 1.0]]).T, row, ["x", "y"])
    assert "x" not in ambiguous and ambiguous["y"].tolist() == [10.0, 11.0, 12.0]
    # float32 counts (a simulator's dtype): the row's mean was taken in float32, and matches
    counts = np.random.default_rng(1).uniform(0, 1e6, (2000, 3)).astype(np.float32)
    row = {"snn_synops_x": float(counts[:, [0, 2]].sum(1).mean())}
    assert measured_per_sample(counts, row, ["x"])["x"] == pytest.approx(
        counts[:, [0, 2]].sum(1).astype(np.float64))


def write_layered(workdir, name, layer_synops, estimates, seed=1, with_layers=True):
    """A row and samples file with per-layer SynOps (samples x layers) measured, one layer
    per column l0, l1, ..., and `estimates` per layer."""
    layer_synops = np.asarray(layer_synops, dtype=np.float64)
    path = f"results/samples/{name}_{seed}.npz"
    arrays = dict(correct=np.ones(len(layer_synops), bool), synops=layer_synops.sum(1))
    if with_layers:
        arrays.update(layer_synops=layer_synops, layer_names=np.array(
            [f"w{k}" for k in range(layer_synops.shape[1])]))
    save_npz(workdir / path, **arrays)
    row = dict(model_path=f"models/{name}.pth", samples_path=path, seed=seed,
               snn_synops=float(layer_synops.sum(1).mean()), ann_synops=float(sum(estimates)),
               snn_accuracy=1.0)
    for k, estimate in enumerate(estimates):
        row[f"ann_synops_l{k}"] = estimate
        row[f"snn_synops_l{k}"] = float(layer_synops[:, k].mean())
    return row


def test_measured_over_estimated_per_layer_with_its_interval_over_samples(tmp_path):
    measured = np.array([[1.0, 10.0], [2.0, 14.0], [3.0, 12.0], [6.0, 12.0]])
    rows = pd.DataFrame([write_layered(tmp_path, "a", measured, [2.0, 10.0]),
                         write_layered(tmp_path, "old", measured, [2.0, 10.0],
                                       with_layers=False)])
    results = SpikingResults(rows.iloc[:0], {"SynOp+QAT": rows}, evaluation={}, data="",
                             others=[])
    entry, old = estimate_ratios(tmp_path, results)
    # l0: mean 3 over the estimate 2; t(3) * sd / sqrt(4) around it, over 2
    half = 3.182446 * float(np.std(measured[:, 0], ddof=1)) / 2
    assert list(entry.ratios) == ["total", "l0", "l1"]
    assert (entry.ratios["l0"].value, entry.ratios["l0"].low, entry.ratios["l0"].high) == \
        pytest.approx((1.5, (3 - half) / 2, (3 + half) / 2), rel=1e-6)
    assert entry.ratios["l1"].value == pytest.approx(1.2)
    assert entry.ratios["total"].value == pytest.approx(15 / 12)
    # a samples file without per-layer SynOps: the ratio, no interval; the total keeps one
    assert old.ratios["l0"].value == pytest.approx(1.5) and math.isnan(old.ratios["l0"].low)
    assert not math.isnan(old.ratios["total"].low)


def test_the_rank_correlation_of_estimate_and_measurement(tmp_path):
    """Estimates 1..4 (e6), measurements 1, 2, 4, 3: two neighbours swapped, 0.8 (scipy
    agrees); per-sample SynOps constant, so the interval comes from the models drawn."""
    rows = pd.DataFrame([write_layered(tmp_path, f"m{k}", np.full((5, 1), measured * 1e6),
                                       [estimated * 1e6])
                         for k, (estimated, measured) in enumerate(zip([1, 2, 3, 4],
                                                                       [1, 2, 4, 3],
                                                                       strict=True))])
    results = SpikingResults(rows.iloc[:0], {"SynOp+QAT": rows}, evaluation={}, data="",
                             others=[])
    estimates = estimate_ratios(tmp_path, results)
    ranking = estimate_ranking(estimates, resamples=200)
    interval, count = ranking["total"]
    assert count == 4 and interval.value == pytest.approx(0.8)
    assert interval.value == pytest.approx(scipy_stats.spearmanr([1, 2, 3, 4],
                                                                 [1, 2, 4, 3]).statistic)
    assert interval.low < 0.8 <= interval.high <= 1.0
    claim = ranking_claim(ranking, estimates, results)
    assert claim.verdict == "not shown" and claim.note.startswith("4 models of 1 seed(s)")


def test_a_claim_on_a_curve_without_rows_is_listed_not_measured(tmp_path):
    """N12/N13: the log lists the baseline for weight scaling, which has no row: the claim
    on it was left out; now it is listed, "not measured", naming the curve and the test.
    Coverage by hand: SynOp+QAT's 2 tested, the baseline at the scales not (2 of 3). The
    log lists no SynOp model: that curve was never trained, no claim on it."""
    from synoploss.reporting.claims import NOT_MEASURED, claims_frame
    results = qat_sweep(tmp_path, {"baseline": ["models/base.pth"],
                                   "SynOp+QAT": ["models/q1.pth", "models/q2.pth"],
                                   "weight scaling": ["models/base.pth"]})
    reduction, scaling, estimate = mnist_dvs_claims(tmp_path, results, resamples=50)
    assert reduction.verdict == estimate.verdict == "supported"
    assert (scaling.name, scaling.verdict, scaling.per_seed) == (
        "SynOp+QAT above weight scaling at equal SynOps (accuracy gap, points)", NOT_MEASURED,
        {})
    assert scaling.note == ("no weight scaling rows under this evaluation: run "
                            "test_spiking.py --mode weightscaling with the same settings")
    assert (scaling.models_tested, scaling.models_in_log, scaling.untested) == (
        2, 3, ("models/base.pth (weight scaling)",))
    assert math.isnan(scaling.measured.value) and math.isnan(scaling.measured.low)
    assert format_claims([scaling]) == (
        "  NOT MEASURED  SynOp+QAT above weight scaling at equal SynOps (accuracy gap, "
        "points); paper: SynOp+QAT best, SynOp alone next, weight scaling worst; no weight "
        "scaling rows under this evaluation: run test_spiking.py --mode weightscaling with "
        "the same settings")
    assert claims_frame([scaling])["verdict"].tolist() == ["not measured"]
    # #33's: SynOp+QAT against weight scaling over their common range, likewise
    analysis = mnist_dvs_analysis(tmp_path, results, resamples=20)
    assert [(claim.name, claim.verdict) for claim in analysis.not_measured] == [
        ("SynOp+QAT above weight scaling over the SynOps both cover (mean accuracy gap, "
         "points)", NOT_MEASURED)]
    assert analysis.not_measured[0] in analysis.claims


def test_without_a_log_the_papers_curves_are_expected(tmp_path):
    """No training log: a curve of the paper without rows makes its claims "not measured"
    (its models unknown: no coverage); our Rueckauer normalisation, never run, none."""
    results = qat_sweep(tmp_path, None)
    names = {claim.name.split(" at equal")[0]: claim
             for claim in mnist_dvs_claims(tmp_path, results, resamples=20)}
    assert names["SynOp+QAT above SynOp"].verdict == "not measured"
    assert names["SynOp+QAT above SynOp"].models_in_log is None
    assert names["SynOp+QAT above weight scaling"].note.startswith("no weight scaling rows")
    analysis = mnist_dvs_analysis(tmp_path, results, resamples=20)
    assert not any("Rueckauer" in claim.name for claim in analysis.claims)
