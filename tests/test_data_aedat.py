import struct

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from synoploss.data.aedat import (
    CORRUPT_JUMP_US,
    EVENT_DTYPE,
    AedatError,
    read_aedat,
    unwrap_timestamps,
    write_aedat,
)
from synoploss.data.recordings import read_recording


def aermanager_parsers():
    """aermanager.parsers, where it imports: it needs `dv`, which needs `imp` (< 3.12)."""
    return pytest.importorskip("aermanager.parsers",
                               reason="aermanager.parsers imports dv, which needs Python < 3.12")


def test_event_layout_is_aermanagers():
    assert EVENT_DTYPE == np.dtype(aermanager_parsers().events_struct)

# (x, y, polarity, timestamp µs): asymmetric so that a swap of x and y shows
EVENTS = [(3, 100, 1, 10), (127, 0, 0, 25), (64, 5, 1, 1000), (0, 127, 0, 1_000_000)]


def address(x, y, p):
    return (y << 8) | (x << 1) | p  # DVS128: x bits 1-7, y bits 8-14, polarity bit 0


def write_by_hand(path, version, events=EVENTS, header=True):
    """An AER-DAT file packed with struct, independently of synoploss' writer."""
    with open(path, "wb") as handle:
        if header:
            if version == 2:
                handle.write(b"#!AER-DAT2.0\r\n")
            handle.write(b"# This is a raw AE data file\r\n# created by a test\r\n")
        for x, y, p, t in events:
            fmt = ">II" if version == 2 else ">HI"
            handle.write(struct.pack(fmt, address(x, y, p), t))


@pytest.mark.parametrize("version,header", [(1, True), (2, True), (1, False)])
def test_known_events_decode(tmp_path, version, header):
    """Version 2 with its version line; version 1 with a plain header or none at all."""
    path = tmp_path / "rec.aedat"
    write_by_hand(path, version, header=header)
    events = read_aedat(path)
    assert [(int(e["x"]), int(e["y"]), int(e["p"]), int(e["t"])) for e in events] == EVENTS


def test_writer_round_trip(tmp_path):
    write_by_hand(tmp_path / "hand.aedat", 2)
    events = read_aedat(tmp_path / "hand.aedat")
    write_aedat(tmp_path / "rec.aedat", events)
    assert np.array_equal(read_aedat(tmp_path / "rec.aedat"), events)
    assert (tmp_path / "rec.aedat").read_bytes().endswith(
        (tmp_path / "hand.aedat").read_bytes()[-32:])


def test_aermanager_agrees_on_raw_words(tmp_path):
    parsers = aermanager_parsers()
    path = tmp_path / "rec.aedat"
    write_by_hand(tmp_path / "hand.aedat", 2)
    write_aedat(path, read_aedat(tmp_path / "hand.aedat"))
    get_aer_events_from_file, parse_dvs_128 = parsers.get_aer_events_from_file, \
        parsers.parse_dvs_128
    raw = get_aer_events_from_file(str(path), 2.0, len(path.read_bytes()) - 8 * len(EVENTS))
    assert raw["address"].tolist() == [address(x, y, p) for x, y, p, _ in EVENTS]
    assert raw["timeStamp"].tolist() == [t for *_, t in EVENTS]
    # aermanager 0.3.0's parse_dvs_128 takes x from bits 8-14: the reason we decode
    _, swapped = parse_dvs_128(str(path))
    assert swapped["x"].tolist() == [y for _, y, _, _ in EVENTS]


@pytest.mark.parametrize("version,cut", [(2, 3), (2, 7), (1, 1)])
def test_truncated_file(tmp_path, version, cut):
    path = tmp_path / "cut.aedat"
    write_by_hand(path, version)
    path.write_bytes(path.read_bytes()[:-cut])
    with pytest.raises(AedatError, match=r"cut\.aedat: truncated"):
        read_aedat(path)


@pytest.mark.parametrize("content,message", [
    (b"hello, this is a text file and not events at all\n", "not an AER-DAT file"),
    (b"", "empty file"),
    (b"#!AER-DAT3.1\r\n" + bytes(16), "version 3 is not supported"),
    (b"#!AER-DAT2.0\r\n# header without end", "header line not terminated"),
])
def test_not_aerdat(tmp_path, content, message):
    path = tmp_path / "bad.aedat"
    path.write_bytes(content)
    with pytest.raises(AedatError, match=message):
        read_aedat(path)


def test_missing_file(tmp_path):
    with pytest.raises(AedatError, match="no such file"):
        read_aedat(tmp_path / "absent.aedat")


