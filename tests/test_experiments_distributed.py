"""Two gloo processes under torchrun on CPU reproduce the single-process step."""
import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from ddp_check import build, fixed_batch, step

from conftest import REPO
from synoploss.experiments.distributed import global_mean
from synoploss.experiments.workdir import Workdir


def torchrun(tmp_path, *arguments, timeout=240):
    # --log-dir: torchrun otherwise leaves a torchelastic_* folder in /tmp on every run
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               "--nproc_per_node=2", "--log-dir", str(tmp_path / "torchrun_logs"),
               *map(str, arguments)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                            env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"}, cwd=REPO)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def test_two_processes_match_one_on_the_whole_batch(tmp_path):
    torchrun(tmp_path, REPO / "tests" / "ddp_check.py", tmp_path / "ddp.json")
    distributed = json.loads((tmp_path / "ddp.json").read_text())
    assert distributed["world_size"] == 2
    data, labels = fixed_batch()
    single = step(build(), data, labels)
    assert distributed["synops"] == pytest.approx(single["synops"], rel=1e-5)
    assert distributed["penalty"] == pytest.approx(single["penalty"], rel=1e-5)
    assert single["penalty"] > 0.01  # the penalty is active: its gradient is compared too
    np.testing.assert_allclose(distributed["gradient"], single["gradient"], rtol=1e-4, atol=1e-7)


def test_global_mean_is_identity_in_one_process():
    import torch
    value = torch.tensor([3.0], requires_grad=True)
    assert global_mean(value) is value


def test_train_script_under_torchrun(tmp_path):
    torchrun(tmp_path, REPO / "CIFAR10_analogue" / "train.py", "--standin", "--n_train", "64",
             "--n_test", "32", "--width", "0.1", "--n_epochs", "1", "--round_epochs", "1",
             "--n_rounds", "1", "--batch_size", "16", "--workdir", tmp_path, "--no_progress",
             "--data_root", tmp_path / "none", "--device", "cpu")
    log = pd.read_csv(Workdir(tmp_path).training_log)
    assert log["round"].tolist() == [-1, 0] and (log["world_size"] == 2).all()
    assert (tmp_path / "models" / "d0.2_0.1_0.pth").is_file()
