"""Tests of load_mnist on small IDX files generated in a temporary folder."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from bpcore.datasets import MNIST_FILE_NAMES, default_data_dir, load_mnist, write_idx
from bpcore.errors import DatasetError
from tests.helpers import assert_error, real_mnist_dir

TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS = MNIST_FILE_NAMES

UInt8Array = npt.NDArray[np.uint8]


@dataclass(frozen=True)
class FakeMnist:
    """The arrays written to a fake MNIST folder."""

    folder: Path
    x_train: UInt8Array
    t_train: UInt8Array
    x_test: UInt8Array
    t_test: UInt8Array


def _make_mnist(
    folder: Path, *, n_train: int = 20, n_test: int = 10, side: tuple[int, int] = (28, 28), gz: bool
) -> FakeMnist:
    """Write random MNIST-format files into ``folder``, gzip-compressed if ``gz``."""
    rng = np.random.default_rng(1234)
    fake = FakeMnist(
        folder=folder,
        x_train=rng.integers(0, 256, size=(n_train, *side), dtype=np.uint8),
        t_train=rng.integers(0, 10, size=n_train, dtype=np.uint8),
        x_test=rng.integers(0, 256, size=(n_test, *side), dtype=np.uint8),
        t_test=rng.integers(0, 10, size=n_test, dtype=np.uint8),
    )
    suffix = ".gz" if gz else ""
    arrays = (fake.x_train, fake.t_train, fake.x_test, fake.t_test)
    for name, array in zip(MNIST_FILE_NAMES, arrays, strict=True):
        write_idx(folder / f"{name}{suffix}", array)
    return fake


@pytest.fixture(params=[False, True], ids=["raw", "gz"])
def mnist(request: pytest.FixtureRequest, tmp_path: Path) -> FakeMnist:
    """A folder holding 20 training and 10 test images of 28x28, raw or gzip-compressed."""
    gz: bool = request.param
    return _make_mnist(tmp_path, gz=gz)


def test_default_is_normalized_flat_float32_with_integer_labels(mnist: FakeMnist) -> None:
    """By default images are (N, 784) float32 pixels / 255 and labels are (N,) int64."""
    (x_train, t_train), (x_test, t_test) = load_mnist(data_dir=mnist.folder)
    assert x_train.shape == (20, 784)
    assert x_test.shape == (10, 784)
    assert x_train.dtype == np.float32
    assert t_train.dtype == np.int64
    np.testing.assert_allclose(x_train, mnist.x_train.reshape(20, 784) / 255.0, rtol=1e-6)
    np.testing.assert_allclose(x_test, mnist.x_test.reshape(10, 784) / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(t_train, mnist.t_train)
    np.testing.assert_array_equal(t_test, mnist.t_test)


def test_unnormalized_images_are_the_raw_uint8_pixels(mnist: FakeMnist) -> None:
    """With normalize=False the images are the file's uint8 pixels, unscaled."""
    (x_train, _), (x_test, _) = load_mnist(normalize=False, data_dir=mnist.folder)
    assert x_train.dtype == np.uint8
    np.testing.assert_array_equal(x_train, mnist.x_train.reshape(20, -1))
    np.testing.assert_array_equal(x_test, mnist.x_test.reshape(10, -1))


def test_unflattened_images_have_a_channel_axis(mnist: FakeMnist) -> None:
    """With flatten=False images are (N, 1, 28, 28) with each pixel at its row and column."""
    (x_train, _), (x_test, _) = load_mnist(False, False, data_dir=mnist.folder)
    assert x_train.shape == (20, 1, 28, 28)
    assert x_test.shape == (10, 1, 28, 28)
    assert x_train[3, 0, 5, 17] == mnist.x_train[3, 5, 17]
    np.testing.assert_array_equal(x_test[:, 0], mnist.x_test)


