import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import random_recording
from synoploss.data.aedat import write_aedat
from synoploss.data.emulator import STANDIN_DESCRIPTION
from synoploss.data.mnist_dvs import (
    DATASET_INFO,
    LIST_NAMES,
    PAPER_LISTS,
    REAL_DESCRIPTION,
    ConversionSettings,
    FramesDataset,
    SpikeTrainDataset,
    convert_dataset,
    describe,
    load_mnist_dvs,
    make_file_lists,
    pad_collate,
    read_file_list,
    split_file_lists,
    write_file_list,
    write_standin_recordings,
)


def fake_dataset(root, per_digit=4, digits=(0, 1, 2), events=7000):
    """Real MNIST-DVS layout with random AER-DAT2.0 recordings."""
    for digit in digits:
        for number in range(per_digit):
            path = (root / f"grabbed_data{digit}" / "scale16"
                    / f"mnist_{digit}_scale16_{number + 1:04d}.aedat")
            write_aedat(path, random_recording(events, seed=digit * 100 + number))
    return root


def test_makelist_is_deterministic_and_split_per_digit(tmp_path):
    root = fake_dataset(tmp_path / "mnistdvs", per_digit=5, events=10)
    train, test = make_file_lists(root, 16, train_per_digit=3)
    assert len(train) == 9 and len(test) == 6
    assert train[:3] == [(f"grabbed_data0/scale16/mnist_0_scale16_000{n}.aedat", 0)
                         for n in (1, 2, 3)]
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
        # the stored bins reproduce the frame from the stored events (as the original's
        # notebook did with aermanager's samples); the frame is [y, x]
        bins_xy = sample["bins_xy"]
        by_yx = np.histogramdd((spiketrain["y"], spiketrain["x"]), bins=bins_xy[::-1])[0]
        np.testing.assert_array_equal(by_yx, sample["frame"])
        by_xy = np.histogramdd((spiketrain["x"], spiketrain["y"]), bins=bins_xy)[0]
        np.testing.assert_array_equal(by_xy, sample["frame"].T)
        assert sample["sensor_bins_xy"][0][[0, -1]].tolist() == [0, 128]
    assert describe(tmp_path / "out") == REAL_DESCRIPTION


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
    sample.write_bytes(b"kept")  # by content: a rerun that rewrote it would replace this
    again = convert_dataset(root, out, progress=False)
    assert again.read == 0 and again.kept == 4 and again.samples["train"][0] == 6
    assert sample.read_bytes() == b"kept"
    redo = convert_dataset(root, out, ConversionSettings(overwrite=True), progress=False)
    assert redo.read == 4 and sample.read_bytes()[:2] == b"PK"  # a fresh .npz (a zip)


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


def converted_copy(tiny_mnist_dvs, tmp_path):
    """A copy of the tiny converted data set, to damage."""
    copy = tmp_path / "data"
    shutil.copytree(tiny_mnist_dvs, copy)
    return copy


def rewrite_sample(path, **changes):
    with np.load(path) as archive:
        content = {key: archive[key] for key in archive.files}
    content.update(changes)
    np.savez_compressed(path, **content)


def test_damaged_sample_names_the_file(tiny_mnist_dvs, tmp_path):
    data = converted_copy(tiny_mnist_dvs, tmp_path)
    (data / "train" / "broken.npz").write_bytes(b"PK\x03\x04 not really")
    with pytest.raises(ValueError, match="broken.npz: cannot read sample"):
        FramesDataset(data / "train")
    with pytest.raises(FileNotFoundError, match="no such folder"):
        FramesDataset(data / "absent")


