"""The data-based normalisation baseline (Rueckauer et al. 2017) as a spiking network.

Takes the no-penalty model, measures the 99.99th percentile of every ReLU layer's
activation on training frames, and rescales the weights so that each layer's percentile
equals a common level (spikes per sample; one network per --levels value). Each network
is tested as a sinabs spiking network like test_spiking.py does (1 ms bins, reset per
chunk, SynOps measured by sinabs) -> results/smartscaling_spiking.csv.
"""
import argparse
import sys
from pathlib import Path

from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from synoploss.energy import add_energy_flag, energy_columns
from synoploss.io import read_csv, write_csv
from synoploss.mnist_dvs import FramesDataset, SpikeTrainDataset, describe_dataset, pad_collate
from synoploss.models import MNIST_DVS_INPUT, MNISTDVSNet
from synoploss.nir_export import add_export_nir_flag, export_nir
from synoploss.normalization import activation_percentiles, normalise_weights
from synoploss.spiking import compare_analog_and_spiking
from synoploss.training import load_state, pick_device
from synoploss.runtime import (ensure_writable_dir, percentile, positive_float,
                               positive_int)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", default=".", help="folder with training_log.csv, models/")
    parser.add_argument("--data", default="data")
    parser.add_argument("--levels", type=positive_float, nargs="+", default=[2, 4, 8, 16, 32, 64],
                        help="activation level (99.99th percentile) each layer is scaled to")
    parser.add_argument("--percentile", type=percentile, default=99.99)
    parser.add_argument("--calibration_samples", type=positive_int, default=1000,
                        help="training frames used to measure the percentiles")
    parser.add_argument("--max_samples", type=positive_int, default=None, help="test chunks (subset)")
    parser.add_argument("--dt_us", type=positive_int, default=1000)
    parser.add_argument("--batch_size", type=positive_int, default=32)
    parser.add_argument("--device", default="auto", help="auto: cuda when available, else cpu")
    add_export_nir_flag(parser)
    add_energy_flag(parser)
    args = parser.parse_args(argv)
    try:
        device = pick_device(args.device)
    except ValueError as error:
        sys.exit(f"smart_weight_rescaling.py: {error}")
    workdir, data = Path(args.workdir), Path(args.data)
    try:
        ensure_writable_dir(workdir / "results", "--workdir")
        log = read_csv(workdir / "training_log.csv", required=["name", "model_path"])
        baseline = log[log["name"] == "nopenalty"]
        if baseline.empty:
            raise LookupError("no 'nopenalty' model in the training log (train.py --nopenalty)")
        model_path = baseline.iloc[0]["model_path"]
        calibration = FramesDataset(data / "train", args.calibration_samples)
        frames = FramesDataset(data / "test", args.max_samples)
        spikes = SpikeTrainDataset(data / "test", args.dt_us, args.max_samples)
    except (FileNotFoundError, LookupError, ValueError) as error:
        sys.exit(f"smart_weight_rescaling.py: {error}")
    reference = load_state(MNISTDVSNet(quantize=False), workdir / model_path).to(device)
    percentiles = activation_percentiles(reference, calibration.frames, args.percentile)
    print("activation percentiles per layer:", ", ".join(f"{p:.3g}" for p in percentiles))
    rows = []
    for level in tqdm(args.levels, desc="levels"):
        model = normalise_weights(load_state(MNISTDVSNet(quantize=True), workdir / model_path),
                                  percentiles, level)
        batches = DataLoader(spikes, batch_sampler=spikes.batches_by_duration(args.batch_size),
                             collate_fn=pad_collate)
        row = dict(name="smartscaling", level=level, percentile=args.percentile)
        row.update(compare_analog_and_spiking(model, MNIST_DVS_INPUT, DataLoader(frames, 256),
                                              batches, device=device))
        row.update(model_path=model_path, n_samples=len(spikes), data=describe_dataset(data))
        row.update(energy_columns(args.energy_model, row["snn_synops"]))
        if args.export_nir:
            row["nir_path"] = str(Path(args.export_nir) / f"smartscaling_level{level:g}.nir")
            export_nir(model, MNIST_DVS_INPUT, row["nir_path"], min_v_mem=None)
        rows.append(row)
        print(f"level {level:g}: SNN accuracy {row['snn_accuracy']:.4f}, "
              f"SNN SynOps {row['snn_synops']:.4g}")
    write_csv(workdir / "results" / "smartscaling_spiking.csv", rows)


if __name__ == "__main__":
    main()
