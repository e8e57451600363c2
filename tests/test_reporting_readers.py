"""synoploss.reporting.readers: a results file or training log that is not whole is refused
by every reader (#31.4), and the training log's models without a results row under the
chosen evaluation are named (#31.5)."""
import re

import numpy as np
import pandas as pd
import pytest

from conftest import write_fake_results
from synoploss.experiments.workdir import Workdir
from synoploss.reporting.readers import read_results, read_spiking_results

QAT_CSV = "l1-fanout-qtrain"
QAT_MODELS = ["models/l1-fanout-qtrain_3e+05.pth", "models/l1-fanout-qtrain_1e+06.pth"]


@pytest.fixture
def mnist(tmp_path):
    """The fake MNIST-DVS work folder: every model of its training log tested (a baseline,
    2 SynOp+QAT, 2 SynOp, the baseline at 3 scales)."""
    write_fake_results(tmp_path, skip=("cifar10", "mnist_quant_only"))
    return Workdir(tmp_path / "mnist_dvs")


def cut(path, keep_lines: int, keep_chars: int) -> int:
    """Cut `path` after `keep_lines` whole lines and `keep_chars` characters of the next,
    as an interrupted copy leaves it; the line number of the cut line."""
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines[:keep_lines]) + lines[keep_lines][:keep_chars])
    return keep_lines + 1


def drop(path, model_path):
    frame = pd.read_csv(path)
    frame[frame["model_path"] != model_path].to_csv(path, index=False)


@pytest.mark.parametrize("name", [QAT_CSV, "nopenalty"])
def test_a_spiking_csv_cut_in_a_row_is_refused_by_file_and_line(mnist, name):
    """pandas read the cut row's missing fields as NaN (and the claims from them changed)."""
    path = mnist.spiking_csv(name)
    line = cut(path, 1, 40)
    with pytest.raises(ValueError, match=rf"{name}_spiking.csv: line {line}, the last, ends "
                                         r"without a newline \(\d+ of the header's \d+ fields\)"):
        read_spiking_results(mnist.root)


def test_a_cut_training_log_is_refused_not_read_as_fewer_models(mnist):
    line = cut(mnist.training_log, 3, 10)  # two whole models, the third cut
    with pytest.raises(ValueError, match=rf"training_log.csv: line {line}, the last, ends "
                                         "without a newline"):
        read_spiking_results(mnist.root)


def test_the_figures_reader_refuses_a_row_short_of_fields(mnist):
    """read_results (the figures, the notebook, the results page): a row with fewer fields
    than the header inside the file."""
    path = mnist.activity_accuracy
    lines = path.read_text().splitlines(keepends=True)
    lines[2] = ",".join(lines[2].split(",")[:3]) + "\n"
    path.write_text("".join(lines))
    with pytest.raises(ValueError, match=r"activity_accuracy.csv: line 3 has 3 field\(s\), "
                                         r"fewer fields than the header"):
        read_results(path)


def test_every_model_tested_leaves_none_untested(mnist):
    results = read_spiking_results(mnist.root)
    assert results.log_models["SynOp+QAT"] == QAT_MODELS
    assert results.log_models["weight scaling"] == ["models/nopenalty.pth"]
    assert results.untested_by_curve() == {} and results.untested_text() == ""
    # the baseline and SynOp+QAT: 1 + 2 models, all tested
    assert results.coverage(["baseline", "SynOp+QAT"]) == (3, 3, [])


def test_a_partial_sweep_names_the_untested_models(mnist):
    drop(mnist.spiking_csv(QAT_CSV), QAT_MODELS[0])
    results = read_spiking_results(mnist.root)
    assert results.untested("SynOp+QAT") == [QAT_MODELS[0]]
    assert results.untested_by_curve() == {"SynOp+QAT": ([QAT_MODELS[0]], 2)}
    # 1 baseline + 1 of 2 SynOp+QAT + the baseline at the scales tested
    assert results.coverage(["baseline", "SynOp+QAT", "weight scaling"]) == (3, 4,
                                                                             [QAT_MODELS[0]])
    assert results.untested_text() == (
        "untested under this evaluation (in training_log.csv, no results row; the claims "
        f"drawing on them are incomplete): SynOp+QAT, 1 of 2: {QAT_MODELS[0]}")


