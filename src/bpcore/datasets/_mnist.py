"""MNIST read from its four IDX files in a folder, returned as the book's ``load_mnist`` does."""

from __future__ import annotations

import os
import shlex
from pathlib import Path
from typing import TypeAlias

import numpy as np
import numpy.typing as npt

from bpcore._arrays import FloatArray
from bpcore.datasets._folders import default_data_dir
from bpcore.datasets._format import CLASSES, TargetArray, format_labels, shape_images
from bpcore.datasets._idx import IdxArray, read_idx
from bpcore.errors import DatasetError

__all__ = ["MNIST_FILE_NAMES", "MnistImages", "load_mnist"]

MnistImages: TypeAlias = npt.NDArray[np.uint8] | FloatArray
"""Images as uint8 pixels 0..255, or as float32 values in ``[0, 1]``."""

MNIST_FILE_NAMES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
"""The four MNIST files, in the order train images, train labels, test images, test labels."""

_PEAK = 255


def load_mnist(
    normalize: bool = True,
    flatten: bool = True,
    one_hot_label: bool = False,
    *,
    data_dir: str | os.PathLike[str] | None = None,
) -> tuple[tuple[MnistImages, TargetArray], tuple[MnistImages, TargetArray]]:
    """Load MNIST from ``data_dir`` as ``((x_train, t_train), (x_test, t_test))``.

    ``data_dir`` holds the four files of :data:`MNIST_FILE_NAMES`, each either raw
    or gzip-compressed with a ``.gz`` suffix (the raw one is read if both exist); by
    default it is :func:`default_data_dir` ``("mnist")``, where ``bpcore download mnist``
    puts them, so the book's ``load_mnist(normalize=True, one_hot_label=True)`` runs as
    printed.

    * ``x`` has shape ``(N, H*W)`` (``(N, 784)`` for MNIST), or ``(N, 1, H, W)`` if
      not ``flatten``. It is float32 in ``[0, 1]`` (pixels / 255) if ``normalize``,
      else the uint8 pixels 0..255.
    * ``t`` is ``(N,)`` int64 labels 0..9, or ``(N, 10)`` float32 one-hot rows if
      ``one_hot_label``.

    Raises :class:`~bpcore.errors.DatasetError` if a file is missing (the message
    says how to download them), corrupt, not an MNIST image or label file, or if
    the counts, labels or image sizes do not agree.
    """
    folder = default_data_dir("mnist") if data_dir is None else Path(data_dir)
    train_images, train_labels, test_images, test_labels = _locate(folder)
    train = _read_pair(train_images, train_labels)
    test = _read_pair(test_images, test_labels)
    if train[0].shape[1:] != test[0].shape[1:]:
        raise DatasetError(
            f"load_mnist: expected test images of the training images' size "
            f"{train[0].shape[1:]}, got {test[0].shape[1:]} in {test_images}."
        )
    return (
        _format(*train, normalize=normalize, flatten=flatten, one_hot=one_hot_label),
        _format(*test, normalize=normalize, flatten=flatten, one_hot=one_hot_label),
    )


def _locate(folder: Path) -> list[Path]:
    """The path of each file of :data:`MNIST_FILE_NAMES`, raw preferred over ``.gz``."""
    found: list[Path] = []
    missing: list[str] = []
    for name in MNIST_FILE_NAMES:
        candidates = [folder / name, folder / f"{name}.gz"]
        existing = [path for path in candidates if path.is_file()]
        if existing:
            found.append(existing[0])
        else:
            missing.append(f"{name}[.gz]")
    if missing:
        raise DatasetError(
            f"load_mnist: expected the MNIST files in {folder}, got none of "
            f"{', '.join(missing)} (each looked for raw and with a .gz suffix). "
            f"Download them with `bpcore download mnist{_data_dir_option(folder)}` or "
            f"bpcore.datasets.download_mnist()."
        )
    return found


def _data_dir_option(folder: Path) -> str:
    """`` --data-dir <folder>``, or nothing where the command's default is ``folder``."""
    if folder == default_data_dir("mnist"):
        return ""
    return f" --data-dir {shlex.quote(str(folder))}"


def _read_pair(
    images_path: Path, labels_path: Path
) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.uint8]]:
    """Read and cross-check ``(N, H, W)`` uint8 images and their ``(N,)`` uint8 labels."""
    images = _require_ubyte(read_idx(images_path), ndim=3, magic=2051, path=images_path)
    labels = _require_ubyte(read_idx(labels_path), ndim=1, magic=2049, path=labels_path)
    if images.shape[0] != labels.shape[0]:
        raise DatasetError(
            f"load_mnist: expected one label in {labels_path} per image in {images_path} "
            f"({images.shape[0]}), got {labels.shape[0]} labels."
        )
    if labels.size and int(labels.max()) >= CLASSES:
        raise DatasetError(
            f"load_mnist: {labels_path}: expected labels in 0..{CLASSES - 1}, "
            f"got label {int(labels.max())}."
        )
    return images, labels


def _require_ubyte(array: IdxArray, *, ndim: int, magic: int, path: Path) -> npt.NDArray[np.uint8]:
    if array.dtype != np.uint8 or array.ndim != ndim:
        raise DatasetError(
            f"load_mnist: {path}: expected an IDX file of {ndim}-D unsigned bytes "
            f"(magic {magic}), got a {array.ndim}-D array of {array.dtype}."
        )
    return array.view(np.uint8)


def _format(
    images: npt.NDArray[np.uint8],
    labels: npt.NDArray[np.uint8],
    *,
    normalize: bool,
    flatten: bool,
    one_hot: bool,
) -> tuple[MnistImages, TargetArray]:
    x: MnistImages = shape_images(images, flatten=flatten)
    if normalize:
        x = x.astype(np.float32) / np.float32(_PEAK)
    return x, format_labels(labels, one_hot=one_hot, dtype=np.dtype(np.float32))
