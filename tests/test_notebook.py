import json

import nbformat
import pytest

from conftest import REPO, write_fake_results
from synoploss.notebook import execute, strip_outputs

NOTEBOOK = REPO / "GeneratePlots.ipynb"


def run(results, data_dir, figures):
    return execute(NOTEBOOK, dict(
        MNIST_DVS_DIR=str(results / "mnist_dvs"), MNIST_DVS_DATA=str(data_dir),
        CIFAR10_DIR=str(results / "cifar10"), MNIST_QUANT_DIR=str(results / "mnist_quant_only"),
        FIGURE_DIR=str(figures)), cwd=REPO)


def printed(notebook):
    return "".join(output.get("text", "") for cell in notebook.cells
                   for output in cell.get("outputs", []) if output.get("name") == "stdout")


def test_all_figures(tmp_path, tiny_mnist_dvs):
    results = write_fake_results(tmp_path / "results")
    notebook = run(results, tiny_mnist_dvs, tmp_path / "figures")
    names = sorted(p.name for p in (tmp_path / "figures").iterdir())
    expected = ["cifar10_spiking", "energy", "mnist_dvs_analog_accuracy_synops", "mnist_dvs_data",
                "mnist_dvs_estimate_vs_measured", "mnist_dvs_spiking", "mnist_dvs_targets",
                "mnist_quant_only"]
    assert names == sorted(f"{n}.{ext}" for n in expected for ext in ("pdf", "png"))
    assert "skipped: none" in printed(notebook)


def test_one_experiment_missing_is_skipped_with_a_note(tmp_path, tiny_mnist_dvs):
    results = write_fake_results(tmp_path / "results", skip=("cifar10",))
    notebook = run(results, tiny_mnist_dvs, tmp_path / "figures")
    assert "SKIPPED CIFAR-10 spiking" in printed(notebook)
    assert not (tmp_path / "figures" / "cifar10_spiking.png").exists()
    assert (tmp_path / "figures" / "mnist_quant_only.pdf").is_file()


def test_committed_notebook_has_no_outputs(tmp_path):
    notebook = json.loads(NOTEBOOK.read_text())
    for cell in notebook["cells"]:
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None
    tags = [cell["metadata"].get("tags", []) for cell in notebook["cells"]]
    assert ["parameters"] in tags
    copy = tmp_path / "copy.ipynb"
    executed = run(write_fake_results(tmp_path / "results"), tmp_path / "nodata", tmp_path / "f")
    nbformat.write(executed, copy)
    assert strip_outputs(copy) and not strip_outputs(copy)


def test_missing_parameters_cell(tmp_path):
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")])
    nbformat.write(notebook, tmp_path / "plain.ipynb")
    with pytest.raises(ValueError, match="no cell tagged 'parameters'"):
        execute(tmp_path / "plain.ipynb", {})


def test_a_broken_results_file_skips_its_figure_and_removes_the_old_one(tmp_path, tiny_mnist_dvs):
    results = write_fake_results(tmp_path / "results")
    figures = tmp_path / "figures"
    run(results, tiny_mnist_dvs, figures)
    assert (figures / "mnist_quant_only.png").is_file()
    (results / "mnist_quant_only" / "results" / "quant_eval_qtrain_True.csv").write_text("")
    notebook = run(results, tiny_mnist_dvs, figures)
    text = printed(notebook)
    assert "SKIPPED MNIST quantization only" in text and "quant_eval_qtrain_True.csv" in text
    assert not (figures / "mnist_quant_only.png").exists()
    assert (figures / "cifar10_spiking.png").is_file()  # the others are drawn
