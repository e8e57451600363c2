"""Test the CIFAR-10 checkpoints as analog and as spiking networks (sinabs).

Which checkpoints: every finished round in --workdir's training_log.csv
(models/d{p0}_{p1}_{round}.pth), or with --models DIR every checkpoint in DIR named as the
original names them (d0.2_0.1_{round}.pth, also its d0.2_0.1_0.1.pth: round 30), without a
training log, so that the authors' released models can be tested; the width is read from
the weights. For each checkpoint and first-layer weight scale (--baseline_scales for the
plain network, round -1; --wscales for the optimised rounds):
  - the analog network before the scale: accuracy non-quantized (ann_accuracy) and
    quantized (ann_quantized_accuracy, ann_quantized_synops); ann_synops is the plain
    network's multiply-accumulates (the original's log) or the round's quantized SynOps;
  - the analog network after the scale, quantized (ann_scaled_accuracy, ann_scaled_synops:
    what the original logs next to the spiking numbers);
  - the spiking network: the (normalised) image divided by --n_timesteps injected at
    each of --n_timesteps steps, integrate-and-fire with threshold 1, reset by subtraction,
    membrane potential bounded below at -1, only positive spikes. Accuracy and SynOps are
    measured by sinabs (the input layer, fed analog values, is excluded as in the paper).
Every network is converted with the output ReLU, as the original tests them (its plain
network is trained without one). SynOps are estimated with the fan-outs of training (the
log's fanout column; --models: the paper's), or --fanout's.
ann_macs is the plain network's multiply-accumulates without the input layer (the
original's log), ann_synops the estimate.
Output: results/log_inference.csv in --workdir (default runs/cifar10), one row per
checkpoint, scale and evaluation (simulator, steps, test images), each written as soon as
it is measured (a rerun keeps the rows measured the same way and leaves the others; a test
of some --rounds keeps every other round's rows; --fresh measures again): accuracies with
their 95% Wilson intervals, SynOps per image with its 95% t interval, energy per inference
(energy_uj: SynOps x --energy_model's pJ per SynOp + the first layer's MACs at every step
x pJ per MAC), and the per-image arrays in results/samples/ for paired comparisons.
"""
import copy
from pathlib import Path

from torch.utils.data import DataLoader

from synoploss.data.cifar10 import load_cifar10
from synoploss.experiments.cli import (
    add_device_flag,
    add_fanout_flag,
    add_fresh_flag,
    add_standin_flag,
    add_workdir_flags,
    data_root,
    device_or_fail,
    ensure_writable_dir,
    failing,
    positive_float,
    positive_int,
    script_parser,
)
from synoploss.experiments.evaluation import (
    add_spiking_test_flags,
    evaluate_analog,
    spiking_test_from_args,
    spiking_test_row,
)
from synoploss.experiments.reruns import ResultsFile, check_checkpoint
from synoploss.experiments.workdir import (
    EVALUATION_COLUMNS,
    CifarCheckpoint,
    Workdir,
    trained_fanout,
)
from synoploss.io import load_state, read_csv, read_state
from synoploss.models import (
    CIFAR10_INPUT,
    CIFAR10AnalogueClassifier,
    scale_first_layer,
    set_quantize,
)
from synoploss.progress import progress_bar
from synoploss.spiking import StaticInputBatches
from synoploss.synops import count_macs


def parse_args(argv=None):
    parser = script_parser(__doc__, __file__)
    add_workdir_flags(parser, "cifar10", "torchvision CIFAR-10 root",
                      "training_log.csv and models/ are read, results/ is written")
    parser.add_argument("--models", default=None, metavar="DIR",
                        help="test every d<p_in>_<p_hidden>_<round>.pth in DIR instead of the "
                             "training log's rounds (e.g. the authors' released models)")
    add_standin_flag(parser, "procedural 10-class shapes, as in training")
    parser.add_argument("--n_test", type=positive_int, default=None,
                        help="test images: the stand-in's size (default 1000), or the first "
                             "N of the real test set")
    parser.add_argument("--seed", type=int, default=0, help="as given to train.py")
    parser.add_argument("--n_timesteps", type=positive_int, default=10, help="time steps per image")
    parser.add_argument("--wscales", type=positive_float, nargs="+", default=[1.5, 2.0],
                        help="first-layer weight scales for the optimised rounds")
    parser.add_argument("--baseline_scales", type=positive_float, nargs="+",
                        default=[5, 6, 7, 8, 9, 10, 12, 15, 17, 20, 25, 30, 50, 100, 200, 500],
                        help="first-layer weight scales for the plain network (the "
                             "original's 16)")
    parser.add_argument("--rounds", type=int, nargs="+", default=None, help="only these rounds")
    parser.add_argument("--batch_size", type=positive_int, default=100,
                        help="images per batch (default 100)")
    add_device_flag(parser)
    add_fanout_flag(parser, inherit=True)
    add_spiking_test_flags(parser)
    add_fresh_flag(parser, "rows")
    return parser.parse_args(argv)


