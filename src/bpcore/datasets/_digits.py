"""The 8x8 handwritten digits that ship inside bpcore, split into train and test sets."""

from __future__ import annotations

import io
import numbers
from importlib import resources

import numpy as np
import numpy.typing as npt

from bpcore._arrays import FloatArray, resolve_float_dtype
from bpcore._npz import DAMAGE
from bpcore.datasets._format import CLASSES, TargetArray, format_labels, shape_images
from bpcore.datasets._split import stratified_split
from bpcore.errors import DatasetError, DomainError

__all__ = ["load_digits"]

_SAMPLES = 1797
_SIDE = 8
_PEAK = 16


def load_digits(
    *,
    normalize: bool = True,
    flatten: bool = True,
    one_hot_label: bool = False,
    test_fraction: float = 0.2,
    seed: int = 0,
    dtype: npt.DTypeLike = np.float64,
) -> tuple[tuple[FloatArray, TargetArray], tuple[FloatArray, TargetArray]]:
    """Load the 1,797 embedded 8x8 digit images as ``((x_train, t_train), (x_test, t_test))``.

    * ``x`` has dtype ``dtype`` (float32 or float64) and shape ``(N, 64)``, or
      ``(N, 1, 8, 8)`` if not ``flatten``; its values are the pixel counts 0..16,
      divided by 16 into ``[0, 1]`` if ``normalize``.
    * ``t`` is ``(N,)`` int64 labels 0..9, or ``(N, 10)`` one-hot rows of
      ``dtype`` if ``one_hot_label``.

    The split is stratified: each class puts ``test_fraction · n`` of its ``n`` samples,
    rounded half up (at least one, and never all), in the test set. It depends only
    on ``seed``, through ``np.random.default_rng(seed)``; the global NumPy random
    state is neither used nor changed. Every call returns fresh arrays.

    Raises:
        DtypeError: ``dtype`` is not float32 or float64.
        DomainError: ``test_fraction`` is not strictly between 0 and 1, or ``seed`` is
            not a non-negative integer.
        DatasetError: the packaged archive is damaged (reinstall bpcore); nothing in it
            is unpickled.
    """
    float_dtype = resolve_float_dtype(dtype, where="load_digits")
    fraction = _check_fraction(test_fraction)
    rng = np.random.default_rng(_check_seed(seed))
    images, labels = _read_embedded()
    train, test = stratified_split(labels, test_fraction=fraction, rng=rng)
    x: FloatArray = shape_images(images, flatten=flatten).astype(float_dtype)
    if normalize:
        x /= _PEAK
    t = format_labels(labels, one_hot=one_hot_label, dtype=float_dtype)
    return (x[train], t[train]), (x[test], t[test])


def _check_fraction(test_fraction: object) -> float:
    if not isinstance(test_fraction, bool) and isinstance(test_fraction, numbers.Real):
        fraction = float(test_fraction)
        # Written so that NaN, which fails every comparison, is rejected too.
        if 0.0 < fraction < 1.0:
            return fraction
    raise DomainError(
        f"load_digits: expected `test_fraction` strictly between 0 and 1, got {test_fraction!r}."
    )


def _check_seed(seed: object) -> int:
    if not isinstance(seed, bool) and isinstance(seed, int | np.integer) and seed >= 0:
        return int(seed)
    raise DomainError(f"load_digits: expected `seed` a non-negative integer, got {seed!r}.")


def _read_embedded() -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.uint8]]:
    """The ``(1797, 8, 8)`` uint8 images and ``(1797,)`` uint8 labels, in file order."""
    resource = resources.files("bpcore.datasets") / "data" / "digits.npz"
    try:
        # Reading into memory works whether the package is a folder or inside a zip.
        with np.load(io.BytesIO(resource.read_bytes()), allow_pickle=False) as archive:
            images: npt.NDArray[np.uint8] = archive["images"]
            labels: npt.NDArray[np.uint8] = archive["labels"]
    except (*DAMAGE, KeyError) as exc:  # a damaged install: no archive, a key missing, pickles
        raise DatasetError(
            f"load_digits: expected {resource} to be an .npz archive of 'images' and "
            f"'labels', got {type(exc).__name__}: {exc}; reinstall bpcore."
        ) from exc
    if (
        images.dtype != np.uint8
        or images.shape != (_SAMPLES, _SIDE, _SIDE)
        or labels.dtype != np.uint8
        or labels.shape != (_SAMPLES,)
        or int(images.max()) > _PEAK
        or int(labels.max()) >= CLASSES
    ):
        raise DatasetError(
            f"load_digits: expected {resource} to hold ({_SAMPLES}, 8, 8) uint8 images in "
            f"0..{_PEAK} and ({_SAMPLES},) uint8 labels in 0..9, got images "
            f"{images.shape} {images.dtype} and labels {labels.shape} {labels.dtype}; "
            f"reinstall bpcore."
        )
    return images, labels
