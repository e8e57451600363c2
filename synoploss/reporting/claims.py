"""The paper's claims, stated as the paper states them, measured with their uncertainty.

Each claim is computed per training seed from the per-sample arrays the spiking tests
keep (results/samples/*.npz: which test samples each model got right, its SynOps on
each): within a seed, a paired bootstrap over the test samples (every model was tested
on the same samples) gives the 95% interval; over several seeds, the mean of the per-seed
values with its t interval. A claim is "supported" only when its whole interval lies on
its side, "contradicted" when the whole interval lies on the other, and "not shown"
otherwise. Thresholds that are ours, not the paper's, are labelled so.

A claim computed while some of the training log's models it draws on have no results row
under the evaluation (a partial sweep: tests interrupted, or still running) is
"incomplete": the missing models could move it either way, so it is neither supported
nor contradicted; its note says from how many of how many models it comes, names the
untested ones, and what the tested ones alone give. A claim whose curve has no row at
all under the evaluation, while the training log lists its models (or, without a log,
a curve of the paper), is "not measured": listed, its note naming the missing curve and
the test to run, never left out.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Callable, Dict, List

import numpy as np
import pandas as pd

from ..io import normal
from ..stats import (
    Interval,
    bootstrap,
    bootstrap_units_and_samples,
    common_range,
    jackknife,
    mean_gap_over_overlap,
    mean_interval,
    mean_ratio,
    spearman,
    verdict,
)
from .readers import CURVE_SOURCES, TEST_COMMANDS, per_sample_arrays

PAPER_MAX_DROP_POINTS = 1.3    # the paper's selected model: 95.0% against 96.3%
PAPER_REDUCTION = 6.0          # "about 6 times fewer" (3.9e6 / 0.63e6)


@dataclass(frozen=True)
class Model:
    """One tested network: per-sample correctness and SynOps, and its label."""
    label: str
    correct: np.ndarray
    synops: np.ndarray

    def accuracy(self, indices) -> float:
        return float(self.correct[indices].mean())

    def mean_synops(self, indices) -> float:
        return float(self.synops[indices].mean())


@dataclass(frozen=True)
class Claim:
    """A claim with the measurement: `value` and its interval, per seed and overall."""
    name: str
    paper: str           # what the paper reports
    measured: Interval
    verdict: str
    per_seed: Dict[int, Interval]
    note: str = ""
    # the training log's models it draws on: how many tested, of how many, the untested
    # (None: unknown, e.g. no training log, or a claim of another experiment)
    models_tested: int | None = None
    models_in_log: int | None = None
    untested: tuple = ()

    def row(self) -> dict:
        return dict(claim=self.name, paper=self.paper, value=self.measured.value,
                    low=self.measured.low, high=self.measured.high, verdict=self.verdict,
                    seeds=len(self.per_seed), note=self.note, models_tested=self.models_tested,
                    models_in_log=self.models_in_log, untested="; ".join(self.untested))


INCOMPLETE = "incomplete"
NOT_MEASURED = "not measured"
NO_VALUE = Interval(math.nan, math.nan, math.nan)


def with_coverage(claim: Claim, results, labels) -> Claim:
    """`claim` with the coverage of the curves `labels` in `results` (SpikingResults):
    "incomplete", and said so in its note, when any of their models is untested."""
    tested, total, untested = results.coverage(labels)
    claim = replace(claim, models_tested=tested, models_in_log=total, untested=tuple(untested))
    if not untested:
        return claim
    note = (f"from {tested} of {total} models; untested: {', '.join(untested)}; the tested "
            f"ones alone: {claim.verdict}")
    return replace(claim, verdict=INCOMPLETE,
                   note=note + (f"; {claim.note}" if claim.note else ""))


def not_measured(name: str, paper: str, results, labels) -> Claim | None:
    """The claim `name` as "not measured" when curves of `labels` it draws on have no row
    under the evaluation although they should (`SpikingResults.missing`), its note naming
    them and the test that makes them: a claim left out reads as nothing to report.
    None when none is missing (then the claim is measured, or has no seed to be), or
    when one of `labels` is not expected at all (a curve never trained or run)."""
    missing = results.missing(labels)
    if not missing or not all(results.expected(label) for label in labels):
        return None  # measured, or drawn on a curve this study does not make: no such claim
    under = f" ({results.label})" if results.evaluation else ""
    note = (f"no {' or '.join(missing)} rows under this evaluation{under}: run "
            + "; ".join(TEST_COMMANDS[label] for label in missing) + " with the same settings")
    tested, total, untested = results.coverage(labels)
    return Claim(name, paper, NO_VALUE, NOT_MEASURED, {}, note=note, models_tested=tested,
                 models_in_log=total, untested=tuple(untested))


def load_models(workdir, frame: pd.DataFrame, label_column: str | None = None) -> List[Model]:
    """The per-sample arrays of every row of a results frame (its samples_path), each
    checked against its row (`readers.per_sample_arrays`)."""
    models = []
    for row in frame.to_dict("records"):
        saved = per_sample_arrays(workdir, row)
        models.append(Model(str(row.get(label_column, row["model_path"])) if label_column
                            else str(row["model_path"]), saved["correct"].astype(bool),
                            saved["synops"].astype(np.float64)))
    sizes = {len(model.correct) for model in models}
    if len(sizes) > 1:
        raise ValueError(f"models tested on different numbers of samples ({sorted(sizes)}): "
                         "they cannot be compared sample by sample")
    return models


def by_seed(frame: pd.DataFrame) -> Dict[int, pd.DataFrame]:
    seeds = frame["seed"].map(normal) if "seed" in frame else pd.Series(1.0, index=frame.index)
    seeds = seeds.fillna(1.0)
    return {int(seed): frame[seeds == seed] for seed in sorted(seeds.unique())}


def fewest_synops_at(candidates: List[Model], floor: float, indices) -> float:
    """The SynOps of the candidate with the fewest SynOps whose accuracy is at least
    `floor`, on the samples `indices` (NaN if none)."""
    eligible = [model.mean_synops(indices) for model in candidates
                if model.accuracy(indices) >= floor - 1e-12]
    return min(eligible) if eligible else math.nan


def fewest_synops_within(baseline: Model, candidates: List[Model], max_drop: float,
                         indices) -> float:
    """Baseline SynOps / SynOps of the candidate with the fewest SynOps whose accuracy is at
    most `max_drop` points below the baseline's, on the samples `indices` (NaN if none)."""
    floor = baseline.accuracy(indices) - max_drop / 100
    return baseline.mean_synops(indices) / fewest_synops_at(candidates, floor, indices)


