"""What a :class:`~bpcore.training.Trainer` needs of a network: :class:`TrainableNetwork`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

import numpy.typing as npt

from bpcore._arrays import FloatArray

__all__ = ["LossHolder", "TrainableNetwork"]


class LossHolder(Protocol):
    """A network's loss layer, which keeps the loss of its last forward pass."""

    @property
    def loss(self) -> float | None:
        """The loss computed by the last forward pass, or ``None`` before the first."""
        ...


class TrainableNetwork(Protocol):
    """A network a trainer can train; :class:`~bpcore.networks.TwoLayerNet` and
    :class:`~bpcore.networks.MultiLayerNet` are ones.

    ``params`` holds every parameter array, all of one float dtype, and the
    optimizer updates them in place. ``gradient(x, t)`` runs a forward pass,
    which leaves the batch's loss in ``last_layer.loss``, so the trainer gets
    each batch's loss without a second forward pass.
    """

    @property
    def params(self) -> Mapping[str, FloatArray]:
        """The parameter arrays by name."""
        ...

    @property
    def last_layer(self) -> LossHolder:
        """The loss layer, whose ``loss`` is set by every forward pass."""
        ...

    def accuracy(self, x: npt.ArrayLike, t: npt.ArrayLike) -> float:
        """The fraction of the samples of ``x`` classified as ``t`` says."""
        ...

    def loss(self, x: npt.ArrayLike, t: npt.ArrayLike) -> float:
        """The mean loss over the samples of ``x`` against the targets ``t``."""
        ...

    def gradient(self, x: npt.ArrayLike, t: npt.ArrayLike) -> Mapping[str, FloatArray]:
        """The gradient of the loss on ``(x, t)`` for every parameter, keyed like ``params``."""
        ...
