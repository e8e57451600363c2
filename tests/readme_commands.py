"""The README's command blocks as (script, arguments), and the size flags that make them
tiny: for tests/test_readme.py and the session's one notebook run (conftest.py)."""
import re
import shlex

from conftest import REPO

README = (REPO / "README.md").read_text()


def blocks(language: str):
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.S)


def commands():
    """Every `python SCRIPT.py ARGS` line of the README's bash blocks, in order."""
    found = []
    for block in blocks("bash"):
        for line in block.splitlines():
            line = line.split("#")[0].strip()
            words = shlex.split(line)
            if len(words) >= 2 and words[0] == "python" and words[1].endswith(".py"):
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