KEY = ["model_path", "round", "weight_scale", *EVALUATION_COLUMNS, "data", "fanout"]


def checkpoints_from_log(files, rounds):
    """{round: (checkpoint, path, fanout, width)} for the finished rounds of the log, named
    by the log's own settings (its dropout rates and width), not by the files present; a
    checkpoint whose hash is not the one the log recorded is refused (CheckpointChanged)."""
    log = read_csv(files.training_log, required=["round", "epoch", "width", "dropout"],
                   numeric=["round", "epoch", "width"])
    if log.empty:
        raise ValueError(f"{files.training_log} has no rows (train first)")
    last = log.iloc[-1]
    dropout = tuple(float(value) for value in str(last["dropout"]).split())
    if len(dropout) != 2:
        raise ValueError(f"{files.training_log}: dropout {last['dropout']!r} is not two rates")
    fanouts = {int(r): trained_fanout(rows.iloc[-1]) for r, rows in log.groupby("round")}
    width = float(last["width"])
    rounds = sorted(rounds if rounds is not None else fanouts)
    found, missing = {}, []
    for round_index in rounds:
        checkpoint = CifarCheckpoint(dropout, round_index)
        path = files.models / checkpoint.filename
        if round_index not in fanouts or not path.is_file():
            missing.append(f"{round_index} ({path.name})")
            continue
        last_epoch = log[log["round"] == round_index].sort_values("epoch").iloc[-1]
        check_checkpoint(path, last_epoch.get("model_sha256"), files.training_log)
        found[round_index] = (checkpoint, path, fanouts[round_index], width)
    if missing:
        raise FileNotFoundError(f"no finished round {', '.join(missing)} in {files.training_log} "
                                f"and {files.models}")
    return found


def checkpoints_from_folder(folder, rounds):
    """{round: (checkpoint, path, None, None)} for every original-named checkpoint in
    `folder` (fan-outs and width unknown: the paper's, and read from the weights)."""
    folder = Path(folder)
    paths = sorted(folder.glob("d*_*.pth"))
    if not paths:
        raise FileNotFoundError(f"--models {folder}: no d<p_in>_<p_hidden>_<round>.pth there")
    found = {}
    for path in paths:
        checkpoint = CifarCheckpoint.parse(path, original_names=True)
        if checkpoint.round in found:
            raise ValueError(f"--models {folder}: {found[checkpoint.round][1].name} and "
                             f"{path.name} are both round {checkpoint.round}")
        found[checkpoint.round] = (checkpoint, path, None, None)
    if rounds is not None:
        missing = [r for r in rounds if r not in found]
        if missing:
            raise FileNotFoundError(f"--models {folder}: no checkpoint for round(s) {missing}")
        found = {r: found[r] for r in rounds}
    return dict(sorted(found.items()))


def load_round(path, checkpoint, round_index, fanout, width=None):
    """The network of a checkpoint, at `width` or the width its weights have."""
    state = read_state(path)
    if width is None:
        try:
            width = CIFAR10AnalogueClassifier.width_of(state)
        except ValueError as error:
            raise ValueError(f"{path}: {error}") from error
    model = CIFAR10AnalogueClassifier(quantize=round_index >= 0, dropout_rate=checkpoint.dropout,
                                      width=width, fanout=fanout)
    return load_state(model, path, state)


