"""Train MNIST-DVS networks over a sweep of SynOp targets (Sorbaro et al. 2020).

Each model: the paper's network trained on accumulated 64x64 event frames with
cross-entropy + ((S - S*) / S*)^2, S the estimated SynOps per sample and S* the target
(one model per target of logspace(target_min, target_max, n_models)). --quantize_training
trains with the quantized ReLU (QAT). --nopenalty trains the baseline without SynOp loss;
--alpha trains the L1 form alpha * S instead of targets.

The SynOp estimate uses the paper's fan-outs (72, 108, 108, 10 per neuron) unless
--fanout exact (per-neuron maps, which sinabs' spiking measurement matches).

Outputs in --workdir: models/<name>_<target>.pth (name: l1-fanout, l1-fanout-qtrain,
nopenalty), one row per model in training_log.csv, one row per model and epoch in
epoch_log.csv, and with --tensorboard DIR the per-epoch scalars in DIR/<model>. A model already in the log is
skipped, so an interrupted sweep resumes; --shard i/n trains every n-th model of the
sweep, so n jobs (e.g. a SLURM array) can share one sweep and one log.

Examples:
  python mnist_dvs/train.py --quantize_training              # SynOp + QAT sweep
  python mnist_dvs/train.py                                  # SynOp loss alone
  python mnist_dvs/train.py --nopenalty                      # baseline
  python mnist_dvs/train.py --quantize_training --shard $((SLURM_ARRAY_TASK_ID+1))/8
"""
import sys
import time
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import DataLoader

from synoploss.data.mnist_dvs import load_mnist_dvs
from synoploss.evaluation import evaluate_analog
from synoploss.io import append_row, load_state, read_csv, save_torch
from synoploss.loss import SynOpLoss
from synoploss.models import MNISTDVSNet
from synoploss.results import Workdir, format_target, mnist_dvs_checkpoint, model_name
from synoploss.runtime import (add_alias, add_device_flag, add_fanout_flag, add_revive_flag,
                               add_tensorboard_flag, device_or_fail, ensure_writable_dir, fail,
                               parse_shard, positive_float, positive_int, script_parser,
                               seed_everything)
from synoploss.synops import SynOpCounter
from synoploss.training import EpochLog, NonFiniteLossError, divergence, fit


@dataclass(frozen=True)
class ModelSpec:
    name: str
    target: float | None
    alpha: float | None

    @property
    def filename(self):
        return mnist_dvs_checkpoint(self.name, self.target, self.alpha)


def parse_args(argv=None):
    parser = script_parser(__doc__, __file__)
    parser.add_argument("--quantize_training", action="store_true",
                        help="quantization-aware training (floor ReLU, step surrogate)")
    parser.add_argument("--nopenalty", action="store_true",
                        help="train the baseline without SynOp loss (one model)")
    parser.add_argument("--alpha", type=positive_float, nargs="+", default=None,
                        help="L1 form alpha * S: one model per alpha instead of targets")
    parser.add_argument("--n_models", type=positive_int, default=10,
                        help="targets in the sweep")
    parser.add_argument("--target_min", type=positive_float, default=1e4,
                        help="lowest SynOp target per sample (default 1e4 = 10^4.0)")
    parser.add_argument("--target_max", type=positive_float, default=10 ** 6.3,
                        help="highest SynOp target per sample (default 10^6.3 = 2.0e6)")
    add_fanout_flag(parser)
    add_revive_flag(parser)
    parser.add_argument("--n_epochs", type=positive_int, default=8)
    parser.add_argument("--batch_size", type=positive_int, default=256)
    parser.add_argument("--lr", type=positive_float, default=1e-3, help="Adam learning rate")
    parser.add_argument("--lr_schedule", choices=("constant", "cosine"), default="constant",
                        help="constant (the paper) or cosine decay to 0 over the epochs, "
                             "which steadies short runs on small data")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--data_root", default="data",
                        help="converted data (train/ and test/ from generate_DV4_dataset.py)")
    parser.add_argument("--workdir", default=".",
                        help="where models/ and training_log.csv are written")
    add_device_flag(parser)
    parser.add_argument("--init_from", default=None,
                        help="start every model from this checkpoint (e.g. the no-penalty "
                             "model) instead of a Kaiming-uniform initialisation")
    parser.add_argument("--max_train_samples", type=positive_int, default=None,
                        help="random subset of the training frames, for quick runs")
    parser.add_argument("--max_test_samples", type=positive_int, default=None,
                        help="random subset of the test frames, for quick runs")
    parser.add_argument("--shard", default="1/1",
                        help="i/n: train only models k with k %% n == i - 1 of the sweep")
    add_tensorboard_flag(parser)
    parser.add_argument("--no_progress", action="store_true", help="hide tqdm bars")
    add_alias(parser, "--data", "--data_root")
    args = parser.parse_args(argv)
    if args.init_from:
        # load it now: a foreign checkpoint must stop the sweep before any training
        try:
            load_state(MNISTDVSNet(quantize=args.quantize_training), args.init_from)
        except (FileNotFoundError, ValueError) as error:
            parser.error(f"--init_from: {error}")
    if args.nopenalty and args.alpha:
        parser.error("--nopenalty and --alpha exclude each other")
    if not args.target_min <= args.target_max:
        parser.error("need --target_min <= --target_max")
    try:
        args.shard = parse_shard(args.shard)
    except ValueError as error:
        parser.error(str(error))
    # every model needs its own file and log row: targets that print alike would share one
    by_file = {}
    for spec in sweep(args):
        by_file.setdefault(spec.filename, []).append(spec)
    collided = {name: specs for name, specs in by_file.items() if len(specs) > 1}
    if collided:
        name, specs = next(iter(collided.items()))
        values = ", ".join(f"{spec.target if spec.alpha is None else spec.alpha!r}"
                           for spec in specs)
        parser.error(f"{len(specs)} sweep values ({values}) would all be saved as "
                     f"models/{name}; use fewer --n_models or a wider --target_min.."
                     "--target_max range")
    return args


