"""synoploss.experiments.reruns: settings compared as they read back from a CSV, reruns refused
with every differing setting named."""
import math

import pandas as pd
import pytest

from synoploss.experiments.reruns import (
    SettingsMismatch,
    check_rerun,
    describe,
    differences,
    done_rows,
    same,
    to_do,
)
from synoploss.io import append_row, fingerprint, key_of, normal


@pytest.mark.parametrize("a,b", [(1e-3, 0.001), ("0.001", 1e-3), (True, "True"), (8, 8.0),
                                 (None, float("nan")), ("", None), ("nan", None),
                                 ((0.2, 0.1), "0.2 0.1"), ("exact", "exact")])
def test_values_that_are_the_same_setting(a, b):
    assert same(a, b) and same(b, a)


@pytest.mark.parametrize("a,b", [(1e-3, 1e-2), (True, False), ("exact", "paper"), (None, 0),
                                 (8, "8 epochs"), ((0.2, 0.1), "0.2 0.3")])
def test_values_that_differ(a, b):
    assert not same(a, b)


def test_normal_forms():
    assert normal("True") is True and normal(3) == 3.0 and normal("models/x.pth") == "models/x.pth"
    assert normal(float("nan")) is None and math.isnan(float("nan"))


def test_differences_name_old_and_new_values():
    changed = differences(dict(n_epochs=8, lr=1e-3, fanout="exact"),
                          dict(n_epochs=3, lr=0.001, fanout="paper"))
    assert changed == {"n_epochs": (8, 3), "fanout": ("exact", "paper")}
    assert describe(changed) == "n_epochs: 8 then, 3 now; fanout: 'exact' then, 'paper' now"


def test_check_rerun_names_the_item_the_file_and_the_fix():
    check_rerun("models/a.pth", "log.csv", dict(lr=1e-3), dict(lr=0.001), "pass --fresh")
    with pytest.raises(SettingsMismatch,
                       match=r"models/a.pth in log.csv was made with other "
                             r"settings \(lr: 0.001 then, 0.01 now\); pass --fresh"):
        check_rerun("models/a.pth", "log.csv", dict(lr=1e-3), dict(lr=0.01), "pass --fresh")


def test_to_do_through_a_real_csv_round_trip(tmp_path):
    log = tmp_path / "log.csv"
    append_row(log, dict(model_path="models/a.pth", lr=1e-3, seed=1, init_from=None),
               ["model_path"])
    items = {"models/a.pth": dict(lr=0.001, seed=1, init_from=""),
             "models/b.pth": dict(lr=0.001, seed=1, init_from="")}
    assert to_do(log, "model_path", items, fresh=False, fix="") == ["models/b.pth"]
    assert to_do(log, "model_path", items, fresh=True, fix="") == list(items)
    items["models/a.pth"] = dict(lr=0.01, seed=1)
    with pytest.raises(SettingsMismatch, match="lr: 0.001 then, 0.01 now"):
        to_do(log, "model_path", items, fresh=False, fix="")
    assert to_do(tmp_path / "absent.csv", "model_path", items, fresh=False, fix="") == list(items)


def test_done_rows_by_key_with_absent_columns(tmp_path):
    path = tmp_path / "results.csv"
    pd.DataFrame([dict(model_path="m.pth", scale=1.0, n_samples=300)]).to_csv(path, index=False)
    done = done_rows(path, ["model_path", "scale", "level", "n_samples"])
    assert list(done) == [("m.pth", 1.0, None, 300.0)]
    assert key_of(dict(model_path="m.pth", scale=1, n_samples="300"),
                  ["model_path", "scale", "level", "n_samples"]) in done
    assert done_rows(tmp_path / "absent.csv", ["a"]) == {}


def test_fingerprints_name_settings_not_their_spelling():
    assert fingerprint(dict(a=1, b="x")) == fingerprint(dict(b="x", a=1.0))
    assert fingerprint(dict(a=1)) != fingerprint(dict(a=2))


# ---------------------------------------------------------------- checkpoints the log names
def write_checkpoint(path, value: float):
    import torch
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"weight": torch.full((2,), value)}, path)


