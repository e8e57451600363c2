"""Spiking-test throughput: sinabs against the exact fast simulator, in one run, on the
same batches, on the present device.

Networks:
  mnist_dvs  the paper's MNIST-DVS network on test chunks at 1 ms: the demo's baseline and
             its chunks when --mnist_dvs_dir holds them (default runs/mnist_dvs, then
             demo_output/mnist_dvs), else a Kaiming-initialised network (first layer x8,
             so that it spikes) on freshly emulated chunks;
  cifar10    the CIFAR-10 network at --n_timesteps (10) steps, bound -1: the last round of
             --cifar_dir (default runs/cifar10, then demo_output/cifar10) with its first
             layer x2 on its stand-in test images, else a width-0.25 Kaiming network on
             stand-in images.
For each: ms per sample of both simulators (after a warm-up batch), their ratio, peak
memory (CPU: the process's peak resident memory during each run; CUDA: the peak
allocated), SynOps per sample, the dense multiply-accumulates per sample (every weight
layer at every step, what a dense simulator computes) and the rates achieved (dense
GMAC/s for sinabs, GSynOp/s for the simulator), and the check: samples whose output
spikes differ, predictions that differ, the largest relative difference of a layer's
SynOps, and the hidden spikes that differ (per layer, as counts). One CSV row per network
is appended to --out.

The whole process (MNIST-DVS, with a demo folder): mnist_dvs/test_spiking.py --mode
nopenalty on every test chunk, as a user runs it, once with --simulator sinabs and twice
with --simulator fast in fresh processes (imports, data and the analog estimate included):
the first with an empty numba cache (it compiles the kernel), the second with the cache
the first wrote (what every later run costs); process_ratio compares the second with
sinabs. --no_whole_process skips it.

  python benchmarks/spiking_throughput.py                   # this machine, both networks
  python benchmarks/spiking_throughput.py --device cuda --batch_size 256
"""
import csv
import platform
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import sinabs
import torch
from torch.utils.data import DataLoader

from synoploss.experiments.cli import add_device_flag, device_or_fail, positive_int, script_parser
from synoploss.experiments.reruns import check_checkpoint, check_logged_checkpoint
from synoploss.experiments.workdir import CifarCheckpoint
from synoploss.io import atomic_path, load_state, read_csv
from synoploss.models import (
    CIFAR10_INPUT,
    MNIST_DVS_INPUT,
    CIFAR10AnalogueClassifier,
    MNISTDVSNet,
    scale_first_layer,
)
from synoploss.spiking import StaticInputBatches, spiking_layers, to_spiking
from synoploss.spiking.fast import compile_network, run_batch
from synoploss.spiking.sinabs_run import hook_synops, run_steps
from synoploss.synops import count_macs

COLUMNS = ["utc", "host", "device", "threads", "torch", "sinabs", "network", "model", "samples",
           "batch_size", "mean_steps", "sinabs_ms_per_sample", "fast_ms_per_sample", "ratio",
           "sinabs_peak_mib", "fast_peak_mib", "synops_per_sample", "dense_macs_per_sample",
           "sinabs_dense_gmac_per_s", "fast_gsynop_per_s", "samples_output_differs",
           "predictions_differ", "max_layer_synops_rel_diff", "hidden_spikes_differ",
           "hidden_spikes", "process_samples", "sinabs_process_s", "fast_process_cold_s",
           "fast_process_s", "process_ratio"]


def parse_args(argv=None):
    parser = script_parser(__doc__, __file__)
    add_device_flag(parser)
    parser.add_argument("--networks", nargs="+", choices=["mnist_dvs", "cifar10"],
                        default=["mnist_dvs", "cifar10"],
                        help="which networks to time (default both)")
    parser.add_argument("--mnist_dvs_dir", default=None,
                        help="a work folder with models/nopenalty.pth and data/ (default: "
                             "runs/mnist_dvs, then demo_output/mnist_dvs)")
    parser.add_argument("--cifar_dir", default=None,
                        help="a CIFAR-10 work folder (default: runs/cifar10, then "
                             "demo_output/cifar10)")
    parser.add_argument("--samples", type=positive_int, default=300,
                        help="MNIST-DVS test chunks (default 300)")
    parser.add_argument("--images", type=positive_int, default=200,
                        help="CIFAR-10 test images (default 200)")
    parser.add_argument("--n_timesteps", type=positive_int, default=10,
                        help="CIFAR-10: time steps of the static input (default 10)")
    parser.add_argument("--batch_size", type=positive_int, default=None,
                        help="default 32 on CPU, 256 on CUDA")
    parser.add_argument("--threads", type=positive_int, default=None,
                        help="CPU threads for both simulators (default: torch's, all cores)")
    parser.add_argument("--no_whole_process", action="store_true",
                        help="skip the whole-process comparison (test_spiking.py on every "
                             "MNIST-DVS test chunk, fresh processes)")
    parser.add_argument("--out", default="runs/benchmarks/spiking_throughput.csv",
                        help="CSV the rows are appended to")
    return parser.parse_args(argv)


