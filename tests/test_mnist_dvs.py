import json
import os

import numpy as np
import pytest
import torch

from synoploss.aedat import EVENT_DTYPE, write_aedat
from synoploss.mnist_dvs import (EMULATED_DESCRIPTION, LIST_NAMES, REAL_DESCRIPTION,
                                 ConversionSettings, FramesDataset, SpikeTrainDataset,
                                 accumulate_frame, chunk_events, convert_dataset,
                                 describe_dataset, generate_emulated_recordings,
                                 make_file_lists, pad_collate, read_file_list, sensor_bins,
                                 to_output_resolution, write_file_list)


def events_of(xs, ys, ts, ps=None):
    events = np.zeros(len(xs), dtype=EVENT_DTYPE)
    events["x"], events["y"], events["t"] = xs, ys, ts
    events["p"] = ps if ps is not None else np.arange(len(xs)) % 2
    return events


def random_recording(count, seed, duration_us=60_000):
    rng = np.random.default_rng(seed)
    return events_of(rng.integers(0, 128, count), rng.integers(0, 128, count),
                     np.sort(rng.integers(0, duration_us, count)))


def fake_dataset(root, per_digit=4, digits=(0, 1, 2), events=7000):
    """Real MNIST-DVS layout with random AER-DAT2.0 recordings."""
    for digit in digits:
        for number in range(per_digit):
            path = root / f"grabbed_data{digit}" / "scale16" / f"mnist_{digit}_scale16_{number + 1:04d}.aedat"
            write_aedat(path, random_recording(events, seed=digit * 100 + number))
    return root


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


def test_makelist_is_deterministic_and_split_per_digit(tmp_path):
    root = fake_dataset(tmp_path / "mnistdvs", per_digit=5, events=10)
    train, test = make_file_lists(root, 16, train_per_digit=3)
    assert len(train) == 9 and len(test) == 6
    assert train[:3] == [(f"grabbed_data0/scale16/mnist_0_scale16_000{n}.aedat", 0) for n in (1, 2, 3)]
    assert {label for _, label in test} == {0, 1, 2}
    write_file_list(tmp_path / "list.txt", train)
    assert read_file_list(tmp_path / "list.txt") == train
    with pytest.raises(FileNotFoundError, match="no recordings"):
        make_file_lists(root, 8)


def write_lists(root, train_per_digit=3):
    train, test = make_file_lists(root, 16, train_per_digit)
    write_file_list(root / LIST_NAMES["train"], train)
    write_file_list(root / LIST_NAMES["test"], test)


def test_conversion_names_counts_and_keys(tmp_path):
    root = fake_dataset(tmp_path / "raw")
    write_lists(root)
    summary = convert_dataset(root, tmp_path / "out", ConversionSettings(spike_count=3000),
                              progress=False)
    assert summary.read == 12 and not summary.skipped
    assert dict(summary.samples["train"]) == {0: 6, 1: 6, 2: 6}  # 7000 events: 2 chunks
    names = sorted(p.name for p in (tmp_path / "out" / "test").glob("*.npz"))
    assert names == [f"mnist_{d}_scale16_0004_{c}.npz" for d in range(3) for c in range(2)]
    with np.load(tmp_path / "out" / "train" / "mnist_1_scale16_0002_1.npz") as sample:
        assert sample["frame"].shape == (64, 64) and sample["frame"].sum() == 3000
        assert int(sample["label"]) == 1
        assert str(sample["source"]) == "grabbed_data1/scale16/mnist_1_scale16_0002.aedat"
        spiketrain = sample["spiketrain"]
        assert set(spiketrain.dtype.names) == {"x", "y", "t", "p"} and spiketrain["t"][0] == 0
        assert spiketrain["x"].max() < 64 and sample["bins_xy"].shape == (2, 65)
    assert describe_dataset(tmp_path / "out") == REAL_DESCRIPTION


def test_bad_files_are_skipped_and_counted(tmp_path):
    root = fake_dataset(tmp_path / "raw")
    broken = root / "grabbed_data0" / "scale16" / "mnist_0_scale16_0001.aedat"
    broken.write_bytes(broken.read_bytes()[:-3])
    garbled = root / "grabbed_data1" / "scale16" / "mnist_1_scale16_0004.aedat"
    garbled.write_text("this is not an event file\n")
    write_lists(root)
    with pytest.warns(UserWarning, match="truncated"):
        summary = convert_dataset(root, tmp_path / "out", progress=False)
    assert summary.read == 10 and len(summary.skipped) == 2
    assert any("mnist_1_scale16_0004.aedat: not an AER-DAT" in r for r in summary.skipped)
    assert "skipped: 2" in summary.report()
    assert not list((tmp_path / "out" / "train").glob("mnist_0_scale16_0001_*"))


