"""AEDAT4 recordings (iniVation's DV software, DVXplorer, DAVIS346 ...) and DV event
streams, through iniVation's maintained library dv-processing (the `live` extra:
`pip install dv-processing==2.0.4`, wheels for Python 3.11-3.13). aermanager's `LiveDv`
and the `dv` package need Python 3.11 and are never imported.

Events come back in the package's layout (`aedat.EVENT_DTYPE`: x, y, t in µs, p), with
the sensor size from the file or the stream, never assumed: a DVXplorer's is 640x480,
not the DVS128's 128x128.
"""
from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

import numpy as np

from ..io import atomic_path
from .aedat import AedatError
from .events import EVENT_DTYPE, Recording

AEDAT4_MAGIC = b"#!AER-DAT4.0"
INSTALL_HINT = "pip install dv-processing==2.0.4 (or: pip install -e '.[live]')"


def dv_processing(what: str):
    """The dv_processing module, or an error that says what needed it and how to install it."""
    try:
        import dv_processing as dv  # the optional `live` extra, imported when needed
    except ImportError as error:
        raise AedatError(f"{what} needs dv-processing, which is not installed: "
                         f"{INSTALL_HINT}") from error
    return dv


def from_event_store(store) -> np.ndarray:
    """A dv_processing EventStore (timestamp, x, y, polarity) as structured (x, y, t, p)."""
    raw = store.numpy()
    events = np.empty(len(raw), dtype=EVENT_DTYPE)
    events["x"], events["y"] = raw["x"], raw["y"]
    events["t"] = raw["timestamp"].astype(np.int64)
    events["p"] = raw["polarity"] != 0
    return events


def to_event_store(events: np.ndarray):
    """Structured (x, y, t, p) events as a dv_processing EventStore (in time order)."""
    dv = dv_processing("writing DV events")
    store = dv.EventStore()
    for x, y, t, p in zip(events["x"].tolist(), events["y"].tolist(), events["t"].tolist(),
                          events["p"].tolist(), strict=True):
        store.push_back(int(t), int(x), int(y), bool(p))
    return store


def dv_message(error: Exception) -> str:
    """The line of a dv-processing error that says what went wrong, without its C++ stack."""
    lines = [line for line in str(error).splitlines() if line.strip()
             and not line[0].isdigit() and not line.startswith(("/project", "Stacktrace"))]
    return lines[0] if lines else str(error)[:200]


@contextlib.contextmanager
def _aedat4_named(path: Path):
    """`path`, or a link to it named *.aedat4: dv-processing opens only that extension
    (and aborts the process when its writer is given another)."""
    if path.suffix == ".aedat4":
        yield path
        return
    with tempfile.TemporaryDirectory() as folder:
        link = Path(folder) / "recording.aedat4"
        os.symlink(path.resolve(), link)
        yield link


def read_aedat4(path) -> Recording:
    """The event stream of an AEDAT4 file (read with dv-processing, the `live` extra).

    Args:
        path: the file.

    Returns:
        A `Recording`: events ordered by time, the sensor size and camera in the file.

    Raises:
        AedatError: dv-processing missing, or a file it cannot read, naming it.
    """
    path = Path(path)
    dv = dv_processing(f"{path}: reading AEDAT4")
    with _aedat4_named(path) as named:
        return _read_aedat4(dv, path, named)


def _read_aedat4(dv, path: Path, named: Path) -> Recording:
    try:
        recording = dv.io.MonoCameraRecording(str(named))
    except RuntimeError as error:
        raise AedatError(f"{path}: not a readable AEDAT4 file ({dv_message(error)})") from error
    if not recording.isEventStreamAvailable():
        raise AedatError(f"{path}: an AEDAT4 file without an event stream (frames or IMU "
                         "only?): nothing to convert")
    width, height = recording.getEventResolution()
    batches = []
    try:
        while True:
            batch = recording.getNextEventBatch()
            if batch is None:
                break
            batches.append(from_event_store(batch))
    except RuntimeError as error:
        raise AedatError(f"{path}: AEDAT4 event stream unreadable after "
                         f"{sum(map(len, batches))} events ({dv_message(error)}): "
                         "truncated?") from error
    events = np.concatenate(batches) if batches else np.empty(0, dtype=EVENT_DTYPE)
    outside = (events["x"] >= width) | (events["y"] >= height)
    if outside.any():
        raise AedatError(f"{path}: {int(outside.sum())} events lie outside the file's "
                         f"{width}x{height} sensor")
    events = events[np.argsort(events["t"], kind="stable")]
    return Recording(events, (int(width), int(height)), recording.getCameraName())


def write_aedat4(path, events: np.ndarray, sensor_size: tuple[int, int],
                 camera: str = "synoploss") -> None:
    """Write events (x, y, t, p) as an AEDAT4 file (dv-processing's MonoCameraWriter),
    atomically: for tests and for handing recordings to the DV software."""
    dv = dv_processing("writing AEDAT4")
    width, height = (int(value) for value in sensor_size)
    if len(events) and ((events["x"] >= width).any() or (events["y"] >= height).any()):
        raise ValueError(f"{path}: events outside the {width}x{height} sensor")
    events = events[np.argsort(events["t"], kind="stable")]
    with atomic_path(path) as temporary:
        # dv-processing aborts the process when the name does not end in .aedat4
        named = temporary.with_name(temporary.name + ".aedat4")
        try:
            config = dv.io.MonoCameraWriter.EventOnlyConfig(camera, (width, height))
            writer = dv.io.MonoCameraWriter(str(named), config)
            if len(events):
                writer.writeEvents(to_event_store(events))
            del writer  # closes the file: its index is written on destruction
            os.replace(named, temporary)
        finally:
            named.unlink(missing_ok=True)
