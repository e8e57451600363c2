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

import math
from pathlib import Path
from typing import Dict, Iterable, Mapping

from ..io import append_row, file_sha256, key_of, normal, read_csv
from .workdir import Workdir, samples_file


class SettingsMismatch(ValueError):
    """An item already done was made with other settings; the message names them."""


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
    key = list(key)
    if not Path(path).is_file():
        return {}
    frame = read_csv(path)
    return {key_of(row, key): row for row in frame.to_dict("records")}




class CheckpointChanged(ValueError):
    """A checkpoint whose content is not the model its log recorded: it was replaced or
    changed after training, so the log's settings (and the results) would describe
    another model."""


def check_checkpoint(path, logged_sha256, log_path) -> str:
    """The hash of the checkpoint at `path` (`file_sha256`), after checking that it is the
    one `log_path` recorded when the model was trained (`logged_sha256`; a log written
    before hashes were recorded has none, and nothing is checked). CheckpointChanged
    names both hashes and what to do."""
    actual = file_sha256(path)
    logged = None if normal(logged_sha256) is None else str(logged_sha256)  # as text
    if logged is not None and logged != actual:
        raise CheckpointChanged(
            f"{path}: its content (sha256 {actual}) is not the model {log_path} recorded when "
            f"it was trained (sha256 {logged}): the file was replaced or changed since. Put "
            "back the checkpoint the log names, train it again (--fresh), or test the new "
            "file in a work folder of its own")
    return actual


def logged_checkpoints(log_path, files) -> dict:
    """{checkpoint path (resolved): the sha256 the log recorded} for the rows of a training
    log (its `model_path` and `model_sha256` columns; empty when it has none)."""
    if not Path(log_path).is_file():
        return {}
    frame = read_csv(log_path)
    if "model_path" not in frame or "model_sha256" not in frame:
        return {}
    return {files.model(str(row["model_path"])).resolve(): row["model_sha256"]
            for row in frame.to_dict("records") if normal(row["model_sha256"]) is not None}


def check_logged_checkpoint(path) -> None:
    """A checkpoint given by its path (live.py, the benchmarks), checked against the
    training log of the work folder it lies in (<workdir>/models/<name>.pth beside
    <workdir>/training_log.csv), when it lies in one that recorded it."""
    path = Path(path)
    log_path = Workdir(path.resolve().parent.parent).training_log
    logged = logged_checkpoints(log_path, Workdir(log_path.parent))
    check_checkpoint(path, logged.get(path.resolve()), log_path)


def settings_of(args, **extra) -> dict:
    """The run settings of a script's parsed flags (those added with `add_setting`, in
    the order they were added), plus `extra` (resolved values: the data's description,
    a sweep's target): what every row of the run records and a rerun compares."""
    return pick(args, getattr(args, "run_settings", ()), **extra)


class ResultsFile:
    """One CSV that a script fills row by row: a training log or a results file.

    Args:
        files: the work folder (`Workdir`); checkpoints are named relative to it.
        path: the CSV.
        key: the columns that identify a row (a rerun replaces the row of the same key).
        fresh: make everything again (--fresh): no row counts as done.
        samples: for a spiking test, the folder name under results/samples/ where each
            row's per-sample arrays go (`row` adds `samples_path`).
        log: the training log that names the checkpoints: `row` refuses a checkpoint
            whose content is not what the log recorded (CheckpointChanged).

    The loop of every script that measures or trains items, with reruns that resume:

        results = ResultsFile(files, path, key, args.fresh, samples=name)
        row = results.row(model_path, **identity)       # + the checkpoint's hash
        if results.kept(row, **test.rerun_checks(nir_name)): continue
        results.add(dict(row, **measured))              # written at once
    """

    def __init__(self, files, path, key: Iterable[str], fresh: bool = False,
                 samples: str | None = None, log=None):
        self.files, self.path, self.key = files, Path(path), list(key)
        self.fresh, self.samples, self.log = fresh, samples, log
        self.logged = logged_checkpoints(log, files) if log is not None else {}
        self.read_at_start = done_rows(self.path, self.key)
        self.done = {} if fresh else self.read_at_start
        self.kept_rows = self.added_rows = 0

    def made_meanwhile(self, item, settings: Mapping, fix: str) -> bool:
        """Whether another run wrote `item` (one key column) since this one read the file:
        with these settings, it is kept (True); with others, SettingsMismatch, instead of
        this run making it again and silently replacing the other's. Call it while
        holding the item (`io.claimed`), just before making it."""
        def as_read(row):  # NaN != NaN: rows compared as their values read back
            return None if row is None else {key: normal(value) for key, value in row.items()}
        now = done_rows(self.path, self.key).get((normal(item),))
        if now is None or as_read(now) == as_read(self.read_at_start.get((normal(item),))):
            return False
        check_rerun(str(item), self.path, now, settings,
                    f"another run made it meanwhile with those settings; {fix}")
        self.kept_rows += 1
        return True

    def row(self, model_path, checkpoint=None, **columns) -> dict:
        """A row's identity: `columns`, the checkpoint as logs name it (`model_path`,
        relative to the work folder, or absolute) and the hash of its content
        (`checkpoint`: the file, when `model_path` does not name it), and with `samples`
        where its per-sample arrays go. A checkpoint the log recorded with another hash
        is refused (CheckpointChanged)."""
        checkpoint = Path(checkpoint) if checkpoint is not None else self.files.model(model_path)
        sha256 = check_checkpoint(checkpoint, self.logged.get(checkpoint.resolve()), self.log)
        row = dict(columns, model_path=str(model_path), model_sha256=sha256)
        if self.samples is not None:
            row["samples_path"] = str(samples_file(self.files, self.samples, row)
                                      .relative_to(self.files.root))
        return row

    def earlier(self, row: Mapping):
        """The row already in the file with `row`'s key, or None."""
        return self.done.get(key_of(row, self.key))

    def kept(self, row: Mapping, equal: Mapping | None = None, needs: Iterable = ()) -> bool:
        """Whether the row already in the file with `row`'s key can stay instead of being
        measured again: made from the same checkpoint (its hash), with equal values of
        `equal` (the output options that change a row's columns), and with every file
        of `needs` present (e.g. the NIR file asked for)."""
        earlier = self.earlier(row)
        keep = earlier is not None and \
            normal(earlier.get("model_sha256")) == normal(row.get("model_sha256")) and \
            all(same(earlier.get(column), value) for column, value in (equal or {}).items()) \
            and all(Path(path).is_file() for path in needs)
        self.kept_rows += keep
        return keep

    def to_do(self, items: Mapping, fix: str, label=None) -> list:
        """Which of `items` ({key value: its settings}, one key column) must be made: those
        not in the file (all with `fresh`). An item in it with other settings stops the run
        (SettingsMismatch naming the item, the file and each setting that differs; `fix`
        says what to do) before anything runs."""
        if not self.fresh and self.path.is_file():
            read_csv(self.path, required=self.key)  # a log without the key column: named
        todo = []
        for item, settings in items.items():
            earlier = self.done.get((normal(item),))
            if earlier is None:
                todo.append(item)
                continue
            check_rerun(label(item) if label else str(item), self.path, earlier, settings, fix)
            self.kept_rows += 1
        return todo

    def add(self, row: Mapping) -> None:
        """Write `row` now (replacing the row of its key): an interruption keeps it."""
        append_row(self.path, dict(row), key=self.key)
        self.added_rows += 1

    def summary(self) -> str:
        return f"{self.path}: {self.added_rows} row(s) written, {self.kept_rows} kept"