def gap_at_equal_synops(upper: List[Model], lower: List[Model], indices) -> float:
    """Mean accuracy gap (points) of `upper` over `lower` at equal SynOps: `lower`'s
    accuracy interpolated in log SynOps at each `upper` model inside `lower`'s range
    (NaN when none is inside)."""
    lower_x = np.log10([model.mean_synops(indices) for model in lower])
    lower_y = np.array([model.accuracy(indices) for model in lower])
    order = np.argsort(lower_x)
    lower_x, lower_y = lower_x[order], lower_y[order]
    gaps = []
    for model in upper:
        x = math.log10(model.mean_synops(indices))
        if lower_x[0] <= x <= lower_x[-1]:
            gaps.append(model.accuracy(indices) - float(np.interp(x, lower_x, lower_y)))
    return float(np.mean(gaps)) * 100 if gaps else math.nan


def measure(per_seed_statistic: Dict[int, tuple], resamples: int = 1000,
            ratio: bool = False) -> tuple:
    """({seed: bootstrap interval}, overall interval): `per_seed_statistic` maps a seed to
    (statistic(indices), number of samples). One seed: its bootstrap interval; several:
    the mean of the seeds' values with its t interval. A `ratio` (a reduction factor) is
    averaged on a log scale (geometric mean and its interval), so that its interval stays
    above zero and 2x and 0.5x count as equally far from 1x."""
    per_seed = {seed: bootstrap(statistic, n, resamples=resamples, seed=seed)
                for seed, (statistic, n) in per_seed_statistic.items()}
    if len(per_seed) == 1:
        return per_seed, next(iter(per_seed.values()))
    values = [interval.value for interval in per_seed.values()]
    if any(math.isnan(value) for value in values):
        return per_seed, Interval(math.nan, math.nan, math.nan)
    if ratio:
        if any(value <= 0 for value in values):
            return per_seed, Interval(math.nan, math.nan, math.nan)
        logs = mean_interval([math.log(value) for value in values])
        return per_seed, Interval(math.exp(logs.value), math.exp(logs.low), math.exp(logs.high))
    return per_seed, mean_interval(values)


def mnist_dvs_claims(workdir, results, resamples: int = 1000,
                     max_drop: float = PAPER_MAX_DROP_POINTS) -> List[Claim]:
    """The MNIST-DVS claims from `results` (results.SpikingResults, one evaluation), each
    with the coverage of the curves it draws on (`with_coverage`); those whose curves
    have no rows, "not measured" (`not_measured`)."""
    claims = [reduction_by_own_baseline(workdir, results, resamples, max_drop)
              or not_measured(reduction_name(max_drop), PAPER_REDUCTION_TEXT, results,
                              ("baseline", "SynOp+QAT"))]
    for other in ("weight scaling", "SynOp"):
        claims.append(gap_claim(workdir, results, other, resamples)
                      or not_measured(gap_name(other), PAPER_RANKING, results,
                                      ("SynOp+QAT", other)))
    if "SynOp+QAT" in results.curves:
        claims.append(with_coverage(estimate_agreement(results.curves["SynOp+QAT"]), results,
                                    ("SynOp+QAT",)))
    else:
        claims.append(not_measured(estimate_name(), ESTIMATE_PAPER, results, ("SynOp+QAT",)))
    return [claim for claim in claims if claim is not None]


