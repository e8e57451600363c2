import multiprocessing
import os

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn as nn

from synoploss.io import append_row, atomic_path, load_state, read_csv, save_npz, write_csv


def test_atomic_path_keeps_the_old_file_on_failure(tmp_path):
    target = tmp_path / "log.csv"
    target.write_text("old\n")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as temporary:
            temporary.write_text("half written")
            raise RuntimeError("interrupted")
    assert target.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["log.csv"]  # no temporary left


def test_append_replaces_rows_with_the_same_key(tmp_path):
    log = tmp_path / "log.csv"
    append_row(log, dict(model="a", accuracy=0.5), key=["model"])
    append_row(log, dict(model="b", accuracy=0.7), key=["model"])
    append_row(log, dict(model="a", accuracy=0.9), key=["model"])
    frame = read_csv(log)
    assert frame.sort_values("model").to_dict("records") == [
        dict(model="a", accuracy=0.9), dict(model="b", accuracy=0.7)]
    # the file itself, as another tool reads it: the header and rows, no index column
    assert log.read_text().splitlines() == ["model,accuracy", "b,0.7", "a,0.9"]


def _writer(args):
    path, worker = args
    for index in range(15):
        append_row(path, dict(worker=worker, index=index, name=f"w{worker}-{index}"), key=["name"])


def test_concurrent_writers_lose_nothing(tmp_path):
    log = tmp_path / "shared" / "log.csv"
    with multiprocessing.get_context("fork").Pool(4) as pool:
        pool.map(_writer, [(log, worker) for worker in range(4)])
    frame = pd.read_csv(log)
    assert len(frame) == 60 and frame["name"].is_unique


def test_write_csv_has_a_header(tmp_path):
    write_csv(tmp_path / "r.csv", [dict(a=1, b=2.5)])
    assert (tmp_path / "r.csv").read_text().splitlines()[0] == "a,b"


def test_read_csv_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such results file"):
        read_csv(tmp_path / "absent.csv")


def test_a_row_with_an_extra_field_is_refused_not_shifted(tmp_path):
    """pandas would take the first column of such a file as an index and shift every
    value one column left; append_row would then rewrite the log shifted."""
    path = tmp_path / "log.csv"
    path.write_text("name,accuracy\na,0.5,EXTRA\nb,0.7\n")
    with pytest.raises(ValueError, match="more fields than the header"):
        read_csv(path)
    with pytest.raises(ValueError, match="more fields than the header"):
        append_row(path, dict(name="c", accuracy=0.9))
    assert path.read_text() == "name,accuracy\na,0.5,EXTRA\nb,0.7\n"  # untouched


def test_garbage_in_a_number_column_names_file_line_and_column(tmp_path):
    path = tmp_path / "results.csv"
    path.write_text("scale,snn_accuracy\n0.5,0.9\n0.6,oops\n")
    with pytest.raises(ValueError, match=r"results.csv: line 3, column 'snn_accuracy': 'oops'"):
        read_csv(path, numeric=["snn_accuracy"])
    assert read_csv(path, numeric=["scale"])["scale"].tolist() == [0.5, 0.6]


@pytest.mark.parametrize("content", ["", "a,b\n"])
def test_missing_columns_are_named(tmp_path, content):
    path = tmp_path / "results.csv"
    path.write_text(content)
    with pytest.raises(ValueError, match=r"no column\(s\) \['snn_synops'\]"):
        read_csv(path, required=["snn_synops"])


def test_written_files_are_readable_by_the_group(tmp_path):
    """mkstemp makes private (0600) files; results on a shared cluster follow the umask."""
    umask = os.umask(0)
    os.umask(umask)
    write_csv(tmp_path / "x.csv", [dict(a=1)])
    save_npz(tmp_path / "x.npz", a=np.zeros(2))
    for name in ("x.csv", "x.npz"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o666 & ~umask
    assert 0o666 & ~umask != 0o600  # the check means something with this umask


def checkpointed_model():
    return nn.Sequential(nn.Conv2d(1, 4, 3, bias=False), nn.ReLU(), nn.Flatten(), nn.Linear(8, 2))


@pytest.mark.parametrize("content,message", [
    (None, "checkpoint not found"),
    (b"garbage, not a checkpoint", "not a readable PyTorch checkpoint"),
])
def test_load_state_errors(tmp_path, content, message):
    path = tmp_path / "model.pth"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises((FileNotFoundError, ValueError), match=message):
        load_state(checkpointed_model(), path)


def test_load_state_accepts_wrapped_dicts(tmp_path):
    model = checkpointed_model()
    torch.save({"state_dict": model.state_dict(), "epoch": 3}, tmp_path / "wrapped.pth")
    load_state(checkpointed_model(), tmp_path / "wrapped.pth")




def test_load_state_names_what_does_not_fit(tmp_path):
    torch.save(nn.Sequential(nn.Conv2d(1, 5, 3, bias=False)).state_dict(), tmp_path / "other.pth")
    with pytest.raises(ValueError, match=r"other.pth: checkpoint does not fit Sequential .*"
                                         r"missing \['3.bias', '3.weight'\].*wrong shapes"):
        load_state(checkpointed_model(), tmp_path / "other.pth")


def test_writes_create_missing_folders_and_numbers_may_be_absent(tmp_path):
    """A result file several folders down is written (its folders made); a numeric column
    a file does not have is not an error (older files lack newer columns)."""
    path = tmp_path / "a" / "b" / "c.csv"
    write_csv(path, [dict(x=1, y="s")])
    frame = read_csv(path, numeric=["x", "absent"])
    assert frame["x"].tolist() == [1] and "absent" not in frame


def test_append_without_a_key_keeps_every_row(tmp_path):
    log = tmp_path / "log.csv"
    for accuracy in (0.5, 0.5, 0.7):
        append_row(log, dict(model="a", accuracy=accuracy))
    assert read_csv(log)["accuracy"].tolist() == [0.5, 0.5, 0.7]


def test_a_whole_pickled_model_is_told_to_save_its_state_dict(tmp_path):
    path = tmp_path / "whole.pth"
    torch.save(checkpointed_model(), path)  # the module object, not its state dict
    with pytest.raises(ValueError, match=r"whole.pth: holds pickled Python objects.*"
                                         r"torch.save\(model.state_dict\(\), path\)"):
        load_state(checkpointed_model(), path)
