"""What every experiment script needs around its experiment: a parser with the script's
docstring as --help, flag values checked in `parse_args` (argparse types that name the
flag and the allowed range), the flags every script shares (--workdir with the
experiment's own default folder, --data_root under it, --standin, --fresh, --device),
output folders probed for writing before any training (a wrong flag or an unwritable
folder stops a run at once, not after hours of work), one way to stop with an error,
seeding, the device and the shard of a sweep."""
from __future__ import annotations

import argparse
import contextlib
import math
import os
import random
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

from ..io import NotSaved
from ..synops import FANOUTS


class ScriptParser(argparse.ArgumentParser):
    """The parser of an experiment script (`script_parser`). `add_setting` adds a flag that
    is a run setting: what makes a model or a row what it is, recorded in every row the
    run writes and compared on reruns. The parsed namespace lists them in
    `run_settings` (`reruns.settings_of` reads it), so a new setting is one edit."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.setting_names = []

    def add_setting(self, *flags, **kwargs) -> argparse.Action:
        action = self.add_argument(*flags, **kwargs)
        self.setting_names.append(action.dest)
        return action

    def record_settings(self, *names: str) -> None:
        """Make flags a shared helper added (e.g. --simulator) run settings of this script."""
        unknown = [name for name in names
                   if name not in {action.dest for action in self._actions}]
        if unknown:
            raise ValueError(f"record_settings: no flag {unknown} in this parser")
        self.setting_names.extend(names)

    def parse_known_args(self, args=None, namespace=None):
        namespace, extra = super().parse_known_args(args, namespace)
        namespace.run_settings = tuple(self.setting_names)
        return namespace, extra


def script_parser(doc: str, script_file: str) -> ScriptParser:
    """The parser of an experiment script: its module docstring is the --help text, laid
    out as written, and error messages start with the script's file name."""
    return ScriptParser(prog=Path(script_file).name, description=doc,
                        formatter_class=argparse.RawDescriptionHelpFormatter)


def fail(script_file: str, error) -> None:
    """Stop the script with exit status 1 and `<script>.py: <error>` on stderr (errors in
    this package name the file, flag or row, and the fix)."""
    sys.exit(f"{Path(script_file).name}: {error}")


PREFLIGHT_ERRORS = (FileNotFoundError, LookupError, ValueError)


@contextlib.contextmanager
def failing(script_file: str, *errors: type):
    """Stop the script with `fail` on any of `errors` (default: missing files, unknown
    names and bad values, whose messages name the file, flag or row), and always on a file
    that could not be written (io.NotSaved: a full disk, naming the file): the pre-flight
    checks of a script, and the measurements whose errors must stop it cleanly."""
    caught = (errors or PREFLIGHT_ERRORS) + (NotSaved,)
    try:
        yield
    except caught as error:
        fail(script_file, error)


def _add(parser, setting: bool, *flags, **kwargs):
    """`add_setting` where the flag is a run setting of this script, else `add_argument`."""
    return parser.add_setting(*flags, **kwargs) if setting else parser.add_argument(*flags,
                                                                                    **kwargs)


# Each experiment's own folder, so that the README's commands, run from the repository
# root, never share a log, and the notebook's defaults find what they wrote.
DEFAULT_WORKDIRS = {"mnist_dvs": "runs/mnist_dvs", "cifar10": "runs/cifar10",
                    "mnist_quant_only": "runs/mnist_quant_only"}


def add_workdir_flags(parser: argparse.ArgumentParser, experiment: str, data_help: str,
                      writes: str = "models/, results/ and the logs") -> None:
    """--workdir (default runs/<experiment>) and --data_root (default <workdir>/data)."""
    parser.add_argument("--workdir", default=DEFAULT_WORKDIRS[experiment],
                        help=f"this experiment's folder: {writes} (default "
                             f"{DEFAULT_WORKDIRS[experiment]})")
    parser.add_argument("--data_root", default=None,
                        help=f"{data_help} (default: <workdir>/data)")


def data_root(args) -> Path:
    """--data_root, or <workdir>/data."""
    return Path(args.data_root) if args.data_root else Path(args.workdir) / "data"


def add_standin_flag(parser: argparse.ArgumentParser, what: str) -> None:
    """--standin: the embedded stand-in, wherever the real data set is not there."""
    parser.add_argument("--standin", action="store_true",
                        help=f"where the real data is not in --data_root, use (and write "
                             f"there) the embedded STAND-IN: {what}. Without it, missing data "
                             "stops the script, saying where it looked and how to get it")


def add_fresh_flag(parser: argparse.ArgumentParser, items: str = "models") -> None:
    """--fresh: do again what is already done, instead of stopping at other settings."""
    parser.add_argument("--fresh", action="store_true",
                        help=f"{items} already in --workdir are kept when made with the same "
                             "settings and the run stops when not; --fresh makes them again "
                             "and replaces them")


def add_device_flag(parser: argparse.ArgumentParser) -> None:
    """--device, the same in every script; check it with `device_or_fail`."""
    parser.add_argument("--device", default="auto",
                        help="auto (default): cuda when available, else cpu; or cpu, cuda, "
                             "cuda:N")


