"""Shaping raw image and label arrays into what the dataset loaders return."""

from __future__ import annotations

from typing import TypeAlias

import numpy as np
import numpy.typing as npt

from bpcore._arrays import FloatArray, FloatDType

__all__ = ["CLASSES", "LabelArray", "TargetArray", "format_labels", "shape_images"]

CLASSES = 10
"""Both digit datasets have the ten classes 0..9."""

LabelArray: TypeAlias = npt.NDArray[np.int64]
"""Integer class labels of shape ``(N,)``."""

TargetArray: TypeAlias = LabelArray | FloatArray
"""Class labels of shape ``(N,)``, or one-hot rows of shape ``(N, 10)``."""


def shape_images(images: npt.NDArray[np.uint8], *, flatten: bool) -> npt.NDArray[np.uint8]:
    """Reshape ``(N, H, W)`` images to ``(N, H*W)`` if ``flatten``, else to ``(N, 1, H, W)``."""
    n, height, width = images.shape
    if flatten:
        return images.reshape(n, height * width)
    return images.reshape(n, 1, height, width)


def format_labels(
    labels: npt.NDArray[np.uint8], *, one_hot: bool, dtype: FloatDType
) -> TargetArray:
    """``(N,)`` int64 labels, or ``(N, 10)`` one-hot rows of ``dtype`` if ``one_hot``."""
    if one_hot:
        one_hot_rows: FloatArray = np.eye(CLASSES, dtype=dtype)[labels]
        return one_hot_rows
    return labels.astype(np.int64)
