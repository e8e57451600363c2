"""MNIST-DVS: file lists, conversion of recordings into samples, and torch datasets.

Real layout (IMSE-CNM): grabbed_data{d}/scale{4,8,16}/mnist_{d}_scale{S}_{NNNN}.aedat.
Each recording is cut into consecutive chunks of `spike_count` events; a chunk is one
sample: an accumulated frame for training and its events (binned at 1 ms) for the
spiking test. The emulated stand-in is written in the same layout and goes through the
same code.
"""
from __future__ import annotations

import contextlib
import hashlib
import io
import json
import re
import shutil
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

import aermanager.preprocess as aermanager_preprocess  # pure numpy; not .parsers (dv, imp)
import numpy as np
import torch
from torch.utils.data import Dataset

from .aedat import SENSOR_SIZE, AedatError, read_aedat, write_aedat
from .io import atomic_path, save_npz, write_json
from .parallel import map_jobs

REAL_DESCRIPTION = "MNIST-DVS (IMSE-CNM DVS128 recordings)"
EMULATED_DESCRIPTION = ("STAND-IN: emulated MNIST-DVS (sklearn handwritten digits "
                        "recorded by a DVS128 emulator)")
LIST_NAMES = {"train": "mnistdvs_filelist_train.txt", "test": "mnistdvs_filelist_test.txt"}
SPIKETRAIN_DTYPE = np.dtype([("x", np.uint16), ("y", np.uint16), ("t", np.int64), ("p", np.bool_)])
# The spiking-test curves: label -> results/<name>_spiking.csv (test_spiking.py modes
# quantized, nonquantized, weightscaling; smart_weight_rescaling.py).
SPIKING_CURVES = {"SynOp+QAT": "l1-fanout-qtrain", "SynOp": "l1-fanout",
                  "weight scaling": "weightscaling", "Rueckauer normalisation": "smartscaling"}
_RECORDING = re.compile(r"mnist_(\d)_scale(\d+)_(\d+)\.aedat$")


