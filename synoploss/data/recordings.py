"""Any supported recording, by its format: AER-DAT 1.0/2.0 (a DVS128) or AEDAT4 (the
sensor size stored in the file). The one module that knows both readers."""
from __future__ import annotations

from pathlib import Path

from .aedat import AedatError, read_aedat
from .aedat4 import read_aedat4
from .events import SENSOR_SIZE, Recording


def file_format(path) -> str:
    """"aedat4", or "aer-dat" (1.0 or 2.0, or a file that must be read as one to be
    refused with the reason); AEDAT 3 is refused here, naming it."""
    with open(path, "rb") as handle:
        head = handle.read(16)
    if head.startswith(b"#!AER-DAT4"):
        return "aedat4"
    if head.startswith(b"#!AER-DAT3"):
        raise AedatError(f"{path}: AEDAT 3.1 is not supported; convert it to AEDAT4 with the "
                         "DV software (or read it with jAER and save AER-DAT2.0)")
    if Path(path).suffix.lower() == ".aedat4" and not head.startswith(b"#"):
        # no header at all: read as a header-less AER-DAT 1.0, random bytes would decode
        raise AedatError(f"{path}: named .aedat4 but does not start with '#!AER-DAT4' (not an "
                         "AEDAT4 recording, or its start is damaged)")
    return "aer-dat"


def read_recording(path) -> Recording:
    """Any supported recording: AER-DAT 1.0/2.0 from a DVS128 (128x128) or AEDAT4 (the
    sensor size stored in the file).

    Args:
        path: the recording.

    Returns:
        A `Recording`: events (x, y, t in µs, p; in time order), sensor size, camera.

    Raises:
        AedatError: a missing, damaged or unsupported file, named with the reason.
    """
    path = Path(path)
    if path.is_dir():
        raise AedatError(f"{path}: a folder, not a recording (name one of its files)")
    if not path.is_file():
        raise AedatError(f"{path}: no such file")
    if file_format(path) == "aedat4":
        return read_aedat4(path)
    return Recording(read_aedat(path), (SENSOR_SIZE, SENSOR_SIZE), "DVS128 (AER-DAT)")