def test_resume_keeps_finished_recordings(tmp_path):
    root = fake_dataset(tmp_path / "raw", digits=(0,))
    write_lists(root)
    out = tmp_path / "out"
    convert_dataset(root, out, progress=False)
    sample = out / "train" / "mnist_0_scale16_0001_0.npz"
    os.utime(sample, (1, 1))
    again = convert_dataset(root, out, progress=False)
    assert again.read == 0 and again.kept == 4 and again.samples["train"][0] == 6
    assert sample.stat().st_mtime == 1
    redo = convert_dataset(root, out, ConversionSettings(overwrite=True), progress=False)
    assert redo.read == 4 and sample.stat().st_mtime > 1


def test_missing_file_list(tmp_path):
    with pytest.raises(FileNotFoundError, match="file list missing"):
        convert_dataset(fake_dataset(tmp_path / "raw", digits=(0,)), tmp_path / "out")


def test_datasets_show_the_same_chunk(tmp_path):
    root = fake_dataset(tmp_path / "raw", digits=(0, 1))
    write_lists(root)
    convert_dataset(root, tmp_path / "out", progress=False)
    frames = FramesDataset(tmp_path / "out" / "test")
    spikes = SpikeTrainDataset(tmp_path / "out" / "test", dt_us=1000)
    assert len(frames) == len(spikes) == 4
    for index in range(4):
        frame, label = frames[index]
        raster, spike_label = spikes[index]
        assert frame.shape == (1, 64, 64) and label == spike_label
        assert raster.shape[0] == spikes.durations[index]
        torch.testing.assert_close(raster.sum(0), frame)  # the binned events add up to the frame
    batch, labels = pad_collate([spikes[0], spikes[1]])
    assert batch.shape == (2, max(spikes.durations[:2]), 1, 64, 64)
    assert labels.tolist() == [spikes[0][1], spikes[1][1]]
    order = [i for batch in spikes.batches_by_duration(3) for i in batch]
    assert sorted(order) == [0, 1, 2, 3]
    assert list(spikes.durations[order]) == sorted(spikes.durations)


def test_damaged_sample_names_the_file(tmp_path):
    (tmp_path / "train").mkdir()
    (tmp_path / "train" / "broken.npz").write_bytes(b"PK\x03\x04 not really")
    with pytest.raises(ValueError, match="broken.npz: cannot read sample"):
        FramesDataset(tmp_path / "train")
    with pytest.raises(FileNotFoundError, match="no such folder"):
        FramesDataset(tmp_path / "absent")


def test_small_emulated_dataset_end_to_end(tmp_path):
    root = generate_emulated_recordings(tmp_path / "emulated", train_per_digit=2,
                                        test_per_digit=1, events_per_recording=6000,
                                        progress=False)
    train = read_file_list(root / LIST_NAMES["train"])
    test = read_file_list(root / LIST_NAMES["test"])
    assert len(train) == 20 and len(test) == 10
    assert not {name for name, _ in train} & {name for name, _ in test}
    summary = convert_dataset(root, tmp_path / "out", progress=False)
    assert summary.read == 30 and sum(summary.samples["train"].values()) == 40
    assert describe_dataset(tmp_path / "out") == EMULATED_DESCRIPTION
    durations = SpikeTrainDataset(tmp_path / "out" / "test").durations
    assert 5 <= np.median(durations) <= 200  # tens of 1 ms bins per chunk, as real chunks


def test_rerun_with_other_settings_is_refused_and_overwrite_starts_clean(tmp_path):
    root = fake_dataset(tmp_path / "raw", digits=(0,))
    write_lists(root)
    out = tmp_path / "out"
    convert_dataset(root, out, ConversionSettings(spike_count=2000), progress=False)
    assert len(list((out / "train").glob("mnist_0_scale16_0001_*.npz"))) == 3
    with pytest.raises(ValueError, match="spike_count: 2000 then, 3000 now.*--overwrite"):
        convert_dataset(root, out, ConversionSettings(spike_count=3000), progress=False)
    convert_dataset(root, out, ConversionSettings(spike_count=3000, overwrite=True),
                    progress=False)
    # 7000 events: 2 chunks of 3000 now; the third chunk of 2000 events is gone
    assert sorted(p.name for p in (out / "train").glob("mnist_0_scale16_0001_*.npz")) == \
        ["mnist_0_scale16_0001_0.npz", "mnist_0_scale16_0001_1.npz"]
    assert json.loads((out / "dataset_info.json").read_text())["spike_count"] == 3000


