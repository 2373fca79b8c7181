"""Softmax followed by cross-entropy, as one layer with an exact gradient."""

from __future__ import annotations

from typing import final

import numpy as np
import numpy.typing as npt

from bpcore._arrays import FloatArray, as_dtype, as_float_array, require_forwarded, require_shape
from bpcore._targets import Targets, validate_targets
from bpcore.errors import ShapeError
from bpcore.functional import _mean_cross_entropy


@final
class SoftmaxWithLoss:
    """Mean cross-entropy of ``softmax(x)`` against targets ``t``.

    Shapes: ``x`` is ``(N, C)`` logits, or ``(C,)`` for one sample, which behaves
    exactly as a batch of one. ``t`` is integer labels ``(N,)`` (a scalar for one
    sample) or rows ``(N, C)`` (``(C,)``) that are distributions: one-hot or soft.

    Forward returns ``L = -(1/N) Σ_n Σ_c t[n, c] · log_softmax(x)[n, c]``, computed through
    log-softmax, so there is no ``log(y + 1e-7)`` fudge and backward is the exact
    gradient: ``dx = dout · (s·softmax(x) - t) / N``, where ``s`` is each target row's
    sum (1 up to rounding, so this is the book's ``(y - t) / N`` scaled by ``dout``).

    Attributes:
        loss: the last loss, or ``None``.
        y: the layer's softmax output of shape ``(N, C)``, or ``None``.
        t: the validated targets, a private copy: labels ``(N,)`` or rows ``(N, C)``.
    """

    loss: float | None
    y: FloatArray | None
    t: npt.NDArray[np.intp] | FloatArray | None
    _targets: Targets | None
    _x_shape: tuple[int, ...] | None
    _top: npt.NDArray[np.intp] | None
    _at_top: npt.NDArray[np.intp] | None
    _at_label: npt.NDArray[np.intp] | None
    _top_complement: FloatArray | None
    _starts: npt.NDArray[np.intp]

    def __init__(self) -> None:
        self.loss = None
        self.y = None
        self.t = None
        self._targets = None
        self._x_shape = None
        self._top = None
        self._at_top = None
        self._at_label = None
        self._top_complement = None
        self._starts = np.arange(0)

    def _row_starts(self, n: int, c: int) -> npt.NDArray[np.intp]:
        """The flat index of each row's first element in a C-ordered ``(n, c)`` array.

        Adding a column index per row gives flat indices, with which 1-D indexing picks
        one element per row several times faster than a (rows, columns) pair. Kept
        from call to call (it is only ever read), as batches keep their shape.
        """
        starts = self._starts
        if starts.shape[0] != n or (n > 1 and starts[1] != c):
            starts = self._starts = np.arange(0, n * c, c)
        return starts

    def forward(self, x: npt.ArrayLike, t: npt.ArrayLike) -> float:
        """Return the mean cross-entropy loss of logits ``x`` against targets ``t``."""
        where = "SoftmaxWithLoss.forward"
        xa = as_float_array(x, where=where, name="x")
        if xa.ndim not in (1, 2) or xa.shape[-1] == 0 or (xa.ndim == 2 and xa.shape[0] == 0):
            raise ShapeError(
                f"{where}: expected x of shape (N, C) with N, C >= 1, or (C,) for one sample, "
                f"got shape {xa.shape}."
            )
        one_sample = xa.ndim == 1
        logits = xa.reshape(1, -1) if one_sample else xa
        n, c = logits.shape
        targets = validate_targets(t, n=n, c=c, one_sample=one_sample, dtype=xa.dtype, where=where)
        return self._forward_validated(logits, targets, xa.shape)

    def _forward_validated(
        self, logits: FloatArray, targets: Targets, x_shape: tuple[int, ...]
    ) -> float:
        """Forward on ``(N, C)`` logits (N, C >= 1) and targets already validated against them.

        Sets every attribute :meth:`backward` reads and returns the loss. ``logits`` is
        only read, and kept by nothing: a caller may reuse its buffer afterwards.

        The steps are those of :func:`~bpcore.functional.exp_and_log_normaliser` and
        :func:`~bpcore.functional.log_softmax`, with fewer temporaries and bit for bit the
        same results for C-ordered logits: ``z = x - max(x)``, ``e = exp(z)`` with the top
        class's term left out of ``lse = log1p(Σ_{j≠top} e_j)``, then
        ``softmax = e / Σe`` with ``Σe = 1 + Σ_{j≠top} e_j`` (one rounding, where ``exp(lse)``
        would add the errors of log1p and exp). ``z`` and ``e`` are made in C order
        whatever the logits' layout, so a transposed or strided batch sums in the same
        order as a contiguous one.
        """
        n, c = logits.shape
        top = logits.argmax(axis=1)
        at_top = self._row_starts(n, c) + top  # flat indices of each row's top class
        # Logits of opposite extreme sign (-1e308 against +1e308) overflow to -inf in z;
        # exp(-inf) = 0 is then the exactly rounded probability, so the overflow is harmless.
        # NaN logits give NaN (a diverging network must show it), with no warning either.
        with np.errstate(over="ignore", invalid="ignore"):
            # C order whatever the logits' layout, so that the flat indices address z and e.
            z = np.subtract(logits, logits.reshape(-1)[at_top][:, None], order="C")
            e = np.exp(z)
            e_flat = e.reshape(-1)  # a view: e is this call's own C-contiguous array
            e_flat[at_top] = 0.0
            rest = np.add.reduce(e, axis=1, keepdims=True)
            e_flat[at_top] = 1.0
            lse = np.log1p(rest)
            total = rest + 1.0  # Σ e: the top class's term is exactly 1
            # e becomes softmax(x) in place.
            self.y = np.divide(e, total, out=e)
            # 1 - y for the top class, as Σ_{j≠top} e_j / Σ e, instead of by a
            # subtraction that rounds a confident prediction's gradient away.
            self._top_complement = rest / total
            if targets.labels is not None:
                at_label = self._row_starts(n, c) + targets.labels  # flat indices of the targets
                # (z - lse)[n, t_n], without forming the whole (N, C) difference.
                picked = z.reshape(-1)[at_label] - lse[:, 0]
                loss = float(-np.add.reduce(picked) / n)
            else:
                at_label = None
                loss = _mean_cross_entropy(z - lse, targets)
        self._top = top
        self._at_top = at_top
        self._at_label = at_label
        self._targets = targets
        self.t = targets.labels if targets.labels is not None else targets.dist
        self._x_shape = x_shape
        self.loss = loss
        return loss

    def backward(self, dout: npt.ArrayLike = 1.0) -> FloatArray:
        """Return ``dout · (softmax(x) - t) / N`` in ``x``'s shape and dtype.

        ``dout`` is the scalar gradient of whatever consumes the loss (1 for the loss itself).
        """
        where = "SoftmaxWithLoss.backward"
        y = require_forwarded(self.y, where=where)
        x_shape = require_forwarded(self._x_shape, where=where)
        d = as_dtype(dout, y.dtype, where=where, name="dout")
        require_shape(d, (), where=where, name="dout")
        return self._delta(d).reshape(x_shape)

    def _delta(self, d: FloatArray) -> FloatArray:
        """``d · (s·softmax(x) - t) / N`` as a new ``(N, C)`` array, for a validated 0-d ``d``."""
        where = "SoftmaxWithLoss.backward"
        y = require_forwarded(self.y, where=where)
        targets = require_forwarded(self._targets, where=where)
        n = y.shape[0]
        labels = targets.labels
        if labels is not None:
            top = require_forwarded(self._top, where=where)
            complement = require_forwarded(self._top_complement, where=where)
            at_label = require_forwarded(self._at_label, where=where)  # flat target indices
            scale = d / n
            dx: FloatArray = np.multiply(y, scale)
            # y - 1 at each target, except where the target is the top class: there
            # 1 - y is known exactly (the complement), and -(1 - y) is the gradient.
            # Each element is still one product with `scale`, rounded once.
            dx.reshape(-1)[at_label] = (
                np.where(top == labels, -complement[:, 0], y.reshape(-1)[at_label] - 1) * scale
            )
            return dx
        dx = self._soft_delta(y, require_forwarded(targets.dist, where=where))
        dx *= d / n
        return dx

    def _soft_delta(self, y: FloatArray, dist: FloatArray) -> FloatArray:
        """``s·y - t`` for target rows ``t`` with sums ``s``, accurate where ``y ≈ t``.

        Written as ``(y - t) + y·(s - 1)``: ``s - 1`` is summed in float64 (exactly, for
        float32 rows whose values span less than 2^29) instead of rounding ``s`` to the
        dtype, which would cost ``u·|y|`` in every element; ``y - t`` is a single
        rounding, exact when they are within a factor two (Sterbenz). Where the top class
        has ``y ≥ 1/2``, ``y - t = (1 - t) - (1 - y)`` with ``1 - y`` the exact complement,
        as in the label path, so a confident prediction keeps its relative accuracy.
        """
        where = "SoftmaxWithLoss.backward"
        at_top = require_forwarded(self._at_top, where=where)  # flat indices of the top classes
        complement = require_forwarded(self._top_complement, where=where)
        excess = np.add.reduce(dist, axis=1, keepdims=True, dtype=np.float64) - 1.0
        dx = y - dist
        y_top = y.reshape(-1)[at_top]
        dx.reshape(-1)[at_top] = np.where(
            y_top >= 0.5, (1 - dist.reshape(-1)[at_top]) - complement[:, 0], dx.reshape(-1)[at_top]
        )
        dx += y * excess.astype(y.dtype)
        return dx
