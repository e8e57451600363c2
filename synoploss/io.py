"""Files that survive interruptions: atomic writes and a CSV log safe for many writers."""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
from pathlib import Path
from typing import Dict, Iterable, List

import pandas as pd
import numpy as np
import torch


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path beside `path`; it replaces `path` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    try:
        yield Path(temporary)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


def save_npz(path, **arrays) -> None:
    with atomic_path(path) as temporary:
        with open(temporary, "wb") as handle:  # a handle: numpy adds no ".npz" suffix
            np.savez_compressed(handle, **arrays)


def save_torch(obj, path) -> None:
    with atomic_path(path) as temporary:
        torch.save(obj, temporary)


def write_json(path, data) -> None:
    with atomic_path(path) as temporary:
        Path(temporary).write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


def write_csv(path, rows: Iterable[Dict], columns: List[str] | None = None) -> None:
    frame = pd.DataFrame(list(rows), columns=columns)
    with atomic_path(path) as temporary:
        frame.to_csv(temporary, index=False)


def read_csv(path) -> pd.DataFrame:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such results file")
    try:
        return pd.read_csv(path)
    except (pd.errors.ParserError, UnicodeDecodeError) as error:
        raise ValueError(f"{path}: not a readable CSV file ({error})") from error
    except pd.errors.EmptyDataError:
        return pd.DataFrame()


@contextlib.contextmanager
def locked(path):
    """An exclusive lock on `path`.lock, for writers on one machine or a shared folder."""
    lock_path = Path(f"{path}.lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def append_row(path, row: Dict, key: List[str] | None = None) -> None:
    """Add one row to a CSV log under a lock, rewriting it atomically.

    With `key`, a row with the same values in those columns is replaced, so reruns do
    not duplicate entries. Concurrent writers (a SLURM array, several machines on a
    shared folder) never leave a half-written or lost row.
    """
    with locked(path):
        frame = read_csv(path) if Path(path).is_file() else pd.DataFrame()
        new = pd.DataFrame([row])
        if key and len(frame):
            same = (frame[key].astype(str) == new[key].astype(str).iloc[0]).all(axis=1)
            frame = frame[~same]
        frame = pd.concat([frame, new], ignore_index=True) if len(frame) else new
        with atomic_path(path) as temporary:
            frame.to_csv(temporary, index=False)


def parse_shard(text: str) -> tuple[int, int]:
    """'i/n' (1-based i) -> (i, n); a clear error otherwise."""
    try:
        index, count = (int(part) for part in text.split("/"))
    except ValueError:
        raise ValueError(f"--shard must look like i/n, e.g. 2/4, got {text!r}") from None
    if not 1 <= index <= count:
        raise ValueError(f"--shard {text}: need 1 <= i <= n")
    return index, count