def gap_name(other: str) -> str:
    return f"SynOp+QAT above {other} at equal SynOps (accuracy gap, points)"


def gap_claim(workdir, results, other: str, resamples: int = 1000) -> Claim | None:
    """SynOp+QAT above the curve `other` at equal SynOps (`gap_at_equal_synops`), per seed
    that has both (weight scaling: the baseline's own curve, per seed of the baseline);
    None without such a seed."""
    curves = {label: by_seed(frame) for label, frame in results.curves.items()}
    qat, lower = curves.get("SynOp+QAT", {}), curves.get(other, {})
    common = [seed for seed in qat if seed in lower]
    if not common:
        return None
    statistics = {}
    for seed in common:
        upper_models = load_models(workdir, qat[seed])
        lower_models = load_models(workdir, lower[seed])
        statistics[seed] = (lambda idx, u=upper_models, lo=lower_models:
                            gap_at_equal_synops(u, lo, idx), len(upper_models[0].correct))
    per_seed, overall = measure(statistics, resamples)
    return with_coverage(Claim(gap_name(other), PAPER_RANKING, overall, verdict(overall, 0.0),
                               per_seed), results, ("SynOp+QAT", other))


PAPER_REDUCTION_TEXT = f"about {PAPER_REDUCTION:g}x (3.9e6 -> 6.3e5 SynOps, 96.3% -> 95.0%)"


def reduction_by_own_baseline(workdir, results, resamples: int = 1000,
                              max_drop: float = PAPER_MAX_DROP_POINTS) -> Claim | None:
    """The reduction factor against each seed's own baseline (the SynOp+QAT model with the
    fewest SynOps at most `max_drop` points below it), its geometric mean over seeds (None
    without a seed that has both)."""
    baselines = by_seed(results.baseline)
    qat = by_seed(results.curves["SynOp+QAT"]) if "SynOp+QAT" in results.curves else {}
    seeds = [seed for seed in baselines if seed in qat]
    if not seeds:
        return None
    statistics = {}
    for seed in seeds:
        base = load_models(workdir, baselines[seed])[0]
        candidates = load_models(workdir, qat[seed])
        statistics[seed] = (lambda idx, b=base, c=candidates:
                            fewest_synops_within(b, c, max_drop, idx), len(base.correct))
    per_seed, overall = measure(statistics, resamples, ratio=True)
    return with_coverage(Claim(
        reduction_name(max_drop), PAPER_REDUCTION_TEXT, overall, verdict(overall, 1.0), per_seed,
        note=_against_paper(overall, PAPER_REDUCTION)), results, ("baseline", "SynOp+QAT"))


def reduction_name(max_drop: float) -> str:
    return (f"SynOp+QAT: fewer SynOps than the baseline, at most {max_drop:g} points less "
            "accurate (the reduction factor; geometric mean over seeds)")


def _against_paper(interval: Interval, paper: float) -> str:
    if math.isnan(interval.low):
        return "cannot be compared with the paper's value"
    if interval.contains(paper):
        return f"the paper's {paper:g}x lies inside the interval"
    side = "below" if interval.high < paper else "above"
    return f"the interval lies {side} the paper's {paper:g}x"


ESTIMATE_PAPER = "the estimate lies close to the measurement"


def estimate_name(tolerance: float = 0.15) -> str:
    return (f"estimate within {tolerance * 100:g}% of the measurement, every SynOp+QAT model "
            "(our threshold)")


def estimate_agreement(frame: pd.DataFrame, tolerance: float = 0.15) -> Claim:
    """Our estimate (quantized analog network) against the measurement (spiking), per
    model: the largest relative difference. `tolerance` is ours: the paper says "close"."""
    relative = ((frame["ann_synops"] - frame["snn_synops"]).abs() / frame["snn_synops"]).to_numpy()
    largest = float(relative.max()) * 100
    low = float(relative.min()) * 100
    return Claim(estimate_name(tolerance), ESTIMATE_PAPER, Interval(largest, low, largest),
                 "supported" if largest <= tolerance * 100 else "not shown", {},
                 note="value: the largest difference (%); range: smallest to largest over the "
                 "models")