def first_existing(*folders):
    for folder in folders:
        if folder and Path(folder).is_dir():
            return Path(folder)
    return None


def mnist_dvs_case(args, device):
    """(label, model, batches) of the MNIST-DVS network."""
    from synoploss.data.mnist_dvs import SpikeTrainDataset
    folder = first_existing(args.mnist_dvs_dir, "runs/mnist_dvs", "demo_output/mnist_dvs")
    if (folder and (folder / "models" / "nopenalty.pth").is_file()
            and (folder / "data" / "test").is_dir()):
        check_logged_checkpoint(folder / "models" / "nopenalty.pth")
        model = load_state(MNISTDVSNet(quantize=True), folder / "models" / "nopenalty.pth")
        chunks = SpikeTrainDataset(folder / "data" / "test", 1000, args.samples, 0)
        label = f"{folder}/models/nopenalty.pth"
    else:
        from synoploss.data.mnist_dvs import convert_dataset, write_standin_recordings
        scratch = Path(tempfile.mkdtemp(prefix="synoploss-bench-"))
        per_digit = max(1, args.samples // 20)
        write_standin_recordings(scratch / "aedat", train_per_digit=1, test_per_digit=per_digit,
                                 progress=False)
        convert_dataset(scratch / "aedat", scratch / "data", progress=False)
        torch.manual_seed(0)
        model = scale_first_layer(MNISTDVSNet(quantize=True), 8.0)
        chunks = SpikeTrainDataset(scratch / "data" / "test", 1000, args.samples, 0)
        label = "Kaiming, first layer x8 (no demo model found)"
    return label, model.to(device), MNIST_DVS_INPUT, None, list(chunks.loader(args.batch_size))


def cifar10_case(args, device):
    from synoploss.data.cifar10 import load_cifar10
    folder = first_existing(args.cifar_dir, "runs/cifar10", "demo_output/cifar10")
    model = None
    if folder and (folder / "training_log.csv").is_file():
        log = read_csv(folder / "training_log.csv")
        last = log.iloc[-1]
        dropout = tuple(float(v) for v in str(last.get("dropout", "0.2 0.1")).split())
        rounds = sorted(int(r) for r in log["round"].unique())
        path = folder / "models" / f"d{dropout[0]:g}_{dropout[1]:g}_{rounds[-1]}.pth"
        if not path.is_file():  # a log of an older version, without the dropout column
            found = sorted((folder / "models").glob(f"d*_{rounds[-1]}.pth"))
            path = found[0] if found else path
            dropout = CifarCheckpoint.parse(path).dropout if found else dropout
        if path.is_file():
            last_epoch = log[log["round"] == rounds[-1]].sort_values("epoch").iloc[-1]
            check_checkpoint(path, last_epoch.get("model_sha256"), folder / "training_log.csv")
            model = load_state(CIFAR10AnalogueClassifier(quantize=True, width=float(last["width"]),
                                                        dropout_rate=dropout), path)
            scale_first_layer(model, 2.0)
            label = f"{path} x2"
            data_root = folder / "data"
    if model is None:
        torch.manual_seed(0)
        model = scale_first_layer(CIFAR10AnalogueClassifier(quantize=True, width=0.25), 2.0)
        label, data_root = "width 0.25, Kaiming, first layer x2 (no demo model found)", "none"
    _, test, _ = load_cifar10(data_root, n_train=0, n_test=args.images, standin=True)
    batches = list(StaticInputBatches(DataLoader(test, args.batch_size), args.n_timesteps))
    return label, model.eval().to(device), CIFAR10_INPUT, -1.0, batches


class PeakMemory:
    """Peak memory during a block, MiB: CUDA's peak allocation, or the process's peak
    resident set (VmHWM, reset through /proc/self/clear_refs) above where it started."""

    def __init__(self, device):
        self.device, self.mib = device, float("nan")

    def __enter__(self):
        if self.device.type == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats(self.device)
        else:
            _release_freed_memory()  # else memory freed earlier is reused unseen
            self.start = _resident_kib()
            try:
                Path("/proc/self/clear_refs").write_text("5")
            except OSError:
                pass
        return self

    def __exit__(self, *exc):
        if self.device.type == "cuda":
            torch.cuda.synchronize()
            self.mib = torch.cuda.max_memory_allocated(self.device) / 2 ** 20
        else:
            self.mib = max(0.0, (_peak_kib() - self.start) / 1024)


def _release_freed_memory():
    """Give memory the allocator kept back to the system (glibc's malloc_trim)."""
    import ctypes
    import gc
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except OSError:
        pass


def _status_kib(field):
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field):
                return float(line.split()[1])
    except OSError:
        pass
    return float("nan")


