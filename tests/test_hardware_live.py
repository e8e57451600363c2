"""mnist_dvs/live.py and synoploss.hardware.live, offline: a loopback DV stream on 127.0.0.1 (a
NetworkWriter in a subprocess, tests/dv_stream_server.py) and replays of AER-DAT and
AEDAT4 files, checked against the converter's chunks and the spiking tests' predictions."""
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from conftest import REPO, events_of, load_script
from synoploss.data.aedat import write_aedat
from synoploss.data.mnist_dvs import LIST_NAMES, SpikeTrainDataset, read_file_list
from synoploss.data.recordings import read_recording
from synoploss.hardware.live import (
    EventChunker,
    LiveNetwork,
    ReplaySource,
    RunningHotPixelFilter,
    SensorView,
    StreamError,
    chunk_input,
    probe_dv_server,
    run_stream,
)
from synoploss.models import MNIST_DVS_INPUT, MNISTDVSNet
from synoploss.spiking import evaluate, to_spiking

dv = pytest.importorskip("dv_processing")
live = load_script("mnist_dvs/live.py")
SERVER = REPO / "tests" / "dv_stream_server.py"


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    """A seeded untrained network: its predictions vary from chunk to chunk (digits 4, 5
    and 9 on the stand-in), which is all the comparisons need."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("model") / "random.pth"
    torch.save(MNISTDVSNet(quantize=False).state_dict(), path)
    return path


def split_recordings(data_root):
    """The test split's recordings, sorted as the converted samples are (by name)."""
    aedat = data_root.parent / "aedat"
    entries = read_file_list(aedat / LIST_NAMES["test"])
    return [aedat / relative for relative, _ in sorted(entries, key=lambda e: Path(e[0]).stem)]


def reference(model_path, data_root, simulator):
    """What test_spiking.py measures on the converted test chunks (the same library call:
    the padded duration-sorted loader), put back in file order."""
    dataset = SpikeTrainDataset(data_root / "test", 1000)
    order = [index for batch in dataset.batches_by_duration(4) for index in batch]
    model = MNISTDVSNet(quantize=False)
    model.load_state_dict(torch.load(model_path))
    result = evaluate(to_spiking(model, MNIST_DVS_INPUT), dataset.loader(4), simulator)
    predictions, synops = np.empty(len(order), int), np.empty(len(order))
    predictions[order] = result.predictions
    synops[order] = result.sample_synops.sum(1)
    return predictions, synops


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def serve(recordings, *extra):
    """The loopback server, once it listens: (process, port)."""
    port = free_port()
    server = subprocess.Popen([sys.executable, str(SERVER), str(port), *map(str, recordings),
                               *extra], stdout=subprocess.PIPE, text=True)
    assert server.stdout.readline().strip() == "listening"
    return server, port


def test_loopback_stream_predicts_what_the_spiking_test_predicts(tiny_mnist_dvs, model_path,
                                                                  tmp_path, capsys):
    recordings = split_recordings(tiny_mnist_dvs)
    server, port = serve(recordings)
    started = time.monotonic()
    # a host name, resolved by us: dv-processing's reader takes numeric addresses only
    summary = live.main(["--host", "localhost", "--port", str(port), "--model", str(model_path),
                         "--reset", "chunk", "--idle_timeout", "20",
                         "--log", str(tmp_path / "live.csv")])
    assert server.wait(30) == 0 and time.monotonic() - started < 60
    log = pd.read_csv(tmp_path / "live.csv")
    for simulator in ("fast", "sinabs"):  # sinabs: the oracle
        predictions, synops = reference(model_path, tiny_mnist_dvs, simulator)
        assert log["digit"].tolist() == predictions.tolist()
        np.testing.assert_allclose(log["synops"], synops, rtol=1e-9)
    assert len(set(log["digit"])) > 1  # not a network that always says the same
    assert summary.chunks == len(log) == 2 * len(recordings)
    out = capsys.readouterr().out
    assert "the stream ended (the sender stopped)" in out and f"localhost:{port}" in out
    assert "output spikes < 30" in out  # the untrained network stays under the threshold


