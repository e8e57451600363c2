"""Event recordings: jAER AER-DAT files (versions 1.0 and 2.0) from a DVS128, as in
MNIST-DVS, here; AEDAT4 (the DV software's format) in `aedat4`, through dv-processing.
`read_recording` reads either, with the sensor size the file implies or states.

Header lines start with '#'; '#!AER-DAT2.0' means 8-byte events (big-endian uint32
address, uint32 timestamp in microseconds); a file without a version line, or
'#!AER-DAT1.0', has 6-byte events (uint16 address, uint32 timestamp). DVS128 address:
x = (a >> 1) & 0x7F, y = (a >> 8) & 0x7F, polarity = a & 1.

Events are returned in aermanager's structured layout (`aermanager.parsers.events_struct`:
x, y, t, p), so that aermanager's tools accept them. We decode the file ourselves because
aermanager 0.3.0's `parse_dvs_128` takes x from bits 8-14 (it swaps x and y), fails on
files without a version line and has no AER-DAT1.0 reader.
"""
from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np

from ..io import atomic_path
from .events import EVENT_DTYPE

RAW_DTYPES = {
    1: np.dtype([("address", ">u2"), ("timestamp", ">u4")]),
    2: np.dtype([("address", ">u4"), ("timestamp", ">u4")]),
}
EXTERNAL_EVENT_BIT = 1 << 15      # jAER's DVS128: an external (special) event, not a pixel
DVS128_ADDRESS_BITS = 0xFFFF      # y (7 bits) << 8 | x (7 bits) << 1 | polarity, and bit 15
# An event whose timestamp is this far (µs) from both neighbours, which are close to each
# other, is a corrupt timestamp, not a 32-bit wrap (the neighbours of a wrap are not close)
CORRUPT_JUMP_US = 10_000_000
_VERSION = re.compile(rb"#!AER-DAT(\d+)\.(\d+)")


class AedatError(ValueError):
    """A file that cannot be read as AER-DAT; the message names the file."""


def read_header(path) -> tuple[int, int]:
    """(format major version, byte offset where the events start)."""
    version = None
    offset = 0
    with open(path, "rb") as handle:
        while True:
            start = handle.read(1)
            if start != b"#":
                break
            line = b"#" + handle.readline()
            if not _is_text(line):
                # an event whose first byte happens to be '#' (AER-DAT1.0: y = 35), not a
                # header line: header lines are text
                break
            if not line.endswith(b"\n"):
                raise AedatError(f"{path}: header line not terminated (truncated header?)")
            match = _VERSION.match(line)
            if match:
                version = int(match.group(1))
            offset += len(line)
    if version is None:
        version = 1  # jAER: no version line means the original 6-byte format
    if version not in RAW_DTYPES:
        raise AedatError(f"{path}: AER-DAT version {version} is not supported "
                         "(only 1.0 and 2.0, as written by jAER for the DVS128)")
    return version, offset


def read_raw(path) -> tuple[np.ndarray, np.ndarray]:
    """(addresses, timestamps in µs unwrapped and in order) of a file."""
    path = Path(path)
    if not path.is_file():
        raise AedatError(f"{path}: no such file")
    version, offset = read_header(path)
    raw_dtype = RAW_DTYPES[version]
    payload = path.stat().st_size - offset
    if offset == 0 and payload and _looks_like_text(path):
        raise AedatError(f"{path}: not an AER-DAT file (no '#' header and text content)")
    if payload % raw_dtype.itemsize:
        raise AedatError(
            f"{path}: truncated or not AER-DAT{version}.0: {payload} bytes of events is not "
            f"a whole number of {raw_dtype.itemsize}-byte events")
    if offset == 0 and payload == 0:
        raise AedatError(f"{path}: empty file, not AER-DAT")
    raw = np.fromfile(path, dtype=raw_dtype, offset=offset)
    addresses = raw["address"].astype(np.uint32)
    timestamps = raw["timestamp"].astype(np.int64)
    foreign = (addresses & ~np.uint32(DVS128_ADDRESS_BITS)) != 0
    if foreign.any():
        raise AedatError(f"{path}: {int(foreign.sum())} of {len(addresses)} events have "
                         "address bits above the DVS128's 16 (not a DVS128 recording?)")
    keep = (addresses & EXTERNAL_EVENT_BIT) == 0
    corrupt = corrupt_timestamps(timestamps)
    dropped_external, dropped_corrupt = int((~keep).sum()), int((corrupt & keep).sum())
    keep &= ~corrupt
    if dropped_external or dropped_corrupt:
        warnings.warn(f"{path}: dropped {dropped_external} external (non-pixel) event(s) and "
                      f"{dropped_corrupt} event(s) with a corrupt timestamp", stacklevel=2)
    addresses, timestamps = addresses[keep], unwrap_timestamps(timestamps[keep])
    order = np.argsort(timestamps, kind="stable")
    return addresses[order], timestamps[order]


