"""Reading what the experiments wrote, for the figures, the claims and the results page:
results CSVs checked value by value, and the MNIST-DVS spiking results of a work folder
restricted to one evaluation (rows of other data or other settings are never compared),
with the training log's models that have no row under it (a partial sweep, or a whole
curve, is named, not passed off as the whole), refusing rows of a model trained again
since they were made; and the per-sample arrays behind a row, checked against it."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterable, List

import numpy as np
import pandas as pd

from ..experiments.reruns import logged_checkpoints
from ..experiments.workdir import (
    BASELINE,
    FANOUT_COLUMN,
    SPIKING_CURVES,
    TRAINED_CURVES,
    Workdir,
    evaluation_label,
    evaluation_of,
)
from ..io import load_npz, normal, read_csv

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
# the script that tests each curve's models: what a reader is told to run for a missing one
TEST_COMMANDS = {"baseline": "test_spiking.py --mode nopenalty",
                 "SynOp+QAT": "test_spiking.py --mode quantized",
                 "SynOp": "test_spiking.py --mode nonquantized",
                 "weight scaling": "test_spiking.py --mode weightscaling",
                 "Rueckauer normalisation": "smart_weight_rescaling.py"}
# ours, not the paper's: expected under an evaluation only once it was run under some
OPTIONAL_CURVES = ("Rueckauer normalisation",)


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


def choose_evaluation(frames: list, wanted: dict | None = None) -> dict:
    """The evaluation to compare, among those in `frames` (the first frame, the baseline's,
    decides) that match `wanted` ({column: value}, e.g. the --simulator and --n_samples a
    reader asked for): the one with the most test samples, then the paper's simulator
    (sinabs). Chosen among the evaluations present, so that a flag picks rows that exist
    (a quick look's rows have a sample_seed that no default evaluation holds);
    NoSuchEvaluation names the present ones when none matches."""
    candidates = {}
    for frame in frames[:1] or frames:
        for row in frame.to_dict("records"):
            evaluation = evaluation_of(row)
            candidates[tuple(sorted(evaluation.items(), key=lambda item: item[0]))] = evaluation
    if not candidates:
        raise ValueError("no spiking results rows to compare")
    matching = [evaluation for evaluation in candidates.values()
                if matches(evaluation, wanted or {})]
    if not matching:
        asked = ", ".join(f"{key} {value:g}" if isinstance(value, (int, float)) else
                          f"{key} {value}" for key, value in wanted.items())
        present = "; ".join(evaluation_text(evaluation) for evaluation in candidates.values())
        raise NoSuchEvaluation(f"no evaluation with {asked} among the rows; present: {present} "
                               "(choose one of them with --simulator / --n_samples)")

    def rank(evaluation):
        return (evaluation.get("n_samples") or 0, evaluation.get("simulator") in (None, "sinabs"))
    return max(matching, key=rank)


class NoSuchEvaluation(ValueError):
    """No rows were made under the evaluation a reader asked for."""


def matches(evaluation: dict, wanted: dict) -> bool:
    """Whether `evaluation` has every value of `wanted` (a row without a simulator was
    made by sinabs, the only one then)."""
    for key, value in wanted.items():
        have = evaluation.get(key)
        if key == "simulator":
            have = have or "sinabs"
        if normal(have) != normal(value):
            return False
    return True


def evaluation_text(evaluation: dict) -> str:
    """An evaluation as a reader tells it from the others: its label and, where set, the
    seed of its test-sample subset (a quick look's --max_samples)."""
    seed = evaluation.get("sample_seed")
    return evaluation_label(evaluation) + ("" if seed is None else f", sample seed {seed:g}")


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
    # the curves with rows under any evaluation (an optional curve counts once it was run)
    run: tuple = ()

    @property
    def label(self) -> str:
        return evaluation_label(self.evaluation)

    def frame(self, label: str) -> pd.DataFrame:
        return self.baseline if label == "baseline" else self.curves.get(label, pd.DataFrame())

    def expected(self, label: str) -> bool:
        """Whether curve `label` should have rows under this evaluation: it has some, or
        the training log lists models for it (without a log: every curve of the paper).
        Our optional curve (Rueckauer normalisation) only once it was run at all."""
        if not self.frame(label).empty:
            return True
        if label in OPTIONAL_CURVES and label not in self.run:
            return False
        if self.log_models is None:
            return label in CURVE_SOURCES
        return bool(self.log_models.get(label))

    def missing(self, labels: Iterable[str]) -> List[str]:
        """The curves of `labels` expected (`expected`) with no row under this evaluation:
        no claim can be measured from them."""
        return [label for label in labels if self.frame(label).empty and self.expected(label)]

    def untested(self, label: str) -> List[str]:
        """The training log's models for curve `label` with no row under this evaluation
        (none when the log is unknown or the curve is not expected; all of them when the
        curve has no row at all: a whole curve untested is named, never left out)."""
        if self.log_models is None or not self.expected(label):
            return []
        frame = self.frame(label)
        tested = set() if frame.empty else {normal(path) for path in frame["model_path"]}
        return [path for path in self.log_models.get(label, []) if normal(path) not in tested]

    def untested_by_curve(self) -> Dict[str, tuple]:
        """{curve label: (its untested models, its models in the training log)}, for the
        curves with any untested model."""
        found = {}
        for label in CURVE_SOURCES:
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
                    f"{label}, {len(paths)} of {total}"
                    + (f" (the whole curve: the claims on it are not measured; run "
                       f"{TEST_COMMANDS[label]} with the same settings)"
                       if self.frame(label).empty else "")
                    + f": {', '.join(paths)}" for label, (paths, total) in found.items()))

    def coverage(self, labels: Iterable[str]) -> tuple:
        """(models tested, models in the training log, [untested, labelled]) over the
        curves `labels` that have rows or are expected to; (None, None, []) without a
        training log. A model untested under a curve that rescales another's model
        (weight scaling) is labelled with that curve, since its path alone names the
        other curve."""
        if self.log_models is None:
            return None, None, []
        counted = [label for label in labels if self.expected(label)]
        total = sum(len(self.log_models.get(label, [])) for label in counted)
        untested = [f"{path} ({label})" if label in RESCALED_CURVES else path
                    for label in counted for path in self.untested(label)]
        return total - len(untested), total, untested


