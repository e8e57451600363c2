"""A trained network on a live or replayed event stream (mnist_dvs/live.py).

Three sources, one interface (`batches()` yields event arrays, EVENT_DTYPE, in sensor
pixels, as they arrive): the DV software's TCP event output (`NetworkSource`, what the
original's aermanager `LiveDv` read), a camera on USB (`CameraSource`), and a recording
played back at real time or faster (`ReplaySource`: AER-DAT 1.0/2.0 or AEDAT4). All three
go through dv-processing (AER-DAT files through our own reader).

The events then take the converter's path (synoploss.data.mnist_dvs.convert_recording):
the central square of the sensor (or --crop of it) binned to the network's resolution,
chunks of `spike_count` events, each chunk binned at `dt_us` from its first event. A
replay filters hot pixels over the whole file, as the converter does, so that its chunks
are the converter's; a live stream can only judge a pixel by its rate so far
(`RunningHotPixelFilter`).

`LiveNetwork` runs each chunk through the spiking network: from rest (`reset="chunk"`, as
the spiking tests: the same prediction and SynOps as test_spiking.py on the same
chunks) or from the state the previous chunk left (`reset="never"`, the original's live
loop; sinabs only, as the fast simulator starts every sample from rest).
"""
from __future__ import annotations

import math
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, List

import numpy as np
import torch

from ..data.aedat4 import dv_message, dv_processing, from_event_store
from ..data.events import (
    EVENT_DTYPE,
    Recording,
    bin_spiketrain,
    filter_hot_pixels,
    sensor_bins,
    to_output_resolution,
)
from ..data.recordings import read_recording
from ..spiking import Simulation

RESETS = ("chunk", "never")
POLL_SECONDS = 0.001  # how long a source waits before asking again for a batch


class StreamError(RuntimeError):
    """A source that cannot be opened or read; the message names it and the fix."""


# ---------------------------------------------------------------- sources
class _DvSource:
    """A dv-processing reader (network or camera): batches until it stops running."""

    def __init__(self, reader, description: str, idle_timeout: float | None):
        self.reader, self.description, self.idle_timeout = reader, description, idle_timeout
        width, height = reader.getEventResolution()
        self.sensor_size = (int(width), int(height))
        self.camera = reader.getCameraName()
        self.end_reason = ""

    def batches(self) -> Iterator[np.ndarray]:
        last = time.monotonic()
        while True:
            try:
                batch = self.reader.getNextEventBatch()
            except RuntimeError as error:
                self.end_reason = f"{self.description}: read failed ({dv_message(error)})"
                return
            if batch is not None and batch.size():
                last = time.monotonic()
                yield from_event_store(batch)
                continue
            if not self.reader.isRunning():
                self.end_reason = f"{self.description}: the stream ended (the sender stopped)"
                return
            if self.idle_timeout is not None and time.monotonic() - last > self.idle_timeout:
                self.end_reason = (f"{self.description}: no events for {self.idle_timeout:g} s "
                                   "(--idle_timeout)")
                return
            time.sleep(POLL_SECONDS)


CONNECT_TIMEOUT_S = 5.0
DV_HEADER_ID = b"IOHE"  # the flatbuffer id of the IOHeader a DV server sends first, at 8..12


def _no_dv_stream(host: str, port: int, reason) -> StreamError:
    """Nothing (or nothing that stays) at host:port: what to start, or what to check."""
    return StreamError(f"--host {host} --port {port}: no DV event stream there ({reason}). "
                       "Start the DV software with a 'Network TCP server' output module on "
                       "that address and port, or check the host and port")