@pytest.mark.parametrize("kind", ["aer-dat2", "aedat4"])
def test_replay_gives_the_converters_chunks(tiny_mnist_dvs, tmp_path, kind):
    source_file = split_recordings(tiny_mnist_dvs)[3]
    if kind == "aedat4":
        from synoploss.data.aedat4 import write_aedat4
        recording = read_recording(source_file)
        source_file = tmp_path / "same.aedat4"
        write_aedat4(source_file, recording.events, recording.sensor_size)
    replay = ReplaySource(source_file, speed=0)
    view, chunker = SensorView(replay.sensor_size), EventChunker(3000)
    chunks = [chunk for batch in replay.batches() for chunk in chunker.push(view(batch))]
    stem = split_recordings(tiny_mnist_dvs)[3].stem
    converted = sorted((tiny_mnist_dvs / "test").glob(f"{stem}_*.npz"))
    assert len(chunks) == len(converted) == 2
    for chunk, path in zip(chunks, converted, strict=True):
        with np.load(path) as sample:
            spiketrain = sample["spiketrain"]
        for field in ("x", "y", "p"):
            np.testing.assert_array_equal(chunk[field], spiketrain[field])
        np.testing.assert_array_equal(chunk["t"] - chunk["t"][0], spiketrain["t"])
        torch.testing.assert_close(chunk_input(chunk, 1000, 64)[0],
                                   SpikeTrainDataset(tiny_mnist_dvs / "test", 1000)[
                                       sorted((tiny_mnist_dvs / "test").glob("*.npz"))
                                       .index(path)][0])


def test_a_dvxplorer_recording_is_cut_and_binned_as_documented(tmp_path, model_path, capsys):
    """640x480: the central 480x480 (x 80..559), 7.5 sensor pixels per input pixel."""
    from synoploss.data.aedat4 import write_aedat4
    xs = [80, 87, 88, 559, 79, 560, 320]
    events = events_of(xs * 10, [0, 7, 8, 479, 5, 5, 240] * 10, list(range(70)))
    write_aedat4(tmp_path / "dvx.aedat4", events, (640, 480), "DVXplorer")
    replay = ReplaySource(tmp_path / "dvx.aedat4", speed=0)
    assert replay.sensor_size == (640, 480) and replay.camera == "DVXplorer"
    binned = np.concatenate([SensorView(replay.sensor_size)(batch) for batch in replay.batches()])
    assert list(zip(binned["x"][:5].tolist(), binned["y"][:5].tolist(), strict=True)) == [
        (0, 0), (0, 0), (1, 1), (63, 63), (32, 32)]  # 79 and 560 are cut
    assert len(binned) == 50
    live.main(["--replay", str(tmp_path / "dvx.aedat4"), "--speed", "0", "--model",
               str(model_path), "--spike_count", "25"])
    assert "DVXplorer, 640x480 sensor -> 64x64" in capsys.readouterr().out


def test_replay_at_speed_takes_the_recordings_time(tmp_path):
    events = events_of([1] * 200, [1] * 200, np.linspace(0, 400_000, 200).astype(int))
    write_aedat(tmp_path / "slow.aedat", events)
    for speed, at_least in ((4.0, 0.1), (0.0, 0.0)):
        started = time.monotonic()
        sent = sum(len(batch) for batch in ReplaySource(tmp_path / "slow.aedat", speed).batches())
        assert sent == 200 and time.monotonic() - started >= at_least


