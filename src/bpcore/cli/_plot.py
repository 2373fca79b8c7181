"""Loss and accuracy curves as a PNG, drawn with matplotlib when it is installed."""

from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path

from bpcore.training import History

__all__ = ["can_plot", "plot_formats", "plot_history"]


def can_plot() -> bool:
    """Whether matplotlib is installed (bpcore does not depend on it)."""
    return importlib.util.find_spec("matplotlib") is not None


def plot_formats() -> list[str]:
    """The file suffixes (without the dot) matplotlib can write: ``png``, ``pdf``, ``svg``..."""
    figure = importlib.import_module("matplotlib.figure").Figure()
    return sorted(figure.canvas.get_supported_filetypes())


def plot_history(history: History, path: Path, *, title: str = "") -> Path:
    """Write the training loss (left, log scale) and the accuracies (right) per epoch to
    ``path``, under ``title`` (the run's settings, for ``bpcore train``).

    The file format follows ``path``'s suffix (PNG for ``.png``). matplotlib is
    imported here, not at module level, so that bpcore runs without it; the
    figure is built with the object-oriented API, which needs no GUI backend
    and leaves pyplot's global state alone.
    """
    # Imported by name so bpcore type-checks and imports without matplotlib installed.
    figure_module = importlib.import_module("matplotlib.figure")
    figure = figure_module.Figure(figsize=(10, 4), layout="constrained")
    if title:
        figure.suptitle(title, fontsize="medium")
    loss_axes, acc_axes = figure.subplots(1, 2)
    epochs = [e.epoch for e in history.epochs]
    loss_axes.plot(epochs, history.train_loss, marker="o", markersize=3)
    loss_axes.set(xlabel="epoch", ylabel="mean training loss", title="loss", yscale="log")
    loss_axes.grid(visible=True, alpha=0.3)
    acc_axes.plot(epochs, history.train_acc, marker="o", markersize=3, label="train")
    acc_axes.plot(epochs, history.test_acc, marker="s", markersize=3, label="test")
    acc_axes.set(xlabel="epoch", ylabel="accuracy", title="accuracy")
    acc_axes.grid(visible=True, alpha=0.3)
    acc_axes.legend()
    figure.savefig(path, dpi=100)
    return path