def test_a_curve_with_no_row_at_all_is_untested_not_left_out(mnist):
    """N12/N13: a curve whose models the log lists, with no row under the evaluation, was
    left out of the untested (and of the coverage): its claims vanished unnamed."""
    drop(mnist.spiking_csv(QAT_CSV), QAT_MODELS[0])
    drop(mnist.spiking_csv("weightscaling"), "models/nopenalty.pth")  # the curve is gone
    results = read_spiking_results(mnist.root)
    assert results.missing(["SynOp+QAT", "weight scaling", "SynOp"]) == ["weight scaling"]
    assert results.untested_by_curve() == {"SynOp+QAT": ([QAT_MODELS[0]], 2),
                                           "weight scaling": (["models/nopenalty.pth"], 1)}
    # the baseline, 1 of 2 SynOp+QAT; the baseline untested at the scales: 2 of 4
    assert results.coverage(["baseline", "SynOp+QAT", "weight scaling"]) == (
        2, 4, [QAT_MODELS[0], "models/nopenalty.pth (weight scaling)"])
    assert results.untested_text() == (
        "untested under this evaluation (in training_log.csv, no results row; the claims "
        f"drawing on them are incomplete): SynOp+QAT, 1 of 2: {QAT_MODELS[0]}; weight "
        "scaling, 1 of 1 (the whole curve: the claims on it are not measured; run "
        "test_spiking.py --mode weightscaling with the same settings): models/nopenalty.pth")
    # Rueckauer normalisation (ours) was never run: not expected, nothing untested
    assert not results.expected("Rueckauer normalisation")


def test_a_baseline_untested_at_the_scales_is_labelled_with_the_curve(mnist):
    log = pd.read_csv(mnist.training_log)
    extra = log[log["name"] == "nopenalty"].assign(model_path="models/nopenalty_seed2.pth",
                                                   seed=2)
    pd.concat([log, extra]).to_csv(mnist.training_log, index=False)
    results = read_spiking_results(mnist.root)
    assert results.coverage(["SynOp+QAT", "weight scaling"]) == (
        3, 4, ["models/nopenalty_seed2.pth (weight scaling)"])
    assert results.untested("baseline") == ["models/nopenalty_seed2.pth"]


def test_models_trained_on_other_data_are_not_untested_here(mnist):
    """The fake rows were measured on data 'fake1234': a model trained on other data is
    never tested on it; one with no fingerprint (an older log) may be."""
    log = pd.read_csv(mnist.training_log)
    log["data_fingerprint"] = ["other999" if path == QAT_MODELS[0] else "fake1234"
                               for path in log["model_path"]]
    log.loc[log["model_path"] == QAT_MODELS[1], "data_fingerprint"] = None
    log.to_csv(mnist.training_log, index=False)
    drop(mnist.spiking_csv(QAT_CSV), QAT_MODELS[0])
    results = read_spiking_results(mnist.root)
    assert results.log_models["SynOp+QAT"] == [QAT_MODELS[1]]
    assert results.untested_by_curve() == {}


def test_without_a_training_log_what_is_untested_is_unknown(mnist):
    mnist.training_log.unlink()
    results = read_spiking_results(mnist.root)
    assert results.log_models is None and results.coverage(["SynOp+QAT"]) == (None, None, [])
    assert results.untested_text().startswith("no training_log.csv in the work folder")


# ------------------------------------------------------------------ N14 to N16
def test_the_evaluation_is_chosen_among_those_present(mnist):
    """N14: asking for 6 samples built an evaluation with no sample seed, which no row of
    a quick look (sample seed 0) has."""
    from conftest import add_quick_look
    from synoploss.reporting.readers import NoSuchEvaluation
    add_quick_look(mnist, "nopenalty")
    assert read_spiking_results(mnist.root).evaluation["n_samples"] == 200  # the most samples
    quick = read_spiking_results(mnist.root, wanted={"n_samples": 6})
    assert (quick.evaluation["n_samples"], quick.evaluation["sample_seed"]) == (6, 0)
    assert quick.baseline["model_path"].tolist() == ["models/nopenalty.pth"]
    assert read_spiking_results(mnist.root, wanted={"simulator": "fast"}).evaluation[
        "n_samples"] == 200
    with pytest.raises(NoSuchEvaluation, match=re.escape(
            f"{mnist.spiking_csv('nopenalty')}: no evaluation with simulator sinabs among the "
            "rows; present: fast simulator, 200 test samples, 1000 µs bins; fast simulator, 6 "
            "test samples, 1000 µs bins, sample seed 0 (choose one of them with --simulator / "
            "--n_samples)")):
        read_spiking_results(mnist.root, wanted={"simulator": "sinabs"})


