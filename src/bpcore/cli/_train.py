"""``bpcore train``: train a MultiLayerNet or a SimpleConvNet on the embedded digits or MNIST."""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final, TextIO, TypeVar, final

import numpy as np

from bpcore._arrays import FLOAT_DTYPES
from bpcore.checkpoint import Checkpoint, MetaValue, load_checkpoint
from bpcore.cli._common import (
    Subparsers,
    UsageError,
    non_negative_float,
    non_negative_int,
    positive_float,
    positive_int,
    print_error,
    sizes,
)
from bpcore.cli._plot import can_plot, plot_formats, plot_history
from bpcore.cli._preflight import (
    check_checkpoint_path,
    check_labels,
    check_memory,
    check_plot_path,
    near_chance,
    remove_stale_temporaries,
)
from bpcore.datasets import MnistImages, TargetArray, load_digits, load_mnist
from bpcore.errors import ArgumentError, CheckpointError
from bpcore.networks import MultiLayerNet, SimpleConvNet, WeightInit
from bpcore.optim import SGD, AdaGrad, Adam, Momentum, Optimizer
from bpcore.training import (
    EVAL_BATCH_SIZE,
    EpochStats,
    ProgressBar,
    StepDecay,
    TrainableNetwork,
    Trainer,
    TrainingDiverged,
    TrainingState,
)

__all__ = ["add_parser", "run"]

# Chosen by measurement on the embedded digits (1,438 train / 359 test samples):
# over seeds 0..9 this reaches a final test accuracy of 0.969..0.981 (mean 0.975)
# in about a second of training.
DEFAULT_HIDDEN: Final = (256, 128)
DEFAULT_OPTIMIZER: Final = "adam"
DEFAULT_BATCH_SIZE: Final = 50
DEFAULT_EPOCHS: Final = 60
MODELS: Final = ("mlp", "cnn")
DEFAULT_MODEL: Final = "mlp"
# The book's SimpleConvNet (train_convnet.py): 30 filters of 5x5 on MNIST, a 100-unit hidden
# layer, weights of std 0.01, Adam at 0.001 on batches of 100 for 20 epochs. The 8x8
# digits take 3x3 filters (8 -> 6 -> pooled 3) and He initialisation: with their 15 steps
# an epoch, std 0.01 reached 0.90-0.91 test accuracy in 20 epochs over seeds 0-2, He
# 0.967-0.972.
CNN_HIDDEN: Final = (100,)
CNN_BATCH_SIZE: Final = 100
CNN_EPOCHS: Final = 20
CNN_CONV: Final[Mapping[str, Mapping[str, int]]] = {
    "digits": {"filter_num": 30, "filter_size": 3},
    "mnist": {"filter_num": 30, "filter_size": 5},
}
CNN_EVAL_BATCH: Final = 1_000
"""Images a cnn evaluates at once: its im2col rows and feature maps take about 0.5 GB per
1,000 MNIST images in float64 (the fully connected net evaluates 10,000)."""
CNN_INIT: Final[Mapping[str, WeightInit]] = {"digits": "he", "mnist": 0.01}
IMAGE_DIMS: Final[Mapping[str, tuple[int, int, int]]] = {"digits": (1, 8, 8), "mnist": (1, 28, 28)}
DEFAULT_SEED: Final = 0
DEFAULT_DTYPE: Final = "float64"
DEFAULT_DATASET: Final = "digits"
DATASETS: Final = ("digits", "mnist")
DTYPES: Final = tuple(str(dtype) for dtype in FLOAT_DTYPES)
DEFAULT_CHECKPOINT: Final = "bpcore-checkpoint.npz"
# Each optimizer's own default learning rate: one size does not fit all
# (Adam's steps are about `lr` in size, SGD's are `lr` times the gradient).
DEFAULT_LR: Final[Mapping[str, float]] = {
    "sgd": 0.1,
    "momentum": 0.05,
    "adagrad": 0.05,
    "adam": 0.001,
}
DEFAULT_WEIGHT_DECAY: Final = 0.0
CLASSES: Final = 10
INTERRUPTED: Final = 130
DIVERGED: Final = 1

