"""The data-based normalisation baseline (Rueckauer et al. 2017) as a spiking network.

Takes the no-penalty model, measures the 99.99th percentile of every ReLU layer's
activation on training frames, and rescales the weights so that each layer's percentile
equals a common level (spikes per sample; one network per --levels value). Each network
is tested as a sinabs spiking network like test_spiking.py does (1 ms bins, reset per
chunk, SynOps measured by sinabs) -> results/smartscaling_spiking.csv.
"""
from pathlib import Path

from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from synoploss.data.mnist_dvs import FramesDataset, SpikeTrainDataset, describe
from synoploss.energy import add_energy_flag, energy_columns
from synoploss.evaluation import compare_analog_and_spiking
from synoploss.io import load_state, read_csv, write_csv
from synoploss.models import MNIST_DVS_INPUT, MNISTDVSNet
from synoploss.nir_export import add_export_nir_flag, export_nir
from synoploss.normalization import activation_percentiles, normalise_weights
from synoploss.results import BASELINE, SMART_SCALING, Workdir, trained_fanout
from synoploss.runtime import (add_alias, add_device_flag, add_fanout_flag, device_or_fail,
                               ensure_writable_dir, fail, percentile, positive_float,
                               positive_int, script_parser)


def main(argv=None):
    parser = script_parser(__doc__, __file__)
    parser.add_argument("--workdir", default=".", help="folder with training_log.csv, models/")
    parser.add_argument("--data_root", default="data", help="converted data (train/, test/)")
    parser.add_argument("--levels", type=positive_float, nargs="+", default=[2, 4, 8, 16, 32, 64],
                        help="activation level (99.99th percentile) each layer is scaled to")
    parser.add_argument("--percentile", type=percentile, default=99.99)
    parser.add_argument("--calibration_samples", type=positive_int, default=1000,
                        help="training frames used to measure the percentiles")
    parser.add_argument("--max_samples", type=positive_int, default=None, help="test chunks (subset)")
    parser.add_argument("--dt_us", type=positive_int, default=1000)
    parser.add_argument("--batch_size", type=positive_int, default=32)
    add_device_flag(parser)
    add_fanout_flag(parser, inherit=True)
    add_export_nir_flag(parser)
    add_energy_flag(parser)
    add_alias(parser, "--data", "--data_root")
    args = parser.parse_args(argv)
    device = device_or_fail(args.device, __file__)
    files, data = Workdir(args.workdir), Path(args.data_root)
    try:
        ensure_writable_dir(files.results, "--workdir")
        log = read_csv(files.training_log, required=["name", "model_path"])
        baseline = log[log["name"] == BASELINE]
        if baseline.empty:
            raise LookupError(f"no {BASELINE!r} model in the training log (train.py --nopenalty)")
        model_path = baseline.iloc[0]["model_path"]
        fanout = args.fanout or trained_fanout(baseline.iloc[0])
        calibration = FramesDataset(data / "train", args.calibration_samples)
        frames = FramesDataset(data / "test", args.max_samples)
        spikes = SpikeTrainDataset(data / "test", args.dt_us, args.max_samples)
    except (FileNotFoundError, LookupError, ValueError) as error:
        fail(__file__, error)
    reference = load_state(MNISTDVSNet(quantize=False), files.model(model_path)).to(device)
    percentiles = activation_percentiles(reference, calibration.frames, args.percentile)
    print("activation percentiles per layer:", ", ".join(f"{p:.3g}" for p in percentiles))
    rows = []
    for level in tqdm(args.levels, desc="levels"):
        model = normalise_weights(load_state(MNISTDVSNet(quantize=True, fanout=fanout),
                                             files.model(model_path)),
                                  percentiles, level)
        row = dict(name=SMART_SCALING, level=level, percentile=args.percentile, fanout=fanout)
        row.update(compare_analog_and_spiking(model, MNIST_DVS_INPUT, DataLoader(frames, 256),
                                              spikes.loader(args.batch_size), device=device))
        row.update(model_path=model_path, n_samples=len(spikes), data=describe(data))
        row.update(energy_columns(args.energy_model, row["snn_synops"]))
        if args.export_nir:
            row["nir_path"] = str(Path(args.export_nir) / f"{SMART_SCALING}_level{level:g}.nir")
            export_nir(model, MNIST_DVS_INPUT, row["nir_path"], min_v_mem=None)
        rows.append(row)
        print(f"level {level:g}: SNN accuracy {row['snn_accuracy']:.4f}, "
              f"SNN SynOps {row['snn_synops']:.4g}")
    write_csv(files.spiking_csv(SMART_SCALING), rows)


if __name__ == "__main__":
    main()