def _resident_kib():
    return _status_kib("VmRSS:")


def _peak_kib():
    return _status_kib("VmHWM:")


def spike_counter(net):
    """Hidden spikes per spiking layer of sinabs' last batch, from forward hooks."""
    counts = {}
    handles = [layer.register_forward_hook(
        lambda module, inputs, output, index=index: counts.__setitem__(index, float(output.sum())))
        for index, layer in enumerate(spiking_layers(net))]
    return counts, handles


def measure(label, model, input_shape, min_v_mem, batches, device, threads):
    net = to_spiking(model, input_shape, min_v_mem=min_v_mem)
    plan = compile_network(net, input_shape) if device.type == "cpu" else None
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    # warm-up: compile the numba kernel, cuDNN's choices, Triton's kernel
    warm = batches[0][0][:2].to(device)
    with torch.no_grad():
        run_steps(net, warm)
    run_batch(net, warm, plan, threads)
    counts, handles = spike_counter(net)
    sinabs_outputs, sinabs_synops, sinabs_spikes = [], [], []
    with PeakMemory(device) as sinabs_memory:
        sync()
        started = time.perf_counter()
        with torch.no_grad():
            for data, _ in batches:
                data = data.to(device)
                sinabs_outputs.append(run_steps(net, data).cpu())
                sinabs_synops.append(hook_synops(net, *data.shape[:2]))
                sinabs_spikes.append([counts[i] for i in sorted(counts)])
        sync()
        sinabs_seconds = time.perf_counter() - started
    for handle in handles:
        handle.remove()
    fast_outputs, fast_synops, fast_spikes = [], [], []
    with PeakMemory(device) as fast_memory:
        sync()
        started = time.perf_counter()
        for data, _ in batches:
            result = run_batch(net, data.to(device), plan, threads)
            fast_outputs.append(result.output.cpu())
            fast_synops.append(result.layer_synops.sum(0))
            fast_spikes.append(result.spike_counts.sum(0))
        sync()
        fast_seconds = time.perf_counter() - started
    samples = sum(len(data) for data, _ in batches)
    steps = np.mean([data.shape[1] for data, _ in batches])
    differs = sum(int((a != b).flatten(1).any(1).sum())
                  for a, b in zip(sinabs_outputs, fast_outputs, strict=True))
    predictions = sum(int((a.sum(1).argmax(1) != b.sum(1).argmax(1)).sum())
                      for a, b in zip(sinabs_outputs, fast_outputs, strict=True))
    sinabs_layers, fast_layers = np.sum(sinabs_synops, 0), np.sum(fast_synops, 0)
    relative = np.abs(fast_layers - sinabs_layers) / np.maximum(np.abs(sinabs_layers), 1e-12)
    hidden_sinabs, hidden_fast = np.sum(sinabs_spikes, 0), np.sum(fast_spikes, 0)
    dense_macs = sum(layer.macs for layer in count_macs(model, input_shape)) * steps
    synops = float(fast_layers.sum() / samples)
    return dict(
        network=label[0], model=label[1], samples=samples, mean_steps=round(float(steps), 1),
        sinabs_ms_per_sample=sinabs_seconds / samples * 1e3,
        fast_ms_per_sample=fast_seconds / samples * 1e3, ratio=sinabs_seconds / fast_seconds,
        sinabs_peak_mib=sinabs_memory.mib, fast_peak_mib=fast_memory.mib,
        synops_per_sample=synops, dense_macs_per_sample=float(dense_macs),
        sinabs_dense_gmac_per_s=dense_macs * samples / sinabs_seconds / 1e9,
        fast_gsynop_per_s=synops * samples / fast_seconds / 1e9,
        samples_output_differs=differs, predictions_differ=predictions,
        max_layer_synops_rel_diff=float(relative.max()),
        hidden_spikes_differ=" ".join(f"{abs(a - b):g}"
                                      for a, b in zip(hidden_sinabs, hidden_fast, strict=True)),
        hidden_spikes=" ".join(f"{a:g}" for a in hidden_sinabs))


