"""Layer-by-layer SynOps of the baseline against one optimised model, as spiking networks.

Reads results/nopenalty_spiking.csv and results/l1-fanout-qtrain_spiking.csv (written by
test_spiking.py --mode nopenalty / quantized), the rows of one evaluation (the one with
the most test samples) and one training seed (--seed). By default the optimised model is
the SynOp+QAT model with the fewest SNN SynOps whose SNN accuracy is within --max_drop
points of the baseline's; --model picks one by its model path instead. Rows of a model
trained again since they were measured (their model_sha256 is not the training log's)
are refused, naming them.

Writes results/opt_benchmark.npz (baseline_activity, optimized_activity: SNN SynOps per
sample per layer; baseline_accuracy, optimized_accuracy; layer_names, model paths) and
prints the comparison.
"""
import numpy as np

from synoploss.experiments.cli import DEFAULT_WORKDIRS, fail, nonnegative_float, script_parser
from synoploss.experiments.workdir import SPIKING_CURVES, TRAINED_CURVES, Workdir
from synoploss.io import normal, save_npz
from synoploss.reporting.readers import MixedResults, StaleResults, read_spiking_results


def parse_args(argv=None):
    parser = script_parser(__doc__, __file__)
    parser.add_argument("--workdir", default=DEFAULT_WORKDIRS["mnist_dvs"],
                        help=f"folder holding results/ (default {DEFAULT_WORKDIRS['mnist_dvs']})")
    parser.add_argument("--seed", type=int, default=1, help="the training seed to compare")
    parser.add_argument("--model", default=None,
                        help="model path (as in the log, e.g. models/l1-fanout-qtrain_6e+05.pth)")
    parser.add_argument("--max_drop", type=nonnegative_float, default=1.5,
                        help="largest SNN accuracy drop (points) for the automatic choice")
    names = [SPIKING_CURVES[label] for label in TRAINED_CURVES]
    parser.add_argument("--candidates", default=SPIKING_CURVES["SynOp+QAT"], choices=names,
                        help=f"which results to choose from ({' or '.join(names)})")
    return parser.parse_args(argv)


def select(baseline, candidates, model=None, max_drop=1.5):
    if model is not None:
        chosen = candidates[candidates["model_path"] == model]
        if chosen.empty:
            raise LookupError(f"--model {model} is not among the tested models: "
                              f"{candidates['model_path'].tolist()}")
        return chosen.iloc[0]
    floor = baseline["snn_accuracy"] - max_drop / 100
    eligible = candidates[candidates["snn_accuracy"] >= floor]
    if eligible.empty:
        raise LookupError(f"no model within {max_drop} points of the baseline's SNN accuracy "
                          f"{baseline['snn_accuracy']:.4f}; choose one with --model")
    return eligible.sort_values("snn_synops").iloc[0]


def of_seed(frame, seed):
    if frame is None:
        return None
    seeds = frame["seed"].map(lambda value: normal(value) or 1.0) if "seed" in frame else None
    return frame if seeds is None else frame[seeds == float(seed)]


def main(argv=None):
    args = parse_args(argv)
    files = Workdir(args.workdir)
    try:
        results = read_spiking_results(args.workdir)
        label = next(label for label, name in SPIKING_CURVES.items() if name == args.candidates)
        baseline, candidates = (of_seed(frame, args.seed) for frame in
                                (results.baseline, results.curves.get(label)))
        if baseline is None or candidates is None or baseline.empty or candidates.empty:
            raise ValueError(f"{files.results}: no {args.candidates} or baseline rows of seed "
                             f"{args.seed} for the {results.label} evaluation")
        baseline = baseline.iloc[0]
        chosen = select(baseline, candidates, args.model, args.max_drop)
    except StaleResults as error:  # its own fix: test the replaced models again
        fail(__file__, error)
    except (FileNotFoundError, LookupError, ValueError, MixedResults) as error:
        fail(__file__, f"{error} (run test_spiking.py --mode nopenalty and --mode quantized "
                       "first)")
    layers = [column[len("snn_synops_"):] for column in candidates.columns
              if column.startswith("snn_synops_") and not column.endswith(("_low", "_high"))]
    baseline_activity = np.array([baseline[f"snn_synops_{layer}"] for layer in layers])
    optimized_activity = np.array([chosen[f"snn_synops_{layer}"] for layer in layers])
    save_npz(files.opt_benchmark, baseline_activity=baseline_activity,
             optimized_activity=optimized_activity,
             baseline_accuracy=float(baseline["snn_accuracy"]),
             optimized_accuracy=float(chosen["snn_accuracy"]), layer_names=np.array(layers),
             baseline_model=baseline["model_path"], optimized_model=chosen["model_path"])
    print(f"baseline  {baseline['model_path']}: SNN accuracy {baseline['snn_accuracy']:.4f}")
    print(f"optimised {chosen['model_path']}: SNN accuracy {chosen['snn_accuracy']:.4f}")
    print(f"{'layer':>14} {'baseline':>12} {'optimised':>12} {'reduction':>10}")
    for layer, before, after in zip(layers, baseline_activity, optimized_activity, strict=True):
        print(f"{layer:>14} {before:12.4g} {after:12.4g} {before / max(after, 1e-9):9.2f}x")
    total_before, total_after = baseline_activity.sum(), optimized_activity.sum()
    print(f"{'total':>14} {total_before:12.4g} {total_after:12.4g} "
          f"{total_before / max(total_after, 1e-9):9.2f}x")
    print(f"{files.opt_benchmark} written")


if __name__ == "__main__":
    main()
