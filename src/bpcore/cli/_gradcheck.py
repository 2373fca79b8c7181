"""``bpcore gradcheck``: backpropagation against central differences on a TwoLayerNet."""

from __future__ import annotations

import argparse
import time
from typing import Final

import numpy as np
import numpy.typing as npt

from bpcore.cli._common import (
    Subparsers,
    UsageError,
    non_negative_int,
    positive_float,
    positive_int,
)
from bpcore.datasets import load_digits
from bpcore.gradcheck import ArrayCheck, NetworkSubject, Status, check_gradients
from bpcore.networks import TwoLayerNet

__all__ = ["add_parser", "run"]

DIGITS_FEATURES: Final = 64
DIGITS_CLASSES: Final = 10
MISMATCH: Final = 1


def add_parser(subparsers: Subparsers) -> argparse.ArgumentParser:
    """Add ``gradcheck`` and its options to ``subparsers``."""
    parser = subparsers.add_parser(
        "gradcheck",
        help="compare backpropagation with numerical gradients",
        description=(
            "Build a TwoLayerNet (Affine, ReLU, Affine, softmax cross-entropy), compute the "
            "gradient of its loss on a small batch by backpropagation and by central "
            "differences, and print per parameter the mean and max absolute difference and "
            "the checker's error / tolerance at its worst element (at most 1 passes), with "
            "the time each method took. With --dtype "
            "float32 the central differences are taken in float64 on the same weights, "
            "since float32 ones are too coarse to check against. The verdict per parameter "
            "comes from bpcore.gradcheck, whose tolerance is derived element by element "
            "from the step and the dtype; exits 1 on a mismatch."
        ),
    )
    parser.add_argument(
        "--dataset",
        choices=("digits", "random"),
        default="digits",
        help="digits: real 8x8 digit samples and labels; random: standard normal inputs "
        "and uniform labels (default: digits)",
    )
    parser.add_argument(
        "--input",
        type=positive_int,
        metavar="N",
        help=f"input size (default and, for digits, the only choice: {DIGITS_FEATURES})",
    )
    parser.add_argument(
        "--hidden", type=positive_int, default=50, metavar="N", help="hidden size (default: 50)"
    )
    parser.add_argument(
        "--output",
        type=positive_int,
        default=DIGITS_CLASSES,
        metavar="N",
        help=f"number of classes (default: {DIGITS_CLASSES}; at least 10 for digits)",
    )
    parser.add_argument(
        "--batch", type=positive_int, default=3, metavar="N", help="samples (default: 3)"
    )
    parser.add_argument(
        "--weight-std",
        type=positive_float,
        default=0.1,
        metavar="STD",
        help="standard deviation of the initial weights (default: 0.1)",
    )
    parser.add_argument(
        "--seed",
        type=non_negative_int,
        default=0,
        help="seed of the weights and the batch (default: 0)",
    )
    parser.add_argument(
        "--dtype",
        choices=("float64", "float32"),
        default="float64",
        help="dtype of the network (default: float64)",
    )
    return parser


def _batch(
    args: argparse.Namespace, input_size: int, rng: np.random.Generator
) -> tuple[npt.NDArray[np.floating], npt.NDArray[np.int64]]:
    """``x`` of shape ``(batch, input_size)`` and labels of shape ``(batch,)``."""
    if args.dataset == "random":
        x = rng.standard_normal((args.batch, input_size))
        return x, rng.integers(0, args.output, size=args.batch, dtype=np.int64)
    (x_train, t_train), _ = load_digits(dtype=args.dtype)
    if args.batch > x_train.shape[0]:
        raise UsageError(
            f"--batch {args.batch}: the digits have only {x_train.shape[0]} training samples."
        )
    chosen = rng.choice(x_train.shape[0], size=args.batch, replace=False)
    labels: npt.NDArray[np.int64] = np.asarray(t_train[chosen], dtype=np.int64)
    return x_train[chosen], labels


def _input_size(args: argparse.Namespace) -> int:
    if args.dataset == "random":
        return int(args.input or DIGITS_FEATURES)
    if args.input not in (None, DIGITS_FEATURES):
        raise UsageError(
            f"--input {args.input}: the digits have {DIGITS_FEATURES} features; "
            "use --dataset random for other input sizes."
        )
    if args.output < DIGITS_CLASSES:
        raise UsageError(
            f"--output {args.output}: the digits have {DIGITS_CLASSES} classes; "
            "use --dataset random for fewer."
        )
    return DIGITS_FEATURES


