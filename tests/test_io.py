import multiprocessing

import pandas as pd
import pytest

from synoploss.io import append_row, atomic_path, parse_shard, read_csv, write_csv


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


@pytest.mark.parametrize("text,expected", [("1/1", (1, 1)), ("3/4", (3, 4))])
def test_parse_shard(text, expected):
    assert parse_shard(text) == expected


@pytest.mark.parametrize("text", ["0/4", "5/4", "2", "a/b", "1/0"])
def test_parse_shard_errors(text):
    with pytest.raises(ValueError, match="shard"):
        parse_shard(text)


def test_read_csv_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such results file"):
        read_csv(tmp_path / "absent.csv")