def test_reset_never_carries_state_from_chunk_to_chunk(tiny_mnist_dvs, model_path):
    recording = split_recordings(tiny_mnist_dvs)[0]
    results = {}
    for reset in ("chunk", "never"):
        model = MNISTDVSNet(quantize=False)
        model.load_state_dict(torch.load(model_path))
        network = LiveNetwork(to_spiking(model, MNIST_DVS_INPUT), "sinabs", reset)
        replay = ReplaySource(recording, speed=0)
        view, chunker = SensorView(replay.sensor_size), EventChunker(3000)
        results[reset] = [network(chunk_input(chunk, 1000, 64)) for batch in replay.batches()
                          for chunk in chunker.push(view(batch))]
    fast = LiveNetwork(to_spiking(model, MNIST_DVS_INPUT), "fast", "chunk")
    replay = ReplaySource(recording, speed=0)
    view, chunker = SensorView(replay.sensor_size), EventChunker(3000)
    fast_results = [fast(chunk_input(chunk, 1000, 64)) for batch in replay.batches()
                    for chunk in chunker.push(view(batch))]
    # the first chunk starts from rest either way; the second does not with "never"
    np.testing.assert_array_equal(results["never"][0].output_spikes,
                                  results["chunk"][0].output_spikes)
    assert results["never"][1].synops != results["chunk"][1].synops
    for sinabs_result, fast_result in zip(results["chunk"], fast_results, strict=True):
        np.testing.assert_array_equal(sinabs_result.output_spikes, fast_result.output_spikes)


def test_chunker_cuts_exact_chunks_across_batches():
    chunker = EventChunker(4)
    pieces = [chunker.push(np.arange(start, stop)) for start, stop in
              ((0, 3), (3, 5), (5, 6), (6, 15))]
    assert [[chunk.tolist() for chunk in piece] for piece in pieces] == [
        [], [[0, 1, 2, 3]], [], [[4, 5, 6, 7], [8, 9, 10, 11]]]
    assert chunker.pending_count == 3


def test_running_hot_pixel_filter_drops_a_pixel_once_its_rate_shows():
    hot_pixels = RunningHotPixelFilter((128, 128), max_frequency_hz=100, warmup_s=1.0)
    # pixel (5, 5) fires at 1 kHz, pixel (9, 9) at 10 Hz, for 2 s
    times = np.arange(0, 2_000_000, 1000)
    stream = np.sort(np.concatenate([events_of([5] * len(times), [5] * len(times), times),
                                     events_of([9] * 20, [9] * 20, np.arange(20) * 100_000)]),
                     order="t")
    kept = np.concatenate([hot_pixels(stream[start:start + 100])
                           for start in range(0, len(stream), 100)])
    late = kept[kept["t"] >= 1_100_000]
    assert (late["x"] == 9).all() and (kept["x"] == 9).sum() == 20
    assert (kept["x"] == 5).sum() < 1100  # kept during the warm-up only


def test_ctrl_c_ends_with_a_summary_and_the_log_keeps_every_row(tiny_mnist_dvs, model_path,
                                                               tmp_path):
    class Interrupted(ReplaySource):
        def batches(self):
            for count, batch in enumerate(super().batches()):
                if count == 3:
                    raise KeyboardInterrupt
                yield batch
    replay = Interrupted(split_recordings(tiny_mnist_dvs)[0], speed=0)
    model = MNISTDVSNet(quantize=False)
    model.load_state_dict(torch.load(model_path))
    printer = live.ChunkPrinter(30, str(tmp_path / "log.csv"), show=False)
    summary = run_stream(replay, SensorView(replay.sensor_size), EventChunker(1000),
                         LiveNetwork(to_spiking(model, MNIST_DVS_INPUT)), 1000, 30, 23.6,
                         on_prediction=printer)
    printer.close()
    assert summary.end_reason == "stopped by Ctrl-C" and summary.chunks >= 1
    assert len(pd.read_csv(tmp_path / "log.csv")) == summary.chunks
    assert "stopped by Ctrl-C" in summary.text(23.6)


def test_show_draws_the_frame_and_bars(tiny_mnist_dvs, model_path, monkeypatch):
    import matplotlib
    matplotlib.use("Agg")
    monkeypatch.setattr("matplotlib.pyplot.pause", lambda seconds: None)
    summary = live.main(["--replay", str(split_recordings(tiny_mnist_dvs)[0]), "--speed", "0",
                         "--model", str(model_path), "--show", "--max_chunks", "1"])
    assert summary.chunks == 1 and summary.end_reason == "stopped after --max_chunks 1"