def test_wrapped_timestamps_are_unwrapped(tmp_path):
    top = 2 ** 32
    events = [(1, 1, 1, top - 10), (2, 2, 0, top - 5), (3, 3, 1, 3), (4, 4, 0, 8)]
    path = tmp_path / "wrap.aedat"
    write_by_hand(path, 2, events)
    decoded = read_aedat(path)
    assert decoded["t"].tolist() == [top - 10, top - 5, top + 3, top + 8]
    assert decoded["x"].tolist() == [1, 2, 3, 4]


def test_jitter_is_ordered_not_dropped(tmp_path):
    events = [(1, 1, 1, 10), (2, 2, 0, 30), (3, 3, 1, 20), (4, 4, 0, 40)]
    path = tmp_path / "jitter.aedat"
    write_by_hand(path, 2, events)
    decoded = read_aedat(path)
    assert decoded["t"].tolist() == [10, 20, 30, 40]
    assert decoded["x"].tolist() == [1, 3, 2, 4]


@pytest.mark.parametrize("raw,expected", [
    ([5, 6, 7], [5, 6, 7]),
    ([2 ** 32 - 1, 0, 1], [2 ** 32 - 1, 2 ** 32, 2 ** 32 + 1]),
    ([10, 9, 11], [10, 9, 11]),  # small drops are jitter, left for the sort
])
def test_unwrap(raw, expected):
    assert unwrap_timestamps(np.array(raw)).tolist() == expected


def test_a_corrupt_timestamp_is_dropped_not_taken_for_a_wrap(tmp_path):
    """One event stamped ~2^32 among events at 10-1000 µs: unwrapping the drop after it
    as a 32-bit wrap would put the rest 71 minutes later."""
    events = [(1, 1, 1, 10), (2, 2, 0, 20), (3, 3, 1, 4_000_000_000), (4, 4, 0, 30),
              (5, 5, 1, 1000)]
    path = tmp_path / "rec.aedat"
    write_by_hand(path, 2, events)
    with pytest.warns(UserWarning, match="1 event.s. with a corrupt timestamp"):
        decoded = read_aedat(path)
    assert decoded["t"].tolist() == [10, 20, 30, 1000]
    assert decoded["x"].tolist() == [1, 2, 4, 5]


def test_a_true_wrap_is_still_unwrapped(tmp_path):
    top = (1 << 32) - 20
    path = tmp_path / "rec.aedat"
    write_by_hand(path, 2, [(1, 1, 1, top), (2, 2, 0, top + 10), (3, 3, 1, 5), (4, 4, 0, 25)])
    assert read_aedat(path)["t"].tolist() == [top, top + 10, (1 << 32) + 5, (1 << 32) + 25]


def test_external_events_are_dropped_and_foreign_addresses_refused(tmp_path):
    path = tmp_path / "rec.aedat"
    with open(path, "wb") as handle:
        handle.write(b"#!AER-DAT2.0\r\n")
        handle.write(struct.pack(">II", address(1, 2, 1), 10))
        handle.write(struct.pack(">II", (1 << 15) | address(3, 4, 0), 20))  # external event
        handle.write(struct.pack(">II", address(5, 6, 0), 30))
    with pytest.warns(UserWarning, match="dropped 1 external"):
        events = read_aedat(path)
    assert events["x"].tolist() == [1, 5] and events["y"].tolist() == [2, 6]
    with open(path, "ab") as handle:  # an address from another sensor (bit 17 set)
        handle.write(struct.pack(">II", (1 << 17) | address(1, 1, 0), 40))
    with pytest.raises(AedatError, match="rec.aedat: 1 of 4 events have address bits above"):
        read_aedat(path)


