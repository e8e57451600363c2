"""The data of the three experiments, each in its real format with an offline stand-in.

- `aedat`: AEDAT 1/2 DVS128 files (read, write, timestamp repair);
- `events`: pure functions on event arrays (filter, bin, chunk, accumulate);
- `digits`: handwritten digit images the stand-ins are made from;
- `emulator`: a DVS128 emulator, and the MNIST-DVS stand-in recorded with it;
- `mnist_dvs`: file lists, conversion of recordings into samples, datasets;
- `mnist`: MNIST through torchvision, its stand-in written as idx files;
- `cifar10`: CIFAR-10 through torchvision, its procedural stand-in, and the GPU-resident
  batches.

Every dataset module has `describe(root)` (what the data is: real, or a STAND-IN and
which) and one loader, `load_<name>(root, *, n_train, n_test, seed, ...)`, returning
`LoadedData(train, test, description)`.
"""
from typing import NamedTuple

from torch.utils.data import Dataset


class LoadedData(NamedTuple):
    train: Dataset
    test: Dataset
    description: str  # written into every log row, CSV and figure
