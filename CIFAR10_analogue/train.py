"""Train the CIFAR-10 network plainly, then retrain it in rounds with quantization-aware
training (QAT) and the SynOp loss, each round aiming lower (Sorbaro et al. 2020).

Stage 1 (round -1): the plain network, without a ReLU on its output (--output_relu adds
one), Adam lr 2.5e-4, weight decay 1e-3, batch 512, lr x0.1 at 200/350, 250/350 and
300/350 of the epochs; random crop 32 (padding 4), horizontal flip, normalisation
(0.5, 0.5, 0.5).
Stage 2 (rounds 0..n_rounds-1), with the output ReLU: QAT, and from round 1 on the SynOp
loss ((S - S*) / S*)^2. Round 0 is QAT alone, as the original (--first_round_synop_loss
gives it the loss, with the plain network's multiply-accumulates without the input layer,
342,220,800 at full width, as S*). Each next target is the previous round's estimated
SynOps (on the test set) times --target_decay (0.7) from round --decay_from_round (17)
on, times 1 before. Each round starts from the previous round's weights, round 0 from the
plain network's as they are (--round0_scale multiplies its first layer first). SynOps are
estimated with the paper's fan-outs (864, 432, 1728, 1728, 432, 1728, 192, 10, 1) unless
--fanout exact.

Writes models/d{p0}_{p1}_{round}.pth and training_log.csv (the epoch log: one row per
round and epoch, with every setting of the run) in --workdir (default runs/cifar10);
--resume continues after the last finished round, and stops, naming each difference,
when the run in --workdir was made with other settings (more --n_rounds may be asked
for); --fresh removes that run's log and checkpoints and starts again; --tensorboard DIR
writes the per-epoch scalars to DIR/round_<round>.

More than one GPU: torchrun --nproc_per_node=N CIFAR10_analogue/train.py ... trains with
DistributedDataParallel (NCCL on GPUs, gloo on CPU); every process reads its share of
each batch, only rank 0 writes; the SynOp estimate is averaged over processes before the
loss, so the loss is the single-process loss on the whole batch.

Data: real CIFAR-10 in --data_root (default <workdir>/data; --download where the network
allows); --standin uses the procedural stand-in when CIFAR-10 is not there (named as such
in the log).

Speed on a GPU: --data_path device (the default there) keeps the uint8 dataset on the GPU
and crops, flips and normalises whole batches there, so the GPU does not wait for
per-image PIL transforms; --precision bf16 trains under bfloat16 autocast (quantization
and the SynOp estimate stay in float32); channels_last memory layout on CUDA. See
benchmarks/train_throughput.py.
"""
import shutil
import time

import torch
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader

from synoploss.data.cifar10 import (
    DATA_PATHS,
    DeviceBatches,
    load_cifar10,
    resolve_data_path,
    training_batches,
)
from synoploss.experiments import distributed
from synoploss.experiments.cifar_rounds import RoundSchedule
from synoploss.experiments.cli import (
    add_device_flag,
    add_fanout_flag,
    add_revive_flag,
    add_standin_flag,
    add_tensorboard_flag,
    add_workdir_flags,
    data_root,
    ensure_writable_dir,
    fail,
    failing,
    nonnegative_float,
    nonnegative_int,
    positive_float,
    positive_int,
    probability,
    script_parser,
    seed_everything,
)
from synoploss.experiments.evaluation import evaluate_analog
from synoploss.experiments.reruns import check_checkpoint, check_rerun, settings_of
from synoploss.experiments.training import PRECISIONS, EpochLog, NonFiniteLossError, divergence, fit
from synoploss.experiments.workdir import CifarCheckpoint, Workdir
from synoploss.io import (
    append_row,
    check_free_space,
    checkpoint_bytes,
    file_sha256,
    load_state,
    read_csv,
    save_torch,
)
from synoploss.loss import SynOpLoss
from synoploss.models import CIFAR10_INPUT, CIFAR10AnalogueClassifier, scale_first_layer
from synoploss.synops import SynOpCounter, count_macs


