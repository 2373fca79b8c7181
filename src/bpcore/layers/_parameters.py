"""What every layer with parameters shares: ``params`` and ``grads`` by name."""

from __future__ import annotations

from typing import ClassVar, cast

from bpcore._arrays import FloatArray, require_forwarded


class WithParameters:
    """A layer whose parameters are the attributes named in :attr:`PARAMETERS`, each with
    its gradient ``d<name>`` after a backward (``W`` and ``dW``, ``gamma`` and ``dgamma``)."""

    PARAMETERS: ClassVar[tuple[str, ...]]
    """The names of the parameter attributes, in order."""

    @property
    def params(self) -> dict[str, FloatArray]:
        """The parameters by name (the arrays themselves, not copies)."""
        return {name: _array(getattr(self, name)) for name in self.PARAMETERS}

    @property
    def grads(self) -> dict[str, FloatArray]:
        """The gradients of the last backward, keyed like :attr:`params`.

        Raises:
            NotForwardedError: no backward has run yet.
        """
        where = f"{type(self).__name__}.grads"
        return {
            name: _array(require_forwarded(getattr(self, f"d{name}"), where=where))
            for name in self.PARAMETERS
        }


def _array(value: object) -> FloatArray:
    # A layer validates its parameters when it is built and computes its gradients
    # itself: these attributes are float arrays by construction.
    return cast(FloatArray, value)