def probe_dv_server(host: str, port: int, timeout: float = CONNECT_TIMEOUT_S) -> str:
    """The numeric address of `host` once a DV server there has sent its stream header.

    dv-processing's NetworkReader takes numeric addresses only and, holding the GIL,
    waits forever for a header that a listener of another kind never sends; so we look
    first, on a connection of our own, for at most `timeout` seconds."""
    if host.count(":") == 1:
        raise StreamError(f"--host {host}: give the address alone and the port with --port "
                          f"(--host {host.split(':')[0]} --port {host.split(':')[1]})")
    if not 0 < int(port) < 65536:
        raise StreamError(f"--port {port}: a TCP port is 1..65535")
    try:
        found = socket.getaddrinfo(host, int(port), socket.AF_INET, socket.SOCK_STREAM)
        address = found[0][4][0]
    except (socket.gaierror, UnicodeError) as error:
        raise StreamError(f"--host {host!r}: no such host ({error}); give a name this machine "
                          "resolves or an IPv4 address such as 127.0.0.1") from error
    head = b""
    try:
        with socket.create_connection((address, int(port)), timeout=timeout) as connection:
            connection.settimeout(timeout)
            deadline = time.monotonic() + timeout
            while len(head) < 12 and time.monotonic() < deadline:
                data = connection.recv(12 - len(head))
                if not data:
                    break
                head += data
    except socket.timeout:
        if not head:
            raise StreamError(
                f"--host {host} --port {port}: connected, but nothing came in {timeout:g} s; "
                "is this the DV software's 'Network TCP server' output? (it sends its stream "
                "header at once)") from None
    except OSError as error:
        raise _no_dv_stream(host, port, error.strerror or error) from error
    if head[8:12] != DV_HEADER_ID:
        raise StreamError(f"--host {host} --port {port}: something answers there, but not with "
                          f"a DV stream header (first bytes {head[:12]!r}); point --host/--port "
                          "at the DV software's 'Network TCP server' output")
    return address


class NetworkSource(_DvSource):
    """The DV software's event output over TCP ("Output > Network TCP server" module):
    `host`:`port`. Connection errors say what to check."""

    def __init__(self, host: str, port: int, idle_timeout: float | None = None,
                 connect_timeout: float = CONNECT_TIMEOUT_S):
        dv = _dv("--host")
        address = probe_dv_server(host, port, connect_timeout)
        try:
            reader = dv.io.NetworkReader(address, int(port))
        except RuntimeError as error:
            raise _no_dv_stream(host, port, dv_message(error)) from error
        if not reader.isEventStreamAvailable():
            raise StreamError(f"--host {host} --port {port}: the stream there carries no "
                              "events (frames or IMU only?); connect to the events output")
        super().__init__(reader, f"{host}:{port}", idle_timeout)


class CameraSource(_DvSource):
    """The first camera dv-processing finds on USB (DVS128, DAVIS, DVXplorer)."""

    def __init__(self, idle_timeout: float | None = None):
        dv = _dv("--camera")
        try:
            reader = dv.io.camera.open()
        except (RuntimeError, IndexError) as error:
            found = dv.io.camera.discover()
            raise StreamError(
                f"--camera: no camera could be opened ({dv_message(error)}); dv-processing "
                f"found {len(found)} device(s) on USB. Plug one in (and check its udev "
                "rules), or stream one with the DV software and use --host/--port") from error
        super().__init__(reader, f"camera {reader.getCameraName()}", idle_timeout)