# ------------------------------------------------------------------ issue 33: beyond points
def _seed_models(workdir, frame: pd.DataFrame) -> Dict[int, List[Model]]:
    return {seed: load_models(workdir, rows) for seed, rows in by_seed(frame).items()}


def _same_samples(models: List[Model]) -> int:
    """The number of test samples every model was tested on (ValueError if they differ:
    then no sample-by-sample comparison across them is possible)."""
    sizes = {len(model.correct) for model in models}
    if len(sizes) != 1:
        raise ValueError(f"models tested on different numbers of samples ({sorted(sizes)}): "
                         "they cannot be compared sample by sample")
    return sizes.pop()


def reduction_against_mean_baseline(workdir, results, resamples: int = 1000,
                                    max_drop: float = PAPER_MAX_DROP_POINTS) -> Claim | None:
    """The reduction factor against the baselines' mean over seeds: in each seed the
    SynOp+QAT model with the fewest SynOps at most `max_drop` points below the baselines'
    mean accuracy, and the baselines' mean SynOps over the geometric mean of those
    models' SynOps. None with fewer than 2 seeds (then it is the per-seed factor).

    Why the mean: a seed's baseline is one draw of the training; dividing each seed's
    model by its own baseline puts that draw's SynOps (1.95e6 to 3.91e6 on the last
    study) into every per-seed factor. Against the mean, the baseline enters once, with
    the uncertainty of a mean over seeds.

    The interval: the jackknife over seeds (`stats.jackknife`, t with seeds - 1 degrees
    of freedom) of log(mean baseline SynOps) - mean log(selected SynOps), everything
    (the mean, the accuracy floor, the selection) computed again without each seed: the
    baseline's spread, the models' spread and their covariance over seeds are all in it,
    and for equal baselines it is exactly the per-seed factor's t interval on the log
    scale. The selection is a step function of the floor, where the jackknife is least
    exact: with a few seeds the interval is a guide, as is any over 3 seeds. Test-sample
    noise is in the seeds' spread (each seed's value is measured on the samples); per
    seed, a paired bootstrap over the test samples (every baseline and model tested on
    the same samples)."""
    baselines = {seed: models[0]
                 for seed, models in _seed_models(workdir, results.baseline).items()}
    qat = _seed_models(workdir, results.curves.get("SynOp+QAT", pd.DataFrame()))
    seeds = [seed for seed in baselines if seed in qat]
    if len(seeds) < 2:
        return None
    n = _same_samples([baselines[seed] for seed in seeds] + [m for s in seeds for m in qat[s]])

    def log_factor(reference_seeds, candidate_seeds, indices) -> float:
        reference = [baselines[seed] for seed in reference_seeds]
        floor = np.mean([model.accuracy(indices) for model in reference]) - max_drop / 100
        fewest = [fewest_synops_at(qat[seed], floor, indices) for seed in candidate_seeds]
        return math.log(np.mean([model.mean_synops(indices) for model in reference])) \
            - float(np.mean(np.log(fewest)))

    per_seed = {seed: bootstrap(lambda idx, s=seed: math.exp(log_factor(seeds, [s], idx)), n,
                                resamples=resamples, seed=seed) for seed in seeds}
    everything = np.arange(n)
    logs = jackknife(lambda units: log_factor([seeds[u] for u in units],
                                              [seeds[u] for u in units], everything),
                     len(seeds))
    overall = Interval(*(math.exp(value) for value in (logs.value, logs.low, logs.high)))
    return with_coverage(Claim(
        mean_reduction_name(max_drop), PAPER_REDUCTION_TEXT, overall, verdict(overall, 1.0),
        per_seed,
        note=f"{_against_paper(overall, PAPER_REDUCTION)}; interval: jackknife over "
             f"{len(seeds)} seeds"), results, ("baseline", "SynOp+QAT"))


def mean_reduction_name(max_drop: float) -> str:
    return (f"SynOp+QAT: fewer SynOps than the baselines' mean over seeds, at most "
            f"{max_drop:g} points below their mean accuracy (the reduction factor)")


@dataclass(frozen=True)
class BaselineSpread:
    """The baseline over training seeds: per seed its SynOps per sample (t interval over
    test samples) and accuracy (Wilson), as its results row holds them; their means over
    seeds (t over seeds); and max / min of the SynOps, whose interval (a paired bootstrap
    over the test samples) covers the test-sample noise only: if it excludes 1, the
    spread is the training's, not the measurement's."""
    synops: Dict[int, Interval]
    accuracy: Dict[int, Interval]
    mean_synops: Interval
    mean_accuracy: Interval
    max_over_min: Interval


def _row_interval(row, column: str) -> Interval:
    value, low, high = (normal(row.get(key)) for key in (column, f"{column}_low",
                                                         f"{column}_high"))
    return Interval(value, math.nan if low is None else low, math.nan if high is None else high)


