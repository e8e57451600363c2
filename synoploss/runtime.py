"""What every experiment script needs before it starts: flag values checked in
`parse_args` (argparse types that name the flag and the allowed range), and output folders
created and probed for writing before any training, so that a wrong flag or an unwritable
folder stops a run at once instead of after hours of work."""
from __future__ import annotations

import argparse
import math
import os
import tempfile
from pathlib import Path


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