def test_errors_name_the_source_and_the_fix(tmp_path, model_path, capsys, tiny_mnist_dvs):
    with pytest.raises(SystemExit, match=r"--port \d+: no DV event stream there .*Network "
                                         "TCP server"):
        live.main(["--host", "127.0.0.1", "--port", str(free_port()), "--model",
                   str(model_path)])
    (tmp_path / "notes.aedat").write_text("just some text\n")
    with pytest.raises(SystemExit, match="notes.aedat: not an AER-DAT file"):
        live.main(["--replay", str(tmp_path / "notes.aedat"), "--model", str(model_path)])
    with pytest.raises(SystemExit, match="--model .*absent.pth: no such checkpoint"):
        live.main(["--replay", str(split_recordings(tiny_mnist_dvs)[0]), "--model",
                   str(tmp_path / "absent.pth")])
    with pytest.raises(SystemExit):
        live.main(["--camera", "--reset", "never", "--model", str(model_path)])
    assert "--reset never needs --simulator sinabs" in capsys.readouterr().err
    # a stream that stops before one chunk is complete: exit status 1, and why
    server, port = serve(split_recordings(tiny_mnist_dvs)[:1], "--limit", "1500")
    with pytest.raises(SystemExit) as stopped:
        live.main(["--host", "127.0.0.1", "--port", str(port), "--model", str(model_path),
                   "--idle_timeout", "20"])
    assert stopped.value.code == 1 and server.wait(30) == 0
    out = capsys.readouterr().out
    assert "no chunk was completed (1500 events)" in out and "the stream ended" in out