def test_a_conversion_that_did_not_finish_is_refused(tiny_mnist_dvs, tmp_path):
    """A killed conversion leaves some recordings' samples (a few digits only): nothing
    marks it complete, so the loaders refuse it, naming the fix."""
    data = converted_copy(tiny_mnist_dvs, tmp_path)
    info = json.loads((data / DATASET_INFO).read_text())
    (data / DATASET_INFO).write_text(json.dumps(dict(info, complete=False)))
    with pytest.raises(ValueError, match="did not finish .* to finish it"):
        load_mnist_dvs(data)
    (data / DATASET_INFO).unlink()
    with pytest.raises(FileNotFoundError, match="dataset_info.json missing"):
        FramesDataset(data / "test")


@pytest.mark.parametrize("change,message", [
    (dict(label=np.int64(12)), "label 12 is not a digit"),
    (dict(frame=np.full((64, 64), np.nan, dtype=np.float32)), "NaN or infinite"),
    (dict(frame=np.zeros((32, 32), dtype=np.int32)), "of shape .32, 32., but"),
])
def test_a_bad_sample_is_named_when_read(tiny_mnist_dvs, tmp_path, change, message):
    data = converted_copy(tiny_mnist_dvs, tmp_path)
    victim = sorted((data / "test").glob("*.npz"))[-1]
    rewrite_sample(victim, **change)
    with pytest.raises(ValueError, match=message) as raised:
        FramesDataset(data / "test")
    assert victim.name in str(raised.value)


def test_frames_must_fit_the_network(tiny_mnist_dvs):
    frames = FramesDataset(tiny_mnist_dvs / "test")
    assert frames.check_input((1, 64, 64)) is frames
    with pytest.raises(ValueError, match="the network takes .1, 32, 32.; convert with "
                                         "--resolution 32"):
        frames.check_input((1, 32, 32))


def test_each_written_sample_holds_its_events(tmp_path, monkeypatch):
    """A frame that does not sum to its chunk's event count is never written."""
    from synoploss.data import mnist_dvs
    root = fake_dataset(tmp_path / "raw", per_digit=2, digits=(0,), events=3500)
    train, test = make_file_lists(root, 16, train_per_digit=1)
    write_file_list(root / LIST_NAMES["train"], train)
    write_file_list(root / LIST_NAMES["test"], test)
    real = mnist_dvs.accumulate_frame
    monkeypatch.setattr(mnist_dvs, "accumulate_frame",
                        lambda chunk, resolution: real(chunk[1:], resolution))
    with pytest.raises(AssertionError, match="frame holds 2999 events of 3000"):
        convert_dataset(root, tmp_path / "out", progress=False)


def test_small_emulated_dataset_end_to_end(tmp_path):
    root = write_standin_recordings(tmp_path / "emulated", train_per_digit=2,
                                        test_per_digit=1, events_per_recording=6000,
                                        progress=False)
    train = read_file_list(root / LIST_NAMES["train"])
    test = read_file_list(root / LIST_NAMES["test"])
    assert len(train) == 20 and len(test) == 10
    assert not {name for name, _ in train} & {name for name, _ in test}
    summary = convert_dataset(root, tmp_path / "out", progress=False)
    assert summary.read == 30 and sum(summary.samples["train"].values()) == 40
    assert describe(tmp_path / "out") == STANDIN_DESCRIPTION
    info = json.loads((tmp_path / "out" / "dataset_info.json").read_text())
    statistics = info["recording_statistics"]  # the emulated files' statistics travel along
    assert statistics["recordings"] == 30 and "chunk_3000_ms" in statistics["published"]
    # a rerun with other emulator settings would keep stale recordings: refused
    with pytest.raises(ValueError, match="events_per_recording differ"):
        write_standin_recordings(root, train_per_digit=2, test_per_digit=1,
                                 events_per_recording=9000, progress=False)
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