def _float64_twin(network: TwoLayerNet, args: argparse.Namespace) -> TwoLayerNet:
    """A float64 TwoLayerNet holding exactly the (float32) weights of ``network``."""
    twin = TwoLayerNet(
        network.params["W1"].shape[0],
        args.hidden,
        args.output,
        weight_init_std=args.weight_std,
        rng=args.seed,
        dtype=np.float64,
    )
    for name, param in network.params.items():
        # In place: the twin's layers hold these very arrays.
        twin.params[name][...] = param
    return twin


def _verdicts(
    network: TwoLayerNet, x: npt.NDArray[np.floating], t: npt.NDArray[np.int64], *, seed: int
) -> dict[str, ArrayCheck]:
    """Each parameter's status under :func:`bpcore.gradcheck.check_gradients` (dout = 1).

    The checker rebuilds the network in the dtype under test and in float64, with
    exactly these weights, and compares every element under its derived tolerance.
    """
    weights = {name: p.copy() for name, p in network.params.items()}
    sizes = (weights["W1"].shape[0], weights["W1"].shape[1], weights["W2"].shape[1])

    def make(dtype: np.dtype[np.floating]) -> NetworkSubject:
        twin = TwoLayerNet(*sizes, rng=0, dtype=dtype)
        for name, value in weights.items():
            twin.params[name][...] = value  # in place: the layers hold these arrays
        return NetworkSubject(twin, t)

    report = check_gradients(
        make, {"x": x}, dtype=weights["W1"].dtype, dout=np.ones(()), mode="full", rng=seed
    )
    return {check.name: check for check in report.checks}


def run(args: argparse.Namespace) -> int:
    """Print the comparison; return 0 if every parameter is within tolerance, else 1."""
    input_size = _input_size(args)
    network = TwoLayerNet(
        input_size,
        args.hidden,
        args.output,
        weight_init_std=args.weight_std,
        rng=args.seed,
        dtype=args.dtype,
    )
    # A stream of its own, so the batch does not depend on how the weights were drawn.
    x, t = _batch(args, input_size, np.random.default_rng([args.seed, 1]))

    # Overflowing weights give NaN and infinite values, which the table shows and the
    # checker's verdict below fails: they need no warning on top.
    with np.errstate(over="ignore", invalid="ignore"):
        start = time.perf_counter()
        backprop = network.gradient(x, t)
        backprop_seconds = time.perf_counter() - start
        reference = network if args.dtype == "float64" else _float64_twin(network, args)
        start = time.perf_counter()
        # The network's own dtype's rounding enters x here, so both nets see the same batch.
        numerical = reference.numerical_gradient(np.asarray(x, dtype=args.dtype), t)
        numerical_seconds = time.perf_counter() - start

    print(
        f"TwoLayerNet {input_size}-{args.hidden}-{args.output}, {args.batch} {args.dataset} "
        f"samples, {args.dtype}, weight std {args.weight_std:g}, seed {args.seed}"
    )
    print(
        f"{'param':<6} {'shape':<12} {'mean |diff|':>11} {'max |diff|':>11} {'err/tol':>11}  status"
    )
    verdicts = _verdicts(network, x, t, seed=args.seed)
    failed = []
    for name, grad in backprop.items():
        a = np.asarray(grad, dtype=np.float64)
        b = numerical[name]
        with np.errstate(invalid="ignore"):  # NaN gradients print as nan
            diff = np.abs(a - b)
        check = verdicts[name]
        if check.status is Status.MISMATCH:
            failed.append(name)
        print(
            f"{name:<6} {a.shape!s:<12} {float(diff.mean()):>11.2e} {float(diff.max()):>11.2e} "
            f"{check.ratio:>11.3g}  {check.status.value}"
        )
    ratio = numerical_seconds / backprop_seconds if backprop_seconds > 0 else float("inf")
    print(
        f"backprop {backprop_seconds * 1e3:.3f} ms, numerical {numerical_seconds * 1e3:.1f} ms: "
        f"numerical/backprop = {ratio:.0f}x"
    )
    if failed:
        print(f"gradients differ beyond tolerance for: {', '.join(failed)}")
        return MISMATCH
    print("all gradients agree")
    return 0
