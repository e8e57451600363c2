"""mnist_dvs/summarize_results.py on a small fake work folder: a results file or training
log that is not whole stops it before it writes anything (#31.4), and a partial sweep is
named in what it prints and writes (#31.5)."""
import re

import pandas as pd
import pytest

from conftest import load_script, write_fake_results
from synoploss.experiments.workdir import Workdir

summarize = load_script("mnist_dvs/summarize_results.py")
UNTESTED = "models/l1-fanout-qtrain_3e+05.pth"
OUTPUTS = ("summary.csv", "claims.csv", "untested.csv")


@pytest.fixture
def files(tmp_path):
    """The fake MNIST-DVS work folder (every model of its log tested), with the outputs of
    an earlier summary in place."""
    write_fake_results(tmp_path, skip=("cifar10", "mnist_quant_only"))
    files = Workdir(tmp_path / "mnist_dvs")
    for name in OUTPUTS:
        (files.results / name).write_text(f"earlier {name}\n")
    return files


def run(files, capsys):
    summarize.main(["--workdir", str(files.root), "--resamples", "50"])
    return capsys.readouterr().out


def assert_nothing_written(files):
    for name in OUTPUTS:
        assert (files.results / name).read_text() == f"earlier {name}\n"


@pytest.mark.parametrize("which,line", [("l1-fanout-qtrain_spiking.csv", 3),
                                        ("training_log.csv", 6)])
def test_a_file_cut_in_a_row_stops_it_before_anything_is_written(files, which, line):
    """The old run read the cut row as NaNs, lost what followed, and rewrote the summary and
    the claims from that, exiting 0."""
    path = files.results / which if which != "training_log.csv" else files.training_log
    path.write_text(path.read_text()[:-20])  # the last line cut 20 characters short
    with pytest.raises(SystemExit, match=rf"^summarize_results.py: .*{which}: line {line}, the "
                                         r"last, ends without a newline \(\d+ of the header's "
                                         r"\d+ fields\): the file was cut short \(an interrupted "
                                         "copy or sync\\?\\); copy it again"):
        summarize.main(["--workdir", str(files.root), "--resamples", "50"])
    assert_nothing_written(files)


def test_a_claim_that_cannot_be_computed_writes_nothing(files):
    """The summary was written before the claims were computed: a missing per-sample file
    left a new summary beside the old claims."""
    next((files.results / "samples" / "l1-fanout").glob("*.npz")).unlink()
    with pytest.raises(SystemExit, match="the per-sample arrays of models/l1-fanout_"):
        summarize.main(["--workdir", str(files.root), "--resamples", "50"])
    assert_nothing_written(files)


@pytest.mark.parametrize("damage", ["cut", "garbage", "no_synops"])
def test_a_damaged_per_sample_file_is_named_and_writes_nothing(files, damage):
    """A cut or foreign per-sample .npz raised zipfile.BadZipFile, naming no file (#31.10)."""
    import numpy as np
    path = next((files.results / "samples" / "l1-fanout").glob("*.npz"))
    if damage == "cut":
        path.write_bytes(path.read_bytes()[:100])
    elif damage == "garbage":
        path.write_bytes(b"not an npz at all")
    else:
        np.savez(path, correct=np.ones(3, bool))
    expected = "no array synops in it" if damage == "no_synops" else \
        r"not a readable .npz file \(not a zip archive: damaged or cut short\?\)"
    with pytest.raises(SystemExit, match=rf"{re.escape(path.name)}: {expected}.*the per-sample "
                                         r"arrays of "
                                         r"models/l1-fanout_.*test it again \(--fresh\)"):
        summarize.main(["--workdir", str(files.root), "--resamples", "50"])
    assert_nothing_written(files)


def test_a_partial_sweep_is_named_in_the_output_and_the_files(files, capsys):
    frame = pd.read_csv(files.spiking_csv("l1-fanout-qtrain"))
    frame[frame["model_path"] != UNTESTED].to_csv(files.spiking_csv("l1-fanout-qtrain"),
                                                  index=False)
    out = run(files, capsys)
    assert ("untested under this evaluation (in training_log.csv, no results row; the claims "
            f"drawing on them are incomplete): SynOp+QAT, 1 of 2: {UNTESTED} "
            "(results/untested.csv)") in out
    claims = pd.read_csv(files.results / "claims.csv").fillna("")
    # every claim draws on SynOp+QAT: the reduction (+ the baseline: 2 of 3), above weight
    # scaling (+ the baseline at the scales: 2 of 3), above SynOp (+ 2: 3 of 4), the estimate
    assert claims["verdict"].tolist() == ["incomplete"] * 4
    assert claims["models_tested"].tolist() == [2, 2, 3, 1]
    assert claims["models_in_log"].tolist() == [3, 3, 4, 2]
    assert claims["untested"].tolist() == [UNTESTED] * 4
    assert claims["note"].str.startswith(f"from 2 of 3 models; untested: {UNTESTED}; the "
                                         "tested ones alone: ").tolist()[:2] == [True, True]
    assert out.count("  INCOMPLETE    ") == 4
    untested = pd.read_csv(files.results / "untested.csv")
    assert untested.to_dict("records") == [dict(
        curve="SynOp+QAT", model_path=UNTESTED,
        evaluation="fast simulator, 200 test samples, 1000 µs bins")]
    assert UNTESTED not in pd.read_csv(files.summary)["model"].tolist()


def test_a_whole_sweep_names_nothing_untested(files, capsys):
    out = run(files, capsys)
    assert "untested" not in out and "INCOMPLETE" not in out
    claims = pd.read_csv(files.results / "claims.csv")
    assert claims["verdict"].isin(["supported", "contradicted", "not shown"]).all()
    # the baseline + 2 SynOp+QAT; 2 SynOp+QAT + the baseline at the scales; 2 + 2 SynOp; 2
    assert claims["models_tested"].tolist() == claims["models_in_log"].tolist() == [3, 3, 4, 2]
    assert claims["untested"].isna().all()
    assert (files.results / "untested.csv").read_text() == "curve,model_path,evaluation\n"
