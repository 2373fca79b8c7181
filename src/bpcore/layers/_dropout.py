"""Dropout, as the book defines it."""

from __future__ import annotations

from typing import final

import numpy as np
import numpy.typing as npt

from bpcore._args import unit_interval
from bpcore._arrays import (
    FloatArray,
    as_dtype,
    as_float_array,
    ieee_arithmetic,
    require_forwarded,
    require_shape,
)
from bpcore._rng import resolve_rng
from bpcore.functional import zero_where


@final
class Dropout:
    """Drop each unit with probability ``dropout_ratio`` in training; scale in inference.

    Training mode (``train_flg=True``) draws a fresh mask from :attr:`rng` on every
    forward, ``keep = rng.random(x.shape) > dropout_ratio`` (the book's rule), and
    returns ``x`` where ``keep`` holds and ``+0.0`` elsewhere; backward returns ``dout``
    likewise. Inference mode returns ``x·(1 - dropout_ratio)``, the expected value of the
    training output, and backward ``dout·(1 - dropout_ratio)``. This is the book's
    dropout; frameworks scale by ``1 / (1 - ratio)`` in training instead, which gives the
    same network up to that factor. ``x`` may have any shape; the output and ``dx`` have
    its shape and dtype.

    Given the generator's state, the masks are determined: seed it for a reproducible
    run, or set :attr:`rng` to a freshly seeded generator before a forward to fix that
    forward's mask (the gradient checker does).

    Attributes:
        dropout_ratio: the probability of dropping a unit, in ``[0, 1)``.
        rng: the :class:`numpy.random.Generator` the masks are drawn from.
        mask: the last training-mode forward's ``keep`` mask, or ``None``.

    Raises:
        ArgumentError: ``dropout_ratio`` is not in ``[0, 1)``, or ``rng`` is a negative seed.
        ArgumentTypeError: ``rng`` is not a Generator, an int seed or ``None``.
    """

    dropout_ratio: float
    rng: np.random.Generator
    mask: npt.NDArray[np.bool_] | None
    _last: tuple[tuple[int, ...], np.dtype[np.floating], bool] | None

    def __init__(
        self, dropout_ratio: float = 0.5, *, rng: np.random.Generator | int | None = None
    ) -> None:
        where = "Dropout"
        self.dropout_ratio = unit_interval(dropout_ratio, where=where, name="dropout_ratio")
        self.rng = resolve_rng(rng, where=where)
        self.mask = None
        self._last = None

    def forward(self, x: npt.ArrayLike, train_flg: bool = True) -> FloatArray:
        """Return ``x`` with the dropped units zeroed (training) or scaled (inference)."""
        xa = as_float_array(x, where="Dropout.forward", name="x")
        self._last = (xa.shape, xa.dtype, bool(train_flg))
        if not train_flg:
            with ieee_arithmetic():
                return xa * xa.dtype.type(1.0 - self.dropout_ratio)
        self.mask = self.rng.random(xa.shape) > self.dropout_ratio
        return zero_where(xa, ~self.mask, np.empty_like(xa))

    def backward(self, dout: npt.ArrayLike) -> FloatArray:
        """Return ``dout`` through the last forward's mask, or scaled after inference.

        Raises:
            NotForwardedError: before the first forward.
            ShapeError: ``dout`` does not have ``x``'s shape.
        """
        where = "Dropout.backward"
        shape, dtype, train = require_forwarded(self._last, where=where)
        d = as_dtype(dout, dtype, where=where, name="dout")
        require_shape(d, shape, where=where, name="dout")
        if not train:
            with ieee_arithmetic():
                return d * dtype.type(1.0 - self.dropout_ratio)
        mask = require_forwarded(self.mask, where=where)
        return zero_where(d, ~mask, np.empty_like(d))
