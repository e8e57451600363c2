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
one file, results/activity_accuracy.csv, one row per model, scale and quantize_test (a
rerun replaces its own rows); the notebook draws the quantized-tested figure, as the
paper's, and the non-quantized one beside it. SynOps are estimated with the fan-outs each
model was trained with (--fanout overrides; the `fanout` column says which).

Examples:
  python mnist_dvs/activity-accuracy.py --workdir runs/mnist_dvs --data_root data
  python mnist_dvs/activity-accuracy.py --workdir runs/mnist_dvs --data_root data --quantize_testing
"""
from pathlib import Path

import numpy as np
import pandas as pd
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from synoploss.data.mnist_dvs import FramesDataset, describe
from synoploss.evaluation import evaluate_analog
from synoploss.io import load_state, read_csv, write_csv
from synoploss.models import MNISTDVSNet, scale_first_layer, set_quantize
from synoploss.results import (BASELINE, BASELINE_CURVE, SPIKING_CURVES, TRAINED_CURVES,
                               WEIGHT_SCALING_CURVE, Workdir, trained_fanout)
from synoploss.runtime import (add_device_flag, add_fanout_flag, device_or_fail,
                               ensure_writable_dir, fail, positive_float, positive_int,
                               script_parser)

DEFAULT_SCALES = [float(value) for value in np.logspace(-3, 0, 10)]


def parse_args(argv=None):
    parser = script_parser(__doc__, __file__)
    parser.add_argument("--workdir", default=".", help="folder with training_log.csv, models/; "
                        "results/ is written there")
    parser.add_argument("--data_root", default="data", help="converted data (test/ is used)")
    parser.add_argument("--quantize_testing", action="store_true",
                        help="test the networks quantized (floor ReLU) instead of analog")
    parser.add_argument("--scales", type=positive_float, nargs="+", default=DEFAULT_SCALES,
                        help="first-layer weight factors for the baseline (default "
                             "logspace(-3, 0, 10))")
    parser.add_argument("--max_samples", type=positive_int, default=None,
                        help="random subset of the test frames, for quick runs")
    parser.add_argument("--batch_size", type=positive_int, default=256)
    parser.add_argument("--seed", type=int, default=0, help="subset seed")
    add_fanout_flag(parser, inherit=True)
    add_device_flag(parser)
    return parser.parse_args(argv)


def jobs(log):
    """(curve, log entry, first-layer scale) for every network to test."""
    found = []
    for label in TRAINED_CURVES:
        rows = log[log["name"] == SPIKING_CURVES[label]].sort_values("target")
        found += [(label, entry, 1.0) for _, entry in rows.iterrows()]
    baseline = log[log["name"] == BASELINE]
    if baseline.empty:
        raise LookupError(f"no {BASELINE!r} model in the training log (train.py --nopenalty)")
    return found, baseline.iloc[0]


def main(argv=None):
    args = parse_args(argv)
    device = device_or_fail(args.device, __file__)
    files = Workdir(args.workdir)
    try:
        ensure_writable_dir(files.results, "--workdir")
        log = read_csv(files.training_log, required=["name", "target", "quantize_training",
                                                     "model_path"], numeric=["target"])
        trained, baseline = jobs(log)
        frames = FramesDataset(Path(args.data_root) / "test", args.max_samples, args.seed)
    except (FileNotFoundError, LookupError, ValueError) as error:
        fail(__file__, error)
    todo = trained + [(WEIGHT_SCALING_CURVE, baseline, scale) for scale in args.scales] \
        + [(BASELINE_CURVE, baseline, 1.0)]
    loader = DataLoader(frames, args.batch_size)
    description = describe(args.data_root)
    rows = []
    for curve, entry, scale in tqdm(todo, desc="models"):
        fanout = args.fanout or trained_fanout(entry)
        model = MNISTDVSNet(quantize=args.quantize_testing, fanout=fanout)
        try:
            load_state(model, files.model(entry["model_path"]))
        except (FileNotFoundError, ValueError) as error:
            fail(__file__, f"{error} (listed in {files.training_log})")
        stats = evaluate_analog(set_quantize(scale_first_layer(model, scale),
                                             args.quantize_testing), loader, device)
        rows.append(dict(curve=curve, name=entry["name"], target=entry["target"], scale=scale,
                         quantize_training=entry["quantize_training"],
                         quantize_test=args.quantize_testing, ann_accuracy=stats.accuracy,
                         ann_synops=stats.synops, fanout=fanout,
                         model_path=entry["model_path"], n_samples=len(frames),
                         data=description))
    out = files.activity_accuracy
    frame = pd.DataFrame(rows)
    if out.is_file():  # keep the other --quantize_testing run's rows
        try:
            earlier = read_csv(out, required=["quantize_test"])
        except ValueError as error:
            fail(__file__, error)
        kept = earlier[earlier["quantize_test"].astype(str) != str(args.quantize_testing)]
        frame = pd.concat([kept, frame], ignore_index=True)
    write_csv(out, frame.to_dict("records"), columns=list(frame.columns))
    for row in rows:
        print(f"{row['curve']:>15} x{row['scale']:<8.3g} target {row['target']:<10.3g}: "
              f"accuracy {row['ann_accuracy']:.4f} at {row['ann_synops']:.4g} SynOps")
    print(f"{out}: {len(rows)} rows ({'quantized' if args.quantize_testing else 'analog'} "
          "testing)")


if __name__ == "__main__":
    main()
