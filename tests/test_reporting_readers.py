"""synoploss.reporting.readers: a results file or training log that is not whole is refused
by every reader (#31.4), and the training log's models without a results row under the
chosen evaluation are named (#31.5)."""
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
    drop(mnist.spiking_csv("weightscaling"), "models/nopenalty.pth")  # the curve is gone
    results = read_spiking_results(mnist.root)
    assert results.untested("SynOp+QAT") == [QAT_MODELS[0]]
    assert results.untested_by_curve() == {"SynOp+QAT": ([QAT_MODELS[0]], 2)}
    # 1 baseline + 1 of 2 SynOp+QAT tested; a curve with no row at all is not counted
    assert results.coverage(["baseline", "SynOp+QAT", "weight scaling"]) == (2, 3,
                                                                             [QAT_MODELS[0]])
    assert results.untested_text() == (
        "untested under this evaluation (in training_log.csv, no results row; the claims "
        f"drawing on them are incomplete): SynOp+QAT, 1 of 2: {QAT_MODELS[0]}")


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
