"""Reading what the experiments wrote, for the figures, the claims and the results page:
results CSVs checked value by value, and the MNIST-DVS spiking results of a work folder
restricted to one evaluation (rows of other data or other settings are never compared),
with the training log's models that have no row under it (a partial sweep is named, not
passed off as the whole)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterable, List

import pandas as pd

from ..experiments.workdir import (
    BASELINE,
    FANOUT_COLUMN,
    SPIKING_CURVES,
    TRAINED_CURVES,
    Workdir,
    evaluation_label,
    evaluation_of,
)
from ..io import normal, read_csv

# ------------------------------------------------------------------ readers
SPIKING_COLUMNS = ["snn_accuracy", "snn_synops", "ann_synops", "model_path"]
TEXT_COLUMNS = {"data", "model_path", "name", "curve", "setting", "init_from", "model",
                "layer", "baseline_model", "optimized_model", "energy_model", "nir_path",
                FANOUT_COLUMN, "simulator", "data_fingerprint", "model_sha256", "samples_path",
                "init_from_sha256", "lr_schedule", "chip", "chip_problems"}
# which models of the training log (by its `name` column) each MNIST-DVS curve tests: the
# trained curves their own, the baseline and its rescaled copies the baseline's
CURVE_SOURCES = {"baseline": BASELINE, **{label: SPIKING_CURVES[label] for label in TRAINED_CURVES},
                 "weight scaling": BASELINE, "Rueckauer normalisation": BASELINE}
RESCALED_CURVES = ("weight scaling", "Rueckauer normalisation")  # the baseline's, rescaled


def read_results(path, required: Iterable[str] = ()) -> pd.DataFrame:
    """A results CSV with at least one row, whose number columns hold only numbers: a
    garbage row is named (file, line, column) instead of turning a column into
    categories on a figure's axes."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing")
    frame = read_csv(path, required=required)
    if frame.empty:
        raise ValueError(f"{path}: no rows (did its experiment finish?)")
    numeric = []
    for column in frame.columns:
        if column in TEXT_COLUMNS or pd.api.types.is_numeric_dtype(frame[column]):
            continue
        values = frame[column].dropna()
        parsed = pd.to_numeric(values, errors="coerce")
        if len(values) and parsed.notna().mean() >= 0.5:  # a number column with garbage
            numeric.append(column)
    return read_csv(path, numeric=numeric) if numeric else frame


class MixedResults(ValueError):
    """Rows that cannot be compared (other data, other settings) were about to be."""


def choose_evaluation(frames: list) -> dict:
    """The evaluation to compare, among those in `frames` (the first frame, the baseline's,
    decides): the one with the most test samples, then the paper's simulator (sinabs)."""
    candidates = {}
    for frame in frames[:1] or frames:
        for row in frame.to_dict("records"):
            evaluation = evaluation_of(row)
            candidates[tuple(sorted(evaluation.items(), key=lambda item: item[0]))] = evaluation
    if not candidates:
        raise ValueError("no spiking results rows to compare")

    def rank(evaluation):
        return (evaluation.get("n_samples") or 0, evaluation.get("simulator") in (None, "sinabs"))
    return max(candidates.values(), key=rank)


def select_evaluation(frame: pd.DataFrame, evaluation: dict) -> pd.DataFrame:
    """The rows of `frame` made under `evaluation`."""
    if frame.empty:
        return frame
    keep = [evaluation_of(row) == evaluation for row in frame.to_dict("records")]
    return frame[keep]


