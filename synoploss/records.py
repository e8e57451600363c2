"""What a result was made with, and whether a rerun may reuse it.

Every log row and results row carries the resolved settings that made it (flags after
their defaults, the data's description and fingerprint, a checkpoint's hash). A rerun
that finds an item already done compares the settings: equal, the item is kept (an
interrupted run resumes); different, the script stops and names each setting that
differs, instead of silently reusing a model or result made another way. `--fresh`
(every script that skips finished items has it) does the items again and replaces them.

Values are compared as they read back from a CSV file: numbers by value (1e-3 == 0.001),
booleans by truth ("True" == True), None, NaN and "" as "not set".
"""
from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Dict, Iterable, Mapping

import numpy as np


class SettingsMismatch(ValueError):
    """An item already done was made with other settings; the message names them."""


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
        return float(text)
    except ValueError:
        return text


def same(a, b) -> bool:
    a, b = normal(a), normal(b)
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=0.0)
    return a == b


def differences(stored: Mapping, current: Mapping) -> Dict[str, tuple]:
    """{setting: (stored value, current value)} for every setting of `current` that differs."""
    return {key: (stored.get(key), value) for key, value in current.items()
            if not same(stored.get(key), value)}


def describe(changed: Mapping[str, tuple]) -> str:
    return "; ".join(f"{key}: {_show(old)} then, {_show(new)} now"
                     for key, (old, new) in changed.items())


def _show(value) -> str:
    value = normal(value)
    if value is None:
        return "not set"
    if isinstance(value, float):
        return f"{value:g}"
    return repr(value) if isinstance(value, str) else str(value)


def check_rerun(item: str, where, stored: Mapping, settings: Mapping, fix: str) -> None:
    """Stop (SettingsMismatch) when `item`, already in `where`, was made with settings other
    than `settings`; `fix` says what to do (e.g. "pass --fresh to train it again")."""
    changed = differences(stored, settings)
    if changed:
        raise SettingsMismatch(f"{item} in {where} was made with other settings "
                               f"({describe(changed)}); {fix}")


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


def pick(args, names: Iterable[str], **extra) -> dict:
    """The settings `names` of an argparse namespace, plus `extra` (resolved values such as
    the data's description), as a row's columns."""
    values = {name: getattr(args, name) for name in names}
    values.update(extra)
    return {key: (" ".join(str(v) for v in value) if isinstance(value, (list, tuple))
                  else str(value) if isinstance(value, Path) else value)
            for key, value in values.items()}


def to_do(path, key: str, items: Mapping[str, Mapping], fresh: bool, fix: str,
          label=None) -> list:
    """Which of `items` ({key value: its settings}) must be made, given the CSV at `path`
    (a log or results file with a `key` column): those not in it, and with `fresh` all.
    An item in it with other settings stops the run (SettingsMismatch naming the item,
    the file and each differing setting; `fix` says what to do) before anything runs."""
    from .io import read_csv
    if fresh or not Path(path).is_file():
        return list(items)
    frame = read_csv(path, required=[key])
    stored = {str(normal(row[key]) if isinstance(normal(row[key]), float) else row[key]): row
              for row in frame.to_dict("records")}
    todo = []
    for item, settings in items.items():
        if str(item) not in stored:
            todo.append(item)
            continue
        check_rerun(label(item) if label else str(item), path, stored[str(item)], settings, fix)
    return todo


def done_rows(path, key: Iterable[str]) -> dict:
    """{key tuple (normalised values): row} of a results CSV (empty when there is none)."""
    from .io import read_csv
    key = list(key)
    if not Path(path).is_file():
        return {}
    frame = read_csv(path)
    return {key_of(row, key): row for row in frame.to_dict("records")}


def key_of(row: Mapping, key: Iterable[str]) -> tuple:
    return tuple(normal(row.get(column)) for column in key)
