"""The exceptions bpcore raises.

Every error derives from :class:`BpcoreError`, so ``except BpcoreError`` catches
anything bpcore rejects, and also from the built-in type a NumPy user would
expect (``ValueError``, ``TypeError``, ``RuntimeError``), so existing handlers
keep working. Messages name the layer or function, what was expected and what
was received.
"""

from __future__ import annotations

__all__ = [
    "ArgumentError",
    "ArgumentTypeError",
    "BpcoreError",
    "CheckpointError",
    "DatasetError",
    "DomainError",
    "DtypeError",
    "NotForwardedError",
    "ShapeError",
    "TargetError",
    "UnusableGradient",
]


class BpcoreError(Exception):
    """Base class of every error bpcore raises on purpose."""


class ShapeError(BpcoreError, ValueError):
    """An array has a shape the operation cannot accept."""


class DtypeError(BpcoreError, TypeError):
    """An array has a dtype bpcore does not compute with (complex, object, string, ...)."""


class NotForwardedError(BpcoreError, RuntimeError):
    """``backward`` was called on a layer that has not run ``forward`` yet."""


class TargetError(BpcoreError, ValueError):
    """Targets are invalid: labels out of range, negative or non-integer,
    rows that are not probability distributions, or the wrong target shape."""


class DomainError(BpcoreError, ValueError):
    """A value lies outside the domain of the function (e.g. a negative probability)."""


class DatasetError(BpcoreError, ValueError):
    """A dataset file is missing, truncated, corrupt, or fails its checksum."""


class CheckpointError(BpcoreError, ValueError):
    """A checkpoint file is missing, corrupt, or does not match the network it is loaded into."""


class ArgumentError(BpcoreError, ValueError):
    """An argument lies outside its documented domain: a size, a hyperparameter, an option
    or a name that bpcore does not know."""


class UnusableGradient(ArgumentError):  # noqa: N818  # the name says what was refused
    """An optimizer refused a gradient it cannot apply: NaN or infinite, or (Adam, AdaGrad)
    with squares beyond the range its state is kept in. Nothing was updated."""


class ArgumentTypeError(BpcoreError, TypeError):
    """An argument has the wrong type, such as an ``rng`` that is not a Generator."""