def test_changed_file_lists_are_refused(tmp_path):
    root = fake_dataset(tmp_path / "raw", digits=(0,))
    write_lists(root)
    out = tmp_path / "out"
    convert_dataset(root, out, progress=False)
    train, test = make_file_lists(root, train_per_digit=2)  # another split
    write_file_list(root / LIST_NAMES["train"], train)
    write_file_list(root / LIST_NAMES["test"], test)
    with pytest.raises(ValueError, match="file_lists_sha256"):
        convert_dataset(root, out, progress=False)


def test_a_recording_in_both_splits_is_refused(tmp_path):
    root = fake_dataset(tmp_path / "raw", digits=(0,))
    shared = ("grabbed_data0/scale16/mnist_0_scale16_0001.aedat", 0)
    write_file_list(root / LIST_NAMES["train"], [shared])
    write_file_list(root / LIST_NAMES["test"], [shared])
    with pytest.raises(ValueError, match="mnist_0_scale16_0001 is in both the train and the test"):
        convert_dataset(root, tmp_path / "out", progress=False)


@pytest.mark.parametrize("lines,message", [
    (["a/x.aedat\t1", "b/x.aedat\t1"], "list.txt:2: recording x is already listed on line 1"),
    (["../outside/x.aedat\t1"], "list.txt:1: '../outside/x.aedat' is outside the dataset root"),
    (["/abs/x.aedat\t1"], "outside the dataset root"),
    (["a/x.aedat\t12"], "list.txt:1: label 12 is not a digit"),
])
def test_bad_file_lists_name_the_line(tmp_path, lines, message):
    path = tmp_path / "list.txt"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=message):
        read_file_list(path)


def test_a_chunk_spanning_minutes_skips_its_recording(tmp_path):
    root = tmp_path / "raw"
    recording = random_recording(7000, seed=1)
    recording["t"][4000:] += 600_000_000  # a 10-minute gap inside the second chunk
    write_aedat(root / "grabbed_data0" / "scale16" / "mnist_0_scale16_0001.aedat", recording)
    write_file_list(root / LIST_NAMES["train"],
                    [("grabbed_data0/scale16/mnist_0_scale16_0001.aedat", 0)])
    write_file_list(root / LIST_NAMES["test"], [])
    with pytest.warns(UserWarning, match="spans 600.0 s"):
        summary = convert_dataset(root, tmp_path / "out", progress=False)
    assert summary.read == 0 and len(summary.skipped) == 1


def test_aermanager_backed_helpers_equal_plain_numpy():
    """chunk_events, accumulate_frame and filter_hot_pixels use aermanager.preprocess;
    here they are checked against the plain numpy they replaced."""
    events = random_recording(7500, seed=3)
    chunks = chunk_events(events, 3000)
    expected = [events[start:start + 3000] for start in range(0, 7500 - 3000 + 1, 3000)]
    assert len(chunks) == 2 and all(np.array_equal(a, b) for a, b in zip(chunks, expected))
    assert chunk_events(events[:2999], 3000) == []
    binned = to_output_resolution(events, sensor_bins(64))
    frame = np.zeros((64, 64), dtype=np.int32)
    np.add.at(frame, (binned["y"].astype(np.int64), binned["x"].astype(np.int64)), 1)
    assert np.array_equal(accumulate_frame(binned, 64), frame)
    hot = events.copy()
    hot["x"][:600], hot["y"][:600] = 5, 7  # one pixel with 600 events in 60 ms: 10 kHz
    from synoploss.mnist_dvs import filter_hot_pixels
    with pytest.warns(UserWarning, match="Found 1 hot pixels"):
        kept = filter_hot_pixels(hot, max_frequency_hz=5000)
    assert len(kept) == len(hot) - 600 - int(((events["x"][600:] == 5) & (events["y"][600:] == 7)).sum())
    assert not ((kept["x"] == 5) & (kept["y"] == 7)).any()


def test_spike_train_binning_keeps_the_last_event_where_aermanager_drops_it():
    from aermanager.preprocess import create_raster_from_xytp

    from synoploss.mnist_dvs import SPIKETRAIN_DTYPE, bin_spiketrain
    train = np.zeros(4, dtype=SPIKETRAIN_DTYPE)
    train["x"], train["y"], train["t"] = [1, 2, 3, 4], [0, 0, 0, 0], [0, 500, 1500, 2000]
    ours = bin_spiketrain(train, 1000, 8)
    assert ours.shape == (3, 1, 8, 8) and ours.sum() == 4
    theirs = create_raster_from_xytp(train, 1000, np.arange(9), np.arange(9)).sum(1)
    assert theirs.sum() == 3  # the event at exactly 2 x dt is lost there
    np.testing.assert_array_equal(ours[:2, 0].numpy(), theirs[:2])
