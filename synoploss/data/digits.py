"""Handwritten digit images for the stand-ins, MNIST-like: 28x28, ink in [0, 1], the
digit centred as MNIST centres its digits. Both the emulated MNIST-DVS recordings and the
MNIST stand-in are made from these, so that the two stand-ins show the same digits."""
from __future__ import annotations

import numpy as np

SKLEARN_DIGITS = "sklearn handwritten digits"


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
    from sklearn.datasets import load_digits  # only the stand-ins need scikit-learn

    digits = load_digits()
    return np.stack([mnist_like(image) for image in digits.images]), digits.target
