"""Train the CIFAR-10 network plainly, then retrain it in rounds with quantization-aware
training (QAT) and the SynOp loss, each round aiming lower (Sorbaro et al. 2020).

Stage 1 (round -1): the plain network, Adam lr 2.5e-4, weight decay 1e-3, batch 512,
lr x0.1 at 200/350, 250/350 and 300/350 of the epochs; random crop 32 (padding 4),
horizontal flip, normalisation (0.5, 0.5, 0.5).
Stage 2 (rounds 0..n_rounds-1): QAT + ((S - S*) / S*)^2; the first target S* is the
plain network's multiply-accumulates without the input layer; each next target is the
previous round's estimated SynOps (on the test set) times --target_decay from round
--decay_from_round on (1.0 before). Each round starts from the previous round's weights.

Writes models/d{p0}_{p1}_{round}.pth and training_log.csv (one row per round and epoch)
in --workdir; --resume continues after the last finished round.

More than one GPU: torchrun --nproc_per_node=N CIFAR10_analogue/train.py ... trains with
DistributedDataParallel (NCCL on GPUs, gloo on CPU); every process reads its share of
each batch, only rank 0 writes; the SynOp estimate is averaged over processes before the
loss, so the loss is the single-process loss on the whole batch.

Data: real CIFAR-10 in --data_root (--download where the network allows); --standin
uses the procedural stand-in when CIFAR-10 is not there (named as such in the log).

Speed on a GPU: --data_path device (the default there) keeps the uint8 dataset on the GPU
and crops, flips and normalises whole batches there, so the GPU does not wait for
per-image PIL transforms; --precision bf16 trains under bfloat16 autocast (quantization
and the SynOp estimate stay in float32); channels_last memory layout on CUDA. See
benchmarks/train_throughput.py.
"""
import time

import torch
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader

from synoploss import distributed
from synoploss.data.cifar10 import (DATA_PATHS, DeviceBatches, load_cifar10, resolve_data_path,
                                     training_batches)
from synoploss.evaluation import evaluate_analog
from synoploss.io import append_row, load_state, read_csv, save_torch
from synoploss.loss import SynOpLoss
from synoploss.models import CIFAR10_INPUT, CIFAR10AnalogueClassifier, set_quantize
from synoploss.results import CifarCheckpoint, Workdir
from synoploss.runtime import (add_alias, add_device_flag, ensure_writable_dir, fail,
                               nonnegative_float, nonnegative_int, positive_float,
                               positive_int, probability, script_parser, seed_everything)
from synoploss.synops import SynOpCounter, count_macs
from synoploss.training import PRECISIONS, NonFiniteLossError, divergence, fit


def parse_args(argv=None):
    parser = script_parser(__doc__, __file__)
    parser.add_argument("--data_root", default="data", help="torchvision CIFAR-10 root")
    parser.add_argument("--download", action="store_true", help="download CIFAR-10 if missing")
    parser.add_argument("--standin", action="store_true",
                        help="use the procedural stand-in when CIFAR-10 is not there")
    parser.add_argument("--n_train", type=positive_int, default=None,
                        help="training images: the stand-in's size (default 5000), or the "
                             "first N of the real training set")
    parser.add_argument("--n_test", type=positive_int, default=None,
                        help="test images: the stand-in's size (default 1000), or the first "
                             "N of the real test set")
    parser.add_argument("--width", type=positive_float, default=1.0,
                        help="channel multiplier (1.0 = the paper's 96/192 channels)")
    parser.add_argument("--dropout", type=probability, nargs=2, default=(0.2, 0.1),
                        metavar=("INPUT", "HIDDEN"), help="dropout rates")
    parser.add_argument("--n_epochs", type=positive_int, default=350,
                        help="epochs of the plain network")
    parser.add_argument("--round_epochs", type=positive_int, default=50,
                        help="epochs of every round")
    parser.add_argument("--n_rounds", type=nonnegative_int, default=20,
                        help="QAT + SynOp rounds")
    parser.add_argument("--target_decay", type=positive_float, default=0.7)
    parser.add_argument("--decay_from_round", type=nonnegative_int, default=16)
    parser.add_argument("--lr", type=positive_float, default=2.5e-4)
    parser.add_argument("--weight_decay", type=nonnegative_float, default=1e-3)
    parser.add_argument("--batch_size", type=positive_int, default=512, help="global batch size")
    parser.add_argument("--workdir", default=".", help="models/ and training_log.csv go here")
    parser.add_argument("--resume", action="store_true", help="continue after the last round")
    parser.add_argument("--seed", type=int, default=0)
    add_device_flag(parser)
    parser.add_argument("--data_path", choices=DATA_PATHS, default="auto",
                        help="device: the uint8 dataset on --device, augmentation batched "
                             "there; torchvision: DataLoader with per-image PIL transforms; "
                             "auto: device on CUDA, torchvision on CPU")
    parser.add_argument("--precision", choices=PRECISIONS, default="fp32",
                        help="bf16: bfloat16 autocast for the convolutions (floor and SynOp "
                             "estimate stay float32); evaluation is always fp32")
    parser.add_argument("--channels_last", choices=["auto", "on", "off"], default="auto",
                        help="channels_last memory layout (auto: on CUDA)")
    parser.add_argument("--loader_workers", type=nonnegative_int, default=0,
                        help="DataLoader processes (torchvision data path)")
    parser.add_argument("--no_progress", action="store_true")
    add_alias(parser, "--synthetic", "--standin")
    return parser.parse_args(argv)