def test_one_hot_labels_are_float32_rows(mnist: FakeMnist) -> None:
    """With one_hot_label=True labels are (N, 10) float32 rows with a single 1 at the label."""
    (_, t_train), (_, t_test) = load_mnist(one_hot_label=True, data_dir=mnist.folder)
    assert t_train.shape == (20, 10)
    assert t_test.shape == (10, 10)
    assert t_train.dtype == np.float32
    np.testing.assert_array_equal(t_train.argmax(axis=1), mnist.t_train)
    np.testing.assert_array_equal(t_train.sum(axis=1), np.ones(20))
    np.testing.assert_array_equal(t_test.argmax(axis=1), mnist.t_test)


def test_the_books_load_mnist_call_reads_the_default_folder() -> None:
    """``load_mnist(normalize=True, one_hot_label=True)``, as the book calls it, reads
    default_data_dir("mnist"), where ``bpcore download mnist`` puts the files."""
    folder = default_data_dir("mnist")
    folder.mkdir(parents=True)
    fake = _make_mnist(folder, gz=True)
    (x_train, t_train), (_, t_test) = load_mnist(normalize=True, one_hot_label=True)
    np.testing.assert_array_equal(x_train, fake.x_train.reshape(20, 784) / np.float32(255))
    assert t_train.shape == (20, 10)
    np.testing.assert_array_equal(np.argmax(t_test, axis=1), fake.t_test)


def test_any_image_size_is_supported(tmp_path: Path) -> None:
    """Images of 5x4 pixels flatten to 20 features and unflatten to (N, 1, 5, 4)."""
    _make_mnist(tmp_path, n_train=6, n_test=3, side=(5, 4), gz=False)
    (x_flat, _), _ = load_mnist(data_dir=tmp_path)
    (x_square, _), _ = load_mnist(flatten=False, data_dir=tmp_path)
    assert x_flat.shape == (6, 20)
    assert x_square.shape == (6, 1, 5, 4)


def test_raw_and_gz_files_can_be_mixed(tmp_path: Path) -> None:
    """A folder with some files raw and others compressed loads all four."""
    fake = _make_mnist(tmp_path, gz=False)
    raw = tmp_path / TEST_LABELS
    write_idx(tmp_path / f"{TEST_LABELS}.gz", fake.t_test)
    raw.unlink()
    _, (_, t_test) = load_mnist(data_dir=tmp_path)
    np.testing.assert_array_equal(t_test, fake.t_test)


def test_raw_file_is_preferred_over_gz(tmp_path: Path) -> None:
    """When both forms of a file exist the raw one is read."""
    fake = _make_mnist(tmp_path, gz=False)
    write_idx(tmp_path / f"{TRAIN_LABELS}.gz", (fake.t_train + 1) % 10)
    (_, t_train), _ = load_mnist(data_dir=tmp_path)
    np.testing.assert_array_equal(t_train, fake.t_train)


def test_missing_files_say_where_and_how_to_download(tmp_path: Path) -> None:
    """An empty folder raises DatasetError naming it, every file and the download command."""
    error = assert_error(
        DatasetError,
        lambda: load_mnist(data_dir=tmp_path),
        callee="load_mnist",
        expected=f"the MNIST files in {tmp_path}",
        got="none of " + ", ".join(f"{name}[.gz]" for name in MNIST_FILE_NAMES),
    )
    message = str(error)
    assert f"bpcore download mnist --data-dir {tmp_path}" in message


def test_only_the_missing_file_is_named(tmp_path: Path) -> None:
    """When one file is missing the error names it and not the three present ones."""
    _make_mnist(tmp_path, gz=True)
    (tmp_path / f"{TEST_IMAGES}.gz").unlink()
    with pytest.raises(DatasetError, match=TEST_IMAGES) as info:
        load_mnist(data_dir=tmp_path)
    assert TRAIN_IMAGES not in str(info.value)


def test_image_file_must_be_three_dimensional_ubyte(tmp_path: Path) -> None:
    """A 2-D image file raises DatasetError naming the file and the image magic 2051."""
    _make_mnist(tmp_path, gz=False)
    write_idx(tmp_path / TRAIN_IMAGES, np.zeros((20, 784), dtype=np.uint8))
    with pytest.raises(DatasetError, match=rf"{TRAIN_IMAGES}.*magic 2051.*2-D"):
        load_mnist(data_dir=tmp_path)