def corrupt_timestamps(timestamps: np.ndarray, jump_us: int = CORRUPT_JUMP_US) -> np.ndarray:
    """Mask of isolated timestamps: more than `jump_us` from each neighbour while the
    neighbours are within `jump_us` of each other (at the ends: far from the one
    neighbour, which is close to the next). Differences are taken modulo 2^32, so that a
    true wrap-around (neighbours far apart in raw value) is never flagged."""
    timestamps = np.asarray(timestamps, dtype=np.int64)
    count = len(timestamps)
    mask = np.zeros(count, dtype=bool)
    if count < 3:
        return mask

    def far(a, b):
        difference = np.abs(a - b) % (1 << 32)
        return np.minimum(difference, (1 << 32) - difference) > jump_us

    mask[1:-1] = far(timestamps[1:-1], timestamps[:-2]) & far(timestamps[1:-1], timestamps[2:]) \
        & ~far(timestamps[:-2], timestamps[2:])
    mask[0] = far(timestamps[0], timestamps[1]) and not far(timestamps[1], timestamps[2])
    mask[-1] = far(timestamps[-1], timestamps[-2]) and not far(timestamps[-2], timestamps[-3])
    return mask


def _is_text(line: bytes) -> bool:
    return all(32 <= byte < 127 or byte in (9, 10, 13) for byte in line)


def _looks_like_text(path) -> bool:
    with open(path, "rb") as handle:
        head = handle.read(512)
    printable = sum(32 <= byte < 127 or byte in (9, 10, 13) for byte in head)
    return printable == len(head)


def unwrap_timestamps(timestamps: np.ndarray) -> np.ndarray:
    """Undo 32-bit wrap-arounds: a drop of more than half the range is a wrap.

    Smaller drops (jitter between the sensor's readout paths) are left for the caller's
    stable sort to order.
    """
    timestamps = np.asarray(timestamps, dtype=np.int64)
    if len(timestamps) < 2:
        return timestamps
    wraps = np.diff(timestamps) < -(1 << 31)
    offsets = np.concatenate([[0], np.cumsum(wraps)]) << 32
    return timestamps + offsets


def decode_dvs128(addresses: np.ndarray, timestamps: np.ndarray) -> np.ndarray:
    events = np.empty(len(addresses), dtype=EVENT_DTYPE)
    events["x"] = (addresses >> 1) & 0x7F
    events["y"] = (addresses >> 8) & 0x7F
    events["p"] = addresses & 1
    events["t"] = timestamps
    return events


def encode_dvs128(x, y, p) -> np.ndarray:
    x, y, p = (np.asarray(v, dtype=np.uint32) for v in (x, y, p))
    if (x > 127).any() or (y > 127).any():
        raise ValueError("DVS128 coordinates must be in 0..127")
    return (y << 8) | (x << 1) | (p & 1)


def read_aedat(path) -> np.ndarray:
    """Events of a DVS128 AER-DAT 1.0 or 2.0 file.

    Args:
        path: the file.

    Returns:
        A structured array (`EVENT_DTYPE`: x, y, t in µs, p), ordered by time; jAER's
        external events dropped, timestamp wraps and jumps repaired (with a warning).

    Raises:
        AedatError: not an AER-DAT file, or a damaged one, naming it.
    """
    return decode_dvs128(*read_raw(path))


def write_aedat(path, events: np.ndarray, version: int = 2,
                header_lines=("# This is a raw AE data file - do not edit",)) -> None:
    """Write events (x, y, t, p) as a jAER AER-DAT file, atomically."""
    if version not in RAW_DTYPES:
        raise ValueError(f"version must be 1 or 2, got {version}")
    raw = np.empty(len(events), dtype=RAW_DTYPES[version])
    raw["address"] = encode_dvs128(events["x"], events["y"], events["p"])
    raw["timestamp"] = np.asarray(events["t"], dtype=np.int64) & 0xFFFFFFFF
    header = f"#!AER-DAT{version}.0\r\n" + "".join(f"{line}\r\n" for line in header_lines)
    with atomic_path(path) as temporary:
        temporary.write_bytes(header.encode("ascii") + raw.tobytes())