def test_the_package_never_imports_dv():
    """`dv` (through aermanager.parsers) imports `imp`, removed in Python 3.12."""
    import subprocess
    import sys
    code = ("import sys, synoploss, synoploss.data.aedat, synoploss.data.events, "
            "synoploss.data.mnist_dvs, synoploss.data.emulator, synoploss.spiking, "
            "synoploss.reporting.plots, synoploss.experiments.training, synoploss.data.mnist, "
            "synoploss.data.cifar10; "
            "print(sorted(m for m in sys.modules "
            "if m == 'dv' or m.startswith('aermanager.parsers')))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "[]"


# ---------------------------------------------------------------- properties

@st.composite
def event_streams(draw):
    """Valid DVS128 streams: any pixel and polarity, time in order with gaps up to the
    reader's corrupt-timestamp jump (10 s: an event further than that from both
    neighbours is taken for a corrupt timestamp and dropped, by design; a DVS's noise
    never leaves it that alone), the first timestamp anywhere in 32 bits, so that many
    streams cross the 32-bit wrap."""
    count = draw(st.integers(0, 300))
    xs = draw(st.lists(st.integers(0, 127), min_size=count, max_size=count))
    ys = draw(st.lists(st.integers(0, 127), min_size=count, max_size=count))
    ps = draw(st.lists(st.booleans(), min_size=count, max_size=count))
    start = draw(st.integers(0, 2 ** 32 - 1))
    gaps = draw(st.lists(st.one_of(st.integers(0, 3), st.integers(0, 2 ** 20),
                                   st.just(CORRUPT_JUMP_US)), min_size=count, max_size=count))
    times = start + np.cumsum(np.array(gaps, dtype=np.int64)) if count else np.zeros(0)
    events = np.zeros(count, dtype=EVENT_DTYPE)
    events["x"], events["y"], events["p"] = xs, ys, ps
    events["t"] = times
    return events


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(events=event_streams(), version=st.sampled_from([1, 2]))
def test_every_valid_stream_round_trips(tmp_path, events, version):
    """Writer and reader agree on every valid stream of both versions: pixels, polarities
    and times exactly, relative to the first event (a file keeps times modulo 2^32; the
    reader unwraps them from the first)."""
    path = tmp_path / f"stream_v{version}.aedat"
    write_aedat(path, events, version=version)
    back = read_aedat(path)
    assert len(back) == len(events)
    for field in ("x", "y", "p"):
        np.testing.assert_array_equal(back[field], events[field])
    if len(events):
        np.testing.assert_array_equal(back["t"].astype(np.int64) - int(back["t"][0]),
                                      events["t"].astype(np.int64) - int(events["t"][0]))


@pytest.mark.parametrize("x", [0, 20, 60])  # 20: the second byte is text too (40 = '(')
def test_a_first_event_that_starts_with_a_hash_is_an_event_not_a_header_line(tmp_path, x):
    """AER-DAT1.0's first address byte is y: y = 35 is '#', the header's mark (found by
    the round-trip property above; the reader took the event for a header line)."""
    events = np.zeros(3, dtype=EVENT_DTYPE)
    events["x"], events["y"], events["t"] = [x, 1, 2], [35, 35, 0], [0, 10, 20]
    write_aedat(tmp_path / "hash.aedat", events, version=1)
    back = read_aedat(tmp_path / "hash.aedat")
    assert back["y"].tolist() == [35, 35, 0] and back["x"].tolist() == [x, 1, 2]


def test_read_recording_names_the_format_and_sensor(tmp_path):
    write_aedat(tmp_path / "r.aedat", np.zeros(2, dtype=EVENT_DTYPE))
    recording = read_recording(tmp_path / "r.aedat")
    assert recording.sensor_size == (128, 128) and len(recording.events) == 2
    (tmp_path / "v3.aedat").write_bytes(b"#!AER-DAT3.1\r\n" + bytes(20))
    with pytest.raises(AedatError, match="v3.aedat: AEDAT 3.1 is not supported"):
        read_recording(tmp_path / "v3.aedat")
    with pytest.raises(AedatError, match="absent.aedat: no such file"):
        read_recording(tmp_path / "absent.aedat")
    (tmp_path / "notes.txt").write_text("hello, not events\n")
    with pytest.raises(AedatError, match="notes.txt: not an AER-DAT file"):
        read_recording(tmp_path / "notes.txt")


def test_fields_at_their_extremes_round_trip(tmp_path):
    corners = [(x, y, p) for x in (0, 127) for y in (0, 127) for p in (0, 1)]
    events = np.zeros(len(corners), dtype=EVENT_DTYPE)
    events["x"], events["y"], events["p"] = zip(*corners, strict=True)
    events["t"] = [2 ** 32 - 3, 2 ** 32 - 2, 2 ** 32 - 1, 2 ** 32, 2 ** 32 + 1, 2 ** 32 + 5,
                   2 ** 32 + CORRUPT_JUMP_US, 2 ** 32 + 2 * CORRUPT_JUMP_US]
    for version in (1, 2):
        write_aedat(tmp_path / "c.aedat", events, version=version)
        back = read_aedat(tmp_path / "c.aedat")
        assert [tuple(map(int, row)) for row in back[["x", "y", "p"]]] == corners
        np.testing.assert_array_equal(back["t"].astype(np.int64) - int(back["t"][0]),
                                      events["t"].astype(np.int64) - int(events["t"][0]))
