import numpy as np
import pytest

from conftest import events_of, random_recording
from synoploss.data.events import (
    SPIKETRAIN_DTYPE,
    accumulate_frame,
    bin_spiketrain,
    chunk_events,
    filter_hot_pixels,
    sensor_bins,
    to_output_resolution,
)


def test_frame_mass_at_y_x():
    # 3 events at x=5, y=2 and 1 at x=60, y=40: an asymmetric pattern
    events = to_output_resolution(events_of([10, 11, 10, 121], [4, 5, 5, 81], [0, 1, 2, 3]),
                                  sensor_bins(64))
    frame = accumulate_frame(events, 64)
    assert frame[2, 5] == 3 and frame[40, 60] == 1 and frame.sum() == 4
    assert frame[5, 2] == 0


@pytest.mark.parametrize("crop,resolution,x,expected", [
    (None, 64, 127, 63), (None, 64, 0, 0), (None, 32, 5, 1),
    (64, 64, 32, 0), (64, 64, 95, 63), (64, 64, 31, None), (64, 64, 96, None),
])
def test_binning_and_crop(crop, resolution, x, expected):
    events = to_output_resolution(events_of([x], [64], [0]), sensor_bins(resolution, crop))
    assert (events["x"].tolist() == [expected]) if expected is not None else len(events) == 0


def test_chunks_drop_the_remainder():
    chunks = chunk_events(np.arange(7000), 3000)
    assert [len(c) for c in chunks] == [3000, 3000] and chunks[1][0] == 3000


def test_aermanager_backed_helpers_equal_plain_numpy():
    """chunk_events, accumulate_frame and filter_hot_pixels use aermanager.preprocess;
    here they are checked against the plain numpy they replaced."""
    events = random_recording(7500, seed=3)
    chunks = chunk_events(events, 3000)
    expected = [events[start:start + 3000] for start in range(0, 7500 - 3000 + 1, 3000)]
    assert len(chunks) == 2 and all(
        np.array_equal(a, b) for a, b in zip(chunks, expected, strict=True))
    assert chunk_events(events[:2999], 3000) == []
    binned = to_output_resolution(events, sensor_bins(64))
    frame = np.zeros((64, 64), dtype=np.int32)
    np.add.at(frame, (binned["y"].astype(np.int64), binned["x"].astype(np.int64)), 1)
    assert np.array_equal(accumulate_frame(binned, 64), frame)
    hot = events.copy()
    hot["x"][:600], hot["y"][:600] = 5, 7  # one pixel with 600 events in 60 ms: 10 kHz
    with pytest.warns(UserWarning, match="Found 1 hot pixels"):
        kept = filter_hot_pixels(hot, max_frequency_hz=5000)
    assert len(kept) == len(hot) - 600 - int(
        ((events["x"][600:] == 5) & (events["y"][600:] == 7)).sum())
    assert not ((kept["x"] == 5) & (kept["y"] == 7)).any()


def test_spike_train_binning_keeps_the_last_event_where_aermanager_drops_it():
    from aermanager.preprocess import create_raster_from_xytp

    train = np.zeros(4, dtype=SPIKETRAIN_DTYPE)
    train["x"], train["y"], train["t"] = [1, 2, 3, 4], [0, 0, 0, 0], [0, 500, 1500, 2000]
    ours = bin_spiketrain(train, 1000, 8)
    assert ours.shape == (3, 1, 8, 8) and ours.sum() == 4
    theirs = create_raster_from_xytp(train, 1000, np.arange(9), np.arange(9)).sum(1)
    assert theirs.sum() == 3  # the event at exactly 2 x dt is lost there
    np.testing.assert_array_equal(ours[:2, 0].numpy(), theirs[:2])


@pytest.mark.parametrize("spike_count", [1, 2, 999, 1000, 1001, 5000])
def test_chunks_frames_and_rasters_equal_plain_numpy_at_the_extremes(spike_count):
    """--spike_count from 1 to more than the recording: the chunks, their frames and
    rasters are what plain numpy gives."""
    events = to_output_resolution(random_recording(1000, seed=3, duration_us=40_000),
                                  sensor_bins(64))
    chunks = chunk_events(events, spike_count)
    assert len(chunks) == len(events) // spike_count
    for index, chunk in enumerate(chunks):
        expected = events[index * spike_count:(index + 1) * spike_count]
        np.testing.assert_array_equal(chunk, expected)
        frame = np.zeros((64, 64), dtype=np.int64)
        np.add.at(frame, (expected["y"].astype(int), expected["x"].astype(int)), 1)
        np.testing.assert_array_equal(accumulate_frame(chunk, 64), frame)
        for dt_us in (1, 1000, 10 ** 7):
            raster = bin_spiketrain(chunk, dt_us, 64).numpy()
            bins = (expected["t"] - expected["t"][0]) // dt_us
            plain = np.zeros((int(bins.max()) + 1, 1, 64, 64), dtype=np.float32)
            np.add.at(plain, (bins, 0, expected["y"].astype(int), expected["x"].astype(int)), 1)
            np.testing.assert_array_equal(raster, plain)
            assert raster.sum() == len(chunk)


