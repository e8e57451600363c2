"""Does quantization-aware training (QAT) help on MNIST-DVS? Train the network with and
without QAT (same seed, same data, optionally with a SynOp target) and test each both as
a quantized and as a non-quantized analog network, and as a spiking network.

Output: results/quantization_evaluation.csv (quantize_training, quantize_test, accuracy,
estimated SynOps with --fanout's fan-outs, SNN accuracy and SynOps measured by sinabs),
epoch_log.csv (one row per epoch), and with --tensorboard DIR the per-epoch scalars.
"""
from pathlib import Path

from torch.utils.data import DataLoader

from synoploss.data.mnist_dvs import FramesDataset, SpikeTrainDataset, describe
from synoploss.evaluation import compare_analog_and_spiking, evaluate_analog
from synoploss.io import save_torch, write_csv
from synoploss.loss import SynOpLoss
from synoploss.models import INITS, MNIST_DVS_INPUT, MNISTDVSNet, set_quantize
from synoploss.results import Workdir
from synoploss.runtime import (add_alias, add_device_flag, add_fanout_flag, add_revive_flag,
                               add_tensorboard_flag, device_or_fail, ensure_writable_dir, fail,
                               positive_float, positive_int, script_parser, seed_everything)
from synoploss.synops import SynOpCounter
from synoploss.training import EpochLog, NonFiniteLossError, fit


def parse_args(argv=None):
    parser = script_parser(__doc__, __file__)
    parser.add_argument("--workdir", default=".", help="models/ and results/ go here")
    parser.add_argument("--data_root", default="data", help="converted data (train/, test/)")
    parser.add_argument("--target", type=positive_float, default=None,
                        help="SynOp target per sample (default: no SynOp loss)")
    # the original's QAT-only study: 10 epochs, batch 512, Adam 3e-4, PyTorch's init
    parser.add_argument("--n_epochs", type=positive_int, default=10)
    parser.add_argument("--batch_size", type=positive_int, default=512)
    parser.add_argument("--lr", type=positive_float, default=3e-4)
    parser.add_argument("--init", choices=INITS, default="pytorch",
                        help="weight initialisation: pytorch (PyTorch's default, as the "
                             "original's study) or kaiming (Kaiming-uniform, as train.py)")
    parser.add_argument("--lr_schedule", choices=("constant", "cosine"), default="constant")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--max_train_samples", type=positive_int, default=None)
    parser.add_argument("--max_samples", type=positive_int, default=None, help="test chunks (subset)")
    parser.add_argument("--dt_us", type=positive_int, default=1000)
    add_device_flag(parser)
    add_fanout_flag(parser)
    add_revive_flag(parser)
    add_tensorboard_flag(parser, "<run>")
    parser.add_argument("--no_progress", action="store_true")
    add_alias(parser, "--data", "--data_root")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    device = device_or_fail(args.device, __file__)
    files, data = Workdir(args.workdir), Path(args.data_root)
    try:
        ensure_writable_dir(files.models, "--workdir")
        ensure_writable_dir(files.results, "--workdir")
        train_set = FramesDataset(data / "train", args.max_train_samples, args.seed)
        frames = FramesDataset(data / "test", args.max_samples)
        spikes = SpikeTrainDataset(data / "test", args.dt_us, args.max_samples)
    except (FileNotFoundError, ValueError) as error:
        fail(__file__, error)
    description = describe(data)
    rows = []
    for quantize_training in (False, True):
        seed_everything(args.seed)
        model = MNISTDVSNet(quantize=quantize_training, init=args.init, fanout=args.fanout,
                            revive_output=args.revive_output).to(device)
        synop_loss = SynOpLoss(SynOpCounter(model.modules()), target=args.target) \
            if args.target else None
        loader = DataLoader(train_set, args.batch_size, shuffle=True)
        epoch_log = EpochLog(files.epoch_log, f"quanteval_qtrain_{quantize_training}",
                             args.tensorboard, quantize_training=quantize_training,
                             target=args.target, fanout=args.fanout, data=description)
        try:
            fit(model, loader, args.n_epochs, args.lr, synop_loss, device, args.lr_schedule,
                description=f"qtrain={quantize_training}", progress=not args.no_progress,
                on_epoch=epoch_log)
        except NonFiniteLossError as error:
            fail(__file__, f"qtrain={quantize_training}: {error}")
        finally:
            epoch_log.close()
        save_torch(model.state_dict(),
                   files.models / f"quanteval_qtrain_{quantize_training}.pth")
        for quantize_test in (False, True):
            set_quantize(model, quantize_test)
            row = dict(quantize_training=quantize_training, quantize_test=quantize_test)
            if quantize_test:  # the spiking network is the same for both; test it once
                row.update(compare_analog_and_spiking(model, MNIST_DVS_INPUT,
                                                      DataLoader(frames, 256),
                                                      spikes.loader(32), device=device))
            else:
                stats = evaluate_analog(model, DataLoader(frames, 256), device)
                row.update(ann_accuracy=stats.accuracy, ann_synops=stats.synops)
            rows.append(dict(row, target=args.target, fanout=args.fanout,
                             revive_output=args.revive_output, data=description))
            print(f"trained {'with' if quantize_training else 'without'} QAT, tested "
                  f"{'quantized' if quantize_test else 'non-quantized'}: accuracy "
                  f"{row['ann_accuracy']:.4f}"
                  + (f", SNN accuracy {row['snn_accuracy']:.4f}" if quantize_test else ""))
    write_csv(files.quantization_evaluation, rows)


if __name__ == "__main__":
    main()
