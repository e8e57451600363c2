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
    from synoploss.data.mnist_dvs import convert_dataset, write_standin_recordings
    root = tmp_path_factory.mktemp("mnist_dvs")
    write_standin_recordings(root / "aedat", train_per_digit=3, test_per_digit=1,
                                 events_per_recording=6000, progress=False)
    convert_dataset(root / "aedat", root / "data", progress=False)
    return root / "data"


def _tested(files, results_name, row, accuracy, synops, samples=200, seed=0):
    """A results row as the spiking tests write it, with its per-sample arrays: `accuracy`
    of `samples` right, SynOps spread around `synops`."""
    import numpy as np

    from synoploss.experiments.workdir import samples_file
    from synoploss.io import save_npz
    from synoploss.stats import mean_interval, wilson
    rng = np.random.default_rng(seed)
    correct = rng.permutation(np.arange(samples) < round(accuracy * samples))
    per_sample = synops * rng.uniform(0.8, 1.2, samples)
    row = dict(row, simulator="fast", dt_us=1000, n_samples=samples, data_fingerprint="fake1234",
               data="STAND-IN: test data")
    row["samples_path"] = str(samples_file(files, results_name, row).relative_to(files.root))
    save_npz(files.root / row["samples_path"], correct=correct, synops=per_sample,
             labels=np.zeros(samples), predictions=np.zeros(samples))
    accuracy_interval, synops_interval = wilson(int(correct.sum()), samples), \
        mean_interval(per_sample)
    return dict(row, snn_accuracy=accuracy_interval.value, snn_accuracy_low=accuracy_interval.low,
                snn_accuracy_high=accuracy_interval.high, snn_synops=synops_interval.value,
                snn_synops_low=synops_interval.low, snn_synops_high=synops_interval.high)


# the fake baseline's SynOps per training seed, times 2e6: seeds differ as on the last study
FAKE_BASELINE_SYNOPS = {1: 1.0, 2: 1.5, 3: 0.75}
# the fake analog estimate's share of each layer (the measurement splits evenly in four)
FAKE_ESTIMATE_SHARES = (0.1, 0.2, 0.3, 0.4)


def write_fake_results(root: Path, data_dir: Path | None = None, skip=(), seeds=(1,),
                       smartscaling: bool = False):
    """Small result files with the names and columns the experiment scripts write (both
    from synoploss.experiments.workdir), with per-sample arrays behind every spiking row
    (and per-layer SynOps per sample, layer_synops). `seeds`: the MNIST-DVS training seeds
    (the baseline's SynOps differ by FAKE_BASELINE_SYNOPS); `smartscaling`: also the
    baseline's Rueckauer normalisation at 3 levels."""
    import numpy as np
    import pandas as pd

    from synoploss.experiments.workdir import (
        BASELINE,
        SMART_SCALING,
        SPIKING_CURVES,
        TRAINED_CURVES,
        WEIGHT_SCALING,
        Workdir,
        mnist_dvs_checkpoint,
    )
    from synoploss.io import save_npz

    standin = "STAND-IN: test data"
    layers = ["input_relu", "seq_1", "seq_4", "seq_7"]
    if "mnist_dvs" not in skip:
        files = Workdir(root / "mnist_dvs")
        files.results.mkdir(parents=True)
        log = []
        trained = [SPIKING_CURVES[label] for label in TRAINED_CURVES]
        for seed in seeds:
            for name, targets in [(name, [3e5, 1e6]) for name in trained] + [(BASELINE, [None])]:
                for target in targets:
                    log.append(dict(name=name, target=target, test_accuracy=0.8,
                                    estimated_synops=target or 2e6, data=standin, seed=seed,
                                    model_path=files.model_entry(
                                        mnist_dvs_checkpoint(name, target, seed=seed))))
        pd.DataFrame(log).to_csv(files.training_log, index=False)

        def spiking(name, items):
            rows = []
            for number, (extra, accuracy, synops) in enumerate(items):
                # the model the training log lists (test_spiking.py copies its model_path)
                seed = extra.get("seed", 1)
                model = files.model_entry(mnist_dvs_checkpoint(extra["name"], extra.get("target"),
                                                               seed=seed))
                base = dict(dict(model_path=model, seed=1, scale=1.0, fanout="exact"), **extra)
                row = _tested(files, name, base, accuracy, synops,
                              seed=number + 100 * (seed - 1))
                row["ann_synops"], row["ann_accuracy"] = synops, accuracy + 0.02
                for layer in layers:
                    row[f"snn_synops_{layer}"] = row["snn_synops"] / 4
                for layer, share in zip(layers, FAKE_ESTIMATE_SHARES, strict=True):
                    row[f"ann_synops_{layer}"] = synops * share
                path = files.root / row["samples_path"]
                with np.load(path) as saved:
                    arrays = dict(saved)
                # the measurement in 4 equal parts, one per weight layer
                save_npz(path, **arrays, layer_synops=np.repeat(arrays["synops"][:, None] / 4, 4,
                                                                axis=1),
                         layer_names=np.array(["seq.0", "seq.3", "seq.6", "seq.10"]))
                rows.append(row)
            pd.DataFrame(rows).to_csv(files.spiking_csv(name), index=False)
        by_seed = {name: [] for name in (BASELINE, *trained, WEIGHT_SCALING, SMART_SCALING)}
        for seed in seeds:
            baseline = 2e6 * FAKE_BASELINE_SYNOPS[seed]
            by_seed[BASELINE] += [(dict(name=BASELINE, seed=seed), 0.8, baseline)]
            for name in trained:
                by_seed[name] += [(dict(name=name, target=t, seed=seed), 0.7 + t / 1e7, t * 1.1)
                                  for t in (3e5, 1e6)]
            by_seed[WEIGHT_SCALING] += [(dict(name=BASELINE, scale=s, seed=seed), 0.8 * s,
                                         baseline * s) for s in (0.3, 0.6, 0.9)]
            by_seed[SMART_SCALING] += [(dict(name=BASELINE, level=level, seed=seed),
                                        0.5 + level / 160, baseline * level / 32)
                                       for level in (8, 16, 32)]
        for name, items in by_seed.items():
            if name != SMART_SCALING or smartscaling:
                spiking(name, items)
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
        rows = []
        for r, scales in ((-1, (5, 50)), (0, (1.5, 2)), (1, (1.5, 2))):
            for number, s in enumerate(scales):
                row = _tested(files, "cifar10", dict(round=r, weight_scale=s, scale=s,
                                                     model_path=f"models/d0.2_0.1_{r}.pth",
                                                     n_timesteps=10, fanout="exact"),
                              0.5 + 0.1 * (r + 1), 1e7 * s / (r + 2), seed=(r + 1) * 10 + number)
                rows.append(dict(row, ann_macs=3e7, ann_accuracy=0.6, ann_quantized_accuracy=0.55,
                                 dt_us=None))
        pd.DataFrame(rows).to_csv(files.cifar_inference, index=False)
    if "mnist_quant_only" not in skip:
        files = Workdir(root / "mnist_quant_only")
        files.results.mkdir(parents=True)
        for qtrain in (False, True):
            pd.DataFrame([dict(scale=s, ann_quantized_accuracy=0.5 + 0.1 * s, ann_accuracy=0.9,
                               data=standin) for s in (0.5, 2.0)]) \
                .to_csv(files.quant_eval_csv(qtrain), index=False)
            pd.DataFrame([_tested(files, f"spiking_qtrain_{qtrain}",
                                  dict(scale=s, model_path=f"models/scale_{s:g}_{qtrain}.pth",
                                       n_timesteps=100, fanout="exact"),
                                  0.5 + 0.1 * s + 0.2 * qtrain, 1e5, seed=int(s * 10))
                          for s in (0.5, 2.0)]) \
                .to_csv(files.quant_spiking_csv(qtrain), index=False)
    return root