def test_label_file_must_be_one_dimensional_ubyte(tmp_path: Path) -> None:
    """An int16 label file raises DatasetError naming the file and the label magic 2049."""
    _make_mnist(tmp_path, gz=False)
    write_idx(tmp_path / TEST_LABELS, np.zeros(10, dtype=np.int16))
    with pytest.raises(DatasetError, match=rf"{TEST_LABELS}.*magic 2049.*int16"):
        load_mnist(data_dir=tmp_path)


def test_image_and_label_counts_must_agree(tmp_path: Path) -> None:
    """Nineteen labels for twenty images raises DatasetError giving both counts."""
    fake = _make_mnist(tmp_path, gz=False)
    write_idx(tmp_path / TRAIN_LABELS, fake.t_train[:19])
    with pytest.raises(DatasetError, match=r"\(20\), got 19 labels"):
        load_mnist(data_dir=tmp_path)


def test_labels_must_be_digits(tmp_path: Path) -> None:
    """A label of 10 raises DatasetError naming the label file and the bad label."""
    fake = _make_mnist(tmp_path, gz=False)
    bad = fake.t_test.copy()
    bad[4] = 10
    write_idx(tmp_path / TEST_LABELS, bad)
    error = assert_error(
        DatasetError,
        lambda: load_mnist(data_dir=tmp_path),
        callee="load_mnist",
        expected="labels in 0..9,",
        got="label 10",
    )
    assert TEST_LABELS in str(error)


def test_train_and_test_image_sizes_must_agree(tmp_path: Path) -> None:
    """Test images of another size than the training images raise DatasetError."""
    _make_mnist(tmp_path, gz=False)
    write_idx(tmp_path / TEST_IMAGES, np.zeros((10, 27, 28), dtype=np.uint8))
    with pytest.raises(DatasetError, match=r"\(28, 28\), got \(27, 28\)"):
        load_mnist(data_dir=tmp_path)


def test_corrupt_file_surfaces_as_dataset_error(tmp_path: Path) -> None:
    """A truncated training image file raises DatasetError naming it."""
    _make_mnist(tmp_path, gz=False)
    path = tmp_path / TRAIN_IMAGES
    path.write_bytes(path.read_bytes()[:-1])
    with pytest.raises(DatasetError, match=TRAIN_IMAGES):
        load_mnist(data_dir=tmp_path)


def test_the_file_names_come_in_the_documented_order() -> None:
    """MNIST_FILE_NAMES lists train images, train labels, test images, test labels."""
    assert MNIST_FILE_NAMES == (
        "train-images-idx3-ubyte",
        "train-labels-idx1-ubyte",
        "t10k-images-idx3-ubyte",
        "t10k-labels-idx1-ubyte",
    )


# -- the real files ------------------------------------------------------------------------

TRAIN_CLASS_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
"""The training set's images per class, as the MNIST files' description gives them."""


def test_the_real_files_load_as_the_book_describes_them() -> None:
    """60,000 training and 10,000 test images of 28x28 pixels, normalized into [0, 1] as
    float32, with the published first labels and class counts; one-hot rows and unflattened
    images as asked."""
    folder = real_mnist_dir()
    (x_train, t_train), (x_test, t_test) = load_mnist(data_dir=folder)
    assert (x_train.shape, x_test.shape) == ((60_000, 784), (10_000, 784))
    assert x_train.dtype == np.float32
    assert x_train.min() == 0.0
    assert x_train.max() == 1.0
    assert t_train[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert t_test[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    assert np.bincount(t_train).tolist() == TRAIN_CLASS_COUNTS
    (images, one_hot), _ = load_mnist(flatten=False, one_hot_label=True, data_dir=folder)
    assert images.shape == (60_000, 1, 28, 28)
    np.testing.assert_array_equal(np.argmax(one_hot, axis=1), t_train)
    raw, _ = load_mnist(normalize=False, data_dir=folder)
    assert raw[0].dtype == np.uint8
    np.testing.assert_array_equal(raw[0] / np.float32(255), x_train)