# ---------------------------------------------------------------- file lists
def find_recordings(root, scale: int = 16) -> Dict[int, List[Path]]:
    """Recordings per digit, sorted by name, from grabbed_data{d}/scale{S}/."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such dataset folder")
    found = {}
    for digit in range(10):
        folder = root / f"grabbed_data{digit}" / f"scale{scale}"
        files = sorted(folder.glob("*.aedat")) if folder.is_dir() else []
        if files:
            found[digit] = files
    if not found:
        raise FileNotFoundError(
            f"{root}: no recordings in grabbed_data{{0..9}}/scale{scale}/*.aedat "
            "(is this the MNIST-DVS root? the layout is grabbed_data<digit>/scale<S>/)")
    return found


def make_file_lists(root, scale: int = 16, train_per_digit: int = 800):
    """(train, test) lists of (path relative to root, label): the first
    `train_per_digit` recordings per digit (sorted by name) train, the rest test."""
    root = Path(root)
    train, test = [], []
    for digit, files in sorted(find_recordings(root, scale).items()):
        for index, path in enumerate(files):
            entry = (path.relative_to(root).as_posix(), digit)
            (train if index < train_per_digit else test).append(entry)
    return train, test


def write_file_list(path, entries: Sequence[Tuple[str, int]]) -> None:
    with atomic_path(path) as temporary:
        temporary.write_text("".join(f"{name}\t{label}\n" for name, label in entries))


def read_file_list(path) -> List[Tuple[str, int]]:
    """(relative path, label) entries of a file list. Refused, naming file and line: a
    malformed line, a label outside 0..9, a path that leaves the dataset root (absolute
    or through '..'), and a recording named twice (its samples would be written once and
    counted twice)."""
    entries, seen = [], {}
    for number, line in enumerate(Path(path).read_text().splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split("\t")
        if len(parts) != 2 or not parts[1].strip().isdigit():
            raise ValueError(f"{path}:{number}: expected 'path<TAB>label', got {line!r}")
        relative, label = parts[0], int(parts[1])
        if not 0 <= label <= 9:
            raise ValueError(f"{path}:{number}: label {label} is not a digit 0..9")
        pure = Path(relative)
        if pure.is_absolute() or ".." in pure.parts:
            raise ValueError(f"{path}:{number}: {relative!r} is outside the dataset root "
                             "(entries are paths relative to it)")
        if pure.stem in seen:
            raise ValueError(f"{path}:{number}: recording {pure.stem} is already listed on "
                             f"line {seen[pure.stem]}")
        seen[pure.stem] = number
        entries.append((relative, label))
    return entries


# ---------------------------------------------------------------- events -> samples
def filter_hot_pixels(events: np.ndarray, max_frequency_hz: float) -> np.ndarray:
    """Drop every event of pixels that fire above `max_frequency_hz` over the recording
    (aermanager.preprocess.filter_hot_pixels, its report printed only when it drops some)."""
    with contextlib.redirect_stdout(io.StringIO()) as report:
        kept = aermanager_preprocess.filter_hot_pixels(events, (SENSOR_SIZE, SENSOR_SIZE),
                                                        max_frequency_hz)
    if len(kept) < len(events):
        warnings.warn(report.getvalue().strip().replace("\n", "; "))
    return kept


def sensor_bins(resolution: int, crop: int | None = None) -> np.ndarray:
    """Bin edges (2, resolution + 1) in sensor pixels for x and y: the central `crop`
    square of the 128x128 sensor (whole sensor by default) in `resolution` bins."""
    size = crop or SENSOR_SIZE
    if not 0 < size <= SENSOR_SIZE:
        raise ValueError(f"crop must be in 1..{SENSOR_SIZE}, got {crop}")
    start = (SENSOR_SIZE - size) // 2
    edges = start + np.linspace(0, size, resolution + 1)
    return np.stack([edges, edges])


def to_output_resolution(events: np.ndarray, bins_xy: np.ndarray) -> np.ndarray:
    """Events inside the bins, with x and y replaced by their bin indices."""
    x_index = np.searchsorted(bins_xy[0], events["x"], side="right") - 1
    y_index = np.searchsorted(bins_xy[1], events["y"], side="right") - 1
    inside = (x_index >= 0) & (x_index < bins_xy.shape[1] - 1) & \
             (y_index >= 0) & (y_index < bins_xy.shape[1] - 1)
    result = np.empty(int(inside.sum()), dtype=SPIKETRAIN_DTYPE)
    result["x"], result["y"] = x_index[inside], y_index[inside]
    result["t"] = events["t"][inside].astype(np.int64)
    result["p"] = events["p"][inside]
    return result


def accumulate_frame(events: np.ndarray, resolution: int) -> np.ndarray:
    """Event counts, both polarities, indexed [y, x] (aermanager's accumulate_frames over
    the output pixels, polarities summed)."""
    edges = np.arange(resolution + 1)
    frames = aermanager_preprocess.accumulate_frames([events], edges, edges)
    return frames[0].sum(0).astype(np.int32)


def chunk_events(events: np.ndarray, spike_count: int) -> List[np.ndarray]:
    """Consecutive chunks of `spike_count` events; the remainder is dropped
    (aermanager.preprocess.slice_by_count)."""
    return aermanager_preprocess.slice_by_count(events, spike_count)


@dataclass
class ConversionSettings:
    spike_count: int = 3000
    resolution: int = 64
    crop: int | None = None
    hot_pixel_frequency: float | None = None
    overwrite: bool = False
    # a chunk spanning longer than this is not a real 3000-event chunk (~50 ms) but a
    # timestamp error; the recording is skipped with the reason
    max_chunk_seconds: float = 10.0

    def record(self) -> Dict:
        """What determines the samples: stored in dataset_info.json and compared on reruns."""
        return dict(spike_count=self.spike_count, resolution=self.resolution, crop=self.crop,
                    hot_pixel_frequency=self.hot_pixel_frequency)


def _done_marker(out: Path, split: str, stem: str) -> Path:
    return out / ".done" / split / f"{stem}.json"


def convert_recording(root: Path, out: Path, split: str, relative: str, label: int,
                      settings: ConversionSettings) -> Dict:
    """One recording -> its chunk samples. Returns a status dict (never raises for bad
    files: they are reported as skipped with the reason)."""
    source = root / relative
    stem = Path(relative).stem
    marker = _done_marker(out, split, stem)
    if marker.is_file() and not settings.overwrite:
        return dict(status="kept", split=split, label=label,
                    samples=json.loads(marker.read_text())["samples"])
    try:
        events = read_aedat(source)
    except (AedatError, OSError) as error:
        return dict(status="skipped", split=split, label=label, reason=str(error))
    if settings.hot_pixel_frequency and len(events):
        events = filter_hot_pixels(events, settings.hot_pixel_frequency)
    bins_xy = sensor_bins(settings.resolution, settings.crop)
    events = to_output_resolution(events, bins_xy)
    chunks = chunk_events(events, settings.spike_count)
    longest = max((int(c["t"][-1] - c["t"][0]) for c in chunks), default=0) / 1e6
    if longest > settings.max_chunk_seconds:
        return dict(status="skipped", split=split, label=label,
                    reason=f"{source}: a chunk of {settings.spike_count} events spans "
                           f"{longest:.1f} s (more than {settings.max_chunk_seconds:g} s): "
                           "broken timestamps?")
    if not chunks:
        return dict(status="skipped", split=split, label=label,
                    reason=f"{source}: {len(events)} events, fewer than one chunk of "
                           f"{settings.spike_count}")
    for index, chunk in enumerate(chunks):
        spiketrain = chunk.copy()
        spiketrain["t"] -= spiketrain["t"][0]
        save_npz(out / split / f"{stem}_{index}.npz",
                 frame=accumulate_frame(chunk, settings.resolution), spiketrain=spiketrain,
                 bins_xy=bins_xy, label=np.int64(label), source=np.str_(str(relative)))
    write_json(marker, dict(samples=len(chunks), source=str(relative)))
    return dict(status="converted", split=split, label=label, samples=len(chunks))


def _convert_job(job):
    return convert_recording(*job)


@dataclass
class ConversionSummary:
    read: int = 0
    kept: int = 0
    skipped: List[str] = field(default_factory=list)
    samples: Dict[str, Counter] = field(default_factory=lambda: {"train": Counter(),
                                                                 "test": Counter()})

    def report(self) -> str:
        lines = [f"recordings converted: {self.read}, already done (kept): {self.kept}, "
                 f"skipped: {len(self.skipped)}"]
        lines += [f"  skipped: {reason}" for reason in self.skipped]
        for split, counts in self.samples.items():
            per_label = ", ".join(f"{label}: {counts[label]}" for label in sorted(counts))
            lines.append(f"  {split}: {sum(counts.values())} samples ({per_label})")
        return "\n".join(lines)


def convert_dataset(root, out, settings: ConversionSettings = ConversionSettings(),
                    workers: int = 1, progress: bool = True) -> ConversionSummary:
    """Convert the recordings listed in root's file lists into `out/{train,test}/*.npz`."""
    root, out = Path(root), Path(out)
    jobs, listed, digest = [], {}, hashlib.sha256()
    for split, list_name in LIST_NAMES.items():
        list_path = root / list_name
        if not list_path.is_file():
            raise FileNotFoundError(f"{list_path}: file list missing (run makelist.py)")
        # split name and a separator: moving a line from one list to the other counts
        digest.update(split.encode() + b"\0" + list_path.read_bytes() + b"\0")
        for relative, label in read_file_list(list_path):
            stem = Path(relative).stem
            if stem in listed and listed[stem] != split:
                raise ValueError(f"{list_path}: recording {stem} is in both the train and the "
                                 "test list; a recording must belong to one split only")
            listed[stem] = split
            jobs.append((root, out, split, relative, label, settings))
    source_info = root / "README.json"
    description = (json.loads(source_info.read_text()).get("description", REAL_DESCRIPTION)
                   if source_info.is_file() else REAL_DESCRIPTION)
    # compared on reruns: the settings and the lists' content (not the folder's path)
    record = dict(settings.record(), file_lists_sha256=digest.hexdigest())
    info_path = out / "dataset_info.json"
    if info_path.is_file():
        previous = json.loads(info_path.read_text())
        changed = {key: (previous.get(key), value) for key, value in record.items()
                   if previous.get(key) != value}
        if changed and not settings.overwrite:
            details = "; ".join(f"{key}: {old!r} then, {new!r} now"
                                for key, (old, new) in changed.items())
            raise ValueError(f"{out} holds samples converted with other settings ({details}). "
                             "Pass --overwrite to convert again from scratch, or choose "
                             "another --out")
    if settings.overwrite:
        # from scratch: no chunk of an earlier conversion may survive beside the new ones
        for folder in ("train", "test", ".done"):
            shutil.rmtree(out / folder, ignore_errors=True)
    write_json(info_path, dict(record, description=description, source=str(root)))
    summary = ConversionSummary()
    for result in map_jobs(_convert_job, jobs, workers, "converting recordings", progress,
                           chunksize=4):
        if result["status"] == "skipped":
            summary.skipped.append(result["reason"])
            warnings.warn(f"skipped {result['reason']}")
            continue
        summary.read += result["status"] == "converted"
        summary.kept += result["status"] == "kept"
        summary.samples[result["split"]][result["label"]] += result["samples"]
    return summary


