"""Test the CIFAR-10 checkpoints as analog and as spiking networks (sinabs).

For every finished round in training_log.csv (models/d{p0}_{p1}_{round}.pth):
  - the analog network's accuracy and estimated SynOps, quantized and not (for the plain
    network, round -1, its multiply-accumulates instead of SynOps);
  - the spiking network: the (normalised) image divided by --n_timesteps injected at
    each of --n_timesteps steps, integrate-and-fire with threshold 1, reset by subtraction, membrane
    potential bounded below at -1, only positive spikes; first-layer weights multiplied
    by each of --wscales for the optimised rounds, and by each of --baseline_scales for
    the plain network (the weight-scaling baseline). Accuracy and SynOps are measured by
    sinabs (the input layer, fed analog values, is excluded as in the paper).
Output: results/log_inference.csv in --workdir, with energy per inference (energy_uj:
SynOps x --energy_model's pJ per SynOp + the first layer's MACs at every step x pJ per MAC).
"""
from pathlib import Path

from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from synoploss.data.cifar10 import load_cifar10
from synoploss.energy import add_energy_flag, energy_columns
from synoploss.evaluation import compare_analog_and_spiking, evaluate_analog
from synoploss.io import load_state, read_csv, write_csv
from synoploss.models import (CIFAR10_INPUT, CIFAR10AnalogueClassifier, scale_first_layer,
                              set_quantize)
from synoploss.nir_export import add_export_nir_flag, export_nir
from synoploss.results import CifarCheckpoint, Workdir
from synoploss.runtime import (add_alias, add_device_flag, device_or_fail, ensure_writable_dir,
                               fail, positive_float, positive_int, script_parser)
from synoploss.spiking import StaticInputBatches
from synoploss.synops import count_macs


def parse_args(argv=None):
    parser = script_parser(__doc__, __file__)
    parser.add_argument("--workdir", default=".", help="folder with training_log.csv, models/")
    parser.add_argument("--data_root", default="data")
    parser.add_argument("--standin", action="store_true", help="the stand-in, as in training")
    parser.add_argument("--n_train", type=int, default=None,
                        help="ignored: accepted so that train.py's data flags can be reused")
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
    parser.add_argument("--batch_size", type=positive_int, default=100)
    add_device_flag(parser)
    add_export_nir_flag(parser)
    add_energy_flag(parser)
    add_alias(parser, "--synthetic", "--standin")
    add_alias(parser, "--n_dt", "--n_timesteps")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    device = device_or_fail(args.device, __file__)
    files = Workdir(args.workdir)
    try:
        ensure_writable_dir(files.results, "--workdir")
        log = read_csv(files.training_log, required=["round", "width"],
                       numeric=["round", "width"])
        _, test_set, description = load_cifar10(args.data_root, n_train=0, n_test=args.n_test,
                                                seed=args.seed, standin=args.standin)
    except (FileNotFoundError, ValueError) as error:
        fail(__file__, error)
    if log.empty:
        fail(__file__, f"{files.training_log} has no rows (train first)")
    loader = DataLoader(test_set, args.batch_size)
    width = float(log["width"].iloc[-1])
    finished = [r for r, rows in log.groupby("round") if len(rows)]
    rounds = sorted(args.rounds if args.rounds is not None else finished)
    try:
        found = [(CifarCheckpoint.parse(path), path)
                 for path in sorted(files.models.glob("d*_*.pth"))]
    except ValueError as error:
        fail(__file__, error)
    checkpoints = {r: [(name, path) for name, path in found if name.round == r] for r in rounds}
    missing = [r for r, paths in checkpoints.items() if not paths]
    if missing:
        fail(__file__, f"no checkpoint for round(s) {missing} in {files.models}")
    jobs = [(r, scale) for r in rounds
            for scale in (args.baseline_scales if r < 0 else args.wscales)]
    rows = []
    for round_index, scale in tqdm(jobs, desc="checkpoints x scales"):
        checkpoint, path = checkpoints[round_index][-1]
        model = CIFAR10AnalogueClassifier(quantize=round_index >= 0,
                                          dropout_rate=checkpoint.dropout, width=width)
        load_state(model, path)
        analog = evaluate_analog(set_quantize(model, False), loader, device)
        quantized = evaluate_analog(set_quantize(model, True), loader, device)
        layer_macs = count_macs(model, CIFAR10_INPUT)
        macs = sum(layer.macs for layer in layer_macs[1:])
        # the first layer gets the (scaled) image at every step: its MACs, n_timesteps times
        input_macs = layer_macs[0].macs * args.n_timesteps
        scale_first_layer(model, scale)
        result = compare_analog_and_spiking(model, CIFAR10_INPUT, loader,
                                            StaticInputBatches(loader, args.n_timesteps),
                                            min_v_mem=-1.0, device=device)
        rows.append(dict(
            round=round_index, weight_scale=scale, ann_accuracy=analog.accuracy,
            ann_quantized_accuracy=quantized.accuracy,
            ann_synops=macs if round_index < 0 else quantized.synops, macs=macs,
            snn_accuracy=result["snn_accuracy"], snn_synops=result["snn_synops"],
            n_timesteps=args.n_timesteps, model_path=files.model_entry(path.name),
            data=description,
            **energy_columns(args.energy_model, result["snn_synops"], input_macs)))
        if args.export_nir:
            nir_path = Path(args.export_nir) / f"{path.stem}_x{scale:g}.nir"
            export_nir(model, CIFAR10_INPUT, nir_path, min_v_mem=-1.0)
            rows[-1]["nir_path"] = str(nir_path)
        print(f"round {round_index:>3} x{scale:g}: analog {analog.accuracy:.4f}, spiking "
              f"{result['snn_accuracy']:.4f} at {result['snn_synops']:.4g} SynOps")
        # after every checkpoint and scale: an interrupted test keeps what it measured
        write_csv(files.cifar_inference, rows)


if __name__ == "__main__":
    main()
