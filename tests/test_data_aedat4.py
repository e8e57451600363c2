"""AEDAT4 through dv-processing: files written with its MonoCameraWriter, read back by
our reader and by dv-processing itself."""
import sys

import numpy as np
import pytest

from synoploss.data.aedat import EVENT_DTYPE, AedatError
from synoploss.data.aedat4 import read_aedat4, write_aedat4
from synoploss.data.recordings import read_recording

dv = pytest.importorskip("dv_processing")


def events_on(width, height, count=500, seed=0):
    rng = np.random.default_rng(seed)
    events = np.zeros(count, dtype=EVENT_DTYPE)
    events["x"], events["y"] = rng.integers(0, width, count), rng.integers(0, height, count)
    events["t"] = 1_700_000_000_000_000 + np.cumsum(rng.integers(0, 50, count))
    events["p"] = rng.integers(0, 2, count).astype(bool)
    return events


@pytest.mark.parametrize("size,camera", [((128, 128), "DVS128"), ((640, 480), "DVXplorer"),
                                         ((346, 260), "DAVIS346")])
def test_round_trip_keeps_events_sensor_and_camera(tmp_path, size, camera):
    events = events_on(*size)
    write_aedat4(tmp_path / "r.aedat4", events, size, camera)
    recording = read_recording(tmp_path / "r.aedat4")
    assert recording.sensor_size == size and recording.camera == camera
    for field in ("x", "y", "t", "p"):
        np.testing.assert_array_equal(recording.events[field], events[field])


def test_our_file_reads_in_dv_processing_itself(tmp_path):
    events = events_on(640, 480, 50)
    write_aedat4(tmp_path / "r.aedat4", events, (640, 480))
    reader = dv.io.MonoCameraRecording(str(tmp_path / "r.aedat4"))
    assert reader.getEventResolution() == (640, 480)
    stored = reader.getNextEventBatch().numpy()
    assert stored["timestamp"].tolist() == events["t"].astype(np.int64).tolist()
    assert stored["x"].tolist() == events["x"].tolist()


def test_a_truncated_file_and_events_off_the_sensor_are_refused(tmp_path):
    write_aedat4(tmp_path / "whole.aedat4", events_on(128, 128, 5000), (128, 128))
    data = (tmp_path / "whole.aedat4").read_bytes()
    (tmp_path / "cut.aedat4").write_bytes(data[: len(data) // 3])
    with pytest.raises(AedatError, match="cut.aedat4"):
        read_aedat4(tmp_path / "cut.aedat4")
    with pytest.raises(ValueError, match="outside the 64x64 sensor"):
        write_aedat4(tmp_path / "off.aedat4", events_on(128, 128), (64, 64))


def test_without_dv_processing_the_error_says_how_to_install(tmp_path, monkeypatch):
    write_aedat4(tmp_path / "r.aedat4", events_on(128, 128, 10), (128, 128))
    monkeypatch.setitem(sys.modules, "dv_processing", None)
    with pytest.raises(AedatError, match=r"r.aedat4: reading AEDAT4 needs dv-processing.*"
                                         r"pip install dv-processing==2.0.4"):
        read_recording(tmp_path / "r.aedat4")


def test_an_aedat4_file_under_another_name_is_read_by_its_content(tmp_path):
    """dv-processing opens only *.aedat4; MNIST-DVS-style names (*.aedat) are AER-DAT or
    AEDAT4 by their first line."""
    events = events_on(128, 128, 20)
    write_aedat4(tmp_path / "r.aedat4", events, (128, 128))
    (tmp_path / "r.aedat4").rename(tmp_path / "mnist_3_scale16_0001.aedat")
    recording = read_recording(tmp_path / "mnist_3_scale16_0001.aedat")
    assert recording.events["t"].tolist() == events["t"].tolist()
    (tmp_path / "bad.aedat").write_bytes(b"#!AER-DAT4.0\r\n" + bytes(40))
    with pytest.raises(AedatError, match=r"bad.aedat: not a readable AEDAT4 file \([^\n]*\)$"):
        read_recording(tmp_path / "bad.aedat")