def test_a_checkpoint_is_checked_against_the_hash_its_log_recorded(tmp_path):
    from synoploss.experiments.reruns import CheckpointChanged, ResultsFile, check_checkpoint
    from synoploss.experiments.workdir import Workdir
    from synoploss.io import file_sha256
    files = Workdir(tmp_path)
    write_checkpoint(files.model("models/a.pth"), 1.0)
    logged = file_sha256(files.model("models/a.pth"))
    append_row(files.training_log, dict(model_path="models/a.pth", model_sha256=logged),
               ["model_path"])
    assert check_checkpoint(files.model("models/a.pth"), logged, files.training_log) == logged
    results = ResultsFile(files, tmp_path / "results.csv", ["model_path"], log=files.training_log)
    assert results.row("models/a.pth")["model_sha256"] == logged
    write_checkpoint(files.model("models/a.pth"), 2.0)  # replaced after training
    replaced = file_sha256(files.model("models/a.pth"))
    for check in (lambda: check_checkpoint(files.model("models/a.pth"), logged,
                                           files.training_log),
                  lambda: results.row("models/a.pth")):
        with pytest.raises(CheckpointChanged, match=rf"a.pth: its content \(sha256 {replaced}\) "
                                                    rf"is not the model .*training_log.csv "
                                                    rf"recorded .*\(sha256 {logged}\).*--fresh"):
            check()


@pytest.mark.parametrize("logged", [None, float("nan"), ""])
def test_a_log_without_a_hash_checks_nothing(tmp_path, logged):
    from synoploss.experiments.reruns import check_checkpoint
    from synoploss.io import file_sha256
    write_checkpoint(tmp_path / "a.pth", 1.0)
    assert check_checkpoint(tmp_path / "a.pth", logged, "log.csv") == \
        file_sha256(tmp_path / "a.pth")


def test_a_checkpoint_given_by_path_is_checked_against_its_work_folder(tmp_path):
    from synoploss.experiments.reruns import CheckpointChanged, check_logged_checkpoint
    from synoploss.experiments.workdir import Workdir
    from synoploss.io import file_sha256
    files = Workdir(tmp_path / "run")
    path = files.model("models/nopenalty.pth")
    write_checkpoint(path, 1.0)
    append_row(files.training_log, dict(model_path="models/nopenalty.pth",
                                        model_sha256=file_sha256(path)), ["model_path"])
    check_logged_checkpoint(path)
    write_checkpoint(tmp_path / "elsewhere.pth", 3.0)  # in no work folder: nothing to check
    check_logged_checkpoint(tmp_path / "elsewhere.pth")
    write_checkpoint(path, 2.0)
    with pytest.raises(CheckpointChanged, match="nopenalty.pth: its content"):
        check_logged_checkpoint(path)


def test_a_row_another_run_wrote_meanwhile_is_kept_or_refused(tmp_path):
    """Two runs read the log before either trained the model: the second to finish must
    not silently replace the first's model."""
    from synoploss.experiments.reruns import ResultsFile
    from synoploss.experiments.workdir import Workdir
    files = Workdir(tmp_path)
    log = ResultsFile(files, files.training_log, ["model_path"])
    assert not log.made_meanwhile("models/a.pth", dict(lr=1e-3), "fix")
    append_row(files.training_log, dict(model_path="models/a.pth", lr=1e-3, extra=float("nan")),
               ["model_path"])  # written by another run
    assert log.made_meanwhile("models/a.pth", dict(lr=0.001), "fix")  # the same settings
    with pytest.raises(SettingsMismatch, match=r"models/a.pth in .*training_log.csv was made "
                                               r"with other settings \(lr: 0.001 then, 0.01 "
                                               r"now\); another run made it meanwhile"):
        log.made_meanwhile("models/a.pth", dict(lr=1e-2), "fix")
    later = ResultsFile(files, files.training_log, ["model_path"])
    assert not later.made_meanwhile("models/a.pth", dict(lr=1e-2), "fix")  # read after it
