"""The README works as printed: its library snippet runs, and its command blocks, run
literally from a fresh folder (the repository root's stand-in) with size flags appended
and nothing else changed, feed the notebook, which then draws every figure with its
default parameters."""
import re
import shlex

import pytest

from conftest import REPO, load_script

README = (REPO / "README.md").read_text()
MAX_LINES = 150
# what GeneratePlots.ipynb draws when every experiment has run
ALL_FIGURES = ("mnist_dvs_data", "mnist_dvs_analog_accuracy_synops", "mnist_dvs_targets",
               "mnist_dvs_spiking", "mnist_dvs_estimate_vs_measured", "cifar10_spiking",
               "mnist_quant_only", "energy")


def blocks(language: str):
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.S)


def commands():
    """Every `python SCRIPT ARGS` line of the README's bash blocks, in order."""
    found = []
    for block in blocks("bash"):
        for line in block.splitlines():
            line = line.split("#")[0].strip()
            if line.startswith("python ") and line.endswith(".py") or \
                    line.startswith("python ") and ".py " in line:
                words = shlex.split(line)
                found.append((words[1], words[2:]))
    return found


# only sizes (epochs, samples, models, scales, steps) and progress bars: never a setting
# that changes what the commands mean
TRAIN_SIZE = ["--n_epochs", "1", "--batch_size", "16", "--max_train_samples", "120",
              "--no_progress", "--device", "cpu"]


def size_flags(script: str, args) -> list:
    if script == "mnist_dvs/generate_DV4_dataset.py":
        return ["--train_per_digit", "3", "--test_per_digit", "1", "--workers", "1"]
    if script == "mnist_dvs/train.py":
        return TRAIN_SIZE + ([] if "--nopenalty" in args else
                             ["--n_models", "2", "--target_min", "2e5", "--target_max", "1e6"])
    if script == "mnist_dvs/test_spiking.py":
        return ["--scales", "0.3", "0.9"] if "weightscaling" in args else []
    if script == "mnist_dvs/activity-accuracy.py":
        return ["--scales", "0.5", "1"]
    if script == "mnist_dvs/summarize_results.py":
        return ["--resamples", "100"]
    if script == "CIFAR10_analogue/train.py":
        return ["--n_train", "64", "--n_test", "32", "--width", "0.125", "--n_epochs", "1",
                "--round_epochs", "1", "--n_rounds", "1", "--batch_size", "16",
                "--no_progress"]
    if script == "CIFAR10_analogue/test.py":
        return ["--n_test", "32", "--n_timesteps", "4", "--wscales", "1", "2",
                "--baseline_scales", "5", "20"]
    if script == "mnist_quant_only/quantization_evaluation.py":
        return ["--scales", "1", "3", "--n_epochs", "1", "--max_train_samples", "200",
                "--no_progress"]
    if script == "mnist_quant_only/test_spiking.py":
        return ["--n_timesteps", "5", "--max_samples", "50"]
    return []


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
def test_the_documented_commands_then_the_notebook_draw_every_figure(tmp_path, monkeypatch):
    """The README's command sequence for each experiment, literally (size flags appended),
    from an empty folder standing in for the repository root, then the notebook with its
    defaults: every figure is drawn, none skipped."""
    from synoploss import notebook
    monkeypatch.chdir(tmp_path)
    for script, args in commands():
        load_script(script).main(args + size_flags(script, args))
    notebook.main([str(REPO / "GeneratePlots.ipynb"), "--output", str(tmp_path / "run.ipynb")])
    drawn = {path.stem for path in (tmp_path / "runs" / "figures").glob("*.png")}
    assert drawn == set(ALL_FIGURES)
    assert {path.stem for path in (tmp_path / "runs" / "figures").glob("*.pdf")} == drawn
    import nbformat
    printed = "".join(output.get("text", "") for cell in nbformat.read(
        tmp_path / "run.ipynb", as_version=4).cells for output in cell.get("outputs", []))
    assert "skipped: none" in printed and "SKIPPED" not in printed