def whole_process(folder: Path, threads: int) -> dict:
    """Wall seconds of mnist_dvs/test_spiking.py --mode nopenalty on every test chunk of
    `folder`'s data, in fresh processes: sinabs, then fast with an empty numba cache
    (compiling), then fast again (the cache in place)."""
    import os
    import shutil
    import subprocess
    import sys
    script = Path(__file__).resolve().parents[1] / "mnist_dvs" / "test_spiking.py"
    scratch = Path(tempfile.mkdtemp(prefix="synoploss-process-"))
    env = dict(os.environ, NUMBA_CACHE_DIR=str(scratch / "numba"), OMP_NUM_THREADS=str(threads))
    seconds = {}
    try:
        for label, simulator in (("sinabs_process_s", "sinabs"), ("fast_process_cold_s", "fast"),
                                 ("fast_process_s", "fast")):
            workdir = scratch / label
            workdir.mkdir()
            shutil.copy(folder / "training_log.csv", workdir / "training_log.csv")
            (workdir / "models").symlink_to((folder / "models").resolve())
            started = time.perf_counter()
            subprocess.run([sys.executable, str(script), "--mode", "nopenalty", "--models",
                            "models/nopenalty.pth", "--workdir", str(workdir), "--data_root",
                            str(folder / "data"), "--simulator", simulator], check=True,
                           env=env, stdout=subprocess.DEVNULL)
            seconds[label] = time.perf_counter() - started
            samples = int(read_csv(workdir / "results" / "nopenalty_spiking.csv")
                          ["n_samples"].iloc[0])
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return dict(seconds, process_samples=samples,
                process_ratio=seconds["sinabs_process_s"] / seconds["fast_process_s"])


def append_rows(path, rows):
    path = Path(path)
    existing = path.read_text() if path.is_file() else ""
    with atomic_path(path) as temporary:
        with open(temporary, "w", newline="") as handle:
            handle.write(existing)
            writer = csv.DictWriter(handle, COLUMNS)
            if not existing:
                writer.writeheader()
            writer.writerows(rows)


def main(argv=None):
    args = parse_args(argv)
    device = device_or_fail(args.device, __file__)
    if args.threads:
        torch.set_num_threads(args.threads)
    threads = torch.get_num_threads()
    args.batch_size = args.batch_size or (256 if device.type == "cuda" else 32)
    cases = {"mnist_dvs": mnist_dvs_case, "cifar10": cifar10_case}
    rows = []
    for name in args.networks:
        label, model, input_shape, min_v_mem, batches = cases[name](args, device)
        row = measure((name, label), model, input_shape, min_v_mem, batches, device, threads)
        folder = first_existing(args.mnist_dvs_dir, "runs/mnist_dvs", "demo_output/mnist_dvs")
        if name == "mnist_dvs" and not args.no_whole_process and device.type == "cpu" and \
                label.endswith("nopenalty.pth"):
            row.update(whole_process(folder, threads))
            print(f"mnist_dvs whole process, test_spiking.py on {row['process_samples']} chunks: "
                  f"sinabs {row['sinabs_process_s']:.1f} s, fast {row['fast_process_s']:.1f} s "
                  f"({row['fast_process_cold_s']:.1f} s compiling the kernel): "
                  f"{row['process_ratio']:.1f}x")
        row.update(utc=datetime.now(timezone.utc).isoformat(timespec="seconds"),
                   host=platform.node(), device=torch.cuda.get_device_name(device)
                   if device.type == "cuda" else f"cpu ({platform.processor() or 'x86_64'})",
                   threads=threads, torch=torch.__version__, sinabs=sinabs.__version__,
                   batch_size=args.batch_size)
        rows.append(row)
        print(f"{name} ({label}), {row['samples']} samples, batch {args.batch_size}, "
              f"{threads} thread(s): sinabs {row['sinabs_ms_per_sample']:.2f} ms/sample, fast "
              f"{row['fast_ms_per_sample']:.2f} ms/sample: {row['ratio']:.1f}x; peak memory "
              f"{row['sinabs_peak_mib']:.0f} / {row['fast_peak_mib']:.0f} MiB; "
              f"{row['synops_per_sample']:.3g} SynOps and {row['dense_macs_per_sample']:.3g} "
              f"dense MACs per sample (sinabs {row['sinabs_dense_gmac_per_s']:.2f} dense GMAC/s, "
              f"fast {row['fast_gsynop_per_s']:.2f} GSynOp/s); outputs differ in "
              f"{row['samples_output_differs']} sample(s), predictions in "
              f"{row['predictions_differ']}; largest layer SynOps difference "
              f"{row['max_layer_synops_rel_diff']:.1e}; hidden spikes that differ (per layer): "
              f"{row['hidden_spikes_differ']} of {row['hidden_spikes']}")
    append_rows(args.out, rows)
    print(f"{args.out}: {len(rows)} row(s) appended")


if __name__ == "__main__":
    main()
