import numpy as np
import pytest

from synoploss.data.digits import mnist_like, resize_bilinear, sklearn_digits


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
