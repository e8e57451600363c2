"""Files that survive interruptions (atomic writes, a CSV log safe for many writers), CSV
reading that checks what it reads, and checkpoint loading that names what does not fit."""
from __future__ import annotations

import contextlib
import csv
import fcntl
import hashlib
import io
import json
import math
import os
import shutil
import socket
import tempfile
import warnings
import zipfile
from io import StringIO
from pathlib import Path
from typing import Dict, Iterable, List, Mapping

import numpy as np
import pandas as pd
import torch
import torch.nn as nn


class NotSaved(OSError):
    """A file that could not be written (a full disk, a quota, a read-only folder): the
    message names it, the reason and the space left, and where its content went instead
    when it could be kept (`kept_at`)."""

    def __init__(self, message: str, reason: str = "", kept_at: Path | None = None):
        super().__init__(message)
        self.reason, self.kept_at = reason, kept_at


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path beside `path`; it replaces `path` only if the block succeeds.
    An OSError while writing (no space left, a quota) is a NotSaved naming `path`, the
    reason and the space left there; `path` is then as it was.

    The temporary file is created with mode 0o666 and the process's umask applied by the
    kernel, as a plain open() would, so that a shared cluster group can read the results.
    (Reading the umask in Python means setting it for a moment, which races with other
    threads; it is never read here.)"""
    path = Path(path)
    try:
        with _atomic_path(path) as temporary:
            yield temporary
    except NotSaved:
        raise
    except OSError as error:
        reason = error.strerror or str(error)
        raise NotSaved(f"{path}: could not be written ({reason}; {_free_space(path.parent)} "
                       "free there); what was there before is unchanged", reason) from error


@contextlib.contextmanager
def _atomic_path(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    for _ in range(100):
        temporary = path.parent / f".{path.name}.{os.urandom(6).hex()}.tmp"
        try:
            handle = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            break
        except FileExistsError:
            continue
    else:
        raise FileExistsError(f"{path.parent}: no free temporary name for {path.name}")
    os.close(handle)
    try:
        yield temporary
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


def save_npz(path, **arrays) -> None:
    with atomic_path(path) as temporary:
        with open(temporary, "wb") as handle:  # a handle: numpy adds no ".npz" suffix
            np.savez_compressed(handle, **arrays)


def load_npz(path, keys: Iterable[str], what: str, fix: str) -> Dict[str, np.ndarray]:
    """The arrays `keys` of an .npz file (e.g. a model's per-sample results), read whole. A
    missing, damaged or cut file, or one without a key, is a ValueError (FileNotFoundError
    when missing) naming the file, `what` it holds, what is wrong and `fix`, not numpy's
    or zipfile's bare error."""
    path = Path(path)
    named = f"{path}: {what}"
    if not path.is_file():
        raise FileNotFoundError(f"{named}: missing; {fix}")
    if not zipfile.is_zipfile(path):  # np.load would try to unpickle it
        raise ValueError(f"{named}: not a readable .npz file (not a zip archive: damaged or "
                         f"cut short?); {fix}")
    try:
        with np.load(path, allow_pickle=False) as saved:
            absent = [key for key in keys if key not in saved.files]
            if absent:
                raise ValueError(f"{named}: no array {', '.join(absent)} in it (it has "
                                 f"{', '.join(saved.files) or 'none'}); {fix}")
            return {key: saved[key] for key in keys}
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as error:
        if str(error).startswith(named):
            raise
        raise ValueError(f"{named}: not a readable .npz file ({type(error).__name__}: "
                         f"{error}; damaged or cut short?); {fix}") from error


def save_torch(obj, path) -> None:
    """`torch.save` of `obj` to `path`, atomically (a temporary file beside it, renamed).

    Serialised in memory first: the file then holds the same bytes for the same tensors
    (torch.save to a path writes the file's name into the archive, so its hash changed
    with every temporary name), and a full disk is an OSError of the write, not torch's
    'unexpected pos' from inside its zip writer. When `path` cannot be written, the bytes
    go to the temporary folder, and NotSaved names both files, the sizes and the fix:
    a trained model is never lost to a full disk."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    content = buffer.getvalue()
    try:
        write_bytes(path, content)
    except OSError as error:
        reason = getattr(error, "reason", "") or error.strerror or str(error)
        kept = None
        try:
            kept = Path(tempfile.gettempdir()) / \
                f"synoploss-unsaved-{os.getpid()}-{Path(path).name}"
            kept.write_bytes(content)
            where = f"it was written to {kept} instead: move it to {path} once there is room"
        except OSError:
            kept, where = None, "nor could it be written to the temporary folder"
        raise NotSaved(f"{path}: could not be written ({reason}; "
                       f"{_free_space(Path(path).parent)} free there, {len(content) / 2**20:.3g} "
                       f"MiB needed); {where}", reason, kept) from error


def write_bytes(path, content: bytes) -> None:
    """`content` into `path`, atomically; written and flushed to disk before the rename."""
    with atomic_path(path) as temporary:
        with open(temporary, "wb") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())


def _free_space(folder) -> str:
    folder = Path(folder)
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent  # the nearest folder that exists: the same file system
    try:
        return f"{shutil.disk_usage(folder).free / 2**20:.3g} MiB"
    except OSError:
        return "unknown space"


def checkpoint_bytes(model: nn.Module) -> int:
    """About the size of `model`'s checkpoint: its state's tensors and the archive's
    overhead (64 KiB is generous)."""
    return sum(tensor.numel() * tensor.element_size()
               for tensor in model.state_dict().values()) + 2 ** 16


def check_free_space(folder, needed_bytes: float, what: str) -> None:
    """Stop (OSError naming `folder`, the space free and needed, and `what` needs it)
    before work whose result would not fit there, e.g. a training run's checkpoints."""
    existing = Path(folder)
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    try:
        free = shutil.disk_usage(existing).free
    except OSError:
        return  # unknown: the save itself will say
    if free < needed_bytes:
        raise OSError(f"{folder}: {free / 2**20:.3g} MiB free, {what} need about "
                      f"{needed_bytes / 2**20:.3g} MiB: free some space or choose another "
                      "--workdir")


def write_json(path, data) -> None:
    with atomic_path(path) as temporary:
        Path(temporary).write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


def write_csv(path, rows: Iterable[Dict], columns: List[str] | None = None) -> None:
    frame = pd.DataFrame(list(rows), columns=columns)
    with atomic_path(path) as temporary:
        frame.to_csv(temporary, index=False)


def read_csv(path, required: Iterable[str] = (), numeric: Iterable[str] = ()) -> pd.DataFrame:
    """A results CSV, checked: whole (`csv_record_lines`: every row as many fields as the
    header, the last line ended), every `required` column present, every `numeric` column
    (where present) made of numbers. Errors name the file, and the line (1-based, the
    header being line 1) and column of a bad value, so that a garbage or cut-short row can
    neither crash a script obscurely nor turn into NaNs, lost rows or categories.

    The file is read once, and checked and parsed from that one copy: a writer replacing
    it meanwhile (append_row) cannot pass one version's check and another's parse."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such results file")
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ValueError(f"{path}: not a readable CSV file ({error})") from error
    lines = csv_record_lines(path, text)
    header = next(csv.reader(StringIO(text)), [])
    try:
        with warnings.catch_warnings():
            # index_col=False: a first row with an extra field must not become an index
            # (which silently shifts every column); pandas warns instead, and we stop
            warnings.simplefilter("error", pd.errors.ParserWarning)
            frame = pd.read_csv(StringIO(text), index_col=False,
                                dtype={column: str for column in header
                                       if column.endswith(IDENTITY_SUFFIXES)})
    except pd.errors.ParserWarning:
        raise ValueError(f"{path}: a row has more fields than the header (line 2 or "
                         "later); fix or move the file") from None
    except pd.errors.ParserError as error:
        raise ValueError(f"{path}: not a readable CSV file ({error})") from error
    except pd.errors.EmptyDataError:
        frame = pd.DataFrame()
    missing = [column for column in required if column not in frame.columns]
    if missing:
        raise ValueError(f"{path}: no column(s) {missing} "
                         f"(it has {list(frame.columns) or 'none'}); "
                         "is it a file of this experiment, or empty?")
    for column in numeric:
        if column not in frame.columns or pd.api.types.is_numeric_dtype(frame[column]):
            continue
        values = pd.to_numeric(frame[column], errors="coerce")
        bad = values.isna() & frame[column].notna()
        if bad.any():
            row = int(bad.idxmax())
            line = lines[row] if row < len(lines) else row + 2
            raise ValueError(f"{path}: line {line}, column {column!r}: "
                             f"{frame[column].iloc[row]!r} is not a number; fix that value "
                             "or copy the file again")
        frame[column] = values
    return frame


# columns of hashes, read as text: pandas would read a hex digest such as 977974e028900618
# as a number (inf) and one of decimal digits without its leading zeros
IDENTITY_SUFFIXES = ("sha256", "fingerprint")

CUT_SHORT = ("the file was cut short (an interrupted copy or sync?); copy it again from where "
             "it was written")


def csv_record_lines(path, text: str) -> List[int]:
    """The line on which each data row of a CSV `text` starts (blank lines skipped, as
    pandas skips them); ValueError, naming `path` and the line, for a file that is not
    whole. pandas reads a row with fewer fields than the header as NaNs and a file cut
    inside a quoted field as a last, long value; a cut copy then loses its later rows
    and changes what is computed from it, silently. Every writer here (write_csv,
    append_row, csv.DictWriter) ends every line, the last included, with a newline: a
    file without one was cut, and its last line may be missing a part of its value."""
    reader = csv.reader(StringIO(text, newline=""), strict=True)
    records, starts, start = [], [], 1
    try:
        for record in reader:
            if record:
                records.append(record)
                starts.append(start)
            start = reader.line_num + 1
    except csv.Error as error:
        if "end of data" in str(error):
            raise ValueError(f"{path}: line {start}: a quoted field of the row starting "
                             f"there is never closed: {CUT_SHORT}, or close the quote") from None
        raise ValueError(f"{path}: line {start}: a quoted field is malformed ({error}); fix "
                         "that line or copy the file again") from None
    if not records:
        return []
    width = len(records[0])
    if not text.endswith("\n"):
        raise ValueError(f"{path}: line {starts[-1]}, the last, ends without a newline "
                         f"({len(records[-1])} of the header's {width} fields): {CUT_SHORT} "
                         "(if that line is whole, end it with a newline)")
    for record, line in zip(records[1:], starts[1:], strict=True):
        if len(record) != width:
            side = "fewer" if len(record) < width else "more"
            raise ValueError(f"{path}: line {line} has {len(record)} field(s), {side} fields "
                             f"than the header (line {starts[0]}: {width}): a damaged or "
                             "hand-edited row, or a copy cut short and resumed; fix or remove "
                             "that line, or copy the file again")
    return starts[1:]


class Busy(ValueError):
    """Another process is making the same file (`claimed`)."""


@contextlib.contextmanager
def claimed(path, what: str):
    """Hold `path`.busy while the block makes `path` (e.g. trains a model), so that a second
    process making the same file at the same time stops at once (Busy, naming the other
    process) instead of both running and the last to finish silently replacing the
    other's result. A claim left by a process that no longer runs (killed) is taken over."""
    busy = Path(f"{path}.busy")
    busy.parent.mkdir(parents=True, exist_ok=True)
    me = f"{socket.gethostname()} {os.getpid()}"
    for _ in range(2):
        try:
            handle = os.open(busy, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            break
        except FileExistsError:
            owner = busy.read_text().strip() if busy.is_file() else ""
            host, _, pid = owner.partition(" ")
            if host == socket.gethostname() and pid.isdigit() and not _running(int(pid)):
                busy.unlink(missing_ok=True)  # left by a killed run: take it over
                continue
            raise Busy(f"{path}: another run ({owner or 'unknown'}) is making {what} now "
                       f"({busy}); wait for it, or use another --workdir (remove {busy} if "
                       "that run is gone)") from None
    else:
        raise Busy(f"{path}: could not claim {busy}")
    with os.fdopen(handle, "w") as file:
        file.write(me + "\n")
    try:
        yield
    finally:
        busy.unlink(missing_ok=True)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


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
    not duplicate entries (values compared as they read back: 1 == 1.0, "" == None; a key
    column absent from a row counts as empty). Concurrent writers (a SLURM array, several
    machines on a shared folder) never leave a half-written or lost row.
    """
    with locked(path):
        frame = read_csv(path) if Path(path).is_file() else pd.DataFrame()
        new = pd.DataFrame([row])
        if key and len(frame):
            wanted = tuple(normal(row.get(column)) for column in key)
            same = [tuple(normal(existing.get(column)) for column in key) == wanted
                    for existing in frame.to_dict("records")]
            frame = frame[[not match for match in same]]
        frame = pd.concat([frame, new], ignore_index=True) if len(frame) else new
        with atomic_path(path) as temporary:
            frame.to_csv(temporary, index=False)


def read_state(path) -> dict:
    """A checkpoint's state dict (a state dict, or a dict with 'state_dict'), on the CPU.
    Errors name the file: missing, unreadable, or not a state dict."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: checkpoint not found")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        if "Weights only load failed" in str(error) and zipfile.is_zipfile(path):
            # torch's own advice (weights_only=False) would run the file's pickled code
            raise ValueError(f"{path}: holds pickled Python objects, not only tensors (a whole "
                             "model saved with torch.save(model)?); save its state dict "
                             "instead: torch.save(model.state_dict(), path)") from error
        detail = ("not a torch.save archive" if not zipfile.is_zipfile(path) else
                  f"torch.load: {type(error).__name__} {str(error).splitlines()[0]}".strip())
        raise ValueError(f"{path}: not a readable PyTorch checkpoint ({detail}; train.py "
                         "writes them to <workdir>/models/*.pth)") from error
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise ValueError(f"{path}: expected a state dict, found {type(state).__name__}")
    bad = [key for key, value in state.items() if isinstance(value, torch.Tensor)
           and value.is_floating_point() and not torch.isfinite(value).all()]
    if bad:
        raise ValueError(f"{path}: {', '.join(bad)} hold NaN or infinite values (a diverged "
                         "or damaged checkpoint); train it again")
    return state


def load_state(model: nn.Module, path, state: dict | None = None) -> nn.Module:
    """Load a checkpoint into `model` (`state`: the file's `read_state`, when the caller
    has read it already, so that it is not read twice).

    Errors name the file and what does not fit, e.g. a checkpoint of another network.
    """
    path = Path(path)
    if state is None:
        state = read_state(path)
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong_shape = [f"{key} {tuple(state[key].shape)} != {tuple(expected[key].shape)}"
                   for key in set(expected) & set(state)
                   if tuple(state[key].shape) != tuple(expected[key].shape)]
    if missing or unexpected or wrong_shape:
        details = "; ".join(part for part in (
            f"missing {missing}" if missing else "",
            f"unexpected {unexpected}" if unexpected else "",
            f"wrong shapes {sorted(wrong_shape)}" if wrong_shape else "") if part)
        raise ValueError(f"{path}: checkpoint does not fit {type(model).__name__} ({details})")
    model.load_state_dict(state)
    return model


def normal(value):
    """A setting as it compares: None for "not set", bool, float, or str."""
    if value is None:
        return None
    if isinstance(value, (np.generic,)):
        value = value.item()
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return None if isinstance(value, float) and math.isnan(value) else float(value)
    if isinstance(value, (list, tuple)):
        return " ".join(str(normal(item)) for item in value)
    if isinstance(value, Path):
        return str(value)
    text = str(value)
    if text in ("", "nan", "None"):
        return None
    if text in ("True", "False"):
        return text == "True"
    try:
        number = float(text)
    except ValueError:
        return text
    if math.isinf(number) and text.strip().lower().lstrip("+-") not in ("inf", "infinity"):
        return text  # a hash such as 977974e028900618, not a number too large for a float
    return number


def file_sha256(path) -> str:
    """The content hash of a file (a checkpoint, a data set's info), first 16 hex digits:
    enough to tell two versions apart, short enough for a CSV column."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]


def fingerprint(values: Mapping) -> str:
    """A short hash of settings (sorted keys, normalised values): a name for them."""
    text = json.dumps({key: normal(value) for key, value in sorted(values.items())},
                      sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def key_of(row: Mapping, key: Iterable[str]) -> tuple:
    return tuple(normal(row.get(column)) for column in key)
