"""Pure functions on DVS event arrays (structured x, y, t, p; t in µs), in the manner of
tonic's `functional`: hot-pixel filtering, binning sensor pixels into output pixels,
chunking by event count, accumulating frames and binning spike trains in time. Where
aermanager.preprocess does the same job it is used (tests check it against plain numpy);
`bin_spiketrain` stays ours (see its docstring)."""
from __future__ import annotations

import contextlib
import io
import warnings
from dataclasses import dataclass
from typing import List

import aermanager.preprocess as aermanager_preprocess  # pure numpy; not .parsers (dv, imp)
import numpy as np
import torch

EVENT_DTYPE = np.dtype([("x", np.uint16), ("y", np.uint16), ("t", np.uint64), ("p", np.bool_)])


SENSOR_SIZE = 128


@dataclass(frozen=True)
class Recording:
    """A recording's events (EVENT_DTYPE, in time order), its sensor size (width,
    height) and the camera that recorded it."""
    events: np.ndarray
    sensor_size: tuple[int, int]
    camera: str


# a sample's events after binning: x, y are output-pixel indices (0..resolution-1)
SPIKETRAIN_DTYPE = np.dtype([("x", np.uint16), ("y", np.uint16), ("t", np.int64), ("p", np.bool_)])


def filter_hot_pixels(events: np.ndarray, max_frequency_hz: float,
                      sensor_size: tuple[int, int] = (SENSOR_SIZE, SENSOR_SIZE)) -> np.ndarray:
    """Drop every event of pixels that fire above `max_frequency_hz` over the recording
    (aermanager.preprocess.filter_hot_pixels, its report printed only when it drops some),
    on a `sensor_size` (width, height) sensor."""
    width, height = sensor_size
    with contextlib.redirect_stdout(io.StringIO()) as report:
        kept = aermanager_preprocess.filter_hot_pixels(events, (height, width),
                                                        max_frequency_hz)
    if len(kept) < len(events):
        warnings.warn(report.getvalue().strip().replace("\n", "; "), stacklevel=2)
    return kept


def sensor_bins(resolution: int, crop: int | None = None,
                sensor_size: tuple[int, int] = (SENSOR_SIZE, SENSOR_SIZE)) -> np.ndarray:
    """Bin edges (2, resolution + 1) in sensor pixels for x and y: the central square of
    a `sensor_size` (width, height) sensor, `crop` pixels a side (default: the shorter
    side, the whole of the DVS128's 128x128), in `resolution` bins. A sensor wider than
    the square loses its sides (a DVXplorer's 640x480: x 80..559); bins of a fractional
    width hold 7 or 8 sensor pixels (480 / 64 = 7.5)."""
    width, height = (int(value) for value in sensor_size)
    size = crop or min(width, height)
    if not 0 < size <= min(width, height):
        raise ValueError(f"crop must be in 1..{min(width, height)} (the {width}x{height} "
                         f"sensor's shorter side), got {crop}")
    x_edges = (width - size) // 2 + np.linspace(0, size, resolution + 1)
    y_edges = (height - size) // 2 + np.linspace(0, size, resolution + 1)
    return np.stack([x_edges, y_edges])


def output_bins(resolution: int) -> np.ndarray:
    """Bin edges (2, resolution + 1) of the output pixels, for x and y: 0, 1, ..., resolution."""
    edges = np.arange(resolution + 1, dtype=np.float64)
    return np.stack([edges, edges])


def to_output_resolution(events: np.ndarray, bins_xy: np.ndarray) -> np.ndarray:
    """Events inside the bins, with x and y replaced by their bin indices."""
    x_index = np.searchsorted(bins_xy[0], events["x"], side="right") - 1
    y_index = np.searchsorted(bins_xy[1], events["y"], side="right") - 1
    inside = (x_index >= 0) & (x_index < bins_xy.shape[1] - 1) & \
             (y_index >= 0) & (y_index < bins_xy.shape[1] - 1)
    result = np.empty(int(inside.sum()), dtype=SPIKETRAIN_DTYPE)
    result["x"], result["y"] = x_index[inside], y_index[inside]
    result["t"] = events["t"][inside].astype(np.int64)
    result["p"] = events["p"][inside]
    return result


def accumulate_frame(events: np.ndarray, resolution: int) -> np.ndarray:
    """Event counts, both polarities, indexed [y, x] (aermanager's accumulate_frames over
    the output pixels, polarities summed)."""
    edges = np.arange(resolution + 1)
    frames = aermanager_preprocess.accumulate_frames([events], edges, edges)
    return frames[0].sum(0).astype(np.int32)


def chunk_events(events: np.ndarray, spike_count: int) -> List[np.ndarray]:
    """Consecutive chunks of `spike_count` events; the remainder is dropped
    (aermanager.preprocess.slice_by_count)."""
    return aermanager_preprocess.slice_by_count(events, spike_count)


MAX_RASTER_BYTES = 2**32  # 4 GiB: an MNIST-DVS chunk (~1 s at 1 ms, 64x64) needs ~16 MB


def bin_spiketrain(spiketrain: np.ndarray, dt_us: int, resolution: int) -> torch.Tensor:
    """(T, 1, R, R) event counts in bins of `dt_us` from the first event, T covering the
    last event. Not aermanager's create_raster_from_xytp: it drops the last events when
    the chunk's span is an exact multiple of dt (tests/test_data_events.py shows it)."""
    bins = (spiketrain["t"] - spiketrain["t"][0]) // dt_us
    steps = int(bins[-1]) + 1
    needed = steps * resolution * resolution * 4
    if needed > MAX_RASTER_BYTES:
        raise ValueError(
            f"a chunk of {len(spiketrain)} events spans {steps * dt_us / 1e6:.4g} s: at "
            f"{dt_us} µs per bin that is {steps} time bins ({needed / 2**30:.3g} GiB); a "
            "recording with a long pause in it, or a file that is not a recording")
    raster = np.zeros((steps, 1, resolution, resolution), dtype=np.float32)
    np.add.at(raster, (bins, 0, spiketrain["y"].astype(np.int64),
                       spiketrain["x"].astype(np.int64)), 1)
    return torch.from_numpy(raster)


# aermanager's event layout (`aermanager.parsers.events_struct`), typed here: importing
# aermanager.parsers imports `dv`, whose `import imp` fails on Python 3.12 and later
# (tests/test_aedat.py checks the two are equal where aermanager.parsers imports)