def read_spiking_results(workdir, evaluation: dict | None = None,
                         require_baseline: bool = True,
                         wanted: dict | None = None) -> SpikingResults:
    """Every *_spiking.csv of the MNIST-DVS work folder, restricted to one evaluation
    (`evaluation`, or `choose_evaluation`'s among those matching `wanted`). MixedResults
    when the chosen rows hold two data sets (never compared, whatever the labels say);
    StaleResults when a chosen row measured a model since replaced (`check_current`)."""
    files = Workdir(workdir)
    baseline_path = files.spiking_csv(BASELINE)
    read = spiking_frames(files, require_baseline)
    frames = {label: frame for label, (_, frame) in read.items()}
    try:
        chosen = evaluation or choose_evaluation(list(frames.values()), wanted)
    except NoSuchEvaluation as error:
        raise NoSuchEvaluation(f"{next(iter(read.values()))[0]}: {error}") from None
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
    check_current(files, {label: (read[label][0], frame) for label, frame in selected.items()})
    baseline = selected.pop("baseline", pd.DataFrame())
    if require_baseline and baseline.empty:
        raise FileNotFoundError(f"{baseline_path} has no rows for the {evaluation_label(chosen)} "
                                "evaluation (run test_spiking.py --mode nopenalty with the "
                                "same settings)")
    return SpikingResults(baseline, selected, chosen, descriptions[0] if descriptions else "",
                          others, log_models(files, chosen),
                          tuple(label for label, frame in frames.items() if len(frame)))


def spiking_frames(files: Workdir, require_baseline: bool = True) -> Dict[str, tuple]:
    """{curve label: (its *_spiking.csv, its rows of every evaluation)}, the baseline
    first."""
    baseline_path = files.spiking_csv(BASELINE)
    paths = {}
    if baseline_path.is_file():
        paths["baseline"] = baseline_path
    elif require_baseline:
        raise FileNotFoundError(f"{baseline_path} is missing (run test_spiking.py --mode "
                                "nopenalty)")
    for label, name in SPIKING_CURVES.items():
        if files.spiking_csv(name).is_file():
            paths[label] = files.spiking_csv(name)
    if not paths:
        raise FileNotFoundError(f"{files.results} has no *_spiking.csv")
    return {label: (path, read_csv(path, required=SPIKING_COLUMNS, numeric=SPIKING_COLUMNS[:3]))
            for label, path in paths.items()}


class StaleResults(ValueError):
    """Results rows of a model that was replaced (trained again) after they were made."""


