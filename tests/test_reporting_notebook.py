"""GeneratePlots.ipynb and synoploss.reporting.notebook. The notebook runs in a Jupyter kernel once
per test session (conftest.documented_run, after the README's commands); the tests of
its skipping logic run its code cells in this process, which is what the kernel would
run, without a kernel's start-up."""
import contextlib
import io
import json

import nbformat
import pytest

from conftest import REPO, write_fake_results
from synoploss.reporting.notebook import execute, parameterised, strip_outputs

NOTEBOOK = REPO / "GeneratePlots.ipynb"


def run_here(results, data_dir, figures) -> str:
    """The notebook's code cells, parameterised as the headless runner does, executed in
    this process; what they print."""
    notebook = parameterised(NOTEBOOK, dict(
        MNIST_DVS_DIR=str(results / "mnist_dvs"), MNIST_DVS_DATA=str(data_dir),
        CIFAR10_DIR=str(results / "cifar10"), MNIST_QUANT_DIR=str(results / "mnist_quant_only"),
        FIGURE_DIR=str(figures)))
    namespace = {"__name__": "notebook"}
    with contextlib.redirect_stdout(io.StringIO()) as printed:
        for cell in notebook.cells:
            if cell.cell_type == "code":
                exec(compile(cell.source, str(NOTEBOOK), "exec"), namespace)
    return printed.getvalue()


def test_every_figure_from_fake_results_of_every_experiment(tmp_path, tiny_mnist_dvs):
    results = write_fake_results(tmp_path / "results")
    text = run_here(results, tiny_mnist_dvs, tmp_path / "figures")
    names = sorted(p.name for p in (tmp_path / "figures").iterdir())
    expected = ["cifar10_spiking", "energy", "mnist_dvs_analog_accuracy_synops", "mnist_dvs_data",
                "mnist_dvs_estimate_vs_measured", "mnist_dvs_spiking", "mnist_dvs_targets",
                "mnist_quant_only"]
    assert names == sorted(f"{n}.{ext}" for n in expected for ext in ("pdf", "png"))
    assert "16 figure files written" in text and "skipped: none" in text


def test_one_experiment_missing_is_skipped_with_a_note(tmp_path, tiny_mnist_dvs):
    results = write_fake_results(tmp_path / "results", skip=("cifar10",))
    text = run_here(results, tiny_mnist_dvs, tmp_path / "figures")
    assert "SKIPPED CIFAR-10 spiking" in text and "skipped: CIFAR-10 spiking" in text
    assert not (tmp_path / "figures" / "cifar10_spiking.png").exists()
    assert (tmp_path / "figures" / "mnist_quant_only.pdf").is_file()


def test_a_broken_results_file_skips_its_figure_and_removes_the_old_one(tmp_path, tiny_mnist_dvs):
    results = write_fake_results(tmp_path / "results")
    figures = tmp_path / "figures"
    run_here(results, tiny_mnist_dvs, figures)
    assert (figures / "mnist_quant_only.png").is_file()
    (results / "mnist_quant_only" / "results" / "quant_eval_qtrain_True.csv").write_text("")
    text = run_here(results, tiny_mnist_dvs, figures)
    assert "SKIPPED MNIST quantization only" in text and "quant_eval_qtrain_True.csv" in text
    assert not (figures / "mnist_quant_only.png").exists()
    assert (figures / "cifar10_spiking.png").is_file()  # the others are drawn


def test_committed_notebook_has_no_outputs_and_strip_removes_the_kernels(tmp_path,
                                                                         documented_run):
    notebook = json.loads(NOTEBOOK.read_text())
    for cell in notebook["cells"]:
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None
    tags = [cell["metadata"].get("tags", []) for cell in notebook["cells"]]
    assert ["parameters"] in tags
    copy = tmp_path / "copy.ipynb"
    copy.write_bytes((documented_run / "run.ipynb").read_bytes())  # the kernel's output
    assert any(cell.get("outputs") for cell in nbformat.read(copy, as_version=4).cells)
    assert strip_outputs(copy) and not strip_outputs(copy)


def test_missing_parameters_cell_and_unknown_parameters(tmp_path):
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")])
    nbformat.write(notebook, tmp_path / "plain.ipynb")
    with pytest.raises(ValueError, match="no cell tagged 'parameters'"):
        execute(tmp_path / "plain.ipynb", {})
    with pytest.raises(ValueError, match="no parameter FIGURES_DIR .*FIGURE_DIR"):
        parameterised(NOTEBOOK, {"FIGURES_DIR": "x"})
