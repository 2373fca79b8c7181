"""The interface every bpcore optimizer implements."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol, runtime_checkable

from bpcore._arrays import FloatArray


@runtime_checkable
class Optimizer(Protocol):
    """Anything that updates a network's parameters from their gradients.

    ``update(params, grads)`` changes every array ``params[k]`` *in place*
    (``params[k] -= ...``), so layers holding references to those arrays see
    the new values, and it never writes to ``grads``.

    ``params`` is typed :class:`~collections.abc.Mapping` rather than
    ``MutableMapping`` because the mapping itself is never changed (no key is
    added, removed or rebound), only the arrays in it; ``Mapping`` is also
    covariant, so a ``dict[str, NDArray[np.float64]]`` is accepted.
    """

    def update(self, params: Mapping[str, FloatArray], grads: Mapping[str, FloatArray]) -> None:
        """Apply one optimization step to ``params`` using ``grads`` of the same keys and shapes.

        bpcore's optimizers update all or nothing: every argument is checked before any
        array is written. The arithmetic follows IEEE 754 without a RuntimeWarning: a step
        that overflows (a huge ``lr``) writes ±inf.

        Raises:
            ArgumentError: the keys differ.
            UnusableGradient: a gradient holds a NaN or an infinity, or (Adam, AdaGrad)
                an element whose square its state cannot hold.
            ArgumentTypeError: ``params`` or ``grads`` is not a mapping.
            DtypeError: a parameter is not a writable float array, or a gradient not a
                float array.
            ShapeError: a gradient's shape is not its parameter's.
        """
        ...


@runtime_checkable
class StatefulOptimizer(Optimizer, Protocol):
    """An optimizer whose state (velocities, moments, step count) can be saved and restored,
    so that a resumed run continues exactly where it stopped."""

    def state_dict(self) -> dict[str, FloatArray]:
        """A copy of the state as named float arrays: none per parameter before the first
        update (a step count, such as Adam's ``"iter"``, is always there)."""
        ...

    def load_state_dict(self, state: Mapping[str, FloatArray]) -> None:
        """Replace the state with ``state`` (as returned by :meth:`state_dict`), or raise
        ``ValueError`` and change nothing if it does not fit this optimizer."""
        ...