_T = TypeVar("_T")


def add_parser(subparsers: Subparsers) -> argparse.ArgumentParser:
    """Add ``train`` and its options to ``subparsers``."""
    parser = subparsers.add_parser(
        "train",
        help="train a network on the embedded digits or on MNIST",
        description=(
            "Train a fully connected ReLU network (He initialisation, softmax "
            "cross-entropy), or with --model cnn the book's SimpleConvNet (convolution, "
            "ReLU, 2x2 max pooling, Affine, ReLU, Affine), with mini-batches, printing a "
            "table of loss and accuracy per epoch. A checkpoint is written after every "
            "epoch and on Ctrl-C; --resume continues from it, taking the dataset, model, "
            "layers, dtype, seed, optimizer, learning rate and its decay, weight decay and "
            "batch size from it unless given again."
        ),
    )
    parser.add_argument(
        "--dataset",
        choices=DATASETS,
        help=f"training data: the 8x8 digits inside bpcore, or MNIST (default: {DEFAULT_DATASET})",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        metavar="DIR",
        help="folder with the MNIST files for --dataset mnist (default: where "
        "'bpcore download mnist' puts them)",
    )
    parser.add_argument(
        "--model",
        choices=MODELS,
        help="mlp: fully connected; cnn: the book's SimpleConvNet, "
        + ", ".join(
            f"{conv['filter_num']} filters of {conv['filter_size']}x{conv['filter_size']} on {name}"
            for name, conv in CNN_CONV.items()
        )
        + f" (default: {DEFAULT_MODEL})",
    )
    parser.add_argument(
        "--hidden",
        type=sizes,
        metavar="SIZES",
        help="comma-separated hidden layer sizes; '' for none "
        f"(default: {','.join(map(str, DEFAULT_HIDDEN))}; with --model cnn one size, "
        f"default {CNN_HIDDEN[0]})",
    )
    parser.add_argument(
        "--optimizer",
        choices=tuple(DEFAULT_LR),
        help=f"the update rule (default: {DEFAULT_OPTIMIZER})",
    )
    parser.add_argument(
        "--lr",
        type=positive_float,
        help="learning rate (default: "
        + ", ".join(f"{name} {lr:g}" for name, lr in DEFAULT_LR.items())
        + ")",
    )
    parser.add_argument(
        "--lr-decay",
        type=_lr_decay,
        metavar="STEPS",
        help="cut the learning rate after given epochs: EPOCH:FACTOR pairs, so that "
        "10:0.3,15:0.1 trains epochs 11-15 at 0.3 x lr and the rest at 0.1 x lr; "
        "'' for none (default: none)",
    )
    parser.add_argument(
        "--weight-decay",
        type=non_negative_float,
        metavar="LAMBDA",
        help="L2 weight decay: adds LAMBDA/2 times the sum of the squared weights to the "
        f"loss (default: {DEFAULT_WEIGHT_DECAY:g})",
    )
    parser.add_argument(
        "--batch-size",
        type=positive_int,
        metavar="N",
        help=f"samples per mini-batch (default: {DEFAULT_BATCH_SIZE}; cnn {CNN_BATCH_SIZE})",
    )
    parser.add_argument(
        "--epochs",
        type=positive_int,
        metavar="N",
        help="total number of epochs, resumed ones included "
        f"(default: {DEFAULT_EPOCHS}; cnn {CNN_EPOCHS})",
    )
    parser.add_argument(
        "--seed",
        type=non_negative_int,
        help=f"seed of the initial weights and the shuffling (default: {DEFAULT_SEED})",
    )
    parser.add_argument(
        "--dtype",
        choices=DTYPES,
        help=f"dtype of the parameters and the computation (default: {DEFAULT_DTYPE})",
    )
    parser.add_argument(
        "--checkpoint",
        type=Path,
        default=Path(DEFAULT_CHECKPOINT),
        metavar="PATH",
        help=f"checkpoint file written after every epoch (default: {DEFAULT_CHECKPOINT})",
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue the run saved in --checkpoint",
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="start a new run even though --checkpoint holds an earlier one, replacing it "
        "after the first epoch (without it, such a run is refused)",
    )
    parser.add_argument(
        "--plot",
        type=Path,
        metavar="PATH",
        help="also write loss and accuracy curves to this PNG (needs matplotlib)",
    )
    parser.add_argument(
        "--quiet",
        action="store_true",
        help="no progress bar (it is only shown when stderr is a terminal anyway)",
    )
    return parser


