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


# ------------------------------------------------------------------ files cut short (#31.4)
HEADER = "name,accuracy,synops\n"


@pytest.mark.parametrize("content,message", [
    # cut in the middle of a row: pandas gave its missing fields NaN
    (HEADER + "a,0.5,100\nb,0.7", r"line 3, the last, ends without a newline \(2 of the "
     r"header's 3 fields\): the file was cut short"),
    # cut inside the last value: every field there, one of them shorter than written
    (HEADER + "a,0.5,100\nb,0.7,20", r"line 3, the last, ends without a newline \(3 of the "
     r"header's 3 fields\)"),
    # a row short of fields inside the file (a cut copy resumed, a hand edit)
    (HEADER + "a,0.5\nb,0.7,20\n", r"line 2 has 2 field\(s\), fewer fields than the header "
     r"\(line 1: 3\)"),
    (HEADER + "a,0.5,100,9\nb,0.7,20\n", r"line 2 has 4 field\(s\), more fields than the header"),
    # cut inside a quoted field, before or after a newline written inside it
    (HEADER + 'a,0.5,100\n"b\n', r"line 3: a quoted field of the row starting there is never "
     r"closed: the file was cut short"),
    (HEADER + 'a,0.5,100\n"b', r"line 3: a quoted field of the row starting there is never "
     r"closed"),
    (HEADER + 'a,0.5,100\n"b"x,0.7,20\n', r"line 3: a quoted field is malformed"),
])
def test_a_file_that_is_not_whole_is_refused_with_its_line(tmp_path, content, message):
    path = tmp_path / "results.csv"
    path.write_text(content)
    with pytest.raises(ValueError, match=f"results.csv: {message}"):
        read_csv(path)


def test_a_cut_log_is_not_rewritten_by_an_append(tmp_path):
    """append_row read the cut row as NaNs and wrote them back, completing the damage."""
    path = tmp_path / "log.csv"
    path.write_text(HEADER + "a,0.5,100\nb,0.")
    with pytest.raises(ValueError, match="line 3, the last, ends without a newline"):
        append_row(path, dict(name="c", accuracy=0.9, synops=5))
    assert path.read_text() == HEADER + "a,0.5,100\nb,0."


def test_a_bad_number_is_named_by_its_line_in_the_file(tmp_path):
    """Line numbers count the file's lines, not the rows: a blank line and a value written
    over two lines come before the bad one here (line 5, the 2nd row)."""
    path = tmp_path / "results.csv"
    path.write_text(HEADER + '\n"a\nb",0.5,100\nc,0.7,oops\n')
    with pytest.raises(ValueError, match=r"line 5, column 'synops': 'oops' is not a number"):
        read_csv(path, numeric=["synops"])


def test_every_file_written_here_is_whole(tmp_path):
    """What the writers here produce is never refused (a guard for the checks above, so it
    passes before them too): every line ends with a newline, the last included."""
    import csv
    write_csv(tmp_path / "written.csv", [dict(a=1, b="x\ny"), dict(a=None, b="")])
    write_csv(tmp_path / "no_rows.csv", [], columns=["a", "b"])
    write_csv(tmp_path / "no_columns.csv", [])
    write_csv(tmp_path / "one_column.csv", [dict(a=1.0), dict(a=None)])
    for _ in range(2):
        append_row(tmp_path / "appended.csv", dict(a=1, b='say "x"'))
    with open(tmp_path / "dictwriter.csv", "w", newline="") as handle:  # \r\n, as benchmarks/
        writer = csv.DictWriter(handle, ["a", "b"])
        writer.writeheader(), writer.writerow(dict(a=1, b=2))
    (tmp_path / "bom.csv").write_bytes("\ufeffa,b\n1,2\n".encode())
    (tmp_path / "empty.csv").write_text("")
    assert len(read_csv(tmp_path / "written.csv")) == 2
    assert list(read_csv(tmp_path / "no_rows.csv").columns) == ["a", "b"]
    assert read_csv(tmp_path / "no_columns.csv").empty and read_csv(tmp_path / "empty.csv").empty
    assert len(read_csv(tmp_path / "one_column.csv")) == 2
    assert read_csv(tmp_path / "appended.csv")["b"].tolist() == ['say "x"', 'say "x"']
    for name in ("dictwriter.csv", "bom.csv"):
        assert read_csv(tmp_path / name, required=["a"])["b"].tolist() == [2]