@dataclass
class SpikingResults:
    """The MNIST-DVS spiking results of a work folder under one evaluation: the baseline
    rows (one per training seed), the curves by label, the evaluation and the data."""
    baseline: pd.DataFrame
    curves: dict
    evaluation: dict
    data: str
    others: list  # the evaluations present but not chosen, for the reader to mention
    # {curve label: the training log's models it should hold}; None without a training log
    log_models: Dict[str, List[str]] | None = field(default=None)

    @property
    def label(self) -> str:
        return evaluation_label(self.evaluation)

    def frame(self, label: str) -> pd.DataFrame:
        return self.baseline if label == "baseline" else self.curves.get(label, pd.DataFrame())

    def untested(self, label: str) -> List[str]:
        """The training log's models for curve `label` with no row under this evaluation
        (none when the log is unknown or the curve has no row at all: not a partial sweep
        of it, and no claim is made from it)."""
        frame = self.frame(label)
        if self.log_models is None or frame.empty:
            return []
        tested = {normal(path) for path in frame["model_path"]}
        return [path for path in self.log_models.get(label, []) if normal(path) not in tested]

    def untested_by_curve(self) -> Dict[str, tuple]:
        """{curve label: (its untested models, its models in the training log)}, for the
        curves with any untested model."""
        found = {}
        for label in ["baseline", *self.curves]:
            untested = self.untested(label)
            if untested:
                found[label] = (untested, len(self.log_models.get(label, [])))
        return found

    def untested_text(self) -> str:
        """One sentence on the untested models, for the printed summary and the page."""
        if self.log_models is None:
            return ("no training_log.csv in the work folder: whether every model was tested "
                    "is unknown")
        found = self.untested_by_curve()
        if not found:
            return ""
        return ("untested under this evaluation (in training_log.csv, no results row; the "
                "claims drawing on them are incomplete): " + "; ".join(
                    f"{label}, {len(paths)} of {total}: {', '.join(paths)}"
                    for label, (paths, total) in found.items()))

    def coverage(self, labels: Iterable[str]) -> tuple:
        """(models tested, models in the training log, [untested, labelled]) over the
        curves `labels` that have rows; (None, None, []) without a training log. A model
        untested under a curve that rescales another's model (weight scaling) is labelled
        with that curve, since its path alone names the other curve."""
        if self.log_models is None:
            return None, None, []
        present = [label for label in labels if not self.frame(label).empty]
        total = sum(len(self.log_models.get(label, [])) for label in present)
        untested = [f"{path} ({label})" if label in RESCALED_CURVES else path
                    for label in present for path in self.untested(label)]
        return total - len(untested), total, untested


def read_spiking_results(workdir, evaluation: dict | None = None,
                         require_baseline: bool = True) -> SpikingResults:
    """Every *_spiking.csv of the MNIST-DVS work folder, restricted to one evaluation
    (`evaluation`, or `choose_evaluation`'s). MixedResults when the chosen rows hold two
    data sets (never compared, whatever the labels say)."""
    files = Workdir(workdir)
    baseline_path = files.spiking_csv(BASELINE)
    frames = {}
    if baseline_path.is_file():
        frames["baseline"] = read_csv(baseline_path, required=SPIKING_COLUMNS,
                                      numeric=SPIKING_COLUMNS[:3])
    elif require_baseline:
        raise FileNotFoundError(f"{baseline_path} is missing (run test_spiking.py --mode "
                                "nopenalty)")
    for label, name in SPIKING_CURVES.items():
        if files.spiking_csv(name).is_file():
            frames[label] = read_csv(files.spiking_csv(name), required=SPIKING_COLUMNS,
                                     numeric=SPIKING_COLUMNS[:3])
    if not frames:
        raise FileNotFoundError(f"{files.results} has no *_spiking.csv")
    chosen = evaluation or choose_evaluation(list(frames.values()))
    others = []
    for frame in frames.values():
        for row in frame.to_dict("records"):
            other = evaluation_of(row)
            if other != chosen and other not in others:
                others.append(other)
    selected = {label: select_evaluation(frame, chosen) for label, frame in frames.items()}
    selected = {label: frame for label, frame in selected.items() if len(frame)}
    descriptions = sorted({str(value) for frame in selected.values()
                           for value in frame.get("data", pd.Series(dtype=str)).dropna()})
    if len(descriptions) > 1:
        raise MixedResults(f"{files.results}: the {evaluation_label(chosen)} rows come from "
                           f"{len(descriptions)} data sets ({'; '.join(descriptions)}): test "
                           "every model on one data set, or use one --workdir per data set")
    baseline = selected.pop("baseline", pd.DataFrame())
    if require_baseline and baseline.empty:
        raise FileNotFoundError(f"{baseline_path} has no rows for the {evaluation_label(chosen)} "
                                "evaluation (run test_spiking.py --mode nopenalty with the "
                                "same settings)")
    return SpikingResults(baseline, selected, chosen, descriptions[0] if descriptions else "",
                          others, log_models(files, chosen))


def log_models(files: Workdir, evaluation: dict) -> Dict[str, List[str]] | None:
    """{curve label: model_path of each model the training log lists for it}, leaving out
    models trained on other data than `evaluation`'s (they are never tested on it); None
    when the work folder has no training log (then which models are missing is unknown).
    A malformed log is refused (read_csv), never read as a shorter list."""
    if not files.training_log.is_file():
        return None
    log = read_csv(files.training_log, required=["name", "model_path"])
    wanted = evaluation.get("data_fingerprint")
    if wanted is not None and "data_fingerprint" in log:
        log = log[[normal(value) in (None, wanted) for value in log["data_fingerprint"]]]
    return {label: list(dict.fromkeys(str(path) for path in
                                      log.loc[log["name"] == name, "model_path"]))
            for label, name in CURVE_SOURCES.items()}


def read_spiking_curves(workdir) -> dict:
    """The SPIKING_CURVES of the work folder's chosen evaluation, by label
    (`read_spiking_results`)."""
    return read_spiking_results(workdir, require_baseline=False).curves
