"""The README works as printed: its library snippet runs, and its command blocks, run
literally from a fresh folder (the repository root's stand-in) with size flags appended
and nothing else changed, feed the notebook, which then draws every figure with its
default parameters (conftest.documented_run)."""
import re

import nbformat
import pytest

from conftest import REPO
from readme_commands import README, blocks, commands

MAX_LINES = 150
# what GeneratePlots.ipynb draws when every experiment has run
ALL_FIGURES = ("mnist_dvs_data", "mnist_dvs_analog_accuracy_synops", "mnist_dvs_targets",
               "mnist_dvs_spiking", "mnist_dvs_estimate_vs_measured", "cifar10_spiking",
               "mnist_quant_only", "energy")


def test_the_front_page_is_short():
    assert len(README.splitlines()) <= MAX_LINES


def test_the_library_snippet_runs_as_printed(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (snippet,) = blocks("python")
    exec(compile(snippet, "README.md", "exec"), {"__name__": "readme"})
    assert re.fullmatch(r"accuracy \d\.\d\d, [\d.e+]+ SynOps per sample\n",
                        capsys.readouterr().out)


def test_every_experiment_has_its_commands_and_every_script_exists():
    scripts = [script for script, _ in commands()]
    assert {"mnist_dvs/generate_DV4_dataset.py", "mnist_dvs/train.py",
            "mnist_dvs/test_spiking.py", "CIFAR10_analogue/train.py", "CIFAR10_analogue/test.py",
            "mnist_quant_only/quantization_evaluation.py",
            "mnist_quant_only/test_spiking.py"} <= set(scripts)
    assert all((REPO / script).is_file() for script in scripts)


@pytest.mark.slow
def test_the_documented_commands_then_the_notebook_draw_every_figure(documented_run):
    """Every figure drawn into the notebook's default FIGURE_DIR, as PNG and PDF, none
    skipped; each experiment in its own default folder."""
    figures = documented_run / "runs" / "figures"
    drawn = {path.stem for path in figures.glob("*.png")}
    assert drawn == set(ALL_FIGURES)
    assert {path.stem for path in figures.glob("*.pdf")} == drawn
    printed = "".join(output.get("text", "") for cell in nbformat.read(
        documented_run / "run.ipynb", as_version=4).cells for output in cell.get("outputs", []))
    assert "skipped: none" in printed and "SKIPPED" not in printed
    assert {path.name for path in (documented_run / "runs").iterdir()} == {
        "mnist_dvs", "cifar10", "mnist_quant_only", "figures"}