class ReplaySource:
    """A recording played back: its events in time order, `batch_us` of recording at a
    time, at `speed` times real time (0: as fast as possible). Hot pixels above
    `hot_pixel_frequency` (Hz) are filtered over the whole file first, as the converter
    does."""

    def __init__(self, path, speed: float = 1.0, batch_us: int = 10_000,
                 hot_pixel_frequency: float | None = None):
        if speed < 0:
            raise ValueError(f"--speed {speed}: must be >= 0 (0: as fast as possible)")
        recording: Recording = read_recording(path)
        events = recording.events
        if hot_pixel_frequency and len(events):
            events = filter_hot_pixels(events, hot_pixel_frequency, recording.sensor_size)
        self.events, self.speed, self.batch_us = events, speed, batch_us
        self.sensor_size, self.camera = recording.sensor_size, recording.camera
        self.description = str(path)
        self.end_reason = ""

    def batches(self) -> Iterator[np.ndarray]:
        events = self.events
        if not len(events):
            self.end_reason = f"{self.description}: no events"
            return
        times = events["t"].astype(np.int64)
        start_us, start_wall = int(times[0]), time.monotonic()
        edges = np.arange(start_us, int(times[-1]) + self.batch_us + 1, self.batch_us)
        bounds = np.searchsorted(times, edges, side="left")
        for low, high, edge in zip(bounds[:-1], bounds[1:], edges[1:], strict=True):
            if high == low:
                continue
            if self.speed > 0:  # wait until the batch's end is due
                due = start_wall + (edge - start_us) / 1e6 / self.speed
                delay = due - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            yield events[low:high]
        self.end_reason = f"{self.description}: end of the recording"


def _dv(flag: str):
    try:
        return dv_processing(flag)
    except ValueError as error:
        raise StreamError(str(error)) from error


# ---------------------------------------------------------------- events -> chunks
@dataclass
class RunningHotPixelFilter:
    """Hot pixels of a live stream: a pixel whose event count since the stream began
    exceeds `max_frequency_hz` times the time since then (after `warmup_s`) is dropped
    from then on. The converter judges a pixel over its whole recording, which a live
    stream does not have."""
    sensor_size: tuple[int, int]
    max_frequency_hz: float
    warmup_s: float = 1.0

    def __post_init__(self):
        width, height = self.sensor_size
        self.counts = np.zeros((height, width), dtype=np.int64)
        self.start_us = None

    def __call__(self, events: np.ndarray) -> np.ndarray:
        if not len(events):
            return events
        if self.start_us is None:
            self.start_us = int(events["t"][0])
        np.add.at(self.counts, (events["y"].astype(np.int64), events["x"].astype(np.int64)), 1)
        elapsed = (int(events["t"][-1]) - self.start_us) / 1e6
        if elapsed < self.warmup_s:
            return events
        hot = self.counts > self.max_frequency_hz * elapsed
        return events[~hot[events["y"].astype(np.int64), events["x"].astype(np.int64)]]


class EventChunker:
    """Events in, chunks of exactly `spike_count` out (as the converter cuts a recording);
    what is left waits for the next batch."""

    def __init__(self, spike_count: int):
        self.spike_count = spike_count
        self.pending: List[np.ndarray] = []
        self.pending_count = 0

    def push(self, events: np.ndarray) -> List[np.ndarray]:
        self.pending.append(events)
        self.pending_count += len(events)
        if self.pending_count < self.spike_count:
            return []
        joined = np.concatenate(self.pending)
        whole = len(joined) // self.spike_count * self.spike_count
        chunks = [joined[start:start + self.spike_count]
                  for start in range(0, whole, self.spike_count)]
        rest = joined[whole:]
        self.pending, self.pending_count = [rest], len(rest)
        return chunks


@dataclass(frozen=True)
class SensorView:
    """How a source's sensor becomes the network's input, as in the converter: the
    central square (the shorter side, or `crop` pixels) of a `sensor_size` (width,
    height) sensor binned to `resolution` x `resolution`. On a 640x480 DVXplorer with
    resolution 64: x 80..559, y 0..479, 7.5 sensor pixels per input pixel."""
    sensor_size: tuple[int, int]
    resolution: int = 64
    crop: int | None = None

    def __post_init__(self):
        self.bins  # noqa: B018 - refuses a crop beyond the sensor now, not mid-stream

    @property
    def bins(self) -> np.ndarray:
        return sensor_bins(self.resolution, self.crop, self.sensor_size)

    def __call__(self, events: np.ndarray) -> np.ndarray:
        return to_output_resolution(events, self.bins)