@final
@dataclass(frozen=True)
class _Config:
    """The settings of a run, after merging the options with a resumed checkpoint."""

    dataset: str
    data_dir: Path | None
    model: str
    hidden: tuple[int, ...]
    optimizer: str
    lr: float
    lr_decay: str  # StepDecay.spec; "" for none
    weight_decay: float
    batch_size: int
    epochs: int
    seed: int
    dtype: str

    def meta(self) -> dict[str, MetaValue]:
        """What the checkpoint records so that ``--resume`` can rebuild the run."""
        return {
            "dataset": self.dataset,
            "model": self.model,
            "hidden": ",".join(map(str, self.hidden)),
            "optimizer": self.optimizer,
            "lr": self.lr,
            "lr_decay": self.lr_decay,
            "weight_decay": self.weight_decay,
        }

    def schedule(self) -> StepDecay | None:
        """The learning rate of each epoch, if ``--lr-decay`` gave steps."""
        return StepDecay.parse(self.lr, self.lr_decay) if self.lr_decay else None


@final
@dataclass(frozen=True)
class _Resumed:
    """A checkpoint to continue: the trainer's state and the settings ``bpcore train`` saved.

    A setting is ``None`` when the checkpoint lacks it (a :class:`Trainer` run from Python).
    """

    checkpoint: Checkpoint
    state: TrainingState
    dataset: str | None
    model: str | None
    hidden: tuple[int, ...] | None
    optimizer: str | None
    lr: float | None
    lr_decay: str | None
    weight_decay: float | None


def _read_resumed(path: Path) -> _Resumed:
    """Load ``path`` and read what it records of the run.

    Raises:
        CheckpointError: the file is unreadable, was not written by a trainer, or
            holds a setting of ``bpcore train`` that the command does not know.
    """
    checkpoint = load_checkpoint(path)
    meta = checkpoint.meta
    where = f"--checkpoint {path}"
    hidden = _saved_text(meta, "hidden", where)
    return _Resumed(
        checkpoint=checkpoint,
        state=TrainingState.from_meta(meta, where=where),
        dataset=_saved_text(meta, "dataset", where, choices=DATASETS),
        # Checkpoints written before --model existed are all fully connected.
        model=_saved_text(meta, "model", where, choices=MODELS)
        or (None if "hidden" not in meta else DEFAULT_MODEL),
        hidden=None if hidden is None else _parse_saved_hidden(hidden, where),
        optimizer=_saved_text(meta, "optimizer", where, choices=tuple(DEFAULT_LR)),
        lr=_saved_number(meta, "lr", where, least=None),
        lr_decay=_saved_lr_decay(meta, where),
        weight_decay=_saved_number(meta, "weight_decay", where, least=0.0),
    )