def sweep(args):
    name = model_name(synop_loss=not args.nopenalty, quantize_training=args.quantize_training)
    if args.nopenalty:
        return [ModelSpec(name, None, None)]
    if args.alpha:
        return [ModelSpec(name, None, alpha) for alpha in args.alpha]
    targets = np.geomspace(args.target_min, args.target_max, args.n_models)
    return [ModelSpec(name, float(target), None) for target in targets]


def train_model(spec, args, train_set, device, epoch_log):
    # Every model starts from the same seed and batch order, so its result does not
    # depend on its place in the sweep or on the --shard layout.
    seed_everything(args.seed)
    train_loader = DataLoader(train_set, args.batch_size, shuffle=True,
                              generator=torch.Generator().manual_seed(args.seed))
    model = MNISTDVSNet(quantize=args.quantize_training, fanout=args.fanout,
                        revive_output=args.revive_output)
    if args.init_from:
        load_state(model, args.init_from)
    model = model.to(device)
    synop_loss = None
    if spec.target is not None or spec.alpha is not None:
        synop_loss = SynOpLoss(SynOpCounter(model.modules()), target=spec.target,
                               alpha=spec.alpha)
    fit(model, train_loader, args.n_epochs, args.lr, synop_loss, device,
        lr_schedule=args.lr_schedule, description=spec.filename[:-4],
        progress=not args.no_progress, on_epoch=epoch_log)
    return model


def main(argv=None):
    args = parse_args(argv)
    device = device_or_fail(args.device, __file__)
    try:
        files = Workdir(ensure_writable_dir(args.workdir))
        ensure_writable_dir(files.models, "--workdir")
    except ValueError as error:
        fail(__file__, error)
    log_path = files.training_log
    try:
        train_set, test_set, data_description = load_mnist_dvs(
            args.data_root, n_train=args.max_train_samples, n_test=args.max_test_samples,
            seed=args.seed)
    except (FileNotFoundError, ValueError) as error:
        fail(__file__, error)
    print(f"data: {data_description}; {len(train_set)} train / {len(test_set)} test frames; "
          f"device {device}")
    test_loader = DataLoader(test_set, 512)

    done = set()
    if log_path.is_file():
        try:
            done = set(read_csv(log_path, required=["model_path"])["model_path"].astype(str))
        except ValueError as error:
            fail(__file__, error)
    shard_index, shard_count = args.shard
    specs = [spec for number, spec in enumerate(sweep(args))
             if number % shard_count == shard_index - 1]
    failed = []
    for spec in specs:
        model_path = files.model_entry(spec.filename)
        if model_path in done:
            print(f"{model_path}: already in {log_path}, skipped")
            continue
        started = time.time()
        epoch_log = EpochLog(files.epoch_log, spec.filename[:-4], args.tensorboard,
                             target=spec.target, alpha=spec.alpha,
                             quantize_training=args.quantize_training, fanout=args.fanout,
                             data=data_description)
        try:
            model = train_model(spec, args, train_set, device, epoch_log)
            problem = divergence(model)
            if problem:
                raise NonFiniteLossError(problem)
            test = evaluate_analog(model, test_loader, device)
        except (NonFiniteLossError, OverflowError, FloatingPointError) as error:
            what = f"target {format_target(spec.target)}" if spec.alpha is None \
                else f"alpha {spec.alpha:g}"
            print(f"FAILED {spec.name} {what}: {error}; going on with the next model",
                  file=sys.stderr)
            failed.append(spec.filename)
            continue
        finally:
            epoch_log.close()
        save_torch(model.state_dict(), files.model(model_path))
        append_row(log_path, dict(
            name=spec.name, target=spec.target, alpha=spec.alpha, epochs=args.n_epochs,
            init_from=args.init_from or "",
            quantize_training=args.quantize_training, seed=args.seed, fanout=args.fanout,
            revive_output=args.revive_output,
            test_accuracy=test.accuracy, estimated_synops=test.synops,
            cross_entropy=test.cross_entropy, model_path=model_path,
            wall_seconds=round(time.time() - started, 1), data=data_description),
            key=["model_path"])
        print(f"{model_path}: test accuracy {test.accuracy:.4f}, estimated SynOps "
              f"{test.synops:.4g} (target {format_target(spec.target)})")
    if failed:
        fail(__file__, f"{len(failed)} model(s) failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