def baseline_spread(workdir, results, resamples: int = 1000) -> BaselineSpread | None:
    """The baseline's spread over training seeds (None with fewer than 2 seeds)."""
    frames = by_seed(results.baseline)
    if len(frames) < 2:
        return None
    rows = {seed: frame.iloc[0].to_dict() for seed, frame in frames.items()}
    synops = {seed: _row_interval(row, "snn_synops") for seed, row in rows.items()}
    accuracy = {seed: _row_interval(row, "snn_accuracy") for seed, row in rows.items()}
    models = [load_models(workdir, frame)[0] for frame in frames.values()]
    n = _same_samples(models)
    spread = bootstrap(lambda idx: max(m.mean_synops(idx) for m in models)
                       / min(m.mean_synops(idx) for m in models), n, resamples=resamples)
    return BaselineSpread(synops, accuracy, mean_interval([i.value for i in synops.values()]),
                          mean_interval([i.value for i in accuracy.values()]), spread)


# the paper's ranking, judged pair by pair over the SynOps both curves cover; the pair with
# Rueckauer normalisation (smart_weight_rescaling.py) is ours: the ranking names the others
CURVE_PAIRS = (("SynOp+QAT", "SynOp"), ("SynOp", "weight scaling"),
               ("SynOp+QAT", "weight scaling"), ("SynOp+QAT", "Rueckauer normalisation"))
PAPER_RANKING = "SynOp+QAT best, SynOp alone next, weight scaling worst"


def curve_gap(upper: List[Model], lower: List[Model], indices) -> float:
    """Mean accuracy gap (points) of the `upper` curve over the `lower` one over the range
    of log SynOps both cover, each curve linear between its models
    (`stats.mean_gap_over_overlap`); NaN when they share no range."""
    def curve(models):
        return ([math.log10(model.mean_synops(indices)) for model in models],
                [model.accuracy(indices) for model in models])
    return mean_gap_over_overlap(*curve(upper), *curve(lower)) * 100


def synops_overlap(upper: List[Model], lower: List[Model], indices) -> tuple | None:
    """(low, high) SynOps both curves cover on the samples `indices` (None if none)."""
    span = common_range([math.log10(model.mean_synops(indices)) for model in upper],
                        [math.log10(model.mean_synops(indices)) for model in lower])
    return None if span is None else (10 ** span[0], 10 ** span[1])


@dataclass(frozen=True)
class CurveComparison:
    """Two curves compared over the SynOps both cover: per seed that range (None: they
    share none in that seed), and the claim (None: in no seed, so no claim)."""
    upper: str
    lower: str
    overlaps: Dict[int, tuple | None]
    claim: Claim | None

    def no_overlap_text(self) -> str:
        """What is missing, in a sentence ("" when every seed has an overlap)."""
        missing = [seed for seed, span in self.overlaps.items() if span is None]
        if not self.overlaps:
            return f"{self.upper} against {self.lower}: no seed has both curves, no claim"
        if self.claim is None:
            return (f"{self.upper} against {self.lower}: the curves share no range of SynOps "
                    "in any seed (a curve of one model covers none), no claim")
        if missing:
            return (f"{self.upper} against {self.lower}: no common range of SynOps in seed(s) "
                    f"{', '.join(map(str, missing))}, left out")
        return ""


def compare_curves(workdir, results, upper: str, lower: str,
                   resamples: int = 1000) -> CurveComparison | None:
    """`upper` against `lower` over the SynOps both cover (`curve_gap`), per seed a paired
    bootstrap over the test samples (the same draw for every model of the seed), over
    seeds the mean with its t interval (`measure`: with 3 to 5 seeds a bootstrap over
    seeds would have too few distinct draws; the seeds' spread holds the sample noise).
    Seeds where the curves share no range are left out and named; None when either curve
    has no rows."""
    if upper not in results.curves or lower not in results.curves:
        return None
    uppers = _seed_models(workdir, results.curves[upper])
    lowers = _seed_models(workdir, results.curves[lower])
    overlaps, statistics = {}, {}
    for seed in [seed for seed in uppers if seed in lowers]:
        up, low = uppers[seed], lowers[seed]
        n = _same_samples(up + low)
        overlaps[seed] = synops_overlap(up, low, np.arange(n))
        if overlaps[seed] is not None:
            statistics[seed] = (lambda idx, u=up, lo=low: curve_gap(u, lo, idx), n)
    if not statistics:
        return CurveComparison(upper, lower, overlaps, None)
    per_seed, overall = measure(statistics, resamples)
    missing = [str(seed) for seed, span in overlaps.items() if span is None]
    note = "mean over the SynOps both curves cover, on log SynOps" + (
        f"; seed(s) {', '.join(missing)} left out: no common range" if missing else "")
    claim = with_coverage(Claim(curve_name(upper, lower), curve_paper(lower), overall,
                                verdict(overall, 0.0), per_seed, note=note), results,
                          (upper, lower))
    return CurveComparison(upper, lower, overlaps, claim)


