"""synoploss.data.cifar10: the stand-in, the loader, and the GPU-resident data path against the
torchvision one."""
import numpy as np
import pytest
import torch

from synoploss.data.cifar10 import (
    CROP_PADDING,
    DeviceBatches,
    cifar_transforms,
    load_cifar10,
    normalise,
    random_crop_flip,
    standin_images,
)

SIZE = 32
SPAN = 2 * CROP_PADDING + 1  # offsets 0..8 on each axis


def coded_image():
    """Every pixel unique and non-zero: red = row + 1, green = column + 1, blue = 200."""
    rows, columns = np.mgrid[0:SIZE, 0:SIZE]
    return np.stack([rows + 1, columns + 1, np.full_like(rows, 200)], -1).astype(np.uint8)


def decode(crop):
    """(row offset, column offset, flipped) of a crop (3, 32, 32) of coded_image(), in
    padded coordinates (offset 4 = no shift), from its non-padding pixels."""
    red, green = crop[0], crop[1]
    inside = red > 0
    row_index, column_index = np.argwhere(inside)[0]
    row_offset = int(red[row_index, column_index]) - 1 - row_index + CROP_PADDING
    # with a flip, columns read backwards: the first inside pixel has the largest column
    line = green[row_index][inside[row_index]].astype(int)
    flipped = len(line) > 1 and line[1] < line[0]
    first = int(np.argwhere(inside[row_index])[0][0])
    if flipped:
        column_offset = int(line[0]) - 1 - (SIZE - 1 - first) + CROP_PADDING
    else:
        column_offset = int(line[0]) - 1 - first + CROP_PADDING
    return row_offset, column_offset, bool(flipped)


def draws_torchvision(count):
    torch.manual_seed(0)
    transform = cifar_transforms(train=True)
    image = coded_image()
    # undo the normalisation to recover the uint8 values
    return [decode(((transform(image) * 0.5 + 0.5) * 255).round().byte().numpy())
            for _ in range(count)]


def draws_device(count):
    generator = torch.Generator().manual_seed(1)
    batch = torch.from_numpy(coded_image().transpose(2, 0, 1)).unsqueeze(0).repeat(count, 1, 1, 1)
    crops = random_crop_flip(batch, generator=generator).numpy()
    return [decode(crop) for crop in crops]


def test_decode_reads_back_a_known_crop():
    image = torch.from_numpy(coded_image().transpose(2, 0, 1))
    padded = torch.nn.functional.pad(image, (4, 4, 4, 4))
    crop = padded[:, 1:33, 6:38].flip(-1)
    assert decode(crop.numpy()) == (1, 6, True)


def test_device_augmentation_draws_the_torchvision_distribution():
    count = 3000
    reference, ours = draws_torchvision(count), draws_device(count)
    for draws in (reference, ours):
        rows = np.bincount([d[0] for d in draws], minlength=SPAN) / count
        columns = np.bincount([d[1] for d in draws], minlength=SPAN) / count
        flips = np.mean([d[2] for d in draws])
        # uniform offsets 0..8 and fair flips; 5 standard errors of a 1/9 frequency
        assert np.abs(rows - 1 / SPAN).max() < 0.03
        assert np.abs(columns - 1 / SPAN).max() < 0.03
        assert abs(flips - 0.5) < 0.05
    # the same set of outcomes: every offset pair with and without a flip
    assert set(reference) == set(ours)
    assert len(set(ours)) == SPAN * SPAN * 2


def test_device_crop_equals_torchvision_for_the_same_draw():
    """Crop, pad with zeros, flip and normalise: bit-identical to the PIL path."""
    image = coded_image()
    batch = torch.from_numpy(image.transpose(2, 0, 1)).unsqueeze(0).repeat(200, 1, 1, 1)
    crops = normalise(random_crop_flip(batch, generator=torch.Generator().manual_seed(3)))
    eval_path = cifar_transforms(train=False)
    for crop in crops:
        row, column, flipped = decode(((crop * 0.5 + 0.5) * 255).round().byte().numpy())
        padded = np.pad(image, ((4, 4), (4, 4), (0, 0)))
        expected = padded[row:row + SIZE, column:column + SIZE]
        if flipped:
            expected = expected[:, ::-1]
        assert torch.equal(crop, eval_path(np.ascontiguousarray(expected)))


def test_evaluation_batches_equal_the_torchvision_test_transform():
    images, labels = standin_images(20, seed=0)
    batches = DeviceBatches(images, labels, 8, "cpu", train=False)
    data = torch.cat([batch for batch, _ in batches])
    expected = torch.stack([cifar_transforms(train=False)(image) for image in images])
    assert torch.equal(data, expected)
    assert torch.cat([target for _, target in batches]).tolist() == list(labels)
    assert len(batches) == 3


@pytest.mark.parametrize("world_size", [2, 3])
def test_ranks_hold_disjoint_equal_shards(world_size):
    images, labels = standin_images(50, seed=1)
    images[:, 0, 0, 0] = np.arange(50)  # an id in every image
    shards = [DeviceBatches(images, labels, 4, "cpu", train=False, rank=rank,
                            world_size=world_size) for rank in range(world_size)]
    ids = [set(shard.images[:, 0, 0, 0].tolist()) for shard in shards]
    assert all(len(shard_ids) == 50 // world_size for shard_ids in ids)
    assert set.union(*ids) <= set(range(50))
    assert sum(map(len, ids)) == len(set.union(*ids))  # no image on two ranks
    assert len({len(shard) for shard in shards}) == 1  # the same number of steps


def test_training_order_is_seeded_and_changes_every_epoch():
    images, labels = standin_images(30, seed=2)

    def epoch_labels(batches):
        return torch.cat([target for _, target in batches]).tolist()

    first, second = DeviceBatches(images, labels, 10, "cpu", train=True, seed=5), \
        DeviceBatches(images, labels, 10, "cpu", train=True, seed=5)
    epoch_one = epoch_labels(first)
    assert epoch_one == epoch_labels(second)
    assert sorted(epoch_one) == sorted(labels.tolist())
    assert epoch_labels(first) != epoch_one  # the next epoch is reshuffled


def test_channels_last_and_bad_input():
    images, labels = standin_images(4, seed=0)
    data, _ = next(iter(DeviceBatches(images, labels, 4, "cpu", train=True, channels_last=True)))
    assert data.is_contiguous(memory_format=torch.channels_last)
    with pytest.raises(ValueError, match="uint8 images"):
        DeviceBatches(images.astype(np.float32), labels, 4, "cpu", train=True)
    with pytest.raises(ValueError, match="batch_size"):
        DeviceBatches(images, labels, 0, "cpu", train=True)


def test_missing_cifar_says_where_and_how(tmp_path):
    with pytest.raises(FileNotFoundError, match="cifar-10-batches-py.*--download.*--standin"):
        load_cifar10(tmp_path)


def test_standin_is_deterministic_and_balanced():
    images, labels = standin_images(40, seed=3)
    again, labels_again = standin_images(40, seed=3)
    assert np.array_equal(images, again) and np.array_equal(labels, labels_again)
    assert images.shape == (40, 32, 32, 3) and images.dtype == np.uint8
    assert np.bincount(labels).tolist() == [4] * 10
    # colour alone does not tell the class: the class means overlap widely
    means = np.array([images[labels == c].mean() for c in range(10)])
    assert means.std() < 25