@pytest.mark.parametrize("digest", ["977974e028900618", "0123456789012345", "3e10aaaaaaaaaaaa",
                                    "12e3456789012345"])
def test_hashes_read_back_as_the_text_they_are(tmp_path, digest):
    """A hex digest can look like a number (977974e028900618 is inf to pandas, an all-digit
    one loses its leading zero): hash columns are read as text, and `normal` keeps a
    number too large for a float as the text it is, so two such hashes never compare
    equal as inf."""
    from synoploss.io import normal, read_csv, write_csv
    write_csv(tmp_path / "log.csv", [dict(model_sha256=digest, data_fingerprint=digest, lr=1e-3)])
    row = read_csv(tmp_path / "log.csv").iloc[0]
    assert row["model_sha256"] == digest and row["data_fingerprint"] == digest
    assert row["lr"] == 1e-3
    assert normal("977974e028900618") != normal("977974e028900619")
    assert normal("1e400") == "1e400" and normal("inf") == float("inf")


def test_a_checkpoint_holds_the_same_bytes_for_the_same_tensors(tmp_path):
    """Saved through memory: torch.save to a path wrote the (random) temporary file's
    name into the archive, so the same model had another hash every time."""
    import torch

    from synoploss.io import file_sha256, save_torch
    state = {"weight": torch.arange(6.0).reshape(2, 3)}
    save_torch(state, tmp_path / "a.pth")
    save_torch(state, tmp_path / "b.pth")
    assert file_sha256(tmp_path / "a.pth") == file_sha256(tmp_path / "b.pth")
    assert torch.equal(torch.load(tmp_path / "a.pth")["weight"], state["weight"])


def test_a_full_disk_names_the_file_the_space_and_where_the_model_went(tmp_path, monkeypatch):
    import errno

    import torch

    import synoploss.io as io_module
    state = {"weight": torch.ones(4)}

    def full(path, content):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(io_module, "write_bytes", full)
    monkeypatch.setattr(io_module.tempfile, "gettempdir", lambda: str(tmp_path / "spare"))
    (tmp_path / "spare").mkdir()
    with pytest.raises(io_module.NotSaved, match=r"models/a.pth: could not be written \(No "
                                                 r"space left on device; .* MiB free there, "
                                                 r".* MiB needed\); it was written to .*spare"
                                                 r".*a.pth instead: move it to"):
        io_module.save_torch(state, tmp_path / "models" / "a.pth")
    kept = list((tmp_path / "spare").glob("synoploss-unsaved-*-a.pth"))
    assert len(kept) == 1 and torch.equal(torch.load(kept[0])["weight"], state["weight"])
    assert not (tmp_path / "models" / "a.pth").exists()


def test_too_little_free_space_is_named_before_the_work(tmp_path, monkeypatch):
    import shutil
    from collections import namedtuple

    from synoploss.io import check_free_space
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda folder: usage(10, 9, 2 ** 20))
    check_free_space(tmp_path, 2 ** 19, "one checkpoint")
    with pytest.raises(OSError, match=r"1 MiB free, the 3 checkpoint\(s\) need about 2 MiB: "
                                      r"free some space or choose another --workdir"):
        check_free_space(tmp_path, 2 ** 21, "the 3 checkpoint(s)")


def test_a_file_claimed_by_a_running_process_is_refused_and_a_dead_claim_taken_over(tmp_path):
    import os
    import socket

    from synoploss.io import Busy, claimed
    target = tmp_path / "models" / "a.pth"
    with claimed(target, "models/a.pth"):
        assert (tmp_path / "models" / "a.pth.busy").read_text().split() == \
            [socket.gethostname(), str(os.getpid())]
        with pytest.raises(Busy, match=rf"a.pth: another run \({socket.gethostname()} "
                                       rf"{os.getpid()}\) is making models/a.pth now"):
            with claimed(target, "models/a.pth"):
                pass
    assert not (tmp_path / "models" / "a.pth.busy").exists()  # released
    # a claim left by a killed run (no such process) is taken over
    (tmp_path / "models" / "a.pth.busy").write_text(f"{socket.gethostname()} 999999999\n")
    with claimed(target, "models/a.pth"):
        pass