def add_fanout_flag(parser: argparse.ArgumentParser, inherit: bool = False) -> None:
    """--fanout: the SynOp estimate's fan-outs. Training scripts default to the paper's
    constants (a run setting there); test scripts (`inherit`) default to what each model
    was trained with."""
    default = "as trained (the training log's fanout column)" if inherit else "paper"
    _add(parser, not inherit, "--fanout", choices=FANOUTS, default=None if inherit else "paper",
         help="fan-outs of the SynOp estimate: paper (one constant per layer, the original's "
              "numbers, which overcount border neurons) or exact (per-neuron maps, as sinabs "
              f"measures spiking networks); default: {default}")


def add_tensorboard_flag(parser: argparse.ArgumentParser, run: str = "<model>") -> None:
    """--tensorboard DIR: the per-epoch scalars (training.EpochLog) in DIR/<run>."""
    parser.add_argument("--tensorboard", default=None, metavar="DIR",
                        help=f"also write the per-epoch scalars for TensorBoard to DIR/{run}")


def add_revive_flag(parser: argparse.ArgumentParser) -> None:
    """--revive_output: our output-unit revival (forward pass unchanged), off as the
    original; a run setting."""
    parser.add_setting(
        "--revive_output", action="store_true",
        help="let an output unit that is negative for every input still get the gradient "
             "that raises it (the forward pass, and so the spiking network, unchanged); the "
             "original's plain output ReLU can lose a class for good")


def device_or_fail(name, script_file: str) -> torch.device:
    """`pick_device(name)`, or stop the script with its error (which names the flag)."""
    try:
        return pick_device(name)
    except ValueError as error:
        fail(script_file, error)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def parse_shard(text: str) -> tuple[int, int]:
    """'i/n' (1-based i) -> (i, n): the share of a sweep one job trains; a clear error
    otherwise."""
    try:
        index, count = (int(part) for part in text.split("/"))
    except ValueError:
        raise ValueError(f"--shard must look like i/n, e.g. 2/4, got {text!r}") from None
    if not 1 <= index <= count:
        raise ValueError(f"--shard {text}: need 1 <= i <= n")
    return index, count


def _number(kind, text):
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a{'n integer' if kind is int else ' number'}: "
                                         f"{text!r}") from None
    if isinstance(value, float) and not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be finite, got {text}")
    return value


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    value = _number(int, text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {value}")
    return value


def nonnegative_int(text: str) -> int:
    value = _number(int, text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def positive_float(text: str) -> float:
    """argparse type: a finite number > 0 (learning rates, scales, time bins)."""
    value = _number(float, text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {value:g}")
    return value


def nonnegative_float(text: str) -> float:
    value = _number(float, text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value:g}")
    return value


def probability(text: str) -> float:
    """argparse type: a dropout rate, 0 <= p < 1."""
    value = _number(float, text)
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"must be in [0, 1), got {value:g}")
    return value


def percentile(text: str) -> float:
    value = _number(float, text)
    if not 0 < value <= 100:
        raise argparse.ArgumentTypeError(f"must be in (0, 100], got {value:g}")
    return value


def ensure_writable_dir(path, flag: str = "--workdir") -> Path:
    """Create `path` (and parents) and check that a file can be written there, now.

    Raises ValueError naming the flag and the folder: a path that is a file, a folder
    without write permission, a read-only file system."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ValueError(f"{flag} {path}: is a file, not a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
        handle, probe = tempfile.mkstemp(dir=path, prefix=".write-probe.")
        os.close(handle)
        os.unlink(probe)
    except OSError as error:
        raise ValueError(f"{flag} {path}: cannot write there ({error.strerror or error})") \
            from error
    return path


def ensure_writable_file(path, flag: str, inputs: dict | None = None) -> Path:
    """Check now that the output file `path` can be written, and that it is none of the
    run's `inputs` ({flag: path}): a log written over the recording or the model it
    reads would destroy them. Raises ValueError naming the flags."""
    path = Path(path)
    for input_flag, input_path in (inputs or {}).items():
        if input_path and Path(input_path).exists() and path.exists() and \
                os.path.samefile(path, input_path):
            raise ValueError(f"{flag} {path}: is the {input_flag} file; writing it would "
                             "destroy it, name another file")
    if path.is_dir():
        raise ValueError(f"{flag} {path}: is a folder; name a file in it")
    ensure_writable_dir(path.parent, flag=f"{flag} {path}: its folder")
    if path.exists() and not os.access(path, os.W_OK):
        raise ValueError(f"{flag} {path}: cannot write there (permission denied)")
    return path


def tcp_port(text: str) -> int:
    """argparse type: a TCP port, 1..65535."""
    value = _number(int, text)
    if not 0 < value < 65536:
        raise argparse.ArgumentTypeError(f"a TCP port is 1..65535, got {value}")
    return value


def pick_device(name) -> torch.device:
    """"auto" (or None): cuda when available, else cpu; otherwise the named device, checked
    now (ValueError naming the flag), not at the first tensor moved there."""
    if isinstance(name, torch.device):
        name = str(name)
    if name in (None, "", "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as error:
        raise ValueError(f"--device {name}: not a device name (use auto, cpu, cuda or "
                         f"cuda:N)") from error
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"--device {name}: CUDA is not available on this machine")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ValueError(f"--device {name}: this machine has {torch.cuda.device_count()} "
                             "CUDA device(s)")
    elif device.type != "cpu":
        raise ValueError(f"--device {name}: only cpu and cuda are supported")
    return device