def add_quick_look(files, name: str, samples: int = 6, sample_seed: int = 0,
                   keep_full: bool = True):
    """A quick look's rows (test_spiking.py --max_samples `samples`: a subset drawn with
    `sample_seed`) of the models of results `name` (a *_spiking.csv of the `files` work
    folder), each with its per-sample arrays; beside the full evaluation's rows, or, with
    `keep_full=False`, instead of them."""
    import pandas as pd
    path = files.spiking_csv(name)
    full = pd.read_csv(path)
    quick = []
    for number, row in enumerate(full.to_dict("records")):
        identity = {key: row[key] for key in ("model_path", "seed", "scale", "level", "fanout",
                                              "name", "target")
                    if key in row and pd.notna(row[key])}
        tested = _tested(files, name, dict(identity, sample_seed=sample_seed),
                         row["snn_accuracy"], row["snn_synops"], samples=samples, seed=number)
        quick.append(dict(tested, ann_synops=row["ann_synops"], ann_accuracy=row["ann_accuracy"]))
    (pd.concat([full, pd.DataFrame(quick)]) if keep_full else pd.DataFrame(quick)) \
        .to_csv(path, index=False)


def pytest_collection_modifyitems(config, items):
    """Tests marked `gpu` need CUDA: skipped, with the reason, on machines without it,
    unless SYNOPLOSS_GPU_DRY_RUN=1 (the CPU on both sides: tests/test_gpu.py)."""
    import os

    import torch
    if torch.cuda.is_available() or os.environ.get("SYNOPLOSS_GPU_DRY_RUN") == "1":
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU (torch.cuda.is_available() is False); "
                                   "scripts/gpu_check.sh runs every pipeline on one, "
                                   "SYNOPLOSS_GPU_DRY_RUN=1 runs these on the CPU")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def documented_run(tmp_path_factory):
    """The README's commands, literally (size flags appended), from an empty folder that
    stands in for the repository root, then GeneratePlots.ipynb with its default
    parameters in a kernel: the session's one kernel run of the notebook. Returns the
    folder; the executed notebook is <folder>/run.ipynb."""
    import os

    from readme_commands import commands, size_flags
    from synoploss.reporting import notebook
    folder = tmp_path_factory.mktemp("documented_path")
    before = os.getcwd()
    os.chdir(folder)
    try:
        for script, args in commands():
            load_script(script).main(args + size_flags(script, args))
        notebook.main([str(REPO / "GeneratePlots.ipynb"), "--output", str(folder / "run.ipynb")])
    finally:
        os.chdir(before)
    return folder
