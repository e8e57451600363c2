"""CIFAR-10 through torchvision, and a procedurally generated stand-in of the same shape.

The stand-in has 10 visually distinct classes of 32x32 colour images: disc, square,
triangle, cross, ring, horizontal bars, vertical bars, diagonal bars, checkerboard and
plus-of-dots. Every image draws its shape at a random position, scale and colour on a
random colour-gradient background, adds clutter (small shapes of the other classes,
fainter) and pixel noise, so colour and position tell nothing and accuracy means
something. Deterministic for a seed; named as a stand-in in every log row and figure.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset
from torch.utils.data.distributed import DistributedSampler
from torchvision import datasets, transforms

from . import LoadedData

REAL_DESCRIPTION = "CIFAR-10"
STANDIN_DESCRIPTION = "STAND-IN: procedural 10-class shapes (not CIFAR-10)"
CLASSES = ("disc", "square", "triangle", "cross", "ring", "horizontal bars", "vertical bars",
           "diagonal bars", "checkerboard", "dots")
MEAN = STD = (0.5, 0.5, 0.5)
CROP_PADDING = 4  # the paper's augmentation: random crop 32 with 4-pixel zero padding


def _shape_mask(kind: int, yy, xx, cy, cx, radius, angle):
    """Soft mask in [0, 1] of shape `kind` centred at (cy, cx) with size `radius`."""
    dy, dx = yy - cy, xx - cx
    cos, sin = np.cos(angle), np.sin(angle)
    u, v = cos * dx + sin * dy, -sin * dx + cos * dy   # rotated coordinates
    r = np.hypot(dx, dy)
    inside = np.maximum(np.abs(u), np.abs(v)) <= radius
    if kind == 0:
        mask = r <= radius
    elif kind == 1:
        mask = inside
    elif kind == 2:
        mask = (v <= radius * 0.6) & (v >= -radius) & (np.abs(u) <= (radius * 0.6 - v) * 0.6)
    elif kind == 3:
        mask = inside & ((np.abs(u) <= radius * 0.25) | (np.abs(v) <= radius * 0.25))
    elif kind == 4:
        mask = (r <= radius) & (r >= radius * 0.55)
    elif kind == 5:
        mask = inside & (np.floor((dy + radius) / (radius / 2.5)) % 2 == 0)
    elif kind == 6:
        mask = inside & (np.floor((dx + radius) / (radius / 2.5)) % 2 == 0)
    elif kind == 7:
        mask = inside & (np.floor((dx + dy + 2 * radius) / (radius / 1.8)) % 2 == 0)
    elif kind == 8:
        cell = radius / 2
        mask = inside & ((np.floor((dx + radius) / cell) + np.floor((dy + radius) / cell)) % 2 == 0)
    else:
        step = radius / 1.5
        near_u = np.abs(u - np.round(u / step) * step) <= radius * 0.18
        near_v = np.abs(v - np.round(v / step) * step) <= radius * 0.18
        mask = inside & near_u & near_v
    return mask.astype(np.float64)


def standin_images(count: int, seed: int):
    """(uint8 images N x 32 x 32 x 3, labels N): balanced classes, shuffled."""
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(count) % 10)
    yy, xx = np.mgrid[0:32, 0:32].astype(np.float64)
    images = np.empty((count, 32, 32, 3), dtype=np.uint8)
    for index, label in enumerate(labels):
        low, high = rng.uniform(0, 1, 3), rng.uniform(0, 1, 3)
        direction = rng.uniform(0, 2 * np.pi)
        ramp = ((np.cos(direction) * xx + np.sin(direction) * yy) / 45 + 0.5)[..., None]
        image = low * (1 - ramp) + high * ramp
        for _ in range(rng.integers(1, 4)):  # clutter: faint small shapes of other classes
            other = (label + rng.integers(1, 10)) % 10
            mask = _shape_mask(other, yy, xx, *rng.uniform(0, 32, 2), rng.uniform(2, 4),
                               rng.uniform(0, np.pi))[..., None]
            image = image * (1 - 0.5 * mask) + 0.5 * mask * rng.uniform(0, 1, 3)
        radius = rng.uniform(6, 11)
        centre = rng.uniform(radius * 0.7, 32 - radius * 0.7, 2)
        mask = _shape_mask(label, yy, xx, *centre, radius, rng.uniform(-0.3, 0.3))[..., None]
        colour = rng.uniform(0, 1, 3)
        while np.abs(colour - image.mean((0, 1))).sum() < 0.6:  # keep the shape visible
            colour = rng.uniform(0, 1, 3)
        image = image * (1 - mask) + colour * mask
        image = image + rng.normal(0, 0.06, image.shape)
        images[index] = np.clip(image * 255, 0, 255).round().astype(np.uint8)
    return images, labels


class ArrayImageDataset(Dataset):
    """uint8 (N, 32, 32, 3) images and labels through a torchvision transform."""

    def __init__(self, images, labels, transform):
        self.images, self.targets, self.transform = images, list(map(int, labels)), transform

    def __len__(self):
        return len(self.targets)

    def __getitem__(self, index):
        return self.transform(self.images[index]), self.targets[index]


def cifar_transforms(train: bool):
    normalise = [transforms.ToTensor(), transforms.Normalize(MEAN, STD)]
    if not train:
        return transforms.Compose(normalise)
    return transforms.Compose([transforms.ToPILImage(),
                               transforms.RandomCrop(32, padding=CROP_PADDING),
                               transforms.RandomHorizontalFlip(), *normalise])


def describe(root) -> str:
    """Real CIFAR-10 when its python-version folder is in `root`; otherwise what a loader
    allowed to use the stand-in gives."""
    return REAL_DESCRIPTION if (Path(root) / "cifar-10-batches-py").is_dir() \
        else STANDIN_DESCRIPTION


def load_cifar10(root, *, n_train: int | None = None, n_test: int | None = None, seed: int = 0,
                 download: bool = False, standin: bool = False) -> LoadedData:
    """(train set, test set, description): real CIFAR-10 from `root` (downloaded with
    `download` when the network allows), its first n_train / n_test images if given; with
    `standin` and no CIFAR-10 there, the procedural stand-in of n_train / n_test images
    (default 5000 / 1000, drawn with `seed`).

    Args:
        root: torchvision's CIFAR-10 folder (cifar-10-batches-py/ in it).
        n_train: how many train images (the first N of the real split).
        n_test: how many test images (the first N of the real split).
        seed: the stand-in's images.
        download: fetch CIFAR-10 into `root` when it is not there.
        standin: use the procedural STAND-IN when CIFAR-10 is not there.

    Returns:
        `LoadedData(train, test, description)`; the description says real or STAND-IN.

    Raises:
        FileNotFoundError: no CIFAR-10 and no `standin`, saying where it looked.
    """
    root = Path(root)
    folder = root / "cifar-10-batches-py"
    if folder.is_dir() or download:
        try:
            train = datasets.CIFAR10(root, train=True, download=download)
            test = datasets.CIFAR10(root, train=False, download=download)
            return LoadedData(ArrayImageDataset(train.data[:n_train], train.targets[:n_train],
                                                cifar_transforms(True)),
                              ArrayImageDataset(test.data[:n_test], test.targets[:n_test],
                                                cifar_transforms(False)),
                              REAL_DESCRIPTION)
        except Exception as error:
            if not standin:
                raise FileNotFoundError(f"CIFAR-10 could not be loaded from {folder}: {error}") \
                    from error
            print(f"CIFAR-10 not usable ({error}); using the STAND-IN")
    if not standin:
        raise FileNotFoundError(
            f"CIFAR-10 not found: looked for {folder} (the python version, "
            "cifar-10-batches-py/data_batch_1..5 and test_batch). Get it with --download "
            "where the network allows (torchvision fetches "
            "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz), or run on the "
            "procedural stand-in with --standin")
    train_images, train_labels = standin_images(5000 if n_train is None else n_train, seed)
    test_images, test_labels = standin_images(1000 if n_test is None else n_test,
                                                seed + 1_000_003)
    return LoadedData(ArrayImageDataset(train_images, train_labels, cifar_transforms(True)),
                      ArrayImageDataset(test_images, test_labels, cifar_transforms(False)),
                      STANDIN_DESCRIPTION)


# ---------------------------------------------------------------------------------------
# The GPU-resident data path: the whole (uint8) dataset on the device, augmentation and
# normalisation done batched there. On a GPU the per-image PIL transforms of the
# torchvision path cannot keep up with the network (issue #10: ~7,000 images/s against
# 32,000-86,000 for the training step alone on an H200).


def random_crop_flip(images: torch.Tensor, padding: int = CROP_PADDING,
                     generator: torch.Generator | None = None) -> torch.Tensor:
    """torchvision's RandomCrop(size, padding) + RandomHorizontalFlip() for a batch
    (B, C, H, W) of any dtype, every image with its own draw: offsets uniform in
    0..2*padding on each axis, zero padding, flip with probability 1/2."""
    batch, channels, height, width = images.shape
    device = images.device
    offsets = torch.randint(0, 2 * padding + 1, (batch, 2), device=device, generator=generator)
    flips = torch.rand(batch, device=device, generator=generator) < 0.5
    padded = F.pad(images, (padding, padding, padding, padding))
    rows = offsets[:, :1] + torch.arange(height, device=device)          # (B, H)
    columns = offsets[:, 1:] + torch.arange(width, device=device)        # (B, W)
    columns = torch.where(flips[:, None], columns.flip(1), columns)      # flip = read backwards
    return padded[torch.arange(batch, device=device)[:, None, None, None],
                  torch.arange(channels, device=device)[None, :, None, None],
                  rows[:, None, :, None], columns[:, None, None, :]]


def normalise(images: torch.Tensor) -> torch.Tensor:
    """uint8 (B, C, H, W) -> float32 exactly as ToTensor() + Normalize(MEAN, STD)."""
    mean = torch.tensor(MEAN, device=images.device).view(1, -1, 1, 1)
    std = torch.tensor(STD, device=images.device).view(1, -1, 1, 1)
    return (images.float().div(255) - mean) / std


class DeviceBatches:
    """Batches of (normalised images, labels) from uint8 images kept on `device`.

    The torchvision path's result (same crops, flips and normalisation; a test checks
    the distribution of crops and flips) with no per-image CPU work: CIFAR-10's
    training set is 150 MB as uint8. Under torchrun every rank holds only its shard (a
    seeded random partition; all shards the same size, so every rank takes the same
    number of steps) and reshuffles it every epoch (`set_epoch`).
    """

    def __init__(self, images, labels, batch_size: int, device, train: bool,
                 seed: int = 0, rank: int = 0, world_size: int = 1,
                 channels_last: bool = False, drop_last: bool | None = None):
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        images = np.asarray(images)
        if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
            raise ValueError(f"expected uint8 images (N, H, W, 3), got {images.dtype} "
                             f"{images.shape}")
        labels = np.asarray(labels, dtype=np.int64)
        self.device, self.train, self.batch_size = torch.device(device), train, batch_size
        self.seed, self.channels_last, self.epoch = seed, channels_last, 0
        if world_size > 1:
            order = np.random.default_rng(seed).permutation(len(labels))
            shard_size = len(labels) // world_size
            keep = order[rank::world_size][:shard_size]
            images, labels = images[keep], labels[keep]
        self.images = torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2))) \
            .to(self.device)
        self.labels = torch.from_numpy(labels).to(self.device)
        # distributed training needs the same number of steps on every rank
        self.drop_last = world_size > 1 if drop_last is None else drop_last
        self.generator = torch.Generator(device=self.device)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self):
        """Batches per epoch (DataLoader's convention)."""
        count = len(self.labels)
        return count // self.batch_size if self.drop_last else math.ceil(count / self.batch_size)

    def __iter__(self):
        count = len(self.labels)
        if self.train:
            self.generator.manual_seed(self.seed * 1_000_003 + self.epoch)
            order = torch.randperm(count, device=self.device, generator=self.generator)
            self.epoch += 1  # a fresh order next time unless set_epoch says otherwise
        else:
            order = torch.arange(count, device=self.device)
        for batch in range(len(self)):
            index = order[batch * self.batch_size:(batch + 1) * self.batch_size]
            images = self.images[index]
            if self.train:
                images = random_crop_flip(images, generator=self.generator)
            images = normalise(images)
            if self.channels_last:
                images = images.contiguous(memory_format=torch.channels_last)
            yield images, self.labels[index]


DATA_PATHS = ("auto", "device", "torchvision")


def resolve_data_path(name: str, device) -> str:
    """"auto": the GPU-resident batches on CUDA, torchvision's DataLoader on the CPU."""
    if name not in DATA_PATHS:
        raise ValueError(f"data path must be one of {DATA_PATHS}, got {name!r}")
    if name != "auto":
        return name
    return "device" if torch.device(device).type == "cuda" else "torchvision"


def training_batches(dataset: ArrayImageDataset, batch_size: int, device, data_path: str, *,
                     seed: int = 0, rank: int = 0, world_size: int = 1,
                     channels_last: bool = False, workers: int = 0,
                     drop_last: bool = False):
    """(augmented training batches, DistributedSampler or None) on the chosen data path
    ("device", "torchvision" or "auto"); `batch_size` is per process. The same function
    feeds train.py and benchmarks/train_throughput.py, so the benchmark measures what
    training runs."""
    device = torch.device(device)
    if resolve_data_path(data_path, device) == "device":
        return DeviceBatches(dataset.images, dataset.targets, batch_size, device, train=True,
                             seed=seed, rank=rank, world_size=world_size,
                             channels_last=channels_last,
                             drop_last=drop_last or None), None
    sampler = DistributedSampler(dataset, world_size, rank, seed=seed) if world_size > 1 \
        else None
    loader = DataLoader(dataset, batch_size, shuffle=sampler is None, sampler=sampler,
                        num_workers=workers, drop_last=drop_last or world_size > 1,
                        pin_memory=device.type == "cuda", persistent_workers=workers > 0)
    return loader, sampler