def chunk_input(chunk: np.ndarray, dt_us: int, resolution: int) -> torch.Tensor:
    """One chunk (output-resolution events) as the spiking tests feed it: (1, T, 1, R, R),
    binned at `dt_us` from its first event."""
    spiketrain = chunk.copy()
    spiketrain["t"] = spiketrain["t"] - spiketrain["t"][0]
    return bin_spiketrain(spiketrain, dt_us, resolution).unsqueeze(0)


# ---------------------------------------------------------------- the network
@dataclass
class ChunkResult:
    output_spikes: np.ndarray   # (classes,) output spikes summed over the chunk
    synops: float               # the chunk's SynOps, every weight layer
    steps: int

    @property
    def prediction(self) -> int:
        return int(np.argmax(self.output_spikes))  # the first maximum, as torch's argmax

    @property
    def peak(self) -> float:
        return float(self.output_spikes.max())


class LiveNetwork:
    """A converted network (`spiking.to_spiking`) that runs one chunk at a time."""

    def __init__(self, net, simulator: str = "fast", reset: str = "chunk",
                 threads: int | None = None):
        if reset not in RESETS:
            raise ValueError(f"--reset {reset}: must be one of {', '.join(RESETS)}")
        if reset == "never" and simulator == "fast":
            raise ValueError("--reset never needs --simulator sinabs: the fast simulator "
                             "runs every chunk from rest")
        self.simulation = Simulation(net, simulator, threads, reset=reset == "chunk")

    def __call__(self, data: torch.Tensor) -> ChunkResult:
        result = self.simulation(data)
        return ChunkResult(result.output.sum(1)[0].cpu().numpy(),
                           float(result.layer_synops.sum()), int(data.shape[1]))

    def warm_up(self, resolution: int) -> None:
        """One empty chunk, so that the first real one does not wait for the simulator to
        compile (or load) its kernel: an empty input changes no state."""
        self(torch.zeros(1, 1, 1, resolution, resolution))

    def close(self):
        self.simulation.close()


@dataclass
class Prediction:
    """One chunk's answer, as live.py prints and logs it."""
    chunk: int
    digit: int
    output_spikes: float
    confident: bool               # output_spikes >= the threshold
    synops: float
    first_event_us: int
    last_event_us: int
    latency_ms: float             # the chunk's last event received -> its prediction
    synops_per_second: float      # over the stream so far (event time)
    energy_uw: float              # SynOps/s x pJ per SynOp + idle power, in µW
    class_spikes: tuple = ()      # output spikes per class

    def row(self) -> dict:
        """The CSV row: an undefined rate (no stream time yet) is left empty, not "nan"."""
        row = {key: "" if isinstance(value, float) and not math.isfinite(value) else value
               for key, value in self.__dict__.items()}
        row["class_spikes"] = " ".join(f"{value:g}" for value in self.class_spikes)
        return row


@dataclass
class StreamSummary:
    chunks: int = 0
    confident: int = 0
    events: int = 0
    events_in_view: int = 0  # after hot pixels and the crop: what the chunks are cut from
    synops: float = 0.0
    stream_seconds: float = 0.0
    latencies_ms: List[float] = None
    digits: dict = None
    end_reason: str = ""

    def __post_init__(self):
        self.latencies_ms = self.latencies_ms or []
        self.digits = self.digits or {}

    def text(self, pj_per_synop: float, static_mw: float = 0.0) -> str:
        """The run in words; the power: SynOps/s x pJ per SynOp, + the chip's idle power."""
        if not self.chunks:
            kept = (f", {self.events_in_view} of them inside the crop and past the hot-pixel "
                    "filter" if self.events_in_view != self.events else "")
            return f"no chunk was completed ({self.events} events{kept}); {self.end_reason}"
        latency = np.percentile(self.latencies_ms, [50, 95])
        counts = ", ".join(f"{digit}: {count}" for digit, count in sorted(self.digits.items()))
        if self.stream_seconds > 0:
            rate = self.synops / self.stream_seconds
            power = (f"{rate:.4g} SynOps/s ({rate * pj_per_synop * 1e-6 + static_mw * 1e3:.4g} "
                     "µW)")
        else:  # every event at one timestamp: no stream time to divide by
            power = "SynOps/s undefined (no stream time)"
        return (f"{self.chunks} chunks ({self.events} events, {self.stream_seconds:.2f} s of "
                f"stream), {self.confident} above the threshold; digits: {counts}; "
                f"{self.synops / self.chunks:.4g} SynOps per chunk, {power}; latency median "
                f"{latency[0]:.1f} ms, "
                f"95th percentile {latency[1]:.1f} ms. {self.end_reason}")