def curve_name(upper: str, lower: str) -> str:
    return f"{upper} above {lower} over the SynOps both cover (mean accuracy gap, points)"


def curve_paper(lower: str) -> str:
    return PAPER_RANKING if lower != "Rueckauer normalisation" else \
        "not in the paper's ranking (ours)"


TOTAL = "total"  # the whole network's SynOps, beside the counted layers


def counted_layers(row) -> List[str]:
    """The layers of a results row with both an estimate (ann_synops_<layer>) and a
    measurement (snn_synops_<layer>), in the row's order."""
    return [column[len("ann_synops_"):] for column in row
            if column.startswith("ann_synops_")
            and normal(row.get(column)) is not None
            and normal(row.get("snn_synops_" + column[len("ann_synops_"):])) is not None]


def measured_per_sample(layer_synops: np.ndarray, row, layers: List[str]) -> Dict[str, np.ndarray]:
    """{layer: its measured SynOps per test sample} for the row's `layers`, from the
    per-sample SynOps of every weight layer (the samples file's layer_synops, samples x
    weight layers). The row's snn_synops_<layer> is the mean of the summed SynOps of the
    weight layers that layer alone feeds (evaluation.compare_analog_and_spiking); the
    samples file keeps the weight layers but not which counted layer feeds them, so they
    are found as the set of weight layers whose summed SynOps have the row's mean. A
    layer that no set, or sets with different per-sample sums, match is left out (its
    ratio then gets no interval), never guessed."""
    layer_synops = np.asarray(layer_synops)
    if layer_synops.ndim != 2 or layer_synops.shape[1] > 12:  # 4096 sets at most
        return {}
    count = layer_synops.shape[1]
    # each set's per-sample sums, and their mean computed as the row's was (in the array's
    # own precision), so that the match is exact whatever the simulator's dtype
    sums = [layer_synops[:, [k for k in range(count) if bits >> k & 1]].sum(axis=1)
            for bits in range(1, 2 ** count)]
    means = [float(total.mean()) for total in sums]
    found = {}
    for layer in layers:
        wanted = float(row[f"snn_synops_{layer}"])
        matches = [total.astype(np.float64) for total, mean in zip(sums, means, strict=True)
                   if math.isclose(mean, wanted, rel_tol=1e-6, abs_tol=1e-9)]
        if matches and all(np.allclose(other, matches[0], rtol=1e-9, atol=1e-9)
                           for other in matches):
            found[layer] = matches[0]
    return found


@dataclass(frozen=True, eq=False)
class EstimateRatios:
    """One tested model: measured / estimated SynOps in total and per counted layer, each
    with the t interval of the measured mean over the model's test samples, the
    estimate taken as exact (`stats.mean_ratio`). The interval says which test samples
    the measurement happened to be made on; it holds neither the estimate's own
    sampling (no per-sample estimate is kept) nor the training seed's (one trained
    model). NaN bounds: no per-sample SynOps for that layer in the samples file.
    `samples`: the measured SynOps per test sample by column (the row's mean repeated
    where the file has none), for the rank correlation."""
    curve: str
    seed: int
    row: dict
    ratios: Dict[str, Interval]
    samples: Dict[str, np.ndarray]


def _estimate_ratios_of(workdir, curve: str, row: dict) -> EstimateRatios:
    saved = per_sample_arrays(workdir, row, optional=("layer_synops",))  # not in older files
    layer_synops = saved.get("layer_synops")
    layers = counted_layers(row)
    per_sample = {TOTAL: saved["synops"].astype(np.float64)}
    if layer_synops is not None:
        per_sample.update(measured_per_sample(layer_synops, row, layers))
    ratios, samples = {}, {}
    n = len(per_sample[TOTAL])
    for column in [TOTAL, *layers]:
        estimate = float(row["ann_synops" if column == TOTAL else f"ann_synops_{column}"])
        measured = float(row["snn_synops" if column == TOTAL else f"snn_synops_{column}"])
        if column in per_sample:
            ratios[column], samples[column] = mean_ratio(per_sample[column], estimate), \
                per_sample[column]
        else:
            ratios[column] = Interval(measured / estimate if estimate > 0 else math.nan,
                                      math.nan, math.nan)
            samples[column] = np.full(n, measured)
    seed = int(normal(row.get("seed")) or 1)
    return EstimateRatios(curve, seed, row, ratios, samples)


