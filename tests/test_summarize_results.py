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


def read_claims(files):
    """claims.csv, its empty untested and note cells as ''."""
    claims = pd.read_csv(files.results / "claims.csv", dtype={"untested": str, "note": str})
    return claims.fillna({"untested": "", "note": ""})


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
    claims = read_claims(files)
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


# ------------------------------------------------------------------ N12 to N16
EVALUATION = "fast simulator, 200 test samples, 1000 µs bins"
QAT = ["models/l1-fanout-qtrain_3e+05.pth", "models/l1-fanout-qtrain_1e+06.pth"]
SYNOP = ["models/l1-fanout_3e+05.pth", "models/l1-fanout_1e+06.pth"]


def quick_look_then_baseline(files):
    """The baseline and SynOp+QAT tested with --max_samples 6, then the baseline on every
    sample; nothing else tested (the log lists the baseline, 2 SynOp+QAT, 2 SynOp)."""
    from conftest import add_quick_look
    add_quick_look(files, "nopenalty")
    add_quick_look(files, "l1-fanout-qtrain", keep_full=False)
    for name in ("l1-fanout", "weightscaling"):
        files.spiking_csv(name).unlink()


def test_whole_curves_untested_are_named_and_their_claims_not_measured(files, capsys):
    """N12: the run picked the 200-sample evaluation, printed the baseline and an empty
    claims header, wrote no claim and an empty untested.csv, exit 0."""
    quick_look_then_baseline(files)
    out = run(files, capsys)
    untested = pd.read_csv(files.results / "untested.csv")
    assert untested.to_dict("records") == [
        *(dict(curve="SynOp+QAT", model_path=path, evaluation=EVALUATION) for path in QAT),
        *(dict(curve="SynOp", model_path=path, evaluation=EVALUATION) for path in SYNOP),
        dict(curve="weight scaling", model_path="models/nopenalty.pth", evaluation=EVALUATION)]
    assert (f"SynOp+QAT, 2 of 2 (the whole curve: the claims on it are not measured; run "
            f"test_spiking.py --mode quantized with the same settings): {', '.join(QAT)}") in out
    claims = read_claims(files)
    # the paper's 4, then #33's: 3 curve pairs (Rueckauer normalisation was never run: no
    # claim on it) and the rank correlation (one model tested: none to rank)
    assert claims["verdict"].tolist() == ["not measured"] * 8
    assert claims["claim"].tolist() == [
        "SynOp+QAT: fewer SynOps than the baseline, at most 1.3 points less accurate (the "
        "reduction factor; geometric mean over seeds)",
        "SynOp+QAT above weight scaling at equal SynOps (accuracy gap, points)",
        "SynOp+QAT above SynOp at equal SynOps (accuracy gap, points)",
        "estimate within 15% of the measurement, every SynOp+QAT model (our threshold)",
        *(f"{upper} above {lower} over the SynOps both cover (mean accuracy gap, points)"
          for upper, lower in (("SynOp+QAT", "SynOp"), ("SynOp", "weight scaling"),
                               ("SynOp+QAT", "weight scaling"))),
        "the estimate orders the models as the measurement does (Spearman's rank correlation "
        "of estimated and measured SynOps over every tested model; our threshold: above 0.9)"]
    assert claims["note"].iloc[0] == (f"no SynOp+QAT rows under this evaluation ({EVALUATION}): "
                                      "run test_spiking.py --mode quantized with the same "
                                      "settings")
    assert claims["note"].iloc[1] == (
        f"no SynOp+QAT or weight scaling rows under this evaluation ({EVALUATION}): run "
        "test_spiking.py --mode quantized; test_spiking.py --mode weightscaling with the same "
        "settings")
    # the reduction: the baseline tested, 2 SynOp+QAT not (1 of 3); the ranking: 1 of 6
    assert claims["models_tested"].tolist() == [1, 0, 0, 0, 0, 0, 0, 1]
    assert claims["models_in_log"].tolist() == [3, 3, 4, 2, 4, 3, 3, 6]
    assert claims["untested"].iloc[0] == "; ".join(QAT)
    assert out.count("  NOT MEASURED  ") == 8
    assert pd.read_csv(files.summary)["curve"].tolist() == ["baseline"]