def test_the_paper_split_ships_with_the_package():
    train, test = (read_file_list(PAPER_LISTS[split]) for split in ("train", "test"))
    assert len(train) == 8000 and len(test) == 2000
    for entries, per_digit in ((train, 800), (test, 200)):
        assert np.bincount([label for _, label in entries]).tolist() == [per_digit] * 10
        # the label is the digit of the folder, and every recording is scale 16
        assert all(path.startswith(f"grabbed_data{label}/scale16/mnist_{label}_scale16_")
                   for path, label in entries)
    assert not {path for path, _ in train} & {path for path, _ in test}
    # not the first 800 by name: the authors' unsorted listing
    assert sorted(path for path, label in train if label == 0)[:3] != \
        [f"grabbed_data0/scale16/mnist_0_scale16_{n:04d}.aedat" for n in (1, 2, 3)]


def test_the_paper_split_needs_every_listed_recording(tmp_path):
    train, test = (read_file_list(PAPER_LISTS[split]) for split in ("train", "test"))
    for path, _ in train + test:
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).touch()
    assert split_file_lists(tmp_path) == (train, test)
    (tmp_path / test[5][0]).unlink()
    with pytest.raises(FileNotFoundError, match=f"1 of 10000 recordings of the paper split are "
                                                f"missing, e.g. .*{Path(test[5][0]).name}"):
        split_file_lists(tmp_path)
    with pytest.raises(ValueError, match="--scale 8 needs --split sorted"):
        split_file_lists(tmp_path, "paper", scale=8)


def test_load_mnist_dvs_gives_frames_subsets_and_the_description(tiny_mnist_dvs):
    whole = load_mnist_dvs(tiny_mnist_dvs)
    assert (len(whole.train), len(whole.test)) == (60, 20)
    assert whole.description == STANDIN_DESCRIPTION
    subset = load_mnist_dvs(tiny_mnist_dvs, n_train=7, n_test=3, seed=2)
    assert (len(subset.train), len(subset.test)) == (7, 3)
    frame, label = subset.train[0]
    assert frame.shape == (1, 64, 64) and 0 <= int(label) <= 9
    # the same seed picks the same chunks
    assert load_mnist_dvs(tiny_mnist_dvs, n_train=7, seed=2).train.files == subset.train.files


def test_aedat4_recordings_of_a_dvxplorer_convert_with_their_own_sensor(tmp_path):
    """AEDAT4 recordings (the DV software's format) in the MNIST-DVS layout: read through
    dv-processing, their 640x480 sensor cut to its central square and binned to 64x64."""
    pytest.importorskip("dv_processing")
    from synoploss.data.aedat4 import write_aedat4
    root = tmp_path / "raw"
    rng = np.random.default_rng(0)
    for digit in (0, 1):
        for number in (1, 2):
            events = random_recording(3000, seed=digit * 10 + number)
            events["x"] = rng.integers(0, 640, 3000)
            events["y"] = rng.integers(0, 480, 3000)
            write_aedat4(root / f"grabbed_data{digit}" / "scale16"
                         / f"mnist_{digit}_scale16_{number:04d}.aedat4", events, (640, 480),
                         "DVXplorer")
    write_lists(root, train_per_digit=1)
    summary = convert_dataset(root, tmp_path / "out", ConversionSettings(spike_count=1000),
                              progress=False)
    assert summary.read == 4 and not summary.skipped and "640x480 (4 recordings)" in \
        summary.report()
    info = json.loads((tmp_path / "out" / DATASET_INFO).read_text())
    assert info["sensors"] == {"640x480": 4}
    with np.load(tmp_path / "out" / "test" / "mnist_1_scale16_0002_0.npz") as sample:
        assert sample["sensor_bins_xy"][0][[0, -1]].tolist() == [80, 560]
        assert sample["sensor_bins_xy"][1][[0, -1]].tolist() == [0, 480]
        assert sample["frame"].sum() == 1000
    # the sides (x < 80 or >= 560) cut a quarter of the uniform events: 3000 -> about
    # 2250 (sd 24), two chunks of 1000 per recording, not three
    assert sum(summary.samples["train"].values()) + sum(summary.samples["test"].values()) == 8