def estimate_ratios(workdir, results) -> List[EstimateRatios]:
    """Measured / estimated SynOps of every tested model (the baseline, then each curve,
    in the order of their rows)."""
    return [_estimate_ratios_of(workdir, curve, row)
            for curve, frame in [("baseline", results.baseline), *results.curves.items()]
            for row in frame.to_dict("records")]


def estimate_ranking(estimates: List[EstimateRatios], resamples: int = 1000) -> Dict[str, tuple]:
    """{column: (Spearman's rank correlation over the models between estimated and
    measured SynOps, with its interval; the number of models)} for the total and every
    layer that at least 3 models have. Does the estimate order the models as the
    measurement does? The interval: a bootstrap over the models, drawn within each
    training seed, and over the test samples, the same draw for every model (each
    model's measurement is recomputed on it; `stats.bootstrap_units_and_samples`). The
    models of one seed are not independent (rescaled copies of one baseline), so the
    interval is if anything too narrow; it is not a sampling of possible networks."""
    found = {}
    columns = list(dict.fromkeys(column for entry in estimates for column in entry.ratios))
    for column in columns:
        entries = [entry for entry in estimates if column in entry.ratios]
        if len(entries) < 3:
            continue
        estimated = np.array([float(entry.row["ann_synops" if column == TOTAL else
                                              f"ann_synops_{column}"]) for entry in entries])
        measured = np.stack([entry.samples[column] for entry in entries])

        def statistic(units, samples, e=estimated, m=measured):
            return spearman(e[units], m[np.ix_(units, samples)].mean(axis=1))
        found[column] = (bootstrap_units_and_samples(
            statistic, [entry.seed for entry in entries], measured.shape[1],
            resamples=resamples), len(entries))
    return found


RANKING_THRESHOLD = 0.9  # ours: the paper says the estimate lies "close"


def ranking_claim(ranking: Dict[str, tuple], estimates: List[EstimateRatios], results,
                  threshold: float = RANKING_THRESHOLD) -> Claim | None:
    """The estimate orders the models as the measurement does: Spearman's correlation of
    the total SynOps over every tested model above `threshold` (ours)."""
    if TOTAL not in ranking:
        return None
    interval, count = ranking[TOTAL]
    seeds = len({entry.seed for entry in estimates})
    return with_coverage(Claim(
        ranking_name(threshold), ESTIMATE_PAPER, interval, verdict(interval, threshold), {},
        note=f"{count} models of {seeds} seed(s); interval: bootstrap over the models (within "
        "each seed) and the test samples"), results, list(CURVE_SOURCES))


def ranking_name(threshold: float = RANKING_THRESHOLD) -> str:
    return ("the estimate orders the models as the measurement does (Spearman's rank "
            "correlation of estimated and measured SynOps over every tested model; our "
            f"threshold: above {threshold:g})")


@dataclass(frozen=True, eq=False)
class Analysis:
    """The MNIST-DVS results beyond the paper's point claims (#33): the reduction factor
    two ways with the baseline's spread over seeds, the curves compared over their whole
    common range, the estimate against the measurement per layer and model and their
    rank correlation. `claims`: its new rows of claims.csv."""
    spread: BaselineSpread | None
    reduction_own: Claim | None
    reduction_mean: Claim | None
    curves: List[CurveComparison]
    estimates: List[EstimateRatios]
    ranking: Dict[str, tuple]
    ranking_claim: Claim | None
    max_drop: float = PAPER_MAX_DROP_POINTS
    # the claims above that cannot be measured, a curve they draw on having no rows
    not_measured: tuple = ()

    @property
    def claims(self) -> List[Claim]:
        found = [self.reduction_mean, *(comparison.claim for comparison in self.curves),
                 self.ranking_claim, *self.not_measured]
        return [claim for claim in found if claim is not None]

    def notes(self) -> List[str]:
        """Sentences on what could not be compared (curves without a common range)."""
        return [text for text in (comparison.no_overlap_text() for comparison in self.curves)
                if text]


def mnist_dvs_analysis(workdir, results, resamples: int = 1000,
                       max_drop: float = PAPER_MAX_DROP_POINTS) -> Analysis:
    """Everything of `Analysis` from `results` (readers.SpikingResults, one evaluation)."""
    curves = [compare_curves(workdir, results, upper, lower, resamples)
              for upper, lower in CURVE_PAIRS]
    estimates = estimate_ratios(workdir, results)
    ranking = estimate_ranking(estimates, resamples)
    reduction_mean = reduction_against_mean_baseline(workdir, results, resamples, max_drop)
    ranked = ranking_claim(ranking, estimates, results)
    missing = [not_measured(curve_name(upper, lower), curve_paper(lower), results,
                            (upper, lower))
               for (upper, lower), comparison in zip(CURVE_PAIRS, curves, strict=True)
               if comparison is None]
    if reduction_mean is None and len(by_seed(results.baseline)) >= 2:  # else: undefined
        missing.insert(0, not_measured(mean_reduction_name(max_drop), PAPER_REDUCTION_TEXT,
                                       results, ("baseline", "SynOp+QAT")))
    if ranked is None:
        missing.append(not_measured(ranking_name(), ESTIMATE_PAPER, results,
                                    [label for label in CURVE_SOURCES if results.expected(label)]))
    return Analysis(baseline_spread(workdir, results, resamples),
                    reduction_by_own_baseline(workdir, results, resamples, max_drop),
                    reduction_mean, [comparison for comparison in curves if comparison is not None],
                    estimates, ranking, ranked, max_drop,
                    tuple(claim for claim in missing if claim is not None))