def _param_shapes(config: _Config, input_size: int) -> dict[str, tuple[int, ...]]:
    """The shape of every parameter of the network ``config`` describes, before it is built."""
    if config.model == "mlp":
        layers = (input_size, *config.hidden, CLASSES)
        shapes: dict[str, tuple[int, ...]] = {}
        for i in range(1, len(layers)):
            shapes[f"W{i}"] = (layers[i - 1], layers[i])
            shapes[f"b{i}"] = (layers[i],)
        return shapes
    c, h, w = IMAGE_DIMS[config.dataset]
    conv = CNN_CONV[config.dataset]
    filters, size = conv["filter_num"], conv["filter_size"]
    pooled = filters * ((h - size + 1) // 2) * ((w - size + 1) // 2)
    hidden = config.hidden[0]
    return {"W1": (filters, c, size, size), "b1": (filters,), "W2": (pooled, hidden),
            "b2": (hidden,), "W3": (hidden, CLASSES), "b3": (CLASSES,)}  # fmt: skip


def _network(config: _Config, input_size: int) -> TrainableNetwork:
    if config.model == "mlp":
        return MultiLayerNet(
            input_size,
            config.hidden,
            CLASSES,
            rng=config.seed,
            dtype=config.dtype,
            weight_decay_lambda=config.weight_decay,
        )
    return SimpleConvNet(
        IMAGE_DIMS[config.dataset],
        CNN_CONV[config.dataset],
        hidden_size=config.hidden[0],
        output_size=CLASSES,
        weight_init_std=CNN_INIT[config.dataset],
        rng=config.seed,
        dtype=config.dtype,
        weight_decay_lambda=config.weight_decay,
    )


def _describe(config: _Config, input_size: int) -> str:
    """The network in the run's first line: its layer sizes, or its convolution and sizes."""
    if config.model == "mlp":
        return f"layers {_show_sizes((input_size, *config.hidden, CLASSES))}"
    conv = CNN_CONV[config.dataset]
    size = conv["filter_size"]
    return (
        f"cnn {conv['filter_num']} filters {size}x{size}, pool 2x2, hidden "
        f"{config.hidden[0]}, {CLASSES} classes"
    )


def _require_saved_shapes(
    checkpoint: Checkpoint, config: _Config, input_size: int, where: str
) -> None:
    """Raise a CheckpointError unless the checkpoint holds exactly the parameters of the
    network ``config`` describes, in their shapes."""
    expected = _param_shapes(config, input_size)
    saved = {name: value.shape for name, value in checkpoint.params.items()}
    if saved != expected:
        network = (
            f"layers {[input_size, *config.hidden, CLASSES]}"
            if config.model == "mlp"
            else _describe(config, input_size)
        )
        raise CheckpointError(
            f"{where}: expected the parameters of {network}, {expected}, got {saved}."
        )


def _saved_text(
    meta: Mapping[str, MetaValue], key: str, where: str, *, choices: Sequence[str] | None = None
) -> str | None:
    value = meta.get(key)
    if value is None or (isinstance(value, str) and (choices is None or value in choices)):
        return value
    what = "a string" if choices is None else f"one of {list(choices)}"
    raise CheckpointError(f"{where}: expected meta {key!r} to be {what}, got {value!r}.")


def _saved_number(
    meta: Mapping[str, MetaValue], key: str, where: str, *, least: float | None
) -> float | None:
    """Meta ``key`` as a finite float, ``> 0`` (``least=None``) or ``>= least``."""
    value = meta.get(key)
    if value is None:
        return None
    if (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and (value > 0 if least is None else value >= least)
    ):
        return float(value)
    what = "a positive number" if least is None else f"a finite number >= {least:g}"
    raise CheckpointError(f"{where}: expected meta {key!r} to be {what}, got {value!r}.")


def _saved_lr_decay(meta: Mapping[str, MetaValue], where: str) -> str | None:
    text = _saved_text(meta, "lr_decay", where)
    if text is None:
        return None
    try:
        return StepDecay.parse(1.0, text).spec
    except ArgumentError:
        raise CheckpointError(
            f"{where}: expected meta 'lr_decay' to be EPOCH:FACTOR pairs such as "
            f"'10:0.3,15:0.1', got {text!r}."
        ) from None


def _lr_decay(text: str) -> str:
    """Parse ``--lr-decay``: its steps in :attr:`StepDecay.spec` form."""
    try:
        return StepDecay.parse(1.0, text).spec
    except ArgumentError as error:
        raise argparse.ArgumentTypeError(str(error).partition(": ")[2].rstrip(".")) from None


def _parse_saved_hidden(text: str, where: str) -> tuple[int, ...]:
    try:
        return sizes(text)
    except argparse.ArgumentTypeError as exc:
        raise CheckpointError(
            f"{where}: expected meta 'hidden' to be comma-separated positive integers, "
            f"got {text!r}."
        ) from exc


def _fixed(
    option: str,
    given: _T | None,
    saved: _T | None,
    default: _T,
    show: Callable[[_T], str] = str,
) -> _T:
    """A setting a resumed run keeps: the checkpoint's unless given, and then it must agree."""
    if given is not None and saved is not None and given != saved:
        raise UsageError(
            f"{option} {show(given)} differs from the checkpoint's {show(saved)}; a resumed "
            f"run cannot change it (drop {option}, or start a new run without --resume)."
        )
    if given is not None:
        return given
    return saved if saved is not None else default


def _resolve(args: argparse.Namespace, resumed: _Resumed | None) -> _Config:
    """Merge the options with the resumed checkpoint's settings, if any, and the defaults."""
    state = None if resumed is None else resumed.state
    model: str = _fixed(
        "--model", args.model, None if resumed is None else resumed.model, DEFAULT_MODEL
    )
    cnn = model == "cnn"
    hidden: tuple[int, ...] = _fixed(
        "--hidden",
        args.hidden,
        None if resumed is None else resumed.hidden,
        CNN_HIDDEN if cnn else DEFAULT_HIDDEN,
        show=_show_sizes,
    )
    if cnn and len(hidden) != 1:
        raise UsageError(
            f"--hidden: expected one size with --model cnn (its one hidden layer), "
            f"got {_show_sizes(hidden)}."
        )
    dataset: str = _fixed(
        "--dataset", args.dataset, None if resumed is None else resumed.dataset, DEFAULT_DATASET
    )
    dtype: str = _fixed(
        "--dtype", args.dtype, None if state is None else str(state.dtype), DEFAULT_DTYPE
    )
    seed: int = _fixed("--seed", args.seed, None if state is None else state.seed, DEFAULT_SEED)
    saved_optimizer = None if resumed is None else resumed.optimizer
    optimizer: str = args.optimizer or saved_optimizer or DEFAULT_OPTIMIZER
    # A saved learning rate belongs to the saved optimizer; a new optimizer gets its own default.
    saved_lr = resumed.lr if resumed is not None and optimizer == saved_optimizer else None
    lr: float = args.lr or saved_lr or DEFAULT_LR[optimizer]
    lr_decay: str = _given_or_saved(
        args.lr_decay, None if resumed is None else resumed.lr_decay, ""
    )
    weight_decay: float = _given_or_saved(
        args.weight_decay,
        None if resumed is None else resumed.weight_decay,
        DEFAULT_WEIGHT_DECAY,
    )
    saved_batch_size = None if state is None else state.batch_size
    batch_size: int = (
        args.batch_size or saved_batch_size or (CNN_BATCH_SIZE if cnn else DEFAULT_BATCH_SIZE)
    )
    if dataset == "digits" and args.data_dir is not None:
        raise UsageError(
            "--data-dir is only read with --dataset mnist; the digits ship with bpcore."
        )
    return _Config(
        dataset=dataset,
        data_dir=args.data_dir,
        model=model,
        hidden=hidden,
        optimizer=optimizer,
        lr=lr,
        lr_decay=lr_decay,
        weight_decay=weight_decay,
        batch_size=batch_size,
        epochs=args.epochs or (CNN_EPOCHS if cnn else DEFAULT_EPOCHS),
        seed=seed,
        dtype=dtype,
    )


def _given_or_saved(given: _T | None, saved: _T | None, default: _T) -> _T:
    """A setting a resumed run may change: the option if given, else the checkpoint's."""
    if given is not None:
        return given
    return saved if saved is not None else default


def _extras(config: _Config) -> str:
    """The learning-rate steps and weight decay, in the run's first line, if any."""
    schedule = config.schedule()
    steps = {} if schedule is None else schedule.steps
    text = "".join(f", x{factor:g} after epoch {epoch}" for epoch, factor in steps.items())
    return text + (f", weight decay {config.weight_decay:g}" if config.weight_decay else "")


def _show_sizes(values: tuple[int, ...]) -> str:
    return ",".join(map(str, values)) or "''"


def _load(config: _Config) -> tuple[MnistImages, TargetArray, MnistImages, TargetArray]:
    """The training and test sets as ``(x_train, t_train, x_test, t_test)``, ``x`` flattened."""
    if config.dataset == "mnist":
        (x_train, t_train), (x_test, t_test) = load_mnist(data_dir=config.data_dir)
    else:
        (x_train, t_train), (x_test, t_test) = load_digits(dtype=config.dtype)
    # No conversion here: the Trainer converts to the network's dtype, once.
    return x_train, t_train, x_test, t_test


def _optimizer(name: str, lr: float) -> Optimizer:
    if name == "sgd":
        return SGD(lr=lr)
    if name == "momentum":
        return Momentum(lr=lr)
    if name == "adagrad":
        return AdaGrad(lr=lr)
    return Adam(lr=lr)


@final
class _Table:
    """Prints one row per epoch to ``out``, clearing the progress bar first."""

    _out: TextIO
    _bar: ProgressBar | None

    def __init__(self, out: TextIO, bar: ProgressBar | None) -> None:
        self._out = out
        self._bar = bar

    def header(self) -> None:
        """Print the column names."""
        print(
            f"{'epoch':>5}  {'loss':>8}  {'test loss':>9}  {'train acc':>9}  {'test acc':>8}  "
            f"{'seconds':>7}",
            file=self._out,
            flush=True,
        )

    def row(self, stats: EpochStats) -> None:
        """Print the row of one epoch."""
        if self._bar is not None:
            self._bar.clear()
        print(
            f"{stats.epoch:>5}  {stats.train_loss:>8.4f}  {_optional(stats.test_loss):>9}  "
            f"{stats.train_acc:>9.4f}  {stats.test_acc:>8.4f}  {stats.seconds:>7.2f}",
            file=self._out,
            flush=True,
        )


def _optional(value: float | None) -> str:
    """``value`` to 4 decimals, or ``-`` where an older checkpoint did not record it."""
    return "-" if value is None else f"{value:.4f}"


def _where(trainer: Trainer) -> str:
    """``epoch 3`` (completed), or ``epoch 4, batch 12 of 29`` (part-way)."""
    if trainer.batches_done:
        return (
            f"epoch {trainer.epochs_done + 1}, batch {trainer.batches_done} "
            f"of {trainer.steps_per_epoch}"
        )
    return f"the end of epoch {trainer.epochs_done}"


def _usable_plot_path(args: argparse.Namespace) -> Path | None:
    """``--plot``'s path, checked; ``None`` without it or without matplotlib (with a note)."""
    plot_path: Path | None = args.plot
    if plot_path is not None and not can_plot():
        print(
            'bpcore: note: --plot needs matplotlib (pip install "bpcore[plot]"); '
            "no plot will be written",
            file=sys.stderr,
        )
        return None
    if plot_path is not None:
        check_plot_path(plot_path, plot_formats())
    return plot_path


def _resume(
    trainer: Trainer, resumed: _Resumed, config: _Config, table: _Table, path: Path
) -> None:
    """Continue from the checkpoint: another optimizer than the saved one starts fresh."""
    same = resumed.optimizer in (None, config.optimizer)
    done = trainer.resume(resumed.checkpoint, optimizer_state=same)
    if not same:
        print(
            f"note: --optimizer {config.optimizer} is not the checkpoint's "
            f"{resumed.optimizer}; {config.optimizer} starts with fresh state",
            flush=True,
        )
    if trainer.history:
        table.row(trainer.history[-1])
    print(f"resumed from {path} at {_where(trainer)}", flush=True)
    if done >= config.epochs:
        print(f"nothing to train: the checkpoint is at epoch {done} of --epochs {config.epochs}")


def _report(last: EpochStats, seconds: float, config: _Config) -> None:
    """The final line, and a note when the run ends no better than guessing."""
    print(
        f"final: train accuracy {last.train_acc:.4f}, test accuracy {last.test_acc:.4f} "
        f"after {last.epoch} epochs ({seconds:.2f} s)"
    )
    if near_chance(last.test_acc, CLASSES):
        print(
            f"bpcore: note: test accuracy {last.test_acc:.4f} is near chance "
            f"({1 / CLASSES:g} for {CLASSES} classes): the network has not learned "
            f"(--lr {config.lr:g} may be far too large or too small)",
            file=sys.stderr,
        )


def run(args: argparse.Namespace) -> int:
    """Train as ``args`` say; return 0, 1 if training diverged, or 130 if interrupted."""
    checkpoint_path: Path = args.checkpoint
    # Found now rather than when the first epoch's checkpoint or the plot cannot be written.
    check_checkpoint_path(checkpoint_path)
    plot_path = _usable_plot_path(args)
    stale = remove_stale_temporaries(checkpoint_path)
    if stale:
        print(f"note: removed {stale} temporary file(s) an interrupted save had left", flush=True)
    if args.resume and args.overwrite:
        raise UsageError(
            "--resume continues the checkpoint's run and --overwrite replaces it; give one."
        )
    resumed = _read_resumed(checkpoint_path) if args.resume else None
    if resumed is None and checkpoint_path.exists() and not args.overwrite:
        raise UsageError(
            f"--checkpoint {checkpoint_path} holds an earlier run; continue it with --resume, "
            "replace it with --overwrite, or choose another --checkpoint."
        )
    config = _resolve(args, resumed)
    x_train, t_train, x_test, t_test = _load(config)
    input_size = int(np.prod(x_train.shape[1:]))
    n_train, n_test = x_train.shape[0], x_test.shape[0]
    shapes = _param_shapes(config, input_size)
    check_labels(t_train, CLASSES, name="training")
    check_labels(t_test, CLASSES, name="test")
    count = sum(math.prod(shape) for shape in shapes.values())
    check_memory(count, np.dtype(config.dtype).itemsize, option="--hidden")
    if resumed is not None:
        # Before the network is built: a meta 'hidden' the saved arrays do not match
        # could otherwise allocate any amount of memory first.
        _require_saved_shapes(
            resumed.checkpoint, config, input_size, f"--checkpoint {checkpoint_path}"
        )
    network = _network(config, input_size)
    show_bar = not args.quiet and sys.stderr.isatty()
    bar = ProgressBar(sys.stderr, epochs=config.epochs) if show_bar else None
    table = _Table(sys.stdout, bar)
    trainer = Trainer(
        network,
        _optimizer(config.optimizer, config.lr),
        x_train,
        t_train,
        x_test,
        t_test,
        batch_size=config.batch_size,
        epochs=config.epochs,
        rng=config.seed,
        checkpoint_path=checkpoint_path,
        on_step=None if bar is None else bar.update,
        on_epoch=table.row,
        meta=config.meta(),
        eval_batch_size=CNN_EVAL_BATCH if config.model == "cnn" else EVAL_BATCH_SIZE,
        lr_schedule=config.schedule(),
    )
    # The trainer holds the data in the network's dtype now; for MNIST in float64,
    # keeping the loader's float32 copies too would cost another 200 MB.
    del x_train, t_train, x_test, t_test
    settings = (
        f"{config.dataset} ({n_train} train, {n_test} test): "
        f"{_describe(config, input_size)}, "
        f"{config.optimizer} lr {config.lr:g}{_extras(config)}, batch {config.batch_size}, "
        f"{config.epochs} epochs, seed {config.seed}, {config.dtype}"
    )
    print(f"training {settings}; checkpoint {checkpoint_path}", flush=True)
    table.header()
    if resumed is not None:
        _resume(trainer, resumed, config, table, checkpoint_path)
    start = time.perf_counter()
    try:
        history = trainer.fit()
    except TrainingDiverged as exc:
        print_error(str(exc))
        return DIVERGED
    finally:
        # Before any message, so that it does not share a line with the bar.
        if bar is not None:
            bar.clear()
    if history.interrupted:
        print(
            f"bpcore: interrupted at {_where(trainer)}; checkpoint saved to "
            f"{checkpoint_path} (continue with --resume)",
            file=sys.stderr,
        )
        return INTERRUPTED
    _report(history.epochs[-1], time.perf_counter() - start, config)
    print(f"checkpoint: {checkpoint_path}")
    if plot_path is not None:
        print(f"plot: {plot_history(history, plot_path, title=f'bpcore train {settings}')}")
    return 0
