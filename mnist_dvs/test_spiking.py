"""Test trained MNIST-DVS models as spiking networks (sinabs), or as analog networks.

--mode picks the models from training_log.csv (in --workdir):
  quantized      SynOp-loss models trained with QAT        (l1-fanout-qtrain)
  nonquantized   SynOp-loss models trained without QAT     (l1-fanout)
  nopenalty      the baseline without SynOp loss           (nopenalty)
  weightscaling  the baseline with its first-layer weights multiplied by each --scales
  ann            every model as an analog network, tested quantized and not
                 (accuracy and estimated SynOps) -> results/<name>_ann.csv

Spiking networks: integrate-and-fire, threshold 1, reset by subtraction, no lower bound
on the membrane potential, several spikes per step; each test chunk's events binned at
--dt_us (1 ms), state reset for every chunk, prediction = argmax of output spike counts.
SynOps are measured by sinabs (hooks), per layer; the analog network's estimate on the
same chunks (accumulated frames) is written beside them, with the fan-outs each model
was trained with (--fanout overrides; the `fanout` column says which).
Output: results/<name>_spiking.csv (weightscaling: results/weightscaling_spiking.csv),
with energy per inference (energy_uj: SynOps x --energy_model's pJ per SynOp).
"""
from pathlib import Path

import numpy as np
from torch.utils.data import DataLoader

from synoploss.data.mnist_dvs import FramesDataset, SpikeTrainDataset, describe
from synoploss.energy import add_energy_flag, energy_columns
from synoploss.evaluation import compare_analog_and_spiking, evaluate_analog
from synoploss.io import load_state, read_csv, write_csv
from synoploss.models import MNIST_DVS_INPUT, MNISTDVSNet, scale_first_layer, set_quantize
from synoploss.nir_export import add_export_nir_flag, export_nir
from synoploss.parallel import map_jobs
from synoploss.results import BASELINE, SPIKING_CURVES, WEIGHT_SCALING, Workdir, trained_fanout
from synoploss.runtime import (add_alias, add_device_flag, add_fanout_flag, device_or_fail,
                               ensure_writable_dir, fail, positive_float, positive_int,
                               script_parser)

# --mode -> the models it tests (by name in the training log)
MODES = {"quantized": SPIKING_CURVES["SynOp+QAT"], "nonquantized": SPIKING_CURVES["SynOp"],
         "nopenalty": BASELINE, "weightscaling": BASELINE}
DEFAULT_SCALES = [round(value, 2) for value in np.arange(0.10, 0.951, 0.05)]


def parse_args(argv=None):
    parser = script_parser(__doc__, __file__)
    parser.add_argument("--mode", required=True, choices=[*MODES, "ann"])
    parser.add_argument("--workdir", default=".", help="folder with training_log.csv, models/; "
                        "results/ is written there")
    parser.add_argument("--data_root", default="data", help="converted data (test/ is used)")
    parser.add_argument("--dt_us", type=positive_int, default=1000, help="time bin in µs (1 ms)")
    parser.add_argument("--scales", type=positive_float, nargs="+", default=DEFAULT_SCALES,
                        help="first-layer weight factors for weightscaling (0.10..0.95)")
    parser.add_argument("--max_samples", type=positive_int, default=None,
                        help="random subset of test chunks, for quick runs")
    parser.add_argument("--batch_size", type=positive_int, default=32, help="chunks per spiking batch")
    parser.add_argument("--workers", type=positive_int, default=1, help="processes over models")
    add_device_flag(parser)
    add_fanout_flag(parser, inherit=True)
    parser.add_argument("--seed", type=int, default=0, help="subset seed")
    add_export_nir_flag(parser)
    add_energy_flag(parser)
    add_alias(parser, "--data", "--data_root")
    return parser.parse_args(argv)


def select_models(log, mode):
    names = sorted(log["name"].unique()) if mode == "ann" else [MODES[mode]]
    chosen = log[log["name"].isin(names)]
    if chosen.empty:
        raise LookupError(f"no models for --mode {mode} (name {names[0]!r}) in the training "
                          f"log; it has: {sorted(log['name'].unique())}")
    return chosen.sort_values(["name", "target", "alpha"], na_position="first")


_SHARED = {}


def load_model(workdir, entry, fanout, scale=1.0):
    model = MNISTDVSNet(quantize=bool(entry["quantize_training"]), fanout=fanout)
    load_state(model, Workdir(workdir).model(entry["model_path"]))
    return scale_first_layer(model, scale)