def not_a_dv_server(sends: bytes):
    """A TCP listener that accepts, sends `sends`, then stays silent: the port of another
    program. Returns its port."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)

    def accept():
        connection, _ = listener.accept()
        connection.sendall(sends)
        time.sleep(20)
        connection.close()
        listener.close()
    threading.Thread(target=accept, daemon=True).start()
    return listener.getsockname()[1]


@pytest.mark.parametrize("sends, message", [
    (b"", "connected, but nothing came in 1 s"),  # dv-processing alone would wait forever
    (b"HTTP/1.1 400 Bad Request\r\n\r\n", "something answers there, but not with a DV stream"),
])
def test_a_port_that_is_not_a_dv_server_is_named_within_the_timeout(model_path, sends, message):
    port = not_a_dv_server(sends)
    started = time.monotonic()
    with pytest.raises(SystemExit, match=message):
        live.main(["--host", "127.0.0.1", "--port", str(port), "--connect_timeout", "1",
                   "--model", str(model_path)])
    assert time.monotonic() - started < 30  # the network's warm-up, then one second


@pytest.mark.parametrize("host, message", [
    ("127.0.0.1:7777", r"give the address alone and the port with --port \(--host 127.0.0.1 "
                       r"--port 7777\)"),
    ("no-such-host.invalid", "no such host"),
])
def test_a_host_that_cannot_be_a_dv_server_says_why(host, message):
    with pytest.raises(StreamError, match=message):
        probe_dv_server(host, 7777, timeout=1)


def test_a_port_beyond_65535_is_refused_by_the_flag(model_path, capsys):
    with pytest.raises(SystemExit):
        live.main(["--host", "127.0.0.1", "--port", "70000", "--model", str(model_path)])
    assert "--port: a TCP port is 1..65535, got 70000" in capsys.readouterr().err


@pytest.mark.parametrize("victim", ["--replay", "--model"])
def test_the_log_may_not_be_an_input(tmp_path, tiny_mnist_dvs, model_path, victim):
    recording = tmp_path / "recording.aedat"
    recording.write_bytes(split_recordings(tiny_mnist_dvs)[0].read_bytes())
    model = tmp_path / "model.pth"
    model.write_bytes(model_path.read_bytes())
    before = {path: path.read_bytes() for path in (recording, model)}
    target = recording if victim == "--replay" else model
    with pytest.raises(SystemExit, match=f"--log .*: is the {victim} file"):
        live.main(["--replay", str(recording), "--speed", "0", "--model", str(model),
                   "--log", str(target)])
    assert {path: path.read_bytes() for path in before} == before  # both untouched


def test_an_unwritable_log_is_refused_before_anything_runs(tmp_path, model_path):
    (tmp_path / "a_file").write_text("not a folder")
    started = time.monotonic()
    with pytest.raises(SystemExit, match="--log .*a_file/live.csv: its folder .*a_file: is a "
                                         "file, not a folder"):
        live.main(["--replay", str(tmp_path / "absent.aedat"), "--model", str(model_path),
                   "--log", str(tmp_path / "a_file" / "live.csv")])
    assert time.monotonic() - started < 5  # before the recording, the model and warm-up


def test_a_run_that_classifies_nothing_leaves_an_earlier_log_as_it_was(tmp_path, model_path,
                                                                        tiny_mnist_dvs):
    log = tmp_path / "live.csv"
    log.write_text("chunk,digit\n0,3\n")
    with pytest.raises(SystemExit) as stopped:  # chunks longer than the recording
        live.main(["--replay", str(split_recordings(tiny_mnist_dvs)[0]), "--speed", "0",
                   "--model", str(model_path), "--spike_count", "10000000", "--log", str(log)])
    assert stopped.value.code == 1
    assert log.read_text() == "chunk,digit\n0,3\n"


def test_random_bytes_named_aedat4_are_refused_not_decoded(tmp_path, model_path):
    garbage = tmp_path / "random.aedat4"
    garbage.write_bytes(np.random.default_rng(0).bytes(60_000))  # a multiple of 6 bytes
    with pytest.raises(SystemExit, match="named .aedat4 but does not start with '#!AER-DAT4'"):
        live.main(["--replay", str(garbage), "--model", str(model_path)])


def test_a_crop_that_keeps_too_few_events_says_so(tiny_mnist_dvs, model_path, capsys):
    with pytest.raises(SystemExit) as stopped:
        live.main(["--replay", str(split_recordings(tiny_mnist_dvs)[0]), "--speed", "0",
                   "--model", str(model_path), "--crop", "3"])
    assert stopped.value.code == 1
    out = capsys.readouterr().out
    assert "no chunk was completed (" in out and "of them inside the crop" in out


def test_a_rate_over_no_stream_time_is_said_to_be_undefined(tmp_path, capsys):
    """A first chunk whose events all share one timestamp: no stream time, so no rate;
    printed as undefined (it was 'nan SynOps/s'), left empty in the log."""
    from synoploss.hardware.live import Prediction
    script = load_script("mnist_dvs/live.py")
    printer = script.ChunkPrinter(threshold=1.0, log_path=str(tmp_path / "log.csv"), show=False)
    printer(Prediction(chunk=0, digit=3, output_spikes=4.0, confident=True, synops=120.0,
                       first_event_us=5, last_event_us=5, latency_ms=1.0,
                       synops_per_second=float("nan"), energy_uw=float("nan")), None)
    printer.close()
    out = capsys.readouterr().out
    assert "SynOps/s undefined (no stream time yet)" in out and "nan" not in out
    row = (tmp_path / "log.csv").read_text().splitlines()[1].split(",")
    header = (tmp_path / "log.csv").read_text().splitlines()[0].split(",")
    assert row[header.index("synops_per_second")] == "" and row[header.index("synops")] == "120.0"


def test_the_summary_of_a_stream_without_time_says_the_rate_is_undefined():
    from synoploss.hardware.live import StreamSummary
    summary = StreamSummary(chunks=1, events=6000, events_in_view=6000, synops=3e6,
                            stream_seconds=0.0, latencies_ms=[2.0], digits={3: 1})
    text = summary.text(23.6)
    assert "SynOps/s undefined (no stream time)" in text and "nan" not in text
    timed = StreamSummary(chunks=1, events=6000, events_in_view=6000, synops=3e6,
                          stream_seconds=2.0, latencies_ms=[2.0], digits={3: 1})
    assert "1.5e+06 SynOps/s (35.4 µW)" in timed.text(23.6)  # 1.5e6 x 23.6 pJ
