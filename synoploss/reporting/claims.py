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
untested ones, and what the tested ones alone give.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Dict, List

import numpy as np
import pandas as pd

from ..io import load_npz, normal
from ..stats import Interval, bootstrap, mean_interval, verdict

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


def load_models(workdir, frame: pd.DataFrame, label_column: str | None = None) -> List[Model]:
    """The per-sample arrays of every row of a results frame (its samples_path)."""
    models = []
    for row in frame.to_dict("records"):
        path = Path(workdir) / str(row["samples_path"])
        saved = load_npz(path, ("correct", "synops"), f"the per-sample arrays of "
                         f"{row['model_path']}: test it again (--fresh)")
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


def fewest_synops_within(baseline: Model, candidates: List[Model], max_drop: float,
                         indices) -> float:
    """Baseline SynOps / SynOps of the candidate with the fewest SynOps whose accuracy is at
    most `max_drop` points below the baseline's, on the samples `indices` (NaN if none)."""
    floor = baseline.accuracy(indices) - max_drop / 100
    eligible = [model.mean_synops(indices) for model in candidates
                if model.accuracy(indices) >= floor - 1e-12]
    if not eligible:
        return math.nan
    return baseline.mean_synops(indices) / min(eligible)


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
    with the coverage of the curves it draws on (`with_coverage`)."""
    claims = []
    baselines = by_seed(results.baseline)
    curves = {label: by_seed(frame) for label, frame in results.curves.items()}
    qat = curves.get("SynOp+QAT", {})
    seeds = [seed for seed in baselines if seed in qat]
    if seeds:
        statistics = {}
        for seed in seeds:
            base = load_models(workdir, baselines[seed])[0]
            candidates = load_models(workdir, qat[seed])
            statistics[seed] = (lambda idx, b=base, c=candidates:
                                fewest_synops_within(b, c, max_drop, idx), len(base.correct))
        per_seed, overall = measure(statistics, resamples, ratio=True)
        claims.append(with_coverage(Claim(
            f"SynOp+QAT: fewer SynOps than the baseline, at most {max_drop:g} points less "
            "accurate (the reduction factor; geometric mean over seeds)",
            f"about {PAPER_REDUCTION:g}x (3.9e6 -> 6.3e5 SynOps, 96.3% -> 95.0%)",
            overall, verdict(overall, 1.0), per_seed,
            note=_against_paper(overall, PAPER_REDUCTION)), results, ("baseline", "SynOp+QAT")))
    for other in ("weight scaling", "SynOp"):
        lower = curves.get(other, {})
        # weight scaling is the baseline's own curve: per seed of the baseline
        common = [seed for seed in qat if seed in lower]
        if not common:
            continue
        statistics = {}
        for seed in common:
            upper_models = load_models(workdir, qat[seed])
            lower_models = load_models(workdir, lower[seed])
            statistics[seed] = (lambda idx, u=upper_models, lo=lower_models:
                                gap_at_equal_synops(u, lo, idx), len(upper_models[0].correct))
        per_seed, overall = measure(statistics, resamples)
        claims.append(with_coverage(Claim(
            f"SynOp+QAT above {other} at equal SynOps (accuracy gap, points)",
            "SynOp+QAT best, SynOp alone next, weight scaling worst", overall,
            verdict(overall, 0.0), per_seed), results, ("SynOp+QAT", other)))
    if "SynOp+QAT" in results.curves:
        claims.append(with_coverage(estimate_agreement(results.curves["SynOp+QAT"]), results,
                                    ("SynOp+QAT",)))
    return claims


def _against_paper(interval: Interval, paper: float) -> str:
    if math.isnan(interval.low):
        return "cannot be compared with the paper's value"
    if interval.contains(paper):
        return f"the paper's {paper:g}x lies inside the interval"
    side = "below" if interval.high < paper else "above"
    return f"the interval lies {side} the paper's {paper:g}x"


def estimate_agreement(frame: pd.DataFrame, tolerance: float = 0.15) -> Claim:
    """Our estimate (quantized analog network) against the measurement (spiking), per
    model: the largest relative difference. `tolerance` is ours: the paper says "close"."""
    relative = ((frame["ann_synops"] - frame["snn_synops"]).abs() / frame["snn_synops"]).to_numpy()
    largest = float(relative.max()) * 100
    low = float(relative.min()) * 100
    return Claim(f"estimate within {tolerance * 100:g}% of the measurement, every SynOp+QAT "
                 "model (our threshold)", "the estimate lies close to the measurement",
                 Interval(largest, low, largest), "supported" if largest <= tolerance * 100
                 else "not shown", {}, note="value: the largest difference (%); "
                 "range: smallest to largest over the models")


def claims_frame(claims: List[Claim]) -> pd.DataFrame:
    return pd.DataFrame([claim.row() for claim in claims])


def format_claims(claims: List[Claim]) -> str:
    lines = []
    for claim in claims:
        measured = claim.measured
        bounds = "interval unknown" if math.isnan(measured.low) else \
            f"95% [{measured.low:.3g}, {measured.high:.3g}]"
        seeds = f", {len(claim.per_seed)} seed(s)" if claim.per_seed else ""
        lines.append(f"  {claim.verdict.upper():<13} {claim.name}: {measured.value:.3g} "
                     f"({bounds}{seeds}); paper: {claim.paper}"
                     + (f"; {claim.note}" if claim.note else ""))
    return "\n".join(lines)


StatisticFactory = Callable[[np.ndarray], float]


def cifar10_claims(workdir, frame: pd.DataFrame, resamples: int = 1000) -> List[Claim]:
    """CIFAR-10: the SynOp+QAT rounds (at each first-layer scale) above the plain network's
    weight scaling at equal SynOps, on the test images of one evaluation."""
    plain = frame[frame["round"] < 0]
    rounds = frame[frame["round"] >= 0]
    if plain.empty or rounds.empty:
        return []
    lower = load_models(workdir, plain)
    claims = []
    for scale, rows in rounds.groupby("weight_scale"):
        upper = load_models(workdir, rows)
        statistic = (lambda idx, u=upper, lo=lower: gap_at_equal_synops(u, lo, idx),
                     len(lower[0].correct))
        per_seed, overall = measure({1: statistic}, resamples)
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
