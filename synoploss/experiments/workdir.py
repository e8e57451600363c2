"""What every experiment writes, where, and under which names: the one contract between
the scripts, the figures (`plots`, the notebook) and the tests.

A work folder (`--workdir`) holds

    training_log.csv   one row per trained model (MNIST-DVS) or per round and epoch (CIFAR-10)
    models/            checkpoints, named by the functions below
    results/           what the test scripts measured: CSV files, opt_benchmark.npz

Column vocabulary, in every results CSV: `ann_*` for the analog network (`ann_accuracy`,
`ann_quantized_accuracy`, `ann_synops`: our estimate), `snn_*` for its spiking copy
(`snn_accuracy`, `snn_synops`: measured by sinabs), `energy_uj` and `energy_model`,
`data` (the dataset's description: real, or STAND-IN and which), `fanout` (the
SynOp estimate's fan-outs: "paper" constants or "exact" maps) and `model_path`
(relative to the work folder). A change to a name happens here and nowhere else.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

from ..io import fingerprint, normal

TRAINING_LOG = "training_log.csv"
EPOCH_LOG = "epoch_log.csv"      # one row per epoch of every training run
MODELS_DIR = "models"
RESULTS_DIR = "results"

# ------------------------------------------------------------------ MNIST-DVS model names
BASELINE = "nopenalty"        # trained without SynOp loss (train.py --nopenalty)
SYNOP = "l1-fanout"           # trained with the SynOp loss (the original's name)
QAT_SUFFIX = "-qtrain"        # ... and with quantization-aware training
WEIGHT_SCALING = "weightscaling"   # the baseline, first-layer weights scaled
SMART_SCALING = "smartscaling"     # the baseline, normalised as Rueckauer et al. 2017
# label in the figures -> name of its results/<name>_spiking.csv
SPIKING_CURVES = {"SynOp+QAT": SYNOP + QAT_SUFFIX, "SynOp": SYNOP,
                  "weight scaling": WEIGHT_SCALING, "Rueckauer normalisation": SMART_SCALING}
TRAINED_CURVES = ("SynOp+QAT", "SynOp")  # the curves made of trained models
# activity-accuracy.py's `curve` column: the trained curves, the scaled and plain baseline
WEIGHT_SCALING_CURVE, BASELINE_CURVE = "weight scaling", "baseline"


def model_name(synop_loss: bool, quantize_training: bool) -> str:
    """The MNIST-DVS model name of a training variant (as the original names them)."""
    return (SYNOP if synop_loss else BASELINE) + (QAT_SUFFIX if quantize_training else "")


def format_target(value: float | None) -> str:
    """A compact, file-name-safe label for a SynOp target (e.g. 1.58e+05)."""
    return "none" if value is None or (isinstance(value, float) and math.isnan(value)) \
        else f"{value:.3g}"


DEFAULT_SEED = 1  # train.py's; its models keep the original's names


def mnist_dvs_checkpoint(name: str, target: float | None = None,
                         alpha: float | None = None, seed: int = DEFAULT_SEED) -> str:
    """models/ file name of an MNIST-DVS model: <name>[_<target> | _alpha<alpha>][_seed<s>].pth
    (the original's names for the default seed)."""
    suffix = "" if seed == DEFAULT_SEED else f"_seed{seed}"
    if alpha is not None:
        return f"{name}_alpha{alpha:g}{suffix}.pth"
    if target is None:
        return f"{name}{suffix}.pth"
    return f"{name}_{format_target(target)}{suffix}.pth"


# ------------------------------------------------------------------ fan-outs
FANOUT_COLUMN = "fanout"
LEGACY_FANOUT = "exact"  # logs written before the column existed used exact maps only


def trained_fanout(row) -> str:
    """The fan-out mode a training-log row was trained with."""
    value = row.get(FANOUT_COLUMN)  # a log row (pandas Series) or a dict
    return LEGACY_FANOUT if value is None or value != value else str(value)


# ------------------------------------------------------------------ CIFAR-10 checkpoints
_CIFAR_CHECKPOINT = re.compile(r"^d(?P<input>[0-9.e+-]+)_(?P<hidden>[0-9.e+-]+)_"
                               r"(?P<round>-?\d+)\.pth$")


ORIGINAL_LAST_ROUND = 30  # of the original's 31 rounds


@dataclass(frozen=True)
class CifarCheckpoint:
    """A CIFAR-10 checkpoint name, as the original names them: d{p_in}_{p_hidden}_{round}.pth
    (dropout rates; round -1 is the plain network, 0.. the QAT + SynOp rounds)."""
    dropout: tuple
    round: int

    @property
    def filename(self) -> str:
        return f"d{self.dropout[0]:g}_{self.dropout[1]:g}_{self.round}.pth"

    @classmethod
    def parse(cls, path, original_names: bool = False) -> "CifarCheckpoint":
        """The name's dropout rates and round. With `original_names`, also the authors'
        d<p_in>_<p_hidden>_0.1.pth: their training loop sets the round index to 0.1 from
        round 29 on (where it meant the decay), so rounds 29 and 30 were both saved under
        that name and the file holds the last, round 30."""
        name = Path(path).name
        if original_names and name.endswith("_0.1.pth"):
            name = name[:-len("0.1.pth")] + f"{ORIGINAL_LAST_ROUND}.pth"
        match = _CIFAR_CHECKPOINT.match(name)
        if match is None:
            raise ValueError(f"{path}: not a CIFAR-10 checkpoint name (expected "
                             "d<input dropout>_<hidden dropout>_<round>.pth, e.g. d0.2_0.1_3.pth)")
        return cls((float(match["input"]), float(match["hidden"])), int(match["round"]))


# ------------------------------------------------------------------ file names per experiment
def quant_only_checkpoint(scale: float, quantize_training: bool) -> str:
    return f"scale_{scale:g}_qtrain_{quantize_training}.pth"


@dataclass(frozen=True)
class Workdir:
    """The files of one work folder. Every script, figure and test asks this class for
    a path instead of joining names itself."""
    root: Path

    def __init__(self, root):
        object.__setattr__(self, "root", Path(root))

    @property
    def training_log(self) -> Path:
        return self.root / TRAINING_LOG

    @property
    def epoch_log(self) -> Path:
        return self.root / EPOCH_LOG

    @property
    def models(self) -> Path:
        return self.root / MODELS_DIR

    @property
    def results(self) -> Path:
        return self.root / RESULTS_DIR

    def model_entry(self, filename: str) -> str:
        """How a checkpoint is named in logs: relative to the work folder, so that a
        work folder can be moved."""
        return f"{MODELS_DIR}/{filename}"

    def model(self, entry) -> Path:
        """A checkpoint from its log entry (relative to the work folder)."""
        return self.root / str(entry)

    # MNIST-DVS
    def spiking_csv(self, name: str) -> Path:
        return self.results / f"{name}_spiking.csv"

    def ann_csv(self, name: str) -> Path:
        return self.results / f"{name}_ann.csv"

    @property
    def activity_accuracy(self) -> Path:
        """activity-accuracy.py: every model as an analog network, over first-layer scales"""
        return self.results / "activity_accuracy.csv"

    @property
    def opt_benchmark(self) -> Path:
        return self.results / "opt_benchmark.npz"

    @property
    def summary(self) -> Path:
        return self.results / "summary.csv"

    @property
    def quantization_evaluation(self) -> Path:
        return self.results / "quantization_evaluation.csv"

    # CIFAR-10
    @property
    def cifar_inference(self) -> Path:
        return self.results / "log_inference.csv"

    # MNIST, quantization only
    def quant_eval_csv(self, quantize_training: bool) -> Path:
        return self.results / f"quant_eval_qtrain_{quantize_training}.csv"

    def quant_spiking_csv(self, quantize_training: bool) -> Path:
        return self.results / f"spiking_qtrain_{quantize_training}.csv"


# ------------------------------------------------------------------ evaluations
# What makes two spiking-results rows comparable: the same data (by fingerprint), the
# same simulator, time bin, number and subset of test samples. A results file may hold
# several evaluations (a quick --max_samples look beside the full test, a sinabs check
# beside the fast simulator's run): readers compare rows of one evaluation only.
EVALUATION_COLUMNS = ("data_fingerprint", "simulator", "dt_us", "n_timesteps", "n_samples",
                      "sample_seed")
# a spiking-results row is one model (at one scale or level) under one evaluation
SPIKING_KEY = ("model_path", "scale", "level", *EVALUATION_COLUMNS, FANOUT_COLUMN)


def evaluation_of(row) -> dict:
    """The evaluation columns of a row (None where a column is absent or empty)."""
    return {column: normal(row.get(column)) for column in EVALUATION_COLUMNS}


def evaluation_label(evaluation: dict) -> str:
    """How figures and summaries name an evaluation."""
    parts = [f"{evaluation['simulator'] or 'sinabs'} simulator"]
    if evaluation.get("n_samples") is not None:
        parts.append(f"{int(evaluation['n_samples'])} test samples")
    if evaluation.get("dt_us") is not None:
        parts.append(f"{int(evaluation['dt_us'])} µs bins")
    if evaluation.get("n_timesteps") is not None:
        parts.append(f"{int(evaluation['n_timesteps'])} steps")
    return ", ".join(parts)


def samples_file(files: "Workdir", results_name: str, row: dict) -> Path:
    """Where a spiking test keeps its per-sample arrays (results/samples/...npz), named by
    the model, its scale or level, and a hash of the evaluation."""
    stem = Path(str(row["model_path"])).stem
    setting = "".join(f"_{key}{row[key]:g}" for key in ("scale", "level")
                      if row.get(key) is not None)
    tag = fingerprint({**evaluation_of(row), FANOUT_COLUMN: row.get(FANOUT_COLUMN)})
    return files.results / "samples" / results_name / f"{stem}{setting}_{tag}.npz"
