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


@dataclass
class EventBatch:
    """A batch of binned events, sparse: per event its time step, its neuron's (y, x,
    channel) in a layer of `shape` (C, H, W) and its value (an event count), in time
    order within each sample; sample `b`'s events are [bounds[b], bounds[b + 1]).

    What the spiking tests feed the simulators instead of dense (B, T, C, H, W) rasters,
    whose size grows with the number of time steps (at 10 µs bins, gigabytes a batch):
    this grows with the events. The fast simulator's CPU engine reads it as it is;
    sinabs and the CUDA engine take `dense` windows of bounded size."""
    times: np.ndarray     # int32
    ys: np.ndarray        # int32
    xs: np.ndarray        # int32
    channels: np.ndarray  # int32
    values: np.ndarray    # float32
    bounds: np.ndarray    # int64, batch + 1
    steps: int
    shape: tuple          # (C, H, W) of one step

    @property
    def batch(self) -> int:
        return len(self.bounds) - 1

    @property
    def nbytes(self) -> int:
        return sum(array.nbytes for array in (self.times, self.ys, self.xs, self.channels,
                                               self.values, self.bounds))

    def dense_bytes(self, steps: int | None = None) -> int:
        """The bytes of `steps` steps of it as a dense float32 tensor (default: all)."""
        return 4 * self.batch * (self.steps if steps is None else steps) * \
            int(np.prod(self.shape))

    def sample(self, index: int) -> tuple:
        low, high = self.bounds[index], self.bounds[index + 1]
        return (self.times[low:high], self.ys[low:high], self.xs[low:high],
                self.channels[low:high], self.values[low:high])

    def dense(self, start: int = 0, stop: int | None = None) -> torch.Tensor:
        """Steps start..stop as a dense (B, stop - start, C, H, W) float32 tensor."""
        stop = self.steps if stop is None else min(stop, self.steps)
        dense = torch.zeros(self.batch, max(0, stop - start), *self.shape)
        inside = (self.times >= start) & (self.times < stop)
        samples = np.repeat(np.arange(self.batch), np.diff(self.bounds))[inside]
        dense[samples, self.times[inside] - start, self.channels[inside], self.ys[inside],
              self.xs[inside]] = torch.from_numpy(self.values[inside])
        return dense

    @classmethod
    def from_dense(cls, data: torch.Tensor, shape: tuple) -> "EventBatch":
        """The non-zero entries of a dense batch (B, T, C, H, W) or (B, T, N) as events of
        a layer of `shape` (C, H, W)."""
        batch, steps = data.shape[:2]
        flat = data.permute(0, 1, 3, 4, 2) if data.dim() == 5 else data
        flat = flat.reshape(batch, steps, -1)
        nonzero = flat.nonzero()
        values = flat[nonzero[:, 0], nonzero[:, 1], nonzero[:, 2]].contiguous().numpy()
        channels, _, width = shape
        index = nonzero[:, 2]
        return cls(times=nonzero[:, 1].to(torch.int32).numpy(),
                   ys=(index // (width * channels)).to(torch.int32).numpy(),
                   xs=((index // channels) % width).to(torch.int32).numpy(),
                   channels=(index % channels).to(torch.int32).numpy(), values=values,
                   bounds=np.searchsorted(nonzero[:, 0].numpy(), np.arange(batch + 1)),
                   steps=int(steps), shape=tuple(int(size) for size in shape))


def bin_spiketrains(spiketrains: List[np.ndarray], dt_us: int, resolution: int) -> EventBatch:
    """Chunks' events binned in time as `bin_spiketrain` bins them, as one sparse
    `EventBatch` of shape (1, R, R) (both polarities counted; events of one pixel in one
    bin become one event of their count): memory follows the events, not the steps."""
    parts, bounds, steps = [], [0], 1
    for spiketrain in spiketrains:
        bins = (spiketrain["t"] - spiketrain["t"][0]) // dt_us
        steps = max(steps, int(bins[-1]) + 1)
        # one key per (bin, y, x), in time order then raster order, as a dense raster's
        # non-zero entries come
        keys = (bins * resolution + spiketrain["y"].astype(np.int64)) * resolution + \
            spiketrain["x"].astype(np.int64)
        unique, counts = np.unique(keys, return_counts=True)
        parts.append((unique, counts))
        bounds.append(bounds[-1] + len(unique))
    keys = np.concatenate([unique for unique, _ in parts]) if parts else np.zeros(0, np.int64)
    counts = np.concatenate([count for _, count in parts]) if parts else np.zeros(0, np.int64)
    pixels = resolution * resolution
    return EventBatch(times=(keys // pixels).astype(np.int32),
                      ys=((keys % pixels) // resolution).astype(np.int32),
                      xs=(keys % resolution).astype(np.int32),
                      channels=np.zeros(len(keys), np.int32), values=counts.astype(np.float32),
                      bounds=np.asarray(bounds, np.int64), steps=steps,
                      shape=(1, resolution, resolution))
