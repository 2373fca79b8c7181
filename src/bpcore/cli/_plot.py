"""Loss and accuracy curves as a PNG, drawn with matplotlib when it is installed."""

from __future__ import annotations

import importlib
import importlib.util
import math
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING

from bpcore.training import History

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["can_plot", "history_figure", "plot_formats", "plot_history"]

TITLE_WIDTH = 100
"""The characters per line of a plot's title, which fit the 10-inch figure at its size."""


def can_plot() -> bool:
    """Whether matplotlib is installed (bpcore does not depend on it)."""
    return importlib.util.find_spec("matplotlib") is not None


def plot_formats() -> list[str]:
    """The file suffixes (without the dot) matplotlib can write: ``png``, ``pdf``, ``svg``..."""
    figure = importlib.import_module("matplotlib.figure").Figure()
    return sorted(figure.canvas.get_supported_filetypes())


def history_figure(history: History, *, title: str = "") -> Figure:
    """The figure :func:`plot_history` writes: the training and test loss per epoch (left,
    log scale; an epoch with no test loss leaves a gap) and the accuracies (right).

    matplotlib is imported here, not at module level, so that bpcore runs without it; the
    figure is built with the object-oriented API, which needs no GUI backend and leaves
    pyplot's global state alone.
    """
    # Imported by name so bpcore type-checks and imports without matplotlib installed.
    figure_module = importlib.import_module("matplotlib.figure")
    figure: Figure = figure_module.Figure(figsize=(10, 4), layout="constrained")
    if title:
        # A run's settings run to 150 characters: wrapped, they stay inside the figure.
        figure.suptitle(textwrap.fill(title, TITLE_WIDTH), fontsize="medium")
    loss_axes, acc_axes = figure.subplots(1, 2)
    epochs = [e.epoch for e in history.epochs]
    loss_axes.plot(epochs, history.train_loss, marker="o", markersize=3, label="train")
    # An epoch resumed from a format-1 checkpoint has no test loss: matplotlib leaves a gap at NaN.
    test_loss = [math.nan if v is None else v for v in history.test_loss]
    loss_axes.plot(epochs, test_loss, marker="s", markersize=3, label="test")
    loss_axes.set(xlabel="epoch", ylabel="mean loss", title="loss", yscale="log")
    loss_axes.grid(visible=True, alpha=0.3)
    loss_axes.legend()
    acc_axes.plot(epochs, history.train_acc, marker="o", markersize=3, label="train")
    acc_axes.plot(epochs, history.test_acc, marker="s", markersize=3, label="test")
    acc_axes.set(xlabel="epoch", ylabel="accuracy", title="accuracy")
    acc_axes.grid(visible=True, alpha=0.3)
    acc_axes.legend()
    return figure


def plot_history(history: History, path: Path, *, title: str = "") -> Path:
    """Write :func:`history_figure` to ``path``, under ``title`` (the run's settings, for
    ``bpcore train``); the file format follows ``path``'s suffix (PNG for ``.png``)."""
    history_figure(history, title=title).savefig(path, dpi=100)
    return path