def claims_frame(claims: List[Claim]) -> pd.DataFrame:
    return pd.DataFrame([claim.row() for claim in claims])


def format_claims(claims: List[Claim]) -> str:
    lines = []
    for claim in claims:
        if claim.verdict == NOT_MEASURED:
            lines.append(f"  {NOT_MEASURED.upper():<13} {claim.name}; paper: {claim.paper}; "
                         f"{claim.note}")
            continue
        measured = claim.measured
        bounds = "interval unknown" if math.isnan(measured.low) else \
            f"95% [{measured.low:.3g}, {measured.high:.3g}]"
        seeds = f", {len(claim.per_seed)} seed(s)" if claim.per_seed else ""
        lines.append(f"  {claim.verdict.upper():<13} {claim.name}: {measured.value:.3g} "
                     f"({bounds}{seeds}); paper: {claim.paper}"
                     + (f"; {claim.note}" if claim.note else ""))
    return "\n".join(lines)


StatisticFactory = Callable[[np.ndarray], float]


def cifar10_claims(runs: Dict[int, tuple], resamples: int = 1000) -> List[Claim]:
    """CIFAR-10: the SynOp+QAT rounds (at each first-layer scale) above the plain network's
    weight scaling at equal SynOps, on the test images of one evaluation per run. `runs`:
    {training seed: (work folder, its results rows)}; over several seeds, the mean gap
    with a t interval over seeds (one seed: the paired bootstrap over its test images)."""
    statistics: Dict[float, Dict[int, tuple]] = {}
    for seed, (workdir, frame) in sorted(runs.items()):
        plain, rounds = frame[frame["round"] < 0], frame[frame["round"] >= 0]
        if plain.empty or rounds.empty:
            continue
        lower = load_models(workdir, plain)
        for scale, rows in rounds.groupby("weight_scale"):
            upper = load_models(workdir, rows)
            statistics.setdefault(float(scale), {})[seed] = (
                lambda idx, u=upper, lo=lower: gap_at_equal_synops(u, lo, idx),
                len(lower[0].correct))
    claims = []
    for scale, per_seed_statistic in sorted(statistics.items()):
        per_seed, overall = measure(per_seed_statistic, resamples)
        claims.append(Claim(f"CIFAR-10: SynOp+QAT rounds (first layer x{scale:g}) above weight "
                            "scaling at equal SynOps (accuracy gap, points)",
                            "SynOp+QAT 90.37-91.75% at 127-2179M SynOps, weight scaling 90.70% "
                            "at 3025M", overall, verdict(overall, 0.0), per_seed,
                            note="rounds inside the weight-scaling curve's SynOp range only"))
    return claims


def qat_claim(runs: Dict[int, tuple], resamples: int = 1000) -> List[Claim]:
    """MNIST, quantization only: the spiking network's accuracy with QAT minus without,
    averaged over the input scales both were tested at. `runs`: {seed: (workdir, no-QAT
    rows, QAT rows)} (one evaluation each)."""
    statistics = {}
    for seed, (workdir, without, with_qat) in runs.items():
        common = sorted(set(without["scale"]) & set(with_qat["scale"]))
        if not common:
            continue
        pick = lambda frame: frame[frame["scale"].isin(common)].sort_values("scale")  # noqa: E731
        plain_models = load_models(workdir, pick(without))
        qat_models = load_models(workdir, pick(with_qat))
        statistics[seed] = (lambda idx, a=qat_models, b=plain_models: float(np.mean(
            [x.accuracy(idx) - y.accuracy(idx) for x, y in zip(a, b, strict=True)])) * 100,
            len(plain_models[0].correct))
    if not statistics:
        return []
    per_seed, overall = measure(statistics, resamples)
    return [Claim("MNIST: QAT above no QAT for the spiking network (accuracy gap, points, mean "
                  "over the input scales)", "QAT networks keep their accuracy as spiking "
                  "networks; networks trained without lose it at small input scales",
                  overall, verdict(overall, 0.0), per_seed)]