def test_without_weight_scaling_rows_its_claims_are_not_measured(files, capsys):
    """N13: with no weight-scaling rows at all, the claims on it were missing, unnamed."""
    files.spiking_csv("weightscaling").unlink()
    out = run(files, capsys)
    claims = read_claims(files)
    missing = claims[claims["verdict"] == "not measured"]
    assert missing["claim"].tolist() == [
        "SynOp+QAT above weight scaling at equal SynOps (accuracy gap, points)",
        "SynOp above weight scaling over the SynOps both cover (mean accuracy gap, points)",
        "SynOp+QAT above weight scaling over the SynOps both cover (mean accuracy gap, "
        "points)"]
    assert (missing["note"] == f"no weight scaling rows under this evaluation ({EVALUATION}): "
                               "run test_spiking.py --mode weightscaling with the same "
                               "settings").all()
    # SynOp+QAT's 2 tested, the baseline not at the scales; SynOp's 2 and the same
    assert missing["models_tested"].tolist() == [2, 2, 2]
    assert missing["models_in_log"].tolist() == [3, 3, 3]
    assert (missing["untested"] == "models/nopenalty.pth (weight scaling)").all()
    # the rank correlation: 5 of the 6 models
    ranking = claims[claims["claim"].str.startswith("the estimate orders")].iloc[0]
    assert (ranking["verdict"], ranking["models_tested"], ranking["models_in_log"]) == (
        "incomplete", 5, 6)
    assert "run test_spiking.py --mode weightscaling" in out


def test_n_samples_chooses_among_the_evaluations_present(files, capsys):
    """N14: --n_samples 6 looked for the default evaluation with 6 samples (no sample
    seed), while the quick look's rows have sample seed 0: refused, naming nothing."""
    quick_look_then_baseline(files)
    summarize.main(["--workdir", str(files.root), "--resamples", "50", "--n_samples", "6"])
    out = capsys.readouterr().out
    assert "evaluation: fast simulator, 6 test samples, 1000 µs bins" in out
    assert pd.read_csv(files.summary)["model"].tolist() == ["models/nopenalty.pth", *QAT]
    with pytest.raises(SystemExit, match=re.escape(
            "nopenalty_spiking.csv: no evaluation with n_samples 7 among the rows; present: "
            f"{EVALUATION}; fast simulator, 6 test samples, 1000 µs bins, sample seed 0 "
            "(choose one of them with --simulator / --n_samples)")):
        summarize.main(["--workdir", str(files.root), "--n_samples", "7"])
    with pytest.raises(SystemExit, match="no evaluation with simulator sinabs, n_samples 6"):
        summarize.main(["--workdir", str(files.root), "--n_samples", "6",
                        "--simulator", "sinabs"])


def samples_of(files, name, model):
    frame = pd.read_csv(files.spiking_csv(name))
    return files.root / frame.loc[frame["model_path"] == model, "samples_path"].iloc[0]