def check_current(files: Workdir, selected: Dict[str, tuple]) -> None:
    """StaleResults listing every row of `selected` ({curve label: (its file, its rows)})
    whose model_sha256 is not the one the training log now records for its model_path:
    the model was trained again since (train.py --fresh), and the row describes the old
    one. Rows or logs without hashes (older versions) are not checked."""
    logged = logged_checkpoints(files.training_log, files)
    stale, commands = [], []
    for label, (path, frame) in selected.items():
        if "model_sha256" not in frame:
            continue
        for row in frame.to_dict("records"):
            tested = normal(row.get("model_sha256"))
            now = logged.get(files.model(row["model_path"]).resolve())
            if tested is None or normal(now) is None or str(tested) == str(now):
                continue
            stale.append(f"{path.name}: {row['model_path']} (tested: sha256 {tested}; "
                         f"{files.training_log.name} now: sha256 {now})")
            commands.append(f"{TEST_COMMANDS[label]} --fresh")
    if stale:
        raise StaleResults(
            f"{files.results}: {len(stale)} results row(s) measured a model trained again "
            f"since (its model_sha256 is not the one {files.training_log} records now): "
            + "; ".join(stale) + ". Test them again ("
            + ", ".join(dict.fromkeys(commands)) + ", with the same settings), or remove "
            "these rows")


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


# ------------------------------------------------------------------ per-sample arrays
RETEST = "test it again (--fresh), which makes its row and its arrays together"


def per_sample_arrays(workdir, row, keys: Iterable[str] = ("correct", "synops"),
                      optional: Iterable[str] = (), fix: str = RETEST) -> Dict[str, np.ndarray]:
    """The arrays `keys` (and those of `optional` the file holds) of a results row's
    samples file (its samples_path), checked against the row (`check_against_row`):
    the claims are computed from these arrays while the tables show the row, so a file
    copied from another model, scaled or damaged would change the claims unseen."""
    path = Path(workdir) / str(row["samples_path"])
    what = f"the per-sample arrays of {row['model_path']}"
    saved = load_npz(path, list(dict.fromkeys(["correct", "synops", *keys])), what, fix)
    optional = [key for key in optional if key not in saved]
    if optional:
        with np.load(path, allow_pickle=False) as arrays:  # older files hold fewer arrays
            saved.update({key: arrays[key] for key in optional if key in arrays.files})
    check_against_row(path, row, saved, fix)
    return saved


def check_against_row(path, row, saved: Dict[str, np.ndarray], fix: str = RETEST) -> None:
    """ValueError naming the file, the row and `fix` unless the arrays agree with the
    row: every number finite, one entry per test sample (the row's n_samples), the mean
    of `synops` the row's snn_synops (relative 1e-6: the row's mean was taken in the
    array's own precision, float32 for some simulators) and the mean of `correct` its
    snn_accuracy. Columns a row lacks (older versions) are not checked."""
    setting = "".join(f", {key} {normal(row.get(key)):g}" for key in ("scale", "level")
                      if isinstance(normal(row.get(key)), float))
    named = (f"{path}: the per-sample arrays of {row['model_path']} do not agree with its "
             f"results row ({row['model_path']}{setting}, samples_path {row['samples_path']})")
    problems = [f"{key} holds NaN or infinite values" for key, array in saved.items()
                if np.issubdtype(np.asarray(array).dtype, np.number)
                and not np.isfinite(array).all()]
    counts = {len(saved["correct"]), len(saved["synops"])}
    n_samples = normal(row.get("n_samples"))
    if len(counts) > 1 or (n_samples is not None and counts != {int(n_samples)}):
        problems.append(f"{len(saved['correct'])} correct and {len(saved['synops'])} synops "
                        f"values for the row's n_samples {n_samples}")
    elif not problems:
        problems += _mean_mismatches(row, saved)
    if problems:
        raise ValueError(f"{named}: {'; '.join(problems)}; {fix}")


def _mean_mismatches(row, saved: Dict[str, np.ndarray]) -> List[str]:
    """The row's snn_synops and snn_accuracy against the arrays' means (the synops mean in
    the array's own precision and in float64: either may have made the row's)."""
    found = []
    synops, accuracy = normal(row.get("snn_synops")), normal(row.get("snn_accuracy"))
    if isinstance(synops, float):
        means = [float(saved["synops"].mean()), float(saved["synops"].astype(np.float64).mean())]
        if not any(math.isclose(mean, synops, rel_tol=1e-6, abs_tol=1e-9) for mean in means):
            found.append(f"the mean of synops is {means[1]:.7g}, the row's snn_synops "
                         f"{synops:.7g}")
    if isinstance(accuracy, float):
        mean = float(np.asarray(saved["correct"], dtype=np.float64).mean())
        if not math.isclose(mean, accuracy, rel_tol=1e-6, abs_tol=1e-12):
            found.append(f"the mean of correct is {mean:.7g}, the row's snn_accuracy "
                         f"{accuracy:.7g}")
    return found
