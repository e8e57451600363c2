"""Does quantization-aware training (QAT) help on MNIST-DVS? Train the network with and
without QAT (same seed, same data, optionally with a SynOp target) and test each both as
a quantized and as a non-quantized analog network, and as a spiking network.

Output: results/quantization_evaluation.csv (quantize_training, quantize_test, accuracy,
estimated SynOps, SNN accuracy and SynOps measured by sinabs).
"""
import argparse
import sys
from pathlib import Path

from torch.utils.data import DataLoader

from synoploss.io import save_torch, write_csv
from synoploss.loss import SynOpLoss
from synoploss.mnist_dvs import FramesDataset, SpikeTrainDataset, describe_dataset, pad_collate
from synoploss.models import MNIST_DVS_INPUT, MNISTDVSNet, set_quantize
from synoploss.spiking import compare_analog_and_spiking
from synoploss.synops import SynOpCounter
from synoploss.training import (NonFiniteLossError, evaluate_analog, fit, pick_device,
                                seed_everything)
from synoploss.runtime import ensure_writable_dir, positive_float, positive_int


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", default=".", help="models/ and results/ go here")
    parser.add_argument("--data", default="data")
    parser.add_argument("--target", type=positive_float, default=None,
                        help="SynOp target per sample (default: no SynOp loss)")
    parser.add_argument("--n_epochs", type=positive_int, default=8)
    parser.add_argument("--batch_size", type=positive_int, default=256)
    parser.add_argument("--lr", type=positive_float, default=1e-3)
    parser.add_argument("--lr_schedule", choices=("constant", "cosine"), default="constant")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--max_train_samples", type=positive_int, default=None)
    parser.add_argument("--max_samples", type=positive_int, default=None, help="test chunks (subset)")
    parser.add_argument("--dt_us", type=positive_int, default=1000)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--no_progress", action="store_true")
    args = parser.parse_args(argv)
    try:
        device = pick_device(args.device)
    except ValueError as error:
        sys.exit(f"quantization_evaluation.py: {error}")
    workdir, data = Path(args.workdir), Path(args.data)
    try:
        ensure_writable_dir(workdir / "models", "--workdir")
        ensure_writable_dir(workdir / "results", "--workdir")
        train_set = FramesDataset(data / "train", args.max_train_samples, args.seed)
        frames = FramesDataset(data / "test", args.max_samples)
        spikes = SpikeTrainDataset(data / "test", args.dt_us, args.max_samples)
    except (FileNotFoundError, ValueError) as error:
        sys.exit(f"quantization_evaluation.py: {error}")
    description = describe_dataset(data)
    rows = []
    for quantize_training in (False, True):
        seed_everything(args.seed)
        model = MNISTDVSNet(quantize=quantize_training).to(device)
        synop_loss = SynOpLoss(SynOpCounter(model.modules()), target=args.target) \
            if args.target else None
        loader = DataLoader(train_set, args.batch_size, shuffle=True)
        try:
            fit(model, loader, args.n_epochs, args.lr, synop_loss, device, args.lr_schedule,
                description=f"qtrain={quantize_training}", progress=not args.no_progress)
        except NonFiniteLossError as error:
            sys.exit(f"quantization_evaluation.py: qtrain={quantize_training}: {error}")
        save_torch(model.state_dict(), workdir / "models" / f"quanteval_qtrain_{quantize_training}.pth")
        for quantize_test in (False, True):
            set_quantize(model, quantize_test)
            row = dict(quantize_training=quantize_training, quantize_test=quantize_test)
            if quantize_test:  # the spiking network is the same for both; test it once
                batches = DataLoader(spikes, batch_sampler=spikes.batches_by_duration(32),
                                     collate_fn=pad_collate)
                row.update(compare_analog_and_spiking(model, MNIST_DVS_INPUT,
                                                      DataLoader(frames, 256), batches,
                                                      device=device))
            else:
                stats = evaluate_analog(model, DataLoader(frames, 256), device)
                row.update(ann_accuracy=stats.accuracy, ann_synops=stats.synops)
            rows.append(dict(row, target=args.target, data=description))
            print(f"trained {'with' if quantize_training else 'without'} QAT, tested "
                  f"{'quantized' if quantize_test else 'non-quantized'}: accuracy "
                  f"{row['ann_accuracy']:.4f}"
                  + (f", SNN accuracy {row['snn_accuracy']:.4f}" if quantize_test else ""))
    write_csv(workdir / "results" / "quantization_evaluation.csv", rows)


if __name__ == "__main__":
    main()