def use_channels_last(args, device):
    return args.channels_last == "on" or (args.channels_last == "auto" and device.type == "cuda")


def build_loaders(args, context, device, train_set, test_set):
    """(train batches, test batches, DistributedSampler or None) for the chosen data path."""
    channels_last = use_channels_last(args, device)
    train, sampler = training_batches(
        train_set, args.batch_size // context.world_size, device, args.data_path, seed=args.seed,
        rank=context.rank, world_size=context.world_size, channels_last=channels_last,
        workers=args.loader_workers)
    if resolve_data_path(args.data_path, device) == "device":
        test = DeviceBatches(test_set.images, test_set.targets, 500, device, train=False,
                             channels_last=channels_last)
    else:
        test = DataLoader(test_set, 500, num_workers=args.loader_workers)
    return train, test, sampler


def milestones(epochs):
    return [round(epochs * fraction) for fraction in (200 / 350, 250 / 350, 300 / 350)]


def checkpoint_name(args, round_index):
    return CifarCheckpoint(tuple(args.dropout), round_index).filename


def finished_rounds(log_path, args, models_dir=None):
    """Rounds -1, 0, 1, ... in order whose last epoch is in the log and whose checkpoint
    exists, with their final test SynOps estimate. A round logged but without its
    checkpoint (killed between the two) ends the list: it is trained again."""
    if not log_path.is_file():
        return {}
    log = read_csv(log_path, required=["round", "epoch", "test_synops"],
                   numeric=["round", "epoch", "test_synops"])
    done = {}
    for round_index in range(-1, int(log["round"].max()) + 1 if len(log) else -1):
        rows = log[log["round"] == round_index]
        expected = args.n_epochs if round_index < 0 else args.round_epochs
        if rows.empty or rows["epoch"].max() < expected:
            break
        if models_dir is not None and not (models_dir / checkpoint_name(args, round_index)).is_file():
            print(f"round {round_index} is in {log_path} but its checkpoint "
                  f"{models_dir / checkpoint_name(args, round_index)} is missing (killed "
                  "between the log and the save?): training it again")
            break
        done[round_index] = float(rows.sort_values("epoch").iloc[-1]["test_synops"])
    return done


def main(argv=None):
    args = parse_args(argv)
    try:
        context, device = distributed.setup(args.device)
    except ValueError as error:
        fail(__file__, error)
    try:
        run(args, context, device)
    finally:
        distributed.teardown(context)


