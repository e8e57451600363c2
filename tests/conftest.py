import importlib.util
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def load_script(relative_path: str):
    """Import an experiment script as a module (its main(argv) is then callable)."""
    path = REPO / relative_path
    name = "script_" + relative_path.replace("/", "_").replace(".py", "")
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def tiny_mnist_dvs(tmp_path_factory):
    """A tiny emulated MNIST-DVS, converted: 60 training and 20 test chunks."""
    from synoploss.mnist_dvs import convert_dataset, generate_emulated_recordings
    root = tmp_path_factory.mktemp("mnist_dvs")
    generate_emulated_recordings(root / "aedat", train_per_digit=3, test_per_digit=1,
                                 events_per_recording=6000, progress=False)
    convert_dataset(root / "aedat", root / "data", progress=False)
    return root / "data"