def spiking_job(job):
    workdir, entry, scale, args = job
    frames, spikes = _SHARED["frames"], _SHARED["spikes"]
    fanout = args.fanout or trained_fanout(entry)
    model = load_model(workdir, entry, fanout, scale)
    batches = spikes.loader(args.batch_size)
    row = dict(name=entry["name"], target=entry["target"], alpha=entry["alpha"], scale=scale,
               quantize_training=entry["quantize_training"], fanout=fanout)
    row.update(compare_analog_and_spiking(model, MNIST_DVS_INPUT, DataLoader(frames, 256),
                                          batches, min_v_mem=None, device=args.device))
    row.update(model_path=entry["model_path"], n_samples=len(spikes), dt_us=args.dt_us)
    # the input events are counted as SynOps of the input layer: no analog input MACs
    row.update(energy_columns(args.energy_model, row["snn_synops"]))
    if args.export_nir:
        suffix = f"_x{scale:g}" if args.mode == WEIGHT_SCALING else ""
        path = Path(args.export_nir) / f"{Path(entry['model_path']).stem}{suffix}.nir"
        export_nir(model, MNIST_DVS_INPUT, path, min_v_mem=None)
        row["nir_path"] = str(path)
    return row


def ann_job(job):
    workdir, entry, _, args = job
    fanout = args.fanout or trained_fanout(entry)
    model = load_model(workdir, entry, fanout)
    rows = []
    for quantize in (True, False):
        stats = evaluate_analog(set_quantize(model, quantize),
                                DataLoader(_SHARED["frames"], 256), args.device)
        rows.append(dict(name=entry["name"], target=entry["target"], alpha=entry["alpha"],
                         quantize_training=entry["quantize_training"], quantize_test=quantize,
                         fanout=fanout, ann_accuracy=stats.accuracy, ann_synops=stats.synops,
                         model_path=entry["model_path"]))
    return rows


def main(argv=None):
    args = parse_args(argv)
    args.device = device_or_fail(args.device, __file__)
    workdir = Path(args.workdir)
    files = Workdir(workdir)
    log_path = files.training_log
    if not log_path.is_file():
        present = sorted(p.name for p in workdir.iterdir()) if workdir.is_dir() else []
        fail(__file__, f"{log_path} not found (run train.py with --workdir {workdir} "
                       f"first); {workdir} holds: {present or 'nothing'}")
    try:
        ensure_writable_dir(files.results, "--workdir")
        log = read_csv(log_path, required=["name", "target", "alpha", "quantize_training",
                                           "model_path"], numeric=["target", "alpha"])
        entries = select_models(log, args.mode)
        test_root = Path(args.data_root) / "test"
        _SHARED["frames"] = FramesDataset(test_root, args.max_samples, args.seed)
        if args.mode != "ann":
            _SHARED["spikes"] = SpikeTrainDataset(test_root, args.dt_us, args.max_samples,
                                                  args.seed)
    except (FileNotFoundError, LookupError, ValueError) as error:
        fail(__file__, error)
    data_description = describe(args.data_root)
    scales = args.scales if args.mode == WEIGHT_SCALING else [1.0]
    jobs = [(workdir, entry, scale, args) for _, entry in entries.iterrows() for scale in scales]
    try:
        if args.mode == "ann":
            by_name = {}
            for rows in map_jobs(ann_job, jobs, args.workers, device=args.device):
                for row in rows:
                    by_name.setdefault(row["name"], []).append(dict(row, data=data_description))
            for name, rows in by_name.items():
                write_csv(files.ann_csv(name), rows)
                print(f"{files.ann_csv(name)}: {len(rows)} rows")
            return
        rows = [dict(row, data=data_description) for row in map_jobs(spiking_job, jobs, args.workers, device=args.device)]
    except (FileNotFoundError, ValueError) as error:
        fail(__file__, error)
    name = WEIGHT_SCALING if args.mode == WEIGHT_SCALING else MODES[args.mode]
    out = files.spiking_csv(name)
    write_csv(out, rows)
    for row in rows:
        label = f"scale {row['scale']:.2f}" if args.mode == WEIGHT_SCALING else \
            f"target {row['target']:.3g}" if row["target"] == row["target"] else row["name"]
        print(f"{label:>16}: SNN accuracy {row['snn_accuracy']:.4f}, SNN SynOps "
              f"{row['snn_synops']:.4g} (analog estimate {row['ann_synops']:.4g})")
    print(f"{out}: {len(rows)} rows")


if __name__ == "__main__":
    main()