def run_stream(source, view: SensorView, chunker: EventChunker, network: LiveNetwork,
               dt_us: int, threshold: float, pj_per_synop: float, hot_pixels=None,
               max_chunks: int | None = None, on_prediction=None,
               static_mw: float = 0.0) -> StreamSummary:
    """Every chunk of `source` through `network`, `on_prediction(prediction, chunk)`
    called for each; stops at the end of the source, after `max_chunks`, or on Ctrl-C
    (KeyboardInterrupt ends the loop; the summary says so). Returns the summary."""
    summary = StreamSummary()
    first_us = None
    try:
        for batch in source.batches():
            received = time.perf_counter()
            summary.events += len(batch)
            if hot_pixels is not None:
                batch = hot_pixels(batch)
            batch = view(batch)
            summary.events_in_view += len(batch)
            for chunk in chunker.push(batch):
                if first_us is None:
                    first_us = int(chunk["t"][0])
                result = network(chunk_input(chunk, dt_us, view.resolution))
                summary.chunks += 1
                summary.synops += result.synops
                summary.stream_seconds = (int(chunk["t"][-1]) - first_us) / 1e6
                rate = summary.synops / summary.stream_seconds \
                    if summary.stream_seconds > 0 else float("nan")
                prediction = Prediction(
                    chunk=summary.chunks - 1, digit=result.prediction,
                    output_spikes=result.peak, confident=result.peak >= threshold,
                    synops=result.synops, first_event_us=int(chunk["t"][0]),
                    last_event_us=int(chunk["t"][-1]),
                    latency_ms=(time.perf_counter() - received) * 1e3,
                    synops_per_second=rate,
                    energy_uw=rate * pj_per_synop * 1e-6 + static_mw * 1e3,
                    class_spikes=tuple(float(value) for value in result.output_spikes))
                summary.latencies_ms.append(prediction.latency_ms)
                summary.confident += prediction.confident
                summary.digits[prediction.digit] = summary.digits.get(prediction.digit, 0) + 1
                if on_prediction is not None:
                    on_prediction(prediction, chunk)
                if max_chunks is not None and summary.chunks >= max_chunks:
                    summary.end_reason = f"stopped after --max_chunks {max_chunks}"
                    return summary
        summary.end_reason = getattr(source, "end_reason", "")
    except KeyboardInterrupt:
        summary.end_reason = "stopped by Ctrl-C"
    return summary


def open_source(host: str | None = None, port: int | None = None, camera: bool = False,
                replay: str | Path | None = None, speed: float = 1.0,
                hot_pixel_frequency: float | None = None, idle_timeout: float | None = None,
                connect_timeout: float = CONNECT_TIMEOUT_S):
    """The source the flags name (exactly one of host/port, camera, replay)."""
    if replay is not None:
        return ReplaySource(replay, speed, hot_pixel_frequency=hot_pixel_frequency)
    if camera:
        return CameraSource(idle_timeout)
    return NetworkSource(host, port, idle_timeout, connect_timeout)


__all__ = ["EVENT_DTYPE", "RESETS", "StreamError", "NetworkSource", "CameraSource",
           "ReplaySource", "probe_dv_server", "RunningHotPixelFilter", "EventChunker", "SensorView",
           "chunk_input", "LiveNetwork", "ChunkResult", "Prediction", "StreamSummary",
           "run_stream", "open_source"]