def test_per_sample_arrays_must_agree_with_their_row(tmp_path):
    """N15, by hand: SynOps 1, 2, 3 (mean 2), 2 of 3 right; the row says so, or not."""
    from synoploss.io import save_npz
    from synoploss.reporting.readers import per_sample_arrays
    row = dict(model_path="models/m.pth", samples_path="m.npz", snn_synops=2.0,
               snn_accuracy=2 / 3, n_samples=3)

    def saved(**arrays):
        save_npz(tmp_path / "m.npz", **{**dict(correct=np.array([True, True, False]),
                                               synops=np.array([1.0, 2.0, 3.0])), **arrays})
    saved()
    assert per_sample_arrays(tmp_path, row)["synops"].tolist() == [1.0, 2.0, 3.0]
    named = re.escape(f"{tmp_path / 'm.npz'}: the per-sample arrays of models/m.pth do not "
                      "agree with its results row (models/m.pth, samples_path m.npz): ")
    fix = re.escape("; test it again (--fresh), which makes its row and its arrays together")
    for arrays, problem in [
            (dict(synops=np.array([1.0, 2.0, 3.1])),   # mean 2.0333...
             "the mean of synops is 2.033333, the row's snn_synops 2"),
            (dict(correct=np.array([True, False, False])),
             "the mean of correct is 0.3333333, the row's snn_accuracy 0.6666667"),
            (dict(synops=np.array([1.0, np.nan, 3.0])), "synops holds NaN or infinite values"),
            (dict(correct=np.ones(4, bool), synops=np.full(4, 2.0)),
             "4 correct and 4 synops values for the row's n_samples 3.0")]:
        saved(**arrays)
        with pytest.raises(ValueError, match=named + re.escape(problem) + fix):
            per_sample_arrays(tmp_path, row)
    # the row's mean taken in float32 (a simulator's dtype) agrees within 1e-6
    counts = np.random.default_rng(1).uniform(0, 1e6, 2000).astype(np.float32)
    saved(correct=np.ones(2000, bool), synops=counts)
    for mean in (float(counts.mean()), float(counts.astype(np.float64).mean())):
        per_sample_arrays(tmp_path, dict(row, snn_synops=mean, snn_accuracy=1.0,
                                         n_samples=2000))
    # a row without the columns (an older version): not checked
    per_sample_arrays(tmp_path, dict(model_path="models/m.pth", samples_path="m.npz"))


def hashed(mnist, logged: dict):
    """Every model's hash in its rows ('old-<path>'), the log's as `logged` says (the
    same, unless given)."""
    for path in mnist.results.glob("*_spiking.csv"):
        frame = pd.read_csv(path)
        frame["model_sha256"] = [f"old-{model}" for model in frame["model_path"]]
        frame.to_csv(path, index=False)
    log = pd.read_csv(mnist.training_log)
    log["model_sha256"] = [logged.get(model, f"old-{model}") for model in log["model_path"]]
    log.to_csv(mnist.training_log, index=False)


def test_rows_of_a_model_trained_again_are_stale(mnist):
    """N16: the log's hash of a SynOp+QAT model changed (train.py --fresh): its row
    describes the old model."""
    from synoploss.reporting.readers import StaleResults
    hashed(mnist, {})
    read_spiking_results(mnist.root)  # every hash the log's: current
    hashed(mnist, {QAT_MODELS[1]: "new"})
    with pytest.raises(StaleResults, match=re.escape(
            f"{mnist.results}: 1 results row(s) measured a model trained again since (its "
            f"model_sha256 is not the one {mnist.training_log} records now): "
            f"l1-fanout-qtrain_spiking.csv: {QAT_MODELS[1]} (tested: sha256 old-{QAT_MODELS[1]}; "
            "training_log.csv now: sha256 new). Test them again (test_spiking.py --mode "
            "quantized --fresh, with the same settings), or remove these rows")):
        read_spiking_results(mnist.root)
    # a row without a hash (an older version) is not checked
    frame = pd.read_csv(mnist.spiking_csv(QAT_CSV))
    frame.loc[frame["model_path"] == QAT_MODELS[1], "model_sha256"] = None
    frame.to_csv(mnist.spiking_csv(QAT_CSV), index=False)
    read_spiking_results(mnist.root)


def test_stale_rows_of_another_evaluation_are_not_read(mnist):
    """A quick look of the old model, the full evaluation of the new one: only the
    chosen evaluation's rows are summarised, so only they must be current."""
    from conftest import add_quick_look
    add_quick_look(mnist, "nopenalty")
    add_quick_look(mnist, QAT_CSV)
    hashed(mnist, {})
    frame = pd.read_csv(mnist.spiking_csv(QAT_CSV))
    frame.loc[frame["n_samples"] == 6, "model_sha256"] = "older"
    frame.to_csv(mnist.spiking_csv(QAT_CSV), index=False)
    read_spiking_results(mnist.root)
    with pytest.raises(ValueError, match="tested: sha256 older"):
        read_spiking_results(mnist.root, wanted={"n_samples": 6})
