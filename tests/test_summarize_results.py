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
    with pytest.raises(SystemExit, match=rf"{re.escape(path.name)}: the per-sample arrays of "
                                         rf"models/l1-fanout_\S+: {expected}.*test it again "
                                         r"\(--fresh\)"):
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
    # scaling (+ the baseline at the scales: 2 of 3), above SynOp (+ 2: 3 of 4), the estimate;
    # then #33's: SynOp above weight scaling over their common range (no SynOp+QAT: whole,
    # 2 + the baseline), the rank correlation (every curve: 5 of 6). SynOp+QAT's one tested
    # model covers no range of SynOps: no range claim with it, and said so
    assert claims["verdict"].tolist() == ["incomplete"] * 4 + ["supported", "incomplete"]
    assert claims["models_tested"].tolist() == [2, 2, 3, 1, 3, 5]
    assert claims["models_in_log"].tolist() == [3, 3, 4, 2, 3, 6]
    assert claims["untested"].tolist() == [UNTESTED] * 4 + ["", UNTESTED]
    assert claims["note"].str.startswith(f"from 2 of 3 models; untested: {UNTESTED}; the "
                                         "tested ones alone: ").tolist()[:2] == [True, True]
    assert out.count("  INCOMPLETE    ") == 5
    assert ("SynOp+QAT against SynOp: the curves share no range of SynOps in any seed (a "
            "curve of one model covers none), no claim") in out
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
    # the baseline + 2 SynOp+QAT; 2 SynOp+QAT + the baseline at the scales; 2 + 2 SynOp; 2;
    # then #33's over the common ranges: 2 + 2, 2 SynOp + the baseline at the scales, 2 + 1;
    # the rank correlation: every model, 6
    assert claims["models_tested"].tolist() == claims["models_in_log"].tolist() == [
        3, 3, 4, 2, 4, 3, 3, 6]
    assert claims["untested"].isna().all()
    assert (files.results / "untested.csv").read_text() == "curve,model_path,evaluation\n"


def test_the_seeds_curves_and_layers_in_claims_csv_and_summary_csv(tmp_path, capsys):
    """#33 with 3 seeds and the Rueckauer rows: claims.csv holds the new claims as the
    analysis computes them; summary.csv each model's measured / estimated SynOps per layer
    (the CSV's ratio); the baseline's spread is printed."""
    from synoploss.reporting.claims import claims_frame, mnist_dvs_analysis
    from synoploss.reporting.readers import read_spiking_results
    write_fake_results(tmp_path, skip=("cifar10", "mnist_quant_only"), seeds=(1, 2, 3),
                       smartscaling=True)
    files = Workdir(tmp_path / "mnist_dvs")
    out = run(files, capsys)
    claims = pd.read_csv(files.results / "claims.csv")
    analysis = mnist_dvs_analysis(files.root, read_spiking_results(files.root), resamples=50)
    expected = claims_frame(analysis.claims)
    assert len(claims) == 4 + len(expected) == 4 + 6  # (b), 4 curve pairs, the ranking
    new = claims.iloc[4:].reset_index(drop=True)
    assert new["claim"].tolist() == expected["claim"].tolist()
    for column in ("value", "low", "high"):
        assert new[column].tolist() == pytest.approx(expected[column].tolist(), rel=1e-12)
    assert new["verdict"].tolist() == expected["verdict"].tolist()
    assert new["claim"].iloc[0].startswith("SynOp+QAT: fewer SynOps than the baselines' mean")
    summary = pd.read_csv(files.summary)
    rows = pd.concat([pd.read_csv(files.spiking_csv(name)) for name in
                      ("nopenalty", "l1-fanout-qtrain", "l1-fanout", "weightscaling",
                       "smartscaling")])
    assert summary["model"].tolist() == rows["model_path"].tolist()
    for layer in ("input_relu", "seq_7"):
        assert summary[f"measured_over_estimate_{layer}"].tolist() == pytest.approx(
            (rows[f"snn_synops_{layer}"] / rows[f"ann_synops_{layer}"]).tolist(), rel=1e-9)
    assert summary["measured_over_estimate_total"].tolist() == pytest.approx(
        (rows["snn_synops"] / rows["ann_synops"]).tolist(), rel=1e-9)
    assert (summary["measured_over_estimate_seq_1_low"]
            < summary["measured_over_estimate_seq_1"]).all()
    spread = analysis.spread
    assert (f"the baseline over training seeds (SNN SynOps per sample, SNN accuracy; 95%):\n"
            f"  seed 1: {spread.synops[1]}, {spread.accuracy[1]}") in out
    assert f"max / min SynOps: {spread.max_over_min} (the interval: test samples only)" in out


def test_speck_energy_needs_the_rows_time_and_uses_it(files, capsys):
    """Speck's idle power counts for the time of an inference, which the rows hold only
    when they were tested with a static-power model (energy_seconds)."""
    with pytest.raises(SystemExit, match=r"--energy_model speck counts the chip's idle power.*"
                                         r"test the models with --energy_model speck"):
        summarize.main(["--workdir", str(files.root), "--resamples", "50",
                        "--energy_model", "speck"])
    assert_nothing_written(files)
    for path in files.results.glob("*_spiking.csv"):
        frame = pd.read_csv(path)
        frame["energy_seconds"] = 0.25
        frame.to_csv(path, index=False)
    summarize.main(["--workdir", str(files.root), "--resamples", "50",
                    "--energy_model", "speck,2"])
    summary = pd.read_csv(files.summary)
    # 2 pJ per SynOp + 1.17 mW for 0.25 s (292.5 µJ)
    expected = summary["snn_synops"] * 2e-6 + 1.17e-3 * 0.25 * 1e6
    assert summary["energy_uj"].to_numpy() == pytest.approx(expected.to_numpy())
    assert "+ 1.17 mW idle" in capsys.readouterr().out