def main(argv=None):
    args = parse_args(argv)
    device = device_or_fail(args.device, __file__)
    files = Workdir(args.workdir)
    with failing(__file__):
        ensure_writable_dir(files.results, "--workdir")
        test_settings = spiking_test_from_args(args, device, stream_time=False)
        checkpoints = checkpoints_from_folder(args.models, args.rounds) if args.models \
            else checkpoints_from_log(files, args.rounds)
        _, test_set, description = load_cifar10(data_root(args), n_train=0, n_test=args.n_test,
                                                seed=args.seed, standin=args.standin)
    loader = DataLoader(test_set, args.batch_size)
    scales = {r: args.baseline_scales if r < 0 else args.wscales for r in checkpoints}
    results = ResultsFile(files, files.cifar_inference, KEY, args.fresh, samples="cifar10")
    progress = progress_bar(total=sum(map(len, scales.values())), desc="checkpoints x scales")
    for round_index, (checkpoint, path, logged_fanout, width) in checkpoints.items():
        # --models: the authors' checkpoints were trained with the paper's fan-outs
        fanout = args.fanout or logged_fanout or "paper"
        model_path = files.model_entry(path.name) if args.models is None else str(path)
        evaluation = dict(data=description, data_fingerprint=None, simulator=args.simulator,
                          n_timesteps=args.n_timesteps, n_samples=len(test_set),
                          sample_seed=args.seed, dt_us=None)
        rows = {scale: results.row(model_path, path, round=round_index, weight_scale=scale,
                                   scale=scale, fanout=fanout, **evaluation)
                for scale in scales[round_index]}
        todo = []
        for scale, row in rows.items():
            del row["scale"]  # named in the per-image file only (the row has weight_scale)
            if results.kept(row, **test_settings.rerun_checks(f"{path.stem}_x{scale:g}.nir")):
                print(f"round {round_index:>3} x{scale:g}: already in {results.path}, kept")
                progress.update()
            else:
                todo.append(scale)
        if not todo:
            continue
        with failing(__file__, FileNotFoundError, ValueError):
            trained = load_round(path, checkpoint, round_index, fanout, width)
        # the unscaled network's numbers, once per checkpoint (they do not depend on scale)
        analog = evaluate_analog(set_quantize(trained, False), loader, device)
        quantized = evaluate_analog(set_quantize(trained, True), loader, device)
        layer_macs = count_macs(trained, CIFAR10_INPUT)
        macs = sum(layer.macs for layer in layer_macs[1:])
        # the first layer gets the (scaled) image at every step: its MACs, n_timesteps times
        input_macs = layer_macs[0].macs * args.n_timesteps
        for scale in todo:
            row = rows[scale]
            model = scale_first_layer(copy.deepcopy(trained), scale)
            with failing(__file__, ValueError):
                result = spiking_test_row(
                    model, CIFAR10_INPUT, loader, StaticInputBatches(loader, args.n_timesteps),
                    test_settings, what=f"{path.name} x{scale:g}", min_v_mem=-1.0,
                    input_macs=input_macs, nir_name=f"{path.stem}_x{scale:g}.nir",
                    samples_path=files.root / row["samples_path"])
            # the scaled network's analog numbers are what the original logs beside the
            # spiking ones (ann_scaled_*); ann_* are the unscaled network's
            row.update({key: value for key, value in result.items()
                        if not key.startswith("ann_")})
            row.update(ann_accuracy=analog.accuracy, ann_quantized_accuracy=quantized.accuracy,
                       ann_quantized_synops=quantized.synops, ann_synops=quantized.synops,
                       ann_macs=macs, ann_scaled_accuracy=result["ann_accuracy"],
                       ann_scaled_synops=result["ann_synops"], width=model.width)
            results.add(row)  # now: an interruption keeps what was measured
            print(f"round {round_index:>3} x{scale:g}: analog {analog.accuracy:.4f} (x{scale:g}, "
                  f"quantized: {result['ann_accuracy']:.4f} at {result['ann_synops']:.4g} "
                  f"SynOps), spiking {result['snn_accuracy']:.4f} at "
                  f"{result['snn_synops']:.4g} SynOps")
            progress.update()
    progress.close()


if __name__ == "__main__":
    main()