@pytest.mark.parametrize("damage", ["copied", "times10", "nan"])
def test_per_sample_arrays_that_disagree_with_their_row_are_refused(files, damage):
    """N15: the claims came from arrays the table (the row) did not show, exit 0."""
    import numpy as np

    from synoploss.io import save_npz
    path = samples_of(files, "l1-fanout-qtrain", QAT[1])
    with np.load(path) as saved:
        arrays = dict(saved)
    if damage == "copied":
        with np.load(samples_of(files, "l1-fanout-qtrain", QAT[0])) as saved:
            arrays = dict(saved)
    elif damage == "times10":
        arrays["synops"] = arrays["synops"] * 10
    else:
        arrays["synops"][3] = np.nan
    save_npz(path, **arrays)
    row = pd.read_csv(files.spiking_csv("l1-fanout-qtrain")).iloc[1]
    expected = {
        # 3e5 x 1.1 SynOps, 73% right, against 1e6 x 1.1 and 80%
        "copied": rf"the mean of synops is 3\d{{5}}\S*, the row's snn_synops "
                  rf"{row['snn_synops']:.7g}; the mean of correct is 0\.73, the row's "
                  r"snn_accuracy 0\.8;",
        "times10": rf"the mean of synops is {row['snn_synops'] * 10:.7g}, the row's snn_synops "
                   rf"{row['snn_synops']:.7g};".replace("+", r"\+"),
        "nan": "synops holds NaN or infinite values;"}[damage]
    with pytest.raises(SystemExit, match=rf"{re.escape(str(path))}: the per-sample arrays of "
                                         rf"{re.escape(QAT[1])} do not agree with its results "
                                         rf"row \({re.escape(QAT[1])}, scale 1, samples_path "
                                         rf".*\): {expected} test it again \(--fresh\)"):
        summarize.main(["--workdir", str(files.root), "--resamples", "50"])
    assert_nothing_written(files)


def with_hashes(files, replaced=()):
    """model_sha256 in the training log and every row (the hash of each model_path), then
    the log's hash of each model of `replaced` changed: trained again since its test."""
    import hashlib

    def sha(path, version=0):
        return hashlib.sha256(f"{path}{version}".encode()).hexdigest()
    log = pd.read_csv(files.training_log)
    log["model_sha256"] = [sha(path, int(path in replaced)) for path in log["model_path"]]
    log.to_csv(files.training_log, index=False)
    for path in files.results.glob("*_spiking.csv"):
        frame = pd.read_csv(path)
        frame["model_sha256"] = [sha(model) for model in frame["model_path"]]
        frame.to_csv(path, index=False)
    return sha


def test_rows_of_a_model_trained_again_are_refused_by_both_scripts(files, capsys):
    """N16: after train.py --nopenalty --fresh, the old baseline's rows (its own and at
    the weight scales) were summarised without a word."""
    benchmark = load_script("mnist_dvs/optimization_benchmarking.py")
    sha = with_hashes(files, replaced=("models/nopenalty.pth",))
    old, new = sha("models/nopenalty.pth"), sha("models/nopenalty.pth", 1)
    message = re.escape(
        f"{files.results}: 4 results row(s) measured a model trained again since (its "
        f"model_sha256 is not the one {files.training_log} records now): "
        f"nopenalty_spiking.csv: models/nopenalty.pth (tested: sha256 {old}; "
        f"training_log.csv now: sha256 {new}); "
        + "; ".join([f"weightscaling_spiking.csv: models/nopenalty.pth (tested: sha256 {old}; "
                     f"training_log.csv now: sha256 {new})"] * 3)
        + ". Test them again (test_spiking.py --mode nopenalty --fresh, test_spiking.py "
          "--mode weightscaling --fresh, with the same settings), or remove these rows")
    with pytest.raises(SystemExit, match=f"^summarize_results.py: {message}$"):
        summarize.main(["--workdir", str(files.root), "--resamples", "50"])
    assert_nothing_written(files)
    before = files.opt_benchmark.read_bytes()
    with pytest.raises(SystemExit, match=f"^optimization_benchmarking.py: {message}$"):
        benchmark.main(["--workdir", str(files.root)])
    assert files.opt_benchmark.read_bytes() == before


def test_rows_and_logs_without_hashes_are_not_checked(files, capsys):
    """Older versions wrote no model_sha256: nothing to compare, nothing refused."""
    with_hashes(files, replaced=("models/nopenalty.pth",))
    log = pd.read_csv(files.training_log)
    log.drop(columns="model_sha256").to_csv(files.training_log, index=False)
    run(files, capsys)
    with_hashes(files, replaced=QAT)
    frame = pd.read_csv(files.spiking_csv("l1-fanout-qtrain"))
    frame["model_sha256"] = None
    frame.to_csv(files.spiking_csv("l1-fanout-qtrain"), index=False)
    run(files, capsys)
