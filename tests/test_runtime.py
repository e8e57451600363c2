"""synoploss.runtime: flag domains and output folders checked before any work."""
import argparse
import os

import pytest

from synoploss.runtime import (ensure_writable_dir, nonnegative_int, percentile, positive_float,
                               positive_int, probability)


@pytest.mark.parametrize("kind,text,expected", [
    (positive_int, "3", 3), (nonnegative_int, "0", 0), (positive_float, "2.5e-4", 2.5e-4),
    (probability, "0", 0.0), (percentile, "99.99", 99.99), (percentile, "100", 100.0),
])
def test_values_in_range_pass(kind, text, expected):
    assert kind(text) == expected


@pytest.mark.parametrize("kind,text,message", [
    (positive_int, "0", "positive integer"), (positive_int, "-2", "positive integer"),
    (positive_int, "1.5", "not an integer"), (nonnegative_int, "-1", "0 or more"),
    (positive_float, "-1", "must be positive"), (positive_float, "0", "must be positive"),
    (positive_float, "nan", "finite"), (positive_float, "inf", "finite"),
    (probability, "1", r"\[0, 1\)"), (percentile, "200", r"\(0, 100\]"),
    (percentile, "0", r"\(0, 100\]"),
])
def test_values_out_of_range_are_named(kind, text, message):
    with pytest.raises(argparse.ArgumentTypeError, match=message):
        kind(text)


def test_argparse_names_the_flag():
    parser = argparse.ArgumentParser()
    parser.add_argument("--batch_size", type=positive_int)
    with pytest.raises(SystemExit):
        parser.parse_args(["--batch_size", "0"])


def test_writable_dir_is_created_and_probed(tmp_path):
    assert ensure_writable_dir(tmp_path / "a" / "b").is_dir()
    assert os.listdir(tmp_path / "a" / "b") == []  # the probe file is gone


def test_a_file_or_a_read_only_folder_is_refused(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="--workdir .*file: is a file"):
        ensure_writable_dir(tmp_path / "file")
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if os.access(locked, os.W_OK):  # root ignores permissions: nothing to check
            pytest.skip("running as root: permissions are not enforced")
        with pytest.raises(ValueError, match="cannot write there"):
            ensure_writable_dir(locked / "results", "--out")
    finally:
        locked.chmod(0o700)