# ---------------------------------------------------------------- emulated default
def generate_emulated_recordings(root, train_per_digit: int = 140, test_per_digit: int = 34,
                                 events_per_recording: int = 9000, seed: int = 0,
                                 workers: int = 1, progress: bool = True) -> Path:
    """Record sklearn's handwritten digits with the DVS emulator, in the real layout.

    Every recording shows a different handwritten image; the test recordings use images
    that no training recording uses. Writes the two file lists too.
    """
    from sklearn.datasets import load_digits

    root = Path(root)
    digits = load_digits()
    jobs, train, test = [], [], []
    for digit in range(10):
        images = np.flatnonzero(digits.target == digit)
        needed = train_per_digit + test_per_digit
        if needed > len(images):
            raise ValueError(f"digit {digit}: {needed} recordings asked, only "
                             f"{len(images)} distinct images available")
        for number in range(needed):
            relative = f"grabbed_data{digit}/scale16/mnist_{digit}_scale16_{number + 1:04d}.aedat"
            image = digits.images[images[number]]
            jobs.append((root / relative, image, events_per_recording,
                         seed * 1_000_003 + digit * 10_007 + number))
            (train if number < train_per_digit else test).append((relative, digit))
    for _ in map_jobs(_record_job, jobs, workers, "emulating DVS recordings", progress,
                      chunksize=4):
        pass
    write_file_list(root / LIST_NAMES["train"], train)
    write_file_list(root / LIST_NAMES["test"], test)
    write_json(root / "README.json", dict(
        description=EMULATED_DESCRIPTION, seed=seed, train_per_digit=train_per_digit,
        test_per_digit=test_per_digit, events_per_recording=events_per_recording))
    return root