@pytest.mark.parametrize("x,y,expected", [
    (80, 0, (0, 0)), (559, 479, (63, 63)), (87, 7, (0, 0)), (88, 8, (1, 1)),
    (79, 100, None), (560, 100, None),  # the sides of a 640-wide sensor are cut
])
def test_a_dvxplorer_sensor_is_cut_to_its_central_square_and_binned(x, y, expected):
    """640x480 -> 64x64: the central 480x480 square (x from 80), 7.5 pixels per bin: bin
    edges at 80, 87.5, 95, ...; pixel 87 is in bin 0, pixel 88 in bin 1."""
    bins = sensor_bins(64, None, (640, 480))
    assert bins[0][[0, 1, -1]].tolist() == [80, 87.5, 560]
    assert bins[1][[0, 1, -1]].tolist() == [0, 7.5, 480]
    events = to_output_resolution(events_of([x], [y], [0]), bins)
    if expected is None:
        assert len(events) == 0
    else:
        assert (int(events["x"][0]), int(events["y"][0])) == expected


def test_crop_beyond_the_shorter_side_is_refused():
    with pytest.raises(ValueError, match="crop must be in 1..480 .*640x480"):
        sensor_bins(64, 500, (640, 480))


def test_hot_pixels_on_a_wide_sensor():
    """A pixel beyond 128 in x (only a wide sensor has it) is judged like any other."""
    hot = events_of([600] * 50 + [3], [470] * 50 + [3], list(range(0, 100_000, 2000)) + [10])
    hot = np.sort(hot, order="t")
    with pytest.warns(UserWarning, match="Removed 50"):
        kept = filter_hot_pixels(hot, 100, (640, 480))  # 50 events in 0.1 s: 500 Hz
    assert kept["x"].tolist() == [3]


def test_a_chunk_with_a_long_pause_is_refused_not_allocated():
    """Two events 3 days apart at 1 ms bins would need ~1.6e13 bytes of raster: refused
    with the span, not a MemoryError (a live stream that paused, a misread file)."""
    from synoploss.data.aedat import EVENT_DTYPE
    train = np.zeros(2, dtype=EVENT_DTYPE)
    train["t"] = [0, 3 * 24 * 3600 * 10**6]
    with pytest.raises(ValueError, match=r"a chunk of 2 events spans 2.592e\+05 s: at 1000 µs"):
        bin_spiketrain(train, 1000, 64)


def spiketrain_of(xs, ys, ts):
    from synoploss.data.events import SPIKETRAIN_DTYPE
    train = np.zeros(len(xs), SPIKETRAIN_DTYPE)
    train["x"], train["y"], train["t"] = xs, ys, ts
    return train


@pytest.mark.parametrize("dt_us", [1, 7, 1000])
def test_sparse_batches_are_the_dense_rasters(dt_us):
    """bin_spiketrains holds what the padded dense rasters hold (each event of a pixel in
    a bin counted once into one value), in the order a dense raster's non-zero entries
    come; `dense` gives the rasters back, whole or by windows."""
    import torch

    from synoploss.data.events import EventBatch, bin_spiketrain, bin_spiketrains
    rng = np.random.default_rng(dt_us)
    trains = [spiketrain_of(rng.integers(0, 4, n), rng.integers(0, 4, n),
                            np.sort(rng.integers(100, 100 + span, n)))
              for n, span in ((40, 50), (5, 3), (60, 200))]
    rasters = [bin_spiketrain(train, dt_us, 4) for train in trains]
    steps = max(len(raster) for raster in rasters)
    padded = torch.zeros(3, steps, 1, 4, 4)
    for index, raster in enumerate(rasters):
        padded[index, :len(raster)] = raster
    sparse = bin_spiketrains(trains, dt_us, 4)
    expected = EventBatch.from_dense(padded, (1, 4, 4))
    for field in ("times", "ys", "xs", "channels", "values", "bounds"):
        np.testing.assert_array_equal(getattr(sparse, field), getattr(expected, field))
    assert (sparse.steps, sparse.shape) == (steps, (1, 4, 4)) and sparse.values.sum() == 105
    assert torch.equal(sparse.dense(), padded)
    windows = [sparse.dense(start, start + 3) for start in range(0, steps, 3)]
    assert torch.equal(torch.cat(windows, 1), padded)
    assert sparse.dense_bytes() == padded.numel() * 4 and sparse.nbytes < 30 * 105