def run(args, context, device):
    files = Workdir(args.workdir)
    log_path = files.training_log
    if context.is_main:
        try:  # before any training: a file or an unwritable folder stops us now
            ensure_writable_dir(files.root)
            ensure_writable_dir(files.models, "--workdir")
        except ValueError as error:
            fail(__file__, error)
    seed_everything(args.seed)
    try:
        train_set, test_set, description = load_cifar10(
            args.data_root, n_train=args.n_train, n_test=args.n_test, seed=args.seed,
            download=args.download, standin=args.standin)
    except FileNotFoundError as error:
        fail(__file__, error)
    if args.batch_size % context.world_size:
        fail(__file__, f"--batch_size {args.batch_size} is not divisible by the "
                       f"{context.world_size} processes")
    train_loader, test_loader, sampler = build_loaders(args, context, device, train_set, test_set)
    if context.is_main:
        print(f"data: {description}; {len(train_set)} train / {len(test_set)} test images; "
              f"{context.world_size} process(es) on {device}; {resolve_data_path(args.data_path, device)} "
              f"data path, {args.precision}")

    try:
        done = finished_rounds(log_path, args, files.models) if args.resume else {}
    except ValueError as error:
        fail(__file__, error)
    if not args.resume and log_path.is_file() and context.is_main:
        fail(__file__, f"{log_path} exists; pass --resume to continue it or use another "
                       "--workdir")
    model = CIFAR10AnalogueClassifier(dropout_rate=args.dropout, width=args.width)
    macs = count_macs(model, CIFAR10_INPUT)
    target = float(sum(layer.macs for layer in macs[1:]))  # without the input layer
    if done:
        last = max(done)
        load_state(model, files.models / checkpoint_name(args, last))
        if last >= 0:
            target = done[last]
        if context.is_main:
            print(f"resuming after round {last}")
    model = model.to(device)
    if use_channels_last(args, device):
        model = model.to(memory_format=torch.channels_last)

    for round_index in range(-1, args.n_rounds):
        if round_index in done:
            continue
        plain = round_index < 0
        set_quantize(model, not plain)
        if not plain:
            decay = args.target_decay if round_index >= args.decay_from_round else 1.0
            target *= decay
        counter = SynOpCounter(model.modules())
        synop_loss = None if plain else SynOpLoss(counter, target=target,
                                                  reduce=distributed.global_mean)
        trained = DistributedDataParallel(model) if context.distributed else model
        epochs = args.n_epochs if plain else args.round_epochs
        started = time.time()

        def log_epoch(epoch, stats, round_index=round_index, target=target):
            if sampler is not None:
                sampler.set_epoch(epoch + 1)
            if not context.is_main:
                return
            test = evaluate_analog(model, test_loader, device)
            model.train()
            append_row(log_path, dict(
                round=round_index, epoch=epoch + 1, quantize=not plain,
                target=None if plain else target, train_accuracy=stats.accuracy,
                train_loss=stats.loss, cross_entropy=stats.cross_entropy,
                train_synops=stats.synops, test_accuracy=test.accuracy,
                test_cross_entropy=test.cross_entropy, test_synops=test.synops,
                macs=sum(layer.macs for layer in macs[1:]), width=args.width,
                world_size=context.world_size, seconds=round(time.time() - started, 1),
                data=description), key=["round", "epoch"])
        try:
            fit(trained, train_loader, epochs, args.lr, synop_loss, device,
                lr_schedule="milestones", milestones=milestones(epochs),
                weight_decay=args.weight_decay, on_epoch=log_epoch, precision=args.precision,
                description=f"round {round_index}",
                progress=context.is_main and not args.no_progress)
            problem = divergence(model)
            if problem:
                raise NonFiniteLossError(problem)
        except (NonFiniteLossError, OverflowError, FloatingPointError) as error:
            fail(__file__, f"round {round_index} (target {target:.4g}): {error}; the "
                           "finished rounds are kept, fix the settings and --resume")
        if context.is_main:
            save_torch(model.state_dict(), files.models / checkpoint_name(args, round_index))
            last = read_csv(log_path)
            last = last[last["round"] == round_index].sort_values("epoch").iloc[-1]
            print(f"round {round_index}: test accuracy {last['test_accuracy']:.4f}, estimated "
                  f"SynOps {last['test_synops']:.4g}" + ("" if plain else f" (target {target:.4g})"))
        if not plain:
            # every process needs the same next target: take it from the model on the
            # test set, the same number rank 0 logged
            target = evaluate_analog(model, test_loader, device).synops
            model.train()


if __name__ == "__main__":
    main()
