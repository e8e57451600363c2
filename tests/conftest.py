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


def events_of(xs, ys, ts, ps=None):
    """DVS events (x, y, t, p) in the AEDAT dtype; polarities alternate unless given."""
    import numpy as np

    from synoploss.data.aedat import EVENT_DTYPE
    events = np.zeros(len(xs), dtype=EVENT_DTYPE)
    events["x"], events["y"], events["t"] = xs, ys, ts
    events["p"] = ps if ps is not None else np.arange(len(xs)) % 2
    return events


def random_recording(count, seed, duration_us=60_000):
    """`count` events uniform over the sensor and `duration_us`, ordered in time."""
    import numpy as np
    rng = np.random.default_rng(seed)
    return events_of(rng.integers(0, 128, count), rng.integers(0, 128, count),
                     np.sort(rng.integers(0, duration_us, count)))


@pytest.fixture(scope="session")
def tiny_mnist_dvs(tmp_path_factory):
    """A tiny emulated MNIST-DVS, converted: 60 training and 20 test chunks."""
    from synoploss.data.emulator import write_standin_recordings
    from synoploss.data.mnist_dvs import convert_dataset
    root = tmp_path_factory.mktemp("mnist_dvs")
    write_standin_recordings(root / "aedat", train_per_digit=3, test_per_digit=1,
                                 events_per_recording=6000, progress=False)
    convert_dataset(root / "aedat", root / "data", progress=False)
    return root / "data"


def write_fake_results(root: Path, data_dir: Path | None = None, skip=()):
    """Small result files with the names and columns the experiment scripts write (both
    from synoploss.results)."""
    import numpy as np
    import pandas as pd

    from synoploss.io import save_npz
    from synoploss.results import (
        BASELINE,
        SPIKING_CURVES,
        TRAINED_CURVES,
        WEIGHT_SCALING,
        Workdir,
        mnist_dvs_checkpoint,
    )

    standin = "STAND-IN: test data"
    layers = ["input_relu", "seq_1", "seq_4", "seq_7"]
    if "mnist_dvs" not in skip:
        files = Workdir(root / "mnist_dvs")
        files.results.mkdir(parents=True)
        log = []
        trained = [SPIKING_CURVES[label] for label in TRAINED_CURVES]
        for name, targets in [(name, [3e5, 1e6]) for name in trained] + [(BASELINE, [None])]:
            for target in targets:
                log.append(dict(name=name, target=target, test_accuracy=0.8,
                                estimated_synops=target or 2e6, data=standin,
                                model_path=files.model_entry(mnist_dvs_checkpoint(name, target))))
        pd.DataFrame(log).to_csv(files.training_log, index=False)

        def spiking(rows):
            frame = pd.DataFrame(rows)
            for layer in layers:
                frame[f"snn_synops_{layer}"] = frame["snn_synops"] / 4
            frame["data"] = standin
            frame["model_path"] = "models/x.pth"
            return frame
        spiking([dict(snn_synops=2e6, snn_accuracy=0.8, ann_synops=2e6, ann_accuracy=0.82)]) \
            .to_csv(files.spiking_csv(BASELINE), index=False)
        for name in trained:
            spiking([dict(target=t, snn_synops=t * 1.1, snn_accuracy=0.7 + t / 1e7,
                          ann_synops=t, ann_accuracy=0.75) for t in (3e5, 1e6)]) \
                .to_csv(files.spiking_csv(name), index=False)
        spiking([dict(scale=s, snn_synops=2e6 * s, snn_accuracy=0.8 * s, ann_synops=2e6 * s,
                      ann_accuracy=0.8 * s) for s in (0.3, 0.6, 0.9)]) \
            .to_csv(files.spiking_csv(WEIGHT_SCALING), index=False)
        pd.DataFrame([dict(curve=curve, scale=scale, quantize_test=quantized,
                           ann_accuracy=0.5 + 0.1 * scale, ann_synops=2e6 * scale,
                           fanout="paper", data=standin)
                      for quantized in (True, False)
                      for curve, scale in [*[(label, 1.0) for label in TRAINED_CURVES],
                                           ("weight scaling", 0.1),
                                           ("weight scaling", 1.0), ("baseline", 1.0)]]) \
            .to_csv(files.activity_accuracy, index=False)
        save_npz(files.opt_benchmark, baseline_activity=np.array([2e5, 1e6, 7e5, 1e4]),
                 optimized_activity=np.array([2e5, 2e5, 1e5, 1e4]), baseline_accuracy=0.8,
                 optimized_accuracy=0.79, layer_names=np.array(layers))
    if "cifar10" not in skip:
        files = Workdir(root / "cifar10")
        files.results.mkdir(parents=True)
        pd.DataFrame([dict(round=r, weight_scale=s, snn_accuracy=0.5 + 0.1 * (r + 1),
                           snn_synops=1e7 * s / (r + 2), macs=3e7, data=standin)
                      for r, scales in ((-1, (5, 50)), (0, (1.5, 2)), (1, (1.5, 2)))
                      for s in scales]).to_csv(files.cifar_inference, index=False)
    if "mnist_quant_only" not in skip:
        files = Workdir(root / "mnist_quant_only")
        files.results.mkdir(parents=True)
        for qtrain in (False, True):
            pd.DataFrame([dict(scale=s, ann_quantized_accuracy=0.5 + 0.1 * s, ann_accuracy=0.9,
                               data=standin) for s in (0.5, 2.0)]) \
                .to_csv(files.quant_eval_csv(qtrain), index=False)
            pd.DataFrame([dict(scale=s, snn_accuracy=0.5 + 0.1 * s) for s in (0.5, 2.0)]) \
                .to_csv(files.quant_spiking_csv(qtrain), index=False)
    return root


def pytest_collection_modifyitems(config, items):
    """Tests marked `gpu` need CUDA: skipped, with the reason, on machines without it."""
    import torch
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU (torch.cuda.is_available() is False); "
                                   "scripts/gpu_check.sh runs every pipeline on one")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)