def parse_args(argv=None):
    parser = script_parser(__doc__, __file__)
    # run settings (add_setting): in every log row, compared on --resume (a run may be
    # continued to more rounds, so --n_rounds is not one)
    add_workdir_flags(parser, "cifar10", "torchvision CIFAR-10 root",
                      "models/ and training_log.csv")
    parser.add_argument("--download", action="store_true", help="download CIFAR-10 if missing")
    add_standin_flag(parser, "procedural 10-class shapes (not CIFAR-10)")
    parser.add_setting("--n_train", type=positive_int, default=None,
                       help="training images: the stand-in's size (default 5000), or the "
                            "first N of the real training set")
    parser.add_setting("--n_test", type=positive_int, default=None,
                       help="test images: the stand-in's size (default 1000), or the first "
                            "N of the real test set")
    parser.add_setting("--width", type=positive_float, default=1.0,
                       help="channel multiplier (1.0 = the paper's 96/192 channels)")
    parser.add_setting("--dropout", type=probability, nargs=2, default=(0.2, 0.1),
                       metavar=("INPUT", "HIDDEN"), help="dropout rates")
    parser.add_setting("--n_epochs", type=positive_int, default=350,
                       help="epochs of the plain network")
    parser.add_setting("--round_epochs", type=positive_int, default=350,
                       help="epochs of every round (the original: as many as the plain network)")
    parser.add_argument("--n_rounds", type=nonnegative_int, default=31,
                        help="QAT + SynOp rounds")
    parser.add_setting("--target_decay", type=positive_float, default=0.7,
                       help="each round's SynOp target is the last one's times this "
                            "(default 0.7, the original's)")
    parser.add_setting("--decay_from_round", type=nonnegative_int, default=17,
                       help="first round whose target is the previous SynOps x --target_decay")
    parser.add_setting("--output_relu", action="store_true",
                       help="train the plain network with the output ReLU the rounds have "
                            "(the original trains it without)")
    parser.add_setting("--first_round_synop_loss", action="store_true",
                       help="give round 0 the SynOp loss too, with the MAC count as its target "
                            "(the original trains round 0 with QAT alone)")
    parser.add_setting("--round0_scale", type=scale_or_auto, default=1.0, metavar="SCALE|auto",
                       help="multiply the first convolution's weights by SCALE when round 0 "
                            "starts from the plain network: quantized as it is, most of its "
                            "activity lies below 1 and floors to 0. auto: the original's "
                            "formula, the MACs without the input layer / the plain network's "
                            "estimated SynOps x 8, which the original computes but does not "
                            "use (its round 0 loads the unscaled checkpoint). Default 1: the "
                            "original's behaviour")
    add_fanout_flag(parser)
    add_revive_flag(parser)
    add_tensorboard_flag(parser, "round_<r>")
    parser.add_setting("--synop_loss_weight", type=positive_float, default=1.0,
                       help="multiply the SynOp loss by this (default 1: the original's, "
                            "unweighted; rounds settle above their targets when it is too "
                            "weak against the cross-entropy, see docs/experiments.md)")
    parser.add_setting("--lr", type=positive_float, default=2.5e-4,
                       help="Adam learning rate (default 2.5e-4, the original's)")
    parser.add_setting("--weight_decay", type=nonnegative_float, default=1e-3,
                       help="Adam weight decay (default 1e-3, the original's)")
    parser.add_setting("--batch_size", type=positive_int, default=512, help="global batch size")
    parser.add_argument("--resume", action="store_true",
                        help="continue the run in --workdir after its last finished round")
    parser.add_argument("--fresh", action="store_true",
                        help="remove the run in --workdir (its log and checkpoints) and start "
                             "again")
    parser.add_setting("--seed", type=int, default=0,
                       help="seed of the weights, the data order and the stand-in (default 0)")
    add_device_flag(parser)
    parser.add_setting("--data_path", choices=DATA_PATHS, default="auto",
                       help="device: the uint8 dataset on --device, augmentation batched "
                            "there; torchvision: DataLoader with per-image PIL transforms; "
                            "auto: device on CUDA, torchvision on CPU")
    parser.add_setting("--precision", choices=PRECISIONS, default="fp32",
                       help="bf16: bfloat16 autocast for the convolutions (floor and SynOp "
                            "estimate stay float32); evaluation is always fp32")
    parser.add_argument("--channels_last", choices=["auto", "on", "off"], default="auto",
                        help="channels_last memory layout (auto: on CUDA)")
    parser.add_argument("--loader_workers", type=nonnegative_int, default=0,
                        help="DataLoader processes (torchvision data path)")
    parser.add_argument("--no_progress", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    if args.resume and args.fresh:
        parser.error("--resume and --fresh exclude each other")
    return args


def schedule_of(args) -> RoundSchedule:
    return RoundSchedule(n_rounds=args.n_rounds, target_decay=args.target_decay,
                         decay_from_round=args.decay_from_round,
                         first_round_synop_loss=args.first_round_synop_loss,
                         round0_scale=args.round0_scale)


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


def scale_or_auto(text):
    """argparse type of --round0_scale: a positive number, or 'auto'."""
    return text if text == "auto" else positive_float(text)


def build_model(args, round_index, state=None):
    """The network of a round: the plain one (round -1) without output ReLU unless
    --output_relu, the QAT rounds with it; the same parameters either way."""
    plain = round_index < 0
    model = CIFAR10AnalogueClassifier(quantize=not plain, dropout_rate=args.dropout,
                                      width=args.width, fanout=args.fanout,
                                      last_layer_relu=args.output_relu or not plain,
                                      revive_output=args.revive_output)
    if state is not None:
        model.load_state_dict(state)
    return model


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
        checkpoint = None if models_dir is None else models_dir / checkpoint_name(args, round_index)
        if checkpoint is not None and not checkpoint.is_file():
            print(f"round {round_index} is in {log_path} but its checkpoint {checkpoint} is "
                  "missing (killed between the log and the save?): training it again")
            break
        if checkpoint is not None:
            try:
                load_state(build_model(args, round_index), checkpoint)
            except ValueError as error:
                print(f"round {round_index}: {error}: training it again")
                break
            # one that loads but is not what was saved stops the run (CheckpointChanged)
            check_checkpoint(checkpoint, rows.sort_values("epoch").iloc[-1].get("model_sha256"),
                             log_path)
        done[round_index] = float(rows.sort_values("epoch").iloc[-1]["test_synops"])
    return done


def main(argv=None):
    args = parse_args(argv)
    with failing(__file__, ValueError):
        context, device = distributed.setup(args.device)
    try:
        run(args, context, device)
    finally:
        distributed.teardown(context)


def run(args, context, device):
    files = Workdir(args.workdir)
    if context.is_main:
        with failing(__file__, ValueError):  # before any training: a file or an
            ensure_writable_dir(files.root)  # unwritable folder stops us now
            ensure_writable_dir(files.models, "--workdir")
    seed_everything(args.seed)
    with failing(__file__, FileNotFoundError):
        train_set, test_set, description = load_cifar10(
            data_root(args), n_train=args.n_train, n_test=args.n_test, seed=args.seed,
            download=args.download, standin=args.standin)
    if args.batch_size % context.world_size:
        fail(__file__, f"--batch_size {args.batch_size} is not divisible by the "
                       f"{context.world_size} processes")
    train_loader, test_loader, sampler = build_loaders(args, context, device, train_set, test_set)
    if context.is_main:
        print(f"data: {description}; {len(train_set)} train / {len(test_set)} test images; "
              f"{context.world_size} process(es) on {device}; "
              f"{resolve_data_path(args.data_path, device)} data path, {args.precision}")
    settings = settings_of(args, data=description)
    if args.fresh and context.is_main:
        remove_run(files, args)
    distributed.barrier(context)
    done = rounds_to_keep(args, files, settings, context)
    if context.is_main:
        with failing(__file__, OSError):
            to_train = sum(r not in done for r in schedule_of(args).rounds)
            check_free_space(files.models, to_train * checkpoint_bytes(build_model(args, -1)),
                             f"the {to_train} round(s) to train")
    # the plain network's multiply-accumulates without the input layer: round 0's target
    # and the numerator of --round0_scale auto
    mac_count = sum(layer.macs for layer in count_macs(build_model(args, -1), CIFAR10_INPUT)[1:])
    state = previous = None  # the weights and estimated SynOps of the last finished round
    plain_synops = done.get(-1)  # the plain network's estimated SynOps (--round0_scale auto)
    if done:
        last = max(done)
        state = load_state(build_model(args, last), files.models / checkpoint_name(args, last))
        state, previous = state.state_dict(), done[last] if last >= 0 else None
        if context.is_main:
            print(f"resuming after round {last}")
    schedule = schedule_of(args)
    for round_index in schedule.rounds:
        if round_index in done:
            continue
        with failing(__file__, ValueError):
            scale = schedule.start_scale(round_index, mac_count, plain_synops)
            target = schedule.target(round_index, previous, mac_count)
        model = build_model(args, round_index, state).to(device)
        train_round(args, round_index, model, scale, target, mac_count, settings, files,
                    (train_loader, test_loader, sampler), context, device)
        state = model.state_dict()
        # every process needs the same next target: take it from the model on the test
        # set, the same number rank 0 logged
        measured = evaluate_analog(model, test_loader, device).synops
        model.train()
        if schedule.quantized(round_index):
            previous = measured
        else:
            plain_synops = measured


def remove_run(files, args) -> None:
    """--fresh: the logged run's log, checkpoints (by its own dropout rates, not this run's)
    and TensorBoard files."""
    if not files.training_log.is_file():
        return
    log = read_csv(files.training_log)
    dropout = tuple(float(v) for v in str(log["dropout"].iloc[-1]).split()) \
        if "dropout" in log and len(log) else tuple(args.dropout)
    for round_index in range(-1, int(log["round"].max()) + 1 if len(log) else 0):
        files.models.joinpath(CifarCheckpoint(dropout, round_index).filename) \
            .unlink(missing_ok=True)
    files.training_log.unlink()
    shutil.rmtree(files.root / "tensorboard", ignore_errors=True)
    print(f"--fresh: removed {files.training_log} and its checkpoints")


def rounds_to_keep(args, files, settings, context) -> dict:
    """The finished rounds of the run in --workdir to continue from ({round: estimated
    SynOps}); none without --resume. Stops when the run was made with other settings, or
    when a log is there and neither --resume nor --fresh says what to do with it."""
    log_path = files.training_log
    with failing(__file__, ValueError):
        if args.resume and log_path.is_file():
            log = read_csv(log_path, required=["round"])
            if len(log):
                check_rerun("the run", log_path, log.iloc[-1].to_dict(), settings,
                            "continue it with its own settings, pass --fresh to start "
                            "again, or use another --workdir")
        done = finished_rounds(log_path, args, files.models) if args.resume else {}
    if not args.resume and log_path.is_file() and context.is_main:
        fail(__file__, f"{log_path} exists; pass --resume to continue it, --fresh to start "
                       "again, or use another --workdir")
    return done


def train_round(args, round_index, model, scale, target, mac_count, settings, files, loaders,
                context, device) -> None:
    """One round (-1: the plain network) trained, logged per epoch and saved."""
    train_loader, test_loader, sampler = loaders
    schedule = schedule_of(args)
    plain = not schedule.quantized(round_index)
    if scale != 1:
        scale_first_layer(model, scale)
        if context.is_main:
            print(f"round 0 starts from the plain network with its first layer x{scale:.4g}")
    if use_channels_last(args, device):
        model = model.to(memory_format=torch.channels_last)
    synop_loss = SynOpLoss(SynOpCounter(model.modules()), target=target,
                           reduce=distributed.global_mean, weight=args.synop_loss_weight) \
        if schedule.uses_loss(round_index) else None
    trained = DistributedDataParallel(model) if context.distributed else model
    epochs = args.n_epochs if plain else args.round_epochs
    started = time.time()
    epoch_log = EpochLog(
        files.training_log, f"round_{round_index}", args.tensorboard, key=("round", "epoch"),
        round=round_index, quantize=not plain,
        target=target if synop_loss is not None else None,
        has_output_relu=args.output_relu or not plain, ann_macs=mac_count,
        world_size=context.world_size, **settings) if context.is_main else None

    def log_epoch(epoch, stats):
        if sampler is not None:
            sampler.set_epoch(epoch + 1)
        if epoch_log is None:
            return
        test = evaluate_analog(model, test_loader, device)
        model.train()
        epoch_log(epoch, stats, test_accuracy=test.accuracy,
                  test_cross_entropy=test.cross_entropy, test_synops=test.synops,
                  seconds=round(time.time() - started, 1))
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
        aim = f" (target {target:.4g})" if target is not None else ""
        fail(__file__, f"round {round_index}{aim}: {error}; the finished rounds are kept, "
                       "fix the settings and --resume")
    finally:
        if epoch_log is not None:
            epoch_log.close()
    if context.is_main:
        checkpoint = files.models / checkpoint_name(args, round_index)
        with failing(__file__, OSError):  # a full disk: says where the model went
            save_torch(model.state_dict(), checkpoint)
        last = read_csv(files.training_log)
        last = last[last["round"] == round_index].sort_values("epoch").iloc[-1]
        # the round's last row records what was saved: test.py and --resume check it
        append_row(files.training_log, dict(last.to_dict(), model_sha256=file_sha256(checkpoint)),
                   key=["round", "epoch"])
        print(f"round {round_index}: test accuracy {last['test_accuracy']:.4f}, estimated "
              f"SynOps {last['test_synops']:.4g}"
              + (f" (target {target:.4g})" if synop_loss is not None else ""))


if __name__ == "__main__":
    main()
