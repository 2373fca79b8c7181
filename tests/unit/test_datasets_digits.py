"""Tests of the embedded 8x8 digits and their stratified split."""

from __future__ import annotations

import hashlib
import math
from fractions import Fraction
from importlib import resources
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from bpcore.datasets import load_digits
from bpcore.datasets._digits import _read_embedded
from bpcore.datasets._split import stratified_split
from bpcore.errors import DatasetError, DomainError, DtypeError
from tests.helpers import assert_error

N_SAMPLES = 1797
CLASS_COUNTS = [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]
FIRST_ROW = [
    [0, 0, 5, 13, 9, 1, 0, 0],
    [0, 0, 13, 15, 10, 15, 5, 0],
    [0, 3, 15, 2, 0, 11, 8, 0],
    [0, 4, 12, 0, 0, 8, 8, 0],
    [0, 5, 8, 0, 0, 9, 8, 0],
    [0, 4, 11, 0, 1, 12, 7, 0],
    [0, 2, 14, 5, 10, 12, 0, 0],
    [0, 0, 6, 13, 10, 0, 0, 0],
]


def test_embedded_data_is_the_published_copy() -> None:
    """The packaged arrays hash to the SHA-256 digests recorded in data/README.md."""
    images, labels = _read_embedded()
    assert hashlib.sha256(images.tobytes()).hexdigest() == (
        "8f26b2bd9d135c256808f68f14fdabddde6d9c7f869ae419704b051f0f14b3b3"
    )
    assert hashlib.sha256(labels.tobytes()).hexdigest() == (
        "8ba4f891220f5e4c9c819638d1602d74b83618f167043c6da52a2a247841ddf0"
    )
    np.testing.assert_array_equal(images[0], FIRST_ROW)
    assert labels[0] == 0
    np.testing.assert_array_equal(np.bincount(labels), CLASS_COUNTS)


def test_data_file_is_a_package_resource() -> None:
    """The archive is reachable through importlib.resources, as it is from an installed wheel."""
    resource = resources.files("bpcore.datasets") / "data" / "digits.npz"
    assert resource.is_file()
    assert (resources.files("bpcore.datasets") / "data" / "README.md").is_file()


def test_default_split_shapes_dtypes_and_ranges() -> None:
    """Defaults give (N, 64) float64 images in [0, 1] and int64 labels, 80/20 over 1797 samples."""
    (x_train, t_train), (x_test, t_test) = load_digits()
    assert x_train.shape == (1438, 64)
    assert x_test.shape == (359, 64)
    assert x_train.dtype == x_test.dtype == np.float64
    assert t_train.shape == (1438,)
    assert t_train.dtype == t_test.dtype == np.int64
    assert x_train.min() == 0.0
    assert x_train.max() == 1.0
    all_labels = np.concatenate([t_train, t_test])
    np.testing.assert_array_equal(np.bincount(all_labels), CLASS_COUNTS)


def test_normalize_divides_pixel_counts_by_16() -> None:
    """Normalized images are exactly the raw 0..16 counts divided by 16 for the same seed."""
    (raw, _), _ = load_digits(normalize=False)
    (scaled, _), _ = load_digits(normalize=True)
    assert raw.max() == 16.0
    np.testing.assert_array_equal(np.round(raw), raw)
    np.testing.assert_array_equal(scaled * 16, raw)


def test_unflattened_images_are_n_1_8_8() -> None:
    """flatten=False gives (N, 1, 8, 8) images holding the flat rows in row-major order."""
    (flat, _), (flat_test, _) = load_digits()
    (square, _), (square_test, _) = load_digits(flatten=False)
    assert square.shape == (1438, 1, 8, 8)
    assert square_test.shape == (359, 1, 8, 8)
    np.testing.assert_array_equal(square.reshape(1438, 64), flat)
    np.testing.assert_array_equal(square_test.reshape(359, 64), flat_test)


def test_one_hot_rows_match_the_labels() -> None:
    """one_hot_label=True gives (N, 10) rows of the requested dtype with a 1 at each label."""
    (_, labels), _ = load_digits()
    (_, rows), (_, rows_test) = load_digits(one_hot_label=True, dtype=np.float32)
    assert rows.shape == (1438, 10)
    assert rows_test.shape == (359, 10)
    assert rows.dtype == np.float32
    np.testing.assert_array_equal(rows.argmax(axis=1), labels)
    np.testing.assert_array_equal(rows.sum(axis=1), np.ones(1438))


def test_float32_dtype_applies_to_images() -> None:
    """dtype=np.float32 makes the images float32."""
    (x_train, _), (x_test, _) = load_digits(dtype="float32")
    assert x_train.dtype == x_test.dtype == np.float32


