"""The verification engine: finite differences, a layer checker and the Taylor test.

* :func:`numerical_gradient` -- the book's central-difference gradient, safe for
  integer and float32 inputs and always restoring ``x``.
* :func:`check_gradients` / :func:`assert_gradients` -- compare a layer's backward
  with float64 finite differences for every input and parameter, under a derived
  error model; :func:`unary`, :func:`binary` and :func:`loss` adapt layers to it.
* :func:`taylor_test` / :func:`assert_taylor` -- the Taylor-remainder test, which needs
  no tolerance.
* :func:`term_magnitude` -- the size of the terms a backward sums into each gradient
  element, which rounding bounds of the form ``n·u·size`` need (``|g|`` understates
  it where the terms cancel); the checker's error model and the generic properties
  use it.

How the checker's tolerances are derived: docs/gradcheck-error-model.md.
"""

from bpcore._finite_difference import default_step as default_step
from bpcore.gradcheck._checker import FULL_LIMIT as FULL_LIMIT
from bpcore.gradcheck._checker import Mode as Mode
from bpcore.gradcheck._checker import assert_gradients as assert_gradients
from bpcore.gradcheck._checker import check_gradients as check_gradients
from bpcore.gradcheck._error_model import EXACT_TERMS_LIMIT as EXACT_TERMS_LIMIT
from bpcore.gradcheck._error_model import term_magnitude as term_magnitude
from bpcore.gradcheck._numerical import numerical_gradient as numerical_gradient
from bpcore.gradcheck._report import ArrayCheck as ArrayCheck
from bpcore.gradcheck._report import GradcheckReport as GradcheckReport
from bpcore.gradcheck._report import GradientMismatch as GradientMismatch
from bpcore.gradcheck._report import Status as Status
from bpcore.gradcheck._subjects import BinaryLayer as BinaryLayer
from bpcore.gradcheck._subjects import BinarySubject as BinarySubject
from bpcore.gradcheck._subjects import Differentiable as Differentiable
from bpcore.gradcheck._subjects import Factory as Factory
from bpcore.gradcheck._subjects import HasConstants as HasConstants
from bpcore.gradcheck._subjects import LossLayer as LossLayer
from bpcore.gradcheck._subjects import LossSubject as LossSubject
from bpcore.gradcheck._subjects import Network as Network
from bpcore.gradcheck._subjects import NetworkSubject as NetworkSubject
from bpcore.gradcheck._subjects import ReportsAlterations as ReportsAlterations
from bpcore.gradcheck._subjects import UnaryLayer as UnaryLayer
from bpcore.gradcheck._subjects import UnarySubject as UnarySubject
from bpcore.gradcheck._subjects import binary as binary
from bpcore.gradcheck._subjects import discover_parameters as discover_parameters
from bpcore.gradcheck._subjects import loss as loss
from bpcore.gradcheck._subjects import network as network
from bpcore.gradcheck._subjects import unary as unary
from bpcore.gradcheck._taylor import TaylorMismatch as TaylorMismatch
from bpcore.gradcheck._taylor import TaylorReport as TaylorReport
from bpcore.gradcheck._taylor import assert_taylor as assert_taylor
from bpcore.gradcheck._taylor import taylor_test as taylor_test

__all__ = [
    "EXACT_TERMS_LIMIT",
    "FULL_LIMIT",
    "ArrayCheck",
    "BinaryLayer",
    "BinarySubject",
    "Differentiable",
    "Factory",
    "GradcheckReport",
    "GradientMismatch",
    "HasConstants",
    "LossLayer",
    "LossSubject",
    "Mode",
    "Network",
    "NetworkSubject",
    "ReportsAlterations",
    "Status",
    "TaylorMismatch",
    "TaylorReport",
    "UnaryLayer",
    "UnarySubject",
    "assert_gradients",
    "assert_taylor",
    "binary",
    "check_gradients",
    "default_step",
    "discover_parameters",
    "loss",
    "network",
    "numerical_gradient",
    "taylor_test",
    "term_magnitude",
    "unary",
]