def _record_job(job):
    from .dvs_emulator import record_digit
    path, image, n_events, seed = job
    if path.is_file():
        return  # resumable: a finished recording is kept (written atomically)
    write_aedat(path, record_digit(image, n_events, seed),
                header_lines=("# Emulated DVS128 recording (synoploss stand-in for MNIST-DVS)",))


def read_spiking_curves(workdir) -> dict:
    """The SPIKING_CURVES whose results exist under <workdir>/results, by label."""
    from .io import read_csv
    results = Path(workdir) / "results"
    columns = ["snn_accuracy", "snn_synops", "ann_synops", "model_path"]
    return {label: read_csv(results / f"{name}_spiking.csv", required=columns,
                            numeric=columns[:3])
            for label, name in SPIKING_CURVES.items()
            if (results / f"{name}_spiking.csv").is_file()}


def describe_dataset(data_root) -> str:
    """The description stored with converted data (real or stand-in)."""
    info = Path(data_root) / "dataset_info.json"
    if info.is_file():
        return json.loads(info.read_text()).get("description", "unknown")
    return "unknown (no dataset_info.json)"


# ---------------------------------------------------------------- datasets
def _sample_files(root, max_samples: int | None = None, seed: int = 0) -> List[Path]:
    """The split's sample files, sorted; a seeded random subset with `max_samples` (the
    same subset for frames and spike trains, so both views show the same chunks)."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such folder (generate the data with "
                                "mnist_dvs/generate_DV4_dataset.py)")
    files = sorted(root.glob("*.npz"))
    if not files:
        raise FileNotFoundError(f"{root}: no .npz samples")
    if max_samples is not None and max_samples < len(files):
        chosen = np.random.default_rng(seed).choice(len(files), max_samples, replace=False)
        files = [files[index] for index in sorted(chosen)]
    return files


def _load(path: Path, key: str):
    try:
        with np.load(path) as archive:
            return archive[key], int(archive["label"])
    except Exception as error:  # zipfile/pickle/KeyError: all mean a damaged sample
        raise ValueError(f"{path}: cannot read sample ({error})") from error


class FramesDataset(Dataset):
    """(1 x R x R float frame of event counts, label) of every sample in `root`."""

    def __init__(self, root, max_samples: int | None = None, seed: int = 0):
        self.files = _sample_files(root, max_samples, seed)
        loaded = [_load(path, "frame") for path in self.files]
        self.frames = torch.from_numpy(np.stack([f for f, _ in loaded])).float().unsqueeze(1)
        self.labels = torch.tensor([label for _, label in loaded])

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, index):
        return self.frames[index], self.labels[index]


class SpikeTrainDataset(Dataset):
    """(T x 1 x R x R event counts binned at `dt_us`, label); T is the chunk's duration
    in bins. Use `pad_collate` to batch chunks of different durations, and
    `batches_by_duration` to keep the padding small."""

    def __init__(self, root, dt_us: int = 1000, max_samples: int | None = None, seed: int = 0):
        self.files = _sample_files(root, max_samples, seed)
        self.dt_us = dt_us
        self.resolution = _load(self.files[0], "frame")[0].shape[0]
        loaded = [_load(path, "spiketrain") for path in self.files]
        self.spiketrains = [spiketrain for spiketrain, _ in loaded]
        self.labels = [label for _, label in loaded]
        self.durations = np.array([int(train["t"][-1] - train["t"][0]) // dt_us + 1
                                   for train in self.spiketrains])

    def __len__(self):
        return len(self.files)

    def __getitem__(self, index):
        return (bin_spiketrain(self.spiketrains[index], self.dt_us, self.resolution),
                self.labels[index])

    def batches_by_duration(self, batch_size: int) -> List[List[int]]:
        order = np.argsort(self.durations, kind="stable")
        return [order[start:start + batch_size].tolist()
                for start in range(0, len(order), batch_size)]


def bin_spiketrain(spiketrain: np.ndarray, dt_us: int, resolution: int) -> torch.Tensor:
    """(T, 1, R, R) event counts in bins of `dt_us` from the first event, T covering the
    last event. Not aermanager's create_raster_from_xytp: it drops the last events when
    the chunk's span is an exact multiple of dt (tests/test_mnist_dvs.py shows it)."""
    bins = (spiketrain["t"] - spiketrain["t"][0]) // dt_us
    steps = int(bins[-1]) + 1
    raster = np.zeros((steps, 1, resolution, resolution), dtype=np.float32)
    np.add.at(raster, (bins, 0, spiketrain["y"].astype(np.int64),
                       spiketrain["x"].astype(np.int64)), 1)
    return torch.from_numpy(raster)


def pad_collate(batch):
    """Stack (T_i x ...) rasters into (B x T_max x ...), zero-padded at the end."""
    rasters, labels = zip(*batch)
    longest = max(raster.shape[0] for raster in rasters)
    padded = torch.zeros(len(rasters), longest, *rasters[0].shape[1:])
    for index, raster in enumerate(rasters):
        padded[index, :raster.shape[0]] = raster
    return padded, torch.tensor(labels)
