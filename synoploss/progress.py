"""Progress bars that read well both in a terminal and in a log file.

In a terminal, tqdm's live bar. When the output goes to a file or a pipe (`make demo >
log`), tqdm would write every update as a carriage return on one endless line (thousands
for the emulator's 5,000 recordings); here it writes a line at most every
`LOG_INTERVAL_S` seconds (and at the start and the end), each on its own line."""
from __future__ import annotations

import sys

from tqdm.auto import tqdm

LOG_INTERVAL_S = 30


class _LogLines:
    """A stream for tqdm that turns each carriage-return update into a line of its own."""

    def __init__(self, stream):
        self.stream = stream

    def write(self, text: str) -> None:
        for line in text.replace("\r", "\n").split("\n"):
            if line.strip():
                self.stream.write(line.rstrip() + "\n")

    def flush(self) -> None:
        self.stream.flush()


def _is_terminal(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def progress_bar(iterable=None, *, file=None, **kwargs) -> tqdm:
    """`tqdm(iterable, **kwargs)` on `file` (default stderr); in a log, a few whole lines
    (at most one every LOG_INTERVAL_S seconds and one every tenth of the total) instead of
    a live bar."""
    stream = file if file is not None else sys.stderr
    if not kwargs.get("disable") and not _is_terminal(stream):
        total = kwargs.get("total")
        if total is None and hasattr(iterable, "__len__"):
            total = len(iterable)
        kwargs.update(mininterval=LOG_INTERVAL_S, maxinterval=LOG_INTERVAL_S,
                      miniters=max(1, int(total) // 10) if total else 1, ascii=True)
        stream = _LogLines(stream)
    return tqdm(iterable, file=stream, **kwargs)
