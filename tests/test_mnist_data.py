import numpy as np
import pytest
import torch
from torchvision import datasets

from synoploss.mnist_data import (IDX_FILES, STANDIN_DESCRIPTION, describe_mnist, load_mnist,
                                  read_idx, write_idx, write_standin_mnist)


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
    assert describe_mnist(tmp_path) == "MNIST"


def test_standin_is_written_and_named(tmp_path, capsys):
    train, test, description = load_mnist(tmp_path)
    assert "STAND-IN" in capsys.readouterr().out and description == STANDIN_DESCRIPTION
    assert len(train) + len(test) == 1797 and len(test) == 360
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