def test_split_is_deterministic_per_seed() -> None:
    """The same seed gives identical arrays; another seed gives a different split."""
    (x_a, t_a), (xt_a, _) = load_digits(seed=7)
    (x_b, t_b), (xt_b, _) = load_digits(seed=7)
    (x_c, _), _ = load_digits(seed=8)
    np.testing.assert_array_equal(x_a, x_b)
    np.testing.assert_array_equal(t_a, t_b)
    np.testing.assert_array_equal(xt_a, xt_b)
    assert not np.array_equal(x_a, x_c)


def test_the_default_seed_is_zero() -> None:
    """load_digits() splits exactly as load_digits(seed=0) does."""
    default = load_digits()
    zero = load_digits(seed=0)
    for got, want in zip(default, zero, strict=True):
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_array_equal(got[1], want[1])


def test_global_random_state_is_untouched() -> None:
    """load_digits neither reads nor advances NumPy's global random state."""
    np.random.seed(99)  # noqa: NPY002 -- the legacy global state is what is under test
    expected = np.random.random()  # noqa: NPY002
    np.random.seed(99)  # noqa: NPY002
    first = load_digits()
    np.random.seed(12345)  # noqa: NPY002
    second = load_digits()
    np.random.seed(99)  # noqa: NPY002
    load_digits()
    assert np.random.random() == expected  # noqa: NPY002
    np.testing.assert_array_equal(first[0][0], second[0][0])


@pytest.mark.parametrize("fraction", [0.05, 0.2, 0.25, 0.5, 0.9])
def test_split_is_stratified(fraction: float) -> None:
    """Each class's test count is within one sample of test_fraction times its size."""
    (_, t_train), (_, t_test) = load_digits(test_fraction=fraction, seed=3)
    test_counts = np.bincount(t_test, minlength=10)
    train_counts = np.bincount(t_train, minlength=10)
    np.testing.assert_array_equal(test_counts + train_counts, CLASS_COUNTS)
    assert np.all(np.abs(test_counts - fraction * np.array(CLASS_COUNTS)) <= 1)


@pytest.mark.parametrize("fraction", [0.5, 0.2, 0.3, 0.75, 1e-9, 1 - 1e-9])
def test_each_class_tests_its_fraction_rounded_half_up(fraction: float) -> None:
    """A class of n samples sends test_fraction·n of them to the test set rounded half up
    (177 · 0.5 = 88.5 gives 89, where Python's round would give 88), at least one and never
    all n."""
    (_, t_train), (_, t_test) = load_digits(test_fraction=fraction, seed=4)
    test_counts = np.bincount(t_test, minlength=10)
    expected = [min(max(math.floor(Fraction(fraction) * n + Fraction(1, 2)), 1), n - 1)
                for n in CLASS_COUNTS]  # fmt: skip
    assert test_counts.tolist() == expected
    assert np.bincount(t_train, minlength=10).tolist() == [
        n - k for n, k in zip(CLASS_COUNTS, expected, strict=True)
    ]


def test_split_is_shuffled_across_classes() -> None:
    """Neither side lists its samples class by class."""
    (_, t_train), (_, t_test) = load_digits()
    assert np.any(np.diff(t_train) < 0)
    assert np.any(np.diff(t_test) < 0)


def test_every_call_returns_fresh_arrays() -> None:
    """Writing into a returned array does not change what the next call returns."""
    (x_train, _), _ = load_digits()
    before = x_train.copy()
    x_train[:] = -1.0
    (again, _), _ = load_digits()
    np.testing.assert_array_equal(again, before)


def test_split_indices_partition_the_samples() -> None:
    """stratified_split returns disjoint train and test indices that cover every sample."""
    _, labels = _read_embedded()
    train, test = stratified_split(labels, test_fraction=0.3, rng=np.random.default_rng(0))
    assert np.intersect1d(train, test).size == 0
    np.testing.assert_array_equal(np.sort(np.concatenate([train, test])), np.arange(N_SAMPLES))


def test_split_keeps_small_classes_on_both_sides() -> None:
    """A tiny fraction still tests one sample per class, and a lone sample stays in training."""
    labels = np.array([0, 0, 0, 1, 1, 2])
    train, test = stratified_split(labels, test_fraction=0.01, rng=np.random.default_rng(0))
    np.testing.assert_array_equal(np.sort(labels[test]), [0, 1])
    np.testing.assert_array_equal(np.sort(labels[train]), [0, 0, 1, 2])


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.1, 1.5, float("nan"), True, "0.2", None])
def test_rejects_bad_test_fraction(fraction: object) -> None:
    """A test_fraction outside (0, 1) or not a number raises DomainError, a ValueError."""
    with pytest.raises(DomainError, match=r"load_digits: expected `test_fraction`") as info:
        load_digits(test_fraction=fraction)  # type: ignore[arg-type]  # invalid on purpose
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("seed", [-1, 1.5, True, "0", None])
def test_rejects_bad_seed(seed: object) -> None:
    """A seed that is not a non-negative integer raises DomainError."""
    with pytest.raises(DomainError, match=r"load_digits: expected `seed`"):
        load_digits(seed=seed)  # type: ignore[arg-type]  # invalid on purpose


