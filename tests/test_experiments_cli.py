"""synoploss.experiments.cli: flag domains and output folders checked before any work."""
import argparse
import os
from pathlib import Path

import pytest

from synoploss.experiments.cli import (
    add_standin_flag,
    add_workdir_flags,
    data_root,
    ensure_writable_dir,
    ensure_writable_file,
    fail,
    nonnegative_int,
    parse_shard,
    percentile,
    pick_device,
    positive_float,
    positive_int,
    probability,
    script_parser,
    tcp_port,
)


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


@pytest.mark.parametrize("text,expected", [("1/1", (1, 1)), ("3/4", (3, 4))])
def test_parse_shard(text, expected):
    assert parse_shard(text) == expected


@pytest.mark.parametrize("text", ["0/4", "5/4", "2", "a/b", "1/0"])
def test_parse_shard_errors(text):
    with pytest.raises(ValueError, match="shard"):
        parse_shard(text)


@pytest.mark.parametrize("experiment", ["mnist_dvs", "cifar10", "mnist_quant_only"])
def test_each_experiment_has_its_own_folder_and_data_under_it(experiment):
    parser = script_parser("the experiment", "/somewhere/train.py")
    add_workdir_flags(parser, experiment, "the data")
    args = parser.parse_args([])
    assert args.workdir == f"runs/{experiment}" and data_root(args) == Path(args.workdir) / "data"
    args = parser.parse_args(["--workdir", "elsewhere"])
    assert data_root(args) == Path("elsewhere/data")
    args = parser.parse_args(["--workdir", "w", "--data_root", "d"])
    assert data_root(args) == Path("d")


def test_renamed_flags_of_an_unreleased_version_are_gone():
    parser = script_parser("the experiment", "/somewhere/train.py")
    add_workdir_flags(parser, "mnist_dvs", "the data")
    add_standin_flag(parser, "a stand-in")
    with pytest.raises(SystemExit):
        parser.parse_args(["--synthetic"])


def test_fail_exits_with_the_script_name():
    with pytest.raises(SystemExit) as stopped:
        fail("/x/y/test_spiking.py", ValueError("results/a.csv: no rows"))
    assert stopped.value.code == "test_spiking.py: results/a.csv: no rows"


@pytest.mark.parametrize("name,message", [("gpu", "not a device name"),
                                          ("mps", "only cpu and cuda")])
def test_a_bad_device_name_is_refused_before_any_work(name, message):
    with pytest.raises(ValueError, match=f"--device {name}: {message}"):
        pick_device(name)


def test_auto_device_is_cpu_without_cuda():
    import torch
    assert pick_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")


@pytest.mark.parametrize("text, expected", [("1", 1), ("7777", 7777), ("65535", 65535),
                                            ("0", None), ("65536", None), ("-1", None)])
def test_tcp_port(text, expected):
    if expected is None:
        with pytest.raises(argparse.ArgumentTypeError, match="a TCP port is 1..65535"):
            tcp_port(text)
    else:
        assert tcp_port(text) == expected


@pytest.mark.parametrize("case, message", [
    ("an input", "--log .*in.dat: is the --replay file"),
    ("a link to an input", "--log .*link.dat: is the --replay file"),
    ("a folder", "--log .*: is a folder; name a file in it"),
    ("under a file", "--log .*: its folder .*: is a file, not a folder"),
    ("new", None), ("existing output", None)])
def test_ensure_writable_file(tmp_path, case, message):
    recording = tmp_path / "in.dat"
    recording.write_bytes(b"events")
    (tmp_path / "link.dat").symlink_to(recording)
    (tmp_path / "old.csv").write_text("a\n")
    target = {"an input": recording, "a link to an input": tmp_path / "link.dat",
              "a folder": tmp_path, "under a file": recording / "log.csv",
              "new": tmp_path / "new" / "log.csv", "existing output": tmp_path / "old.csv"}[case]
    inputs = {"--replay": recording, "--model": None}
    if message is None:
        assert ensure_writable_file(target, "--log", inputs) == target
        assert target.parent.is_dir()
    else:
        with pytest.raises(ValueError, match=message):
            ensure_writable_file(target, "--log", inputs)
    assert recording.read_bytes() == b"events"