def test_accepts_numpy_integer_seed() -> None:
    """A NumPy integer seed gives the same split as the equal Python int."""
    numpy_seed: object = np.int64(5)
    (_, by_numpy), _ = load_digits(seed=numpy_seed)  # type: ignore[arg-type]  # typed as int only
    (_, by_int), _ = load_digits(seed=5)
    np.testing.assert_array_equal(by_numpy, by_int)


@pytest.mark.parametrize("dtype", [np.int32, np.float16, np.complex128, "not a dtype"])
def test_rejects_non_float32_64_dtypes(dtype: object) -> None:
    """A dtype other than float32 or float64 raises DtypeError, a TypeError."""
    with pytest.raises(DtypeError, match=r"load_digits: expected `dtype` float32 or float64") as i:
        load_digits(dtype=dtype)  # type: ignore[arg-type]  # invalid on purpose
    assert isinstance(i.value, TypeError)


def _install_archive(monkeypatch: pytest.MonkeyPatch, folder: Path, **arrays: np.ndarray) -> None:
    """Make load_digits read ``arrays`` as its packaged archive (a damaged install)."""
    (folder / "data").mkdir()
    np.savez(folder / "data" / "digits.npz", **arrays)  # type: ignore[arg-type]  # savez takes arrays as keywords
    monkeypatch.setattr(
        "bpcore.datasets._digits.resources", SimpleNamespace(files=lambda package: folder)
    )


_IMAGES, _LABELS = _read_embedded()


@pytest.mark.parametrize(
    ("images", "labels", "got"),
    [
        (_IMAGES.astype(np.int16), _LABELS, "images (1797, 8, 8) int16"),
        (_IMAGES[:, :, :7], _LABELS, "images (1797, 8, 7) uint8"),
        (_IMAGES, _LABELS.astype(np.int64), "labels (1797,) int64"),
        (_IMAGES, _LABELS[:-1], "labels (1796,) uint8"),
        (
            np.where(_IMAGES == 16, 17, _IMAGES).astype(np.uint8),
            _LABELS,
            "images (1797, 8, 8) uint8",
        ),
        (_IMAGES, np.where(_LABELS == 9, 10, _LABELS).astype(np.uint8), "labels (1797,) uint8"),
    ],
    ids=["image-dtype", "image-shape", "label-dtype", "label-shape", "pixel-17", "label-10"],
)
def test_a_damaged_packaged_archive_is_a_dataset_error(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    images: np.ndarray,
    labels: np.ndarray,
    got: str,
) -> None:
    """A packaged archive off in one respect only (dtype, shape, a pixel above 16, a
    label above 9) raises DatasetError saying what it holds, instead of loading."""
    _install_archive(monkeypatch, tmp_path, images=images, labels=labels)
    assert_error(
        DatasetError,
        load_digits,
        callee="load_digits",
        expected="(1797, 8, 8) uint8 images in 0..16 and (1797,) uint8 labels in 0..9",
        got=got,
    )


class _Tripwire:
    """An object whose unpickling is recorded, to see whether an archive gets unpickled."""

    unpickled = False

    def __reduce__(self) -> tuple[object, tuple[()]]:
        return (_Tripwire._trip, ())

    @staticmethod
    def _trip() -> None:
        _Tripwire.unpickled = True


def test_a_packaged_archive_holding_pickles_is_never_unpickled(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Object arrays in the archive raise DatasetError without being unpickled
    (unpickling can run arbitrary code)."""
    images = np.empty(1, dtype=object)
    images[0] = _Tripwire()
    _install_archive(monkeypatch, tmp_path, images=images, labels=_LABELS)
    monkeypatch.setattr(_Tripwire, "unpickled", False)
    assert_error(DatasetError, load_digits, callee="load_digits", got="ValueError")
    assert not _Tripwire.unpickled


@pytest.mark.parametrize("damage", ["missing-key", "not-a-zip"])
def test_a_packaged_archive_that_is_not_the_digits_is_a_dataset_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, damage: str
) -> None:
    """An archive without 'labels', or a file that is no archive at all, raises
    DatasetError naming what was found."""
    if damage == "missing-key":
        _install_archive(monkeypatch, tmp_path, images=_IMAGES)
        got = "KeyError"
    else:
        _install_archive(monkeypatch, tmp_path, images=_IMAGES, labels=_LABELS)
        (tmp_path / "data" / "digits.npz").write_bytes(b"not an archive")
        got = "ValueError"  # NumPy takes what is not .npy or .npz for a pickle, and refuses it
    assert_error(
        DatasetError, load_digits, callee="load_digits", expected="an .npz archive", got=got
    )
