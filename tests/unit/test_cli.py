"""The ``bpcore`` command line: train, download, gradcheck, help, errors and exit codes."""

from __future__ import annotations

import importlib.metadata
import io
import math
import os
import re
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, final

import numpy as np
import numpy.typing as npt
import pytest
import threadpoolctl  # type: ignore[import-untyped]  # the package ships no type information

import bpcore
import bpcore.datasets
from bpcore._arrays import FloatArray
from bpcore.checkpoint import MetaValue, load_checkpoint, save_checkpoint
from bpcore.cli import _parser, _train, main
from bpcore.cli._plot import history_figure, plot_history
from bpcore.errors import DatasetError
from bpcore.networks import TwoLayerNet
from bpcore.registry import registered
from bpcore.training import (
    CHECKPOINT_FORMAT,
    EpochStats,
    History,
    StepInfo,
    Trainer,
    TrainingState,
)
from bpcore.verify import PROPERTY_NAMES
from tests.helpers import write_fake_mnist

if TYPE_CHECKING:
    from matplotlib.axes import Axes

Capsys = pytest.CaptureFixture[str]


def _train_args(tmp_path: Path, *extra: str) -> list[str]:
    """A quick digits run: a small net for two epochs, checkpointing into tmp_path."""
    return [
        "train",
        "--hidden",
        "16",
        "--epochs",
        "2",
        "--checkpoint",
        str(tmp_path / "ck.npz"),
        *extra,
    ]


def _assert_one_line_error(err: str, *fragments: str) -> None:
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("bpcore: error: "), err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in lines[0], err


def test_version_prints_the_installed_version(capsys: Capsys) -> None:
    """``bpcore --version`` prints ``bpcore <version>`` and exits 0; the version is the
    installed distribution's."""
    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"bpcore {bpcore.__version__}\n"
    assert importlib.metadata.version("bpcore") == bpcore.__version__


def _blas_threads() -> int:
    """The thread count threadpoolctl reports for NumPy's BLAS."""
    counts = {p["num_threads"] for p in threadpoolctl.threadpool_info() if p["user_api"] == "blas"}
    (count,) = counts
    return int(count)


def _threads_during_train(option: list[str], monkeypatch: pytest.MonkeyPatch) -> int:
    """The BLAS thread count while ``bpcore [option] train`` runs (its work replaced)."""
    seen: list[int] = []

    def record(args: object) -> int:
        seen.append(_blas_threads())
        return 0

    monkeypatch.setattr(_train, "run", record)
    assert main([*option, "train"]) == 0
    (count,) = seen
    return count


@pytest.mark.parametrize(("option", "expected"), [([], 1), (["--blas-threads", "3"], 3)])
def test_commands_run_with_the_blas_threads_asked_for(
    option: list[str], expected: int, monkeypatch: pytest.MonkeyPatch, capsys: Capsys
) -> None:
    """A command computes with one BLAS thread by default, or --blas-threads N; the
    setting is restored when it returns."""
    before = _blas_threads()
    assert _threads_during_train(option, monkeypatch) == expected
    assert _blas_threads() == before


def test_blas_threads_zero_keeps_the_librarys_setting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """--blas-threads 0 leaves the BLAS library's thread count as it was."""
    before = _blas_threads()
    assert _threads_during_train(["--blas-threads", "0"], monkeypatch) == before


def test_the_distribution_carries_the_licence_text() -> None:
    """The installed distribution holds the MIT licence it declares."""
    files = importlib.metadata.files("bpcore") or []
    (licence,) = [f for f in files if f.name == "LICENSE"]
    assert licence.read_text().startswith("MIT License")
    assert importlib.metadata.metadata("bpcore")["License-Expression"] == "MIT"


def test_train_prints_the_table_and_writes_the_checkpoint(tmp_path: Path, capsys: Capsys) -> None:
    """A two-epoch digits run returns 0, prints a row per epoch and the final accuracies."""
    assert main(_train_args(tmp_path)) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    header = next(i for i, line in enumerate(lines) if line.split()[:2] == ["epoch", "loss"])
    assert lines[header].split() == ["epoch", "loss", "test", "loss", "train", "acc", "test",
                                     "acc", "seconds"]  # fmt: skip
    rows = [line.split() for line in lines[header + 1 : header + 3]]
    assert [row[0] for row in rows] == ["1", "2"]
    assert "final: train accuracy" in out
    assert "test accuracy" in out
    checkpoint = load_checkpoint(tmp_path / "ck.npz")
    state = TrainingState.from_meta(checkpoint.meta)
    assert state.epochs_done == 2
    for row, e in zip(rows, state.history, strict=True):
        assert row[1:5] == [
            f"{v:.4f}" for v in (e.train_loss, e.test_loss, e.train_acc, e.test_acc)
        ]
    assert checkpoint.meta["dataset"] == "digits"
    assert checkpoint.meta["hidden"] == "16"
    assert checkpoint.params["W1"].shape == (64, 16)


def test_the_default_run_reaches_97_percent(tmp_path: Path, capsys: Capsys) -> None:
    """With every default, training on the digits runs 60 epochs and ends at >= 0.97 test
    accuracy."""
    assert main(["train", "--checkpoint", str(tmp_path / "ck.npz")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert ", 60 epochs," in lines[0]
    assert [line.split()[0] for line in lines if line[:5].strip().isdigit()][-1] == "60"
    final = next(line for line in lines if line.startswith("final"))
    test_accuracy = float(final.split("test accuracy ")[1].split()[0])
    assert test_accuracy >= 0.97


def test_a_new_run_never_replaces_an_earlier_checkpoint_unless_asked(
    tmp_path: Path, capsys: Capsys
) -> None:
    """A run without --resume over an existing checkpoint is refused before it trains,
    saying how to continue or replace it, and the file is untouched; --overwrite replaces
    it and --resume continues it; both at once are refused."""
    path = tmp_path / "ck.npz"
    assert main(_train_args(tmp_path)) == 0
    capsys.readouterr()
    before = path.read_bytes()
    assert main(_train_args(tmp_path)) == 2
    _assert_one_line_error(
        capsys.readouterr().err,
        f"--checkpoint {path} holds an earlier run; continue it with --resume, replace it with "
        "--overwrite, or choose another --checkpoint.",
    )
    assert path.read_bytes() == before
    assert main(_train_args(tmp_path, "--overwrite", "--seed", "5")) == 0
    assert TrainingState.from_meta(load_checkpoint(path).meta).seed == 5
    assert main(_train_args(tmp_path, "--resume", "--epochs", "3")) == 0
    assert TrainingState.from_meta(load_checkpoint(path).meta).epochs_done == 3
    capsys.readouterr()
    assert main(_train_args(tmp_path, "--resume", "--overwrite")) == 2
    _assert_one_line_error(
        capsys.readouterr().err,
        "--resume continues the checkpoint's run and --overwrite replaces it; give one.",
    )


def test_train_float32_writes_float32_params(tmp_path: Path, capsys: Capsys) -> None:
    """--dtype float32 trains and checkpoints float32 parameters."""
    assert main([*_train_args(tmp_path), "--dtype", "float32"]) == 0
    checkpoint = load_checkpoint(tmp_path / "ck.npz")
    assert {p.dtype for p in checkpoint.params.values()} == {np.dtype(np.float32)}
    assert TrainingState.from_meta(checkpoint.meta).dtype == np.float32


def test_resume_continues_from_the_checkpoint(tmp_path: Path, capsys: Capsys) -> None:
    """--resume --epochs 3 after a two-epoch run trains only epoch 3, with the saved settings."""
    assert main(_train_args(tmp_path, "--optimizer", "sgd")) == 0
    capsys.readouterr()
    path = str(tmp_path / "ck.npz")
    assert main(["train", "--resume", "--epochs", "3", "--checkpoint", path]) == 0
    out = capsys.readouterr().out
    assert "resumed from" in out
    assert "layers 64,16,10, sgd" in out
    rows = [line.split()[0] for line in out.splitlines() if line[:5].strip().isdigit()]
    assert rows == ["2", "3"]
    assert TrainingState.from_meta(load_checkpoint(path).meta).epochs_done == 3


def _timeless(line: str) -> str:
    """An output line without its timings: a table row's seconds, the final line's run time."""
    fields = line.split()
    if len(fields) == 6 and fields[0].isdigit():
        return " ".join(fields[:5])
    return line.split(" (", maxsplit=1)[0] if line.startswith("final:") else line


@pytest.mark.parametrize(
    ("optimizer", "lr"),
    [("sgd", "0.05"), ("momentum", "0.02"), ("adagrad", "0.02"), ("adam", "0.002")],
)
def test_resume_says_only_true_things_and_continues_bit_for_bit(
    tmp_path: Path, capsys: Capsys, optimizer: str, lr: str
) -> None:
    """2 epochs, then --resume to 4 with no other option, print what a straight 4-epoch run
    prints (timings aside) plus the resume line, nothing on stderr, and end with the same
    parameters: every setting comes from the checkpoint, and the optimizer's state is
    saved and restored, not restarted."""
    run = ["train", "--hidden", "16", "--optimizer", optimizer, "--lr", lr, "--seed", "3",
           "--batch-size", "64", "--dtype", "float32"]  # fmt: skip
    straight, resumed = tmp_path / "straight.npz", tmp_path / "resumed.npz"
    assert main([*run, "--epochs", "4", "--checkpoint", str(straight)]) == 0
    whole = capsys.readouterr()
    assert main([*run, "--epochs", "2", "--checkpoint", str(resumed)]) == 0
    capsys.readouterr()
    assert main(["train", "--resume", "--epochs", "4", "--checkpoint", str(resumed)]) == 0
    after = capsys.readouterr()
    assert (whole.err, after.err) == ("", "")
    title, header, *rows, final, _ = whole.out.splitlines()
    title = title.replace(f"checkpoint {straight}", f"checkpoint {resumed}")
    expected = [title, header, rows[1], f"resumed from {resumed} at the end of epoch 2",
                rows[2], rows[3], final, f"checkpoint: {resumed}"]  # fmt: skip
    assert [_timeless(line) for line in after.out.splitlines()] == [
        _timeless(line) for line in expected
    ]
    one, other = load_checkpoint(straight), load_checkpoint(resumed)
    assert one.params.keys() == other.params.keys()
    for name, value in one.params.items():
        np.testing.assert_array_equal(other.params[name], value, err_msg=name)
    assert one.state.keys() == other.state.keys()
    for name, value in one.state.items():
        np.testing.assert_array_equal(other.state[name], value, err_msg=name)


def _interrupt_training(monkeypatch: pytest.MonkeyPatch, *, step: int | None = None) -> None:
    """Make ``bpcore train`` meet a Ctrl-C: after step ``step`` of epoch 1 or, without a
    step, once epoch 1's row is printed."""

    def stop_at_step(info: StepInfo) -> None:
        if info.step == step:
            raise KeyboardInterrupt

    def interrupting(
        *args: Any, on_epoch: Callable[[EpochStats], object], **kwargs: Any
    ) -> Trainer:
        def stop_after_epoch(stats: EpochStats) -> None:
            on_epoch(stats)
            raise KeyboardInterrupt

        if step is None:
            return Trainer(*args, on_epoch=stop_after_epoch, **kwargs)
        return Trainer(*args, on_epoch=on_epoch, **{**kwargs, "on_step": stop_at_step})

    monkeypatch.setattr(_train, "Trainer", interrupting)


def test_resume_mid_epoch_says_where_it_continues(
    tmp_path: Path, capsys: Capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run stopped after batch 3 of epoch 1 resumes 'at epoch 1, batch 3 of 29'."""
    path = tmp_path / "ck.npz"
    _interrupt_training(monkeypatch, step=3)
    assert main(_train_args(tmp_path)) == 130
    assert capsys.readouterr().err == (
        f"bpcore: interrupted at epoch 1, batch 3 of 29; checkpoint saved to {path} "
        "(continue with --resume)\n"
    )
    monkeypatch.undo()
    assert main(_train_args(tmp_path, "--resume")) == 0
    captured = capsys.readouterr()
    assert f"resumed from {path} at epoch 1, batch 3 of 29" in captured.out.splitlines()
    assert captured.err == ""


@pytest.mark.parametrize(
    ("option", "given", "saved"),
    [("--hidden", "8", "16"), ("--seed", "5", "0"), ("--dtype", "float32", "float64")],
)
def test_resume_refuses_to_change_the_run(
    tmp_path: Path, capsys: Capsys, option: str, given: str, saved: str
) -> None:
    """--resume with another architecture, seed or dtype than the checkpoint's exits 2
    with one line naming both."""
    assert main(_train_args(tmp_path)) == 0
    capsys.readouterr()
    assert main(_train_args(tmp_path, "--resume", option, given)) == 2
    _assert_one_line_error(
        capsys.readouterr().err, f"{option} {given} differs from the checkpoint's {saved}"
    )


def test_resume_with_another_optimizer_starts_it_fresh_with_a_note(
    tmp_path: Path, capsys: Capsys
) -> None:
    """--optimizer given again on --resume, other than the saved one, is taken: its state
    starts fresh, and one line says so."""
    assert main(_train_args(tmp_path, "--optimizer", "adam")) == 0
    capsys.readouterr()
    assert main(_train_args(tmp_path, "--resume", "--optimizer", "sgd", "--epochs", "3")) == 0
    captured = capsys.readouterr()
    notes = [line for line in captured.out.splitlines() if line.startswith("note:")]
    assert notes == [
        "note: --optimizer sgd is not the checkpoint's adam; sgd starts with fresh state"
    ]
    assert captured.err == ""


def test_resume_refuses_a_saved_hidden_size_its_arrays_do_not_have(
    tmp_path: Path, capsys: Capsys
) -> None:
    """A meta 'hidden' of 5,000,000 units beside 16-unit arrays is refused before the
    network is built (which would allocate gigabytes first)."""
    assert main(_train_args(tmp_path)) == 0
    capsys.readouterr()
    path = tmp_path / "ck.npz"
    saved = load_checkpoint(path)
    save_checkpoint(path, saved.params, meta={**saved.meta, "hidden": "5000000"}, state=saved.state)
    assert main(_train_args(tmp_path, "--resume", "--hidden", "5000000")) == 2
    _assert_one_line_error(
        capsys.readouterr().err,
        f"--checkpoint {path}: expected the parameters of layers [64, 5000000, 10]",
    )


def test_resume_without_a_checkpoint_exits_2(tmp_path: Path, capsys: Capsys) -> None:
    """--resume when the checkpoint file does not exist is a one-line error, exit 2."""
    assert main(_train_args(tmp_path, "--resume")) == 2
    _assert_one_line_error(capsys.readouterr().err, "does not exist")


def test_resume_of_a_checkpoint_not_written_by_a_trainer_exits_2(
    tmp_path: Path, capsys: Capsys
) -> None:
    """A bare parameter file is refused before training, naming it and its missing format."""
    path = tmp_path / "ck.npz"
    save_checkpoint(path, {"W1": np.ones((64, 16))}, meta={"hidden": "16"})
    assert main(_train_args(tmp_path, "--resume")) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (
        f"bpcore: error: --checkpoint {path}: expected meta 'format' {CHECKPOINT_FORMAT!r} "
        "(a checkpoint written by bpcore.training.Trainer), got None.\n"
    )


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("optimizer", "rmsprop", "one of ['sgd', 'momentum', 'adagrad', 'adam']"),
        ("dataset", "cifar", "one of ['digits', 'mnist']"),
        ("hidden", "16,x", "comma-separated positive integers"),
        ("hidden", 16, "a string"),
        ("lr", -0.5, "a positive number"),
        ("lr_decay", "10", "EPOCH:FACTOR pairs such as '10:0.3,15:0.1'"),
        ("lr_decay", "10:0.3,10:0.1", "EPOCH:FACTOR pairs such as '10:0.3,15:0.1'"),
        ("lr_decay", 10, "a string"),
        ("weight_decay", -0.5, "a finite number >= 0"),
        ("weight_decay", "0.1", "a finite number >= 0"),
        ("weight_decay", True, "a finite number >= 0"),
        ("dtype", "float16", "one of ['float32', 'float64']"),
    ],
)
def test_resume_refuses_a_saved_setting_it_does_not_know(
    tmp_path: Path, capsys: Capsys, key: str, value: MetaValue, expected: str
) -> None:
    """A checkpoint whose saved settings bpcore train cannot use is a one-line error, exit 2."""
    assert main(_train_args(tmp_path)) == 0
    capsys.readouterr()
    path = tmp_path / "ck.npz"
    saved = load_checkpoint(path)
    save_checkpoint(path, saved.params, meta={**saved.meta, key: value}, state=saved.state)
    assert main(_train_args(tmp_path, "--resume", "--epochs", "3")) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (
        f"bpcore: error: --checkpoint {path}: expected meta {key!r} to be {expected}, "
        f"got {value!r}.\n"
    )


def test_divergence_exits_1_with_the_epoch_and_step(tmp_path: Path, capsys: Capsys) -> None:
    """A learning rate that makes the loss NaN ends with one error line naming epoch and step."""
    assert main(_train_args(tmp_path, "--optimizer", "sgd", "--lr", "1e300")) == 1
    _assert_one_line_error(capsys.readouterr().err, "diverged at epoch 1, step")


def test_ctrl_c_during_training_saves_and_exits_130(
    tmp_path: Path, capsys: Capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A KeyboardInterrupt during training saves a checkpoint and exits 130 with one line."""
    _interrupt_training(monkeypatch)
    path = tmp_path / "ck.npz"
    assert main(_train_args(tmp_path)) == 130
    captured = capsys.readouterr()
    assert [line.split()[0] for line in captured.out.splitlines()[2:]] == ["1"]
    assert captured.err == (
        f"bpcore: interrupted at the end of epoch 1; checkpoint saved to {path} "
        "(continue with --resume)\n"
    )
    assert TrainingState.from_meta(load_checkpoint(path).meta).interrupted


def test_ctrl_c_outside_training_exits_130(
    tmp_path: Path, capsys: Capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A KeyboardInterrupt while loading data exits 130 with one line and no traceback."""

    def interrupt(**kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(_train, "load_digits", interrupt)
    assert main(_train_args(tmp_path)) == 130
    assert capsys.readouterr().err == "bpcore: interrupted\n"


def test_plot_without_matplotlib_prints_a_note(
    tmp_path: Path, capsys: Capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--plot without matplotlib notes it on one line and still trains (exit 0)."""
    monkeypatch.setattr(_train, "can_plot", lambda: False)
    plot = tmp_path / "curves.png"
    assert main(_train_args(tmp_path, "--plot", str(plot))) == 0
    err = capsys.readouterr().err
    assert err.startswith("bpcore: note: --plot needs matplotlib")
    assert 'pip install "bpcore[plot]"' in err
    assert err.count("\n") == 1
    assert not plot.exists()


def test_plot_with_matplotlib_draws_the_history(
    tmp_path: Path, capsys: Capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With matplotlib, --plot hands the whole history, the path and a title with the
    run's settings (the line the run starts with) to the plotter."""
    drawn: list[tuple[History, Path]] = []
    titles: list[str] = []

    def plot(history: History, path: Path, *, title: str) -> Path:
        drawn.append((history, path))
        titles.append(title)
        return path

    monkeypatch.setattr(_train, "can_plot", lambda: True)
    monkeypatch.setattr(_train, "plot_formats", lambda: ["png", "svg"])
    monkeypatch.setattr(_train, "plot_history", plot)
    plot_path = tmp_path / "curves.png"
    assert main(_train_args(tmp_path, "--plot", str(plot_path))) == 0
    assert [(len(h.epochs), p) for h, p in drawn] == [(2, plot_path)]
    out = capsys.readouterr().out
    assert f"plot: {plot_path}" in out
    (first,) = [line for line in out.splitlines() if line.startswith("training ")]
    settings, _, checkpoint = first.removeprefix("training ").rpartition("; checkpoint ")
    assert checkpoint == str(tmp_path / "ck.npz")
    assert titles == [f"bpcore train {settings}"]
    assert "layers 64,16,10, adam lr 0.001, batch 50, 2 epochs" in titles[0]


@pytest.mark.parametrize(
    ("name", "fragment"),
    [("plots", "expected a file name, got a directory"),
     ("curves.gif", "expected a file name ending in one of .png, .svg, got '.gif'"),
     ("curves", "got 'no suffix'"),
     ("missing/curves.png", "the folder")],
)  # fmt: skip
def test_a_plot_path_matplotlib_cannot_write_is_refused_before_training(
    tmp_path: Path, capsys: Capsys, monkeypatch: pytest.MonkeyPatch, name: str, fragment: str
) -> None:
    """--plot to a directory, an unknown or missing suffix or a missing folder exits 2
    with one line before the first step, not after training."""
    (tmp_path / "plots").mkdir()
    monkeypatch.setattr(_train, "can_plot", lambda: True)
    monkeypatch.setattr(_train, "plot_formats", lambda: ["png", "svg"])
    assert main(_train_args(tmp_path, "--plot", str(tmp_path / name))) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    _assert_one_line_error(captured.err, fragment)


def test_a_checkpoint_path_that_is_a_directory_is_refused_before_training(
    tmp_path: Path, capsys: Capsys
) -> None:
    """--checkpoint '' (the current folder) or any directory exits 2 with one line."""
    run = ["train", "--hidden", "16", "--epochs", "1", "--checkpoint", str(tmp_path)]
    assert main(run) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    _assert_one_line_error(captured.err, "expected a file name, got a directory")


def test_out_of_range_labels_are_refused_before_training(
    tmp_path: Path, capsys: Capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A test label of 12 for 10 classes exits 2 before the first step."""
    load = _train._load

    def bad_test_labels(config: object) -> tuple[object, ...]:
        x_train, t_train, x_test, t_test = load(config)  # type: ignore[arg-type]  # the real config, passed through
        t_test = t_test.copy()
        t_test[5] = 12
        return x_train, t_train, x_test, t_test

    monkeypatch.setattr(_train, "_load", bad_test_labels)
    assert main(_train_args(tmp_path)) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    _assert_one_line_error(captured.err, "the test labels", "label 12")


def test_a_network_too_big_for_the_machine_is_refused_before_allocating(
    tmp_path: Path, capsys: Capsys
) -> None:
    """--hidden 20000000 (1.5e9 parameters) exits 2 with one line, not a MemoryError."""
    assert main(_train_args(tmp_path, "--hidden", "20000000")) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    _assert_one_line_error(captured.err, "--hidden", "parameters, which need")


def test_stale_temporaries_of_the_checkpoint_are_removed_with_a_note(
    tmp_path: Path, capsys: Capsys
) -> None:
    """What a killed save left next to the checkpoint is removed before training."""
    stale = tmp_path / ".ck.npz.0123456789abcdef.tmp"
    stale.write_bytes(b"half a checkpoint")
    assert main(_train_args(tmp_path, "--epochs", "1")) == 0
    assert not stale.exists()
    assert "note: removed 1 temporary file(s)" in capsys.readouterr().out


def test_a_run_that_ends_near_chance_says_so(tmp_path: Path, capsys: Capsys) -> None:
    """With a learning rate too small to learn anything in one epoch, the test accuracy
    stays near 1/10, and a note on stderr says so (exit 0: the run itself worked)."""
    assert main(_train_args(tmp_path, "--epochs", "1", "--lr", "1e-12")) == 0
    err = capsys.readouterr().err
    assert "is near chance (0.1 for 10 classes)" in err
    assert "(--lr 1e-12 may be far too large or too small)" in err


def test_plot_history_writes_a_png(tmp_path: Path) -> None:
    """plot_history writes a PNG file when matplotlib is installed."""
    pytest.importorskip("matplotlib")
    stats = (EpochStats(1, 1.0, 0.5, 0.4, 0.1), EpochStats(2, 0.5, 0.8, 0.7, 0.1, test_loss=0.6))
    history = History(stats, interrupted=False, checkpoint=None)
    path = plot_history(history, tmp_path / "c.png", title="bpcore train digits")
    assert path.read_bytes().startswith(b"\x89PNG")


def test_the_figure_shows_train_and_test_loss_and_accuracy() -> None:
    """The left panel draws the train and test loss per epoch on a log scale, with a gap
    where an epoch (read from a format-1 checkpoint) has no test loss; the right panel the
    train and test accuracy; the title is the one given."""
    pytest.importorskip("matplotlib")
    stats = (EpochStats(1, 1.0, 0.5, 0.4, 0.1), EpochStats(2, 0.5, 0.8, 0.7, 0.1, test_loss=0.6))
    history = History(stats, interrupted=False, checkpoint=None)
    figure = history_figure(history, title="bpcore train digits")
    assert figure.get_suptitle() == "bpcore train digits"
    loss_axes, acc_axes = figure.axes
    assert loss_axes.get_yscale() == "log"

    def curves(axes: Axes) -> dict[str, list[float]]:
        return {
            str(line.get_label()): np.asarray(line.get_ydata(), dtype=float).tolist()
            for line in axes.get_lines()
        }

    assert curves(loss_axes) == {
        "train": [1.0, 0.5],
        "test": [pytest.approx(math.nan, nan_ok=True), 0.6],
    }
    assert curves(acc_axes) == {"train": [0.5, 0.8], "test": [0.4, 0.7]}
    for axes in (loss_axes, acc_axes):
        assert [
            np.asarray(line.get_xdata(), dtype=float).tolist() for line in axes.get_lines()
        ] == [[1, 2]] * 2


def test_a_long_title_is_wrapped_inside_the_figure() -> None:
    """The settings of an MNIST cnn run, about 150 characters, are drawn within the
    figure's width, on more than one line."""
    pytest.importorskip("matplotlib")
    title = (
        "bpcore train mnist (60000 train, 10000 test): cnn 30 filters 5x5, pool 2x2, hidden "
        "100, 10 classes, adam lr 0.001, batch 100, 20 epochs, seed 0, float64"
    )
    history = History((EpochStats(1, 1.0, 0.5, 0.4, 0.1, test_loss=0.6),), False, None)
    figure = history_figure(history, title=title)
    figure.canvas.draw()
    suptitle = figure.get_suptitle()
    assert suptitle.replace("\n", " ") == title
    assert "\n" in suptitle
    text = next(t for t in figure.texts if t.get_text() == suptitle)
    box = text.get_window_extent()
    assert 0 <= box.x0 < box.x1 <= figure.bbox.width


def _commands() -> list[str]:
    _, owners = _parser()
    return sorted(owners)


@pytest.mark.parametrize("argv", [[], *[[name] for name in _commands()]])
def test_help_exits_0_for_every_command(argv: list[str], capsys: Capsys) -> None:
    """--help prints a usage for the program and for every command and returns 0."""
    assert main([*argv, "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: bpcore {' '.join(argv)}".rstrip())


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        ([], "COMMAND"),
        (["fly"], "invalid choice"),
        (["train", "--epochs", "0"], "--epochs"),
        (["train", "--lr", "-1"], "--lr"),
        (["train", "--lr", "nan"], "--lr"),
        (["train", "--hidden", "16,x"], "--hidden"),
        (["train", "--optimizer", "rmsprop"], "--optimizer"),
        (["train", "--dataset", "cifar"], "--dataset"),
        (["train", "--seed", "-3"], "--seed"),
        (["train", "--dtype", "float16"], "--dtype"),
        (["train", "--data-dir", "."], "--data-dir"),
        (["train", "--checkpoint", "/nonexistent-folder/ck.npz"], "does not exist"),
        (["download"], "dataset"),
        (["gradcheck", "--input", "5"], "--input 5"),
        (["gradcheck", "--batch", "0"], "--batch"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(argv: list[str], fragment: str, capsys: Capsys) -> None:
    """A bad argument prints one line 'bpcore: error: ...' naming it, no traceback, and exits 2."""
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    _assert_one_line_error(captured.err, fragment)


def test_mnist_from_an_empty_folder_exits_2(tmp_path: Path, capsys: Capsys) -> None:
    """Training on MNIST from a folder without its files is a one-line error with the fix."""
    argv = ["train", "--dataset", "mnist", "--data-dir", str(tmp_path)]
    assert main([*argv, "--checkpoint", str(tmp_path / "ck.npz")]) == 2
    _assert_one_line_error(capsys.readouterr().err, "bpcore download mnist", str(tmp_path))


def test_mnist_without_data_dir_reads_the_download_folder(tmp_path: Path, capsys: Capsys) -> None:
    """Without --data-dir, --dataset mnist reads where 'bpcore download mnist' writes; if
    the files are not there, the one-line error gives that command without a folder."""
    argv = ["train", "--dataset", "mnist", "--hidden", "8", "--epochs", "1"]
    argv += ["--checkpoint", str(tmp_path / "ck.npz")]
    folder = bpcore.datasets.default_data_dir("mnist")
    assert main(argv) == 2
    _assert_one_line_error(capsys.readouterr().err, "`bpcore download mnist`", str(folder))
    write_fake_mnist(folder)
    assert main(argv) == 0
    assert "training mnist (40 train, 12 test)" in capsys.readouterr().out


def test_train_reads_mnist_from_data_dir(tmp_path: Path, capsys: Capsys) -> None:
    """--dataset mnist trains on the IDX files in --data-dir (a tiny set in MNIST's format)."""
    write_fake_mnist(tmp_path)
    argv = ["train", "--dataset", "mnist", "--data-dir", str(tmp_path), "--hidden", "8"]
    assert main([*argv, "--epochs", "1", "--checkpoint", str(tmp_path / "ck.npz")]) == 0
    assert "training mnist (40 train, 12 test): layers 784,8,10" in capsys.readouterr().out
    checkpoint = load_checkpoint(tmp_path / "ck.npz")
    assert checkpoint.meta["dataset"] == "mnist"
    assert checkpoint.params["W1"].shape == (784, 8)


def test_download_calls_download_mnist(
    tmp_path: Path, capsys: Capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Download passes the folder and mirror to download_mnist and prints the paths it returns."""
    calls: list[tuple[Path, Mapping[str, object]]] = []

    def fake(data_dir: Path, **kwargs: object) -> list[Path]:
        calls.append((data_dir, kwargs))
        return [data_dir / "a.gz", data_dir / "b.gz"]

    monkeypatch.setattr(bpcore.datasets, "download_mnist", fake)
    argv = ["download", "mnist", "--data-dir", str(tmp_path), "--base-url", "https://m.example/"]
    assert main(argv) == 0
    assert [(d, k["base_url"]) for d, k in calls] == [(tmp_path, "https://m.example/")]
    assert capsys.readouterr().out.splitlines() == [str(tmp_path / "a.gz"), str(tmp_path / "b.gz")]


def test_download_failure_exits_2_with_one_line(
    tmp_path: Path, capsys: Capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A download error (no network, bad checksum) is one error line and exit 2."""

    def fail(data_dir: Path, **kwargs: object) -> list[Path]:
        raise DatasetError("download_mnist: expected to download x, got URLError:\n no route")

    monkeypatch.setattr(bpcore.datasets, "download_mnist", fail)
    assert main(["download", "mnist", "--data-dir", str(tmp_path)]) == 2
    _assert_one_line_error(capsys.readouterr().err, "URLError: no route")


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_gradcheck_reports_every_parameter(dtype: str, capsys: Capsys) -> None:
    """A small gradcheck returns 0 and prints a row for W1, b1, W2 and b2 and the timings."""
    assert main(["gradcheck", "--hidden", "5", "--batch", "2", "--dtype", dtype]) == 0
    out = capsys.readouterr().out
    rows = {line.split()[0]: line for line in out.splitlines() if line.split()}
    for name in ("W1", "b1", "W2", "b2"):
        # A probe that straddles a ReLU kink is reported as such, never as a mismatch.
        assert rows[name].endswith(("pass", "non-differentiable")), out
    assert "numerical/backprop" in out
    assert "all gradients agree" in out


def test_gradcheck_on_random_data(capsys: Capsys) -> None:
    """--dataset random takes any input size and number of classes."""
    argv = ["gradcheck", "--dataset", "random", "--input", "3", "--hidden", "4", "--output", "2"]
    assert main(argv) == 0
    assert "TwoLayerNet 3-4-2" in capsys.readouterr().out


def test_gradcheck_detects_a_wrong_gradient(
    capsys: Capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A backprop gradient off by a factor makes gradcheck print MISMATCH and return 1."""
    original = TwoLayerNet.gradient

    def doubled_b1(self: TwoLayerNet, x: npt.ArrayLike, t: npt.ArrayLike) -> dict[str, FloatArray]:
        grads = original(self, x, t)
        grads["b1"] = 2 * grads["b1"]
        return grads

    monkeypatch.setattr(TwoLayerNet, "gradient", doubled_b1)
    assert main(["gradcheck", "--hidden", "5", "--batch", "2"]) == 1
    out = capsys.readouterr().out
    b1 = next(line for line in out.splitlines() if line.startswith("b1"))
    assert b1.endswith("MISMATCH")
    assert "b1" in out.splitlines()[-1]


def test_gradcheck_fails_where_the_gradients_overflow(capsys: Capsys) -> None:
    """Weights of 1e300 overflow every gradient to NaN: gradcheck prints MISMATCH for each
    parameter and returns 1 instead of calling NaN a pass."""
    assert main(["gradcheck", "--hidden", "5", "--batch", "2", "--weight-std", "1e300"]) == 1
    out = capsys.readouterr().out
    for name in ("W1", "b1", "W2", "b2"):
        row = next(line for line in out.splitlines() if line.startswith(name))
        assert row.split()[-2:] == ["inf", "MISMATCH"], row
    assert "all gradients agree" not in out


def test_python_dash_m_bpcore_runs_the_cli() -> None:
    """`python -m bpcore train --help` exits 0 and prints the train usage."""
    env = {**os.environ, "PYTHONWARNINGS": "error"}
    result = subprocess.run(
        [sys.executable, "-m", "bpcore", "train", "--help"],
        capture_output=True,
        text=True,
        check=False,
        env=env,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: bpcore train")


# --- what the --help texts promise -----------------------------------------------------


def _help(capsys: Capsys, *argv: str) -> str:
    assert main([*argv, "--help"]) == 0
    return " ".join(capsys.readouterr().out.split())  # argparse wraps lines anywhere


def test_train_help_lists_every_option_and_its_default(capsys: Capsys) -> None:
    """`bpcore train --help` lists the dataset, data folder, hidden sizes, optimizer, learning
    rate and its decay, weight decay, batch size, epochs, seed, dtype, checkpoint, --resume,
    --plot and --quiet, each with the default that a run uses."""
    text = _help(capsys, "train")
    for option in ("--dataset {digits,mnist}", "--data-dir DIR", "--hidden SIZES",
                   "--optimizer {sgd,momentum,adagrad,adam}", "--lr LR", "--batch-size N",
                   "--epochs N", "--seed SEED", "--dtype {float32,float64}",
                   "--checkpoint PATH", "--resume", "--plot PATH", "--quiet",
                   "--lr-decay STEPS", "--weight-decay LAMBDA"):  # fmt: skip
        assert option in text, option
    assert "--model {mlp,cnn}" in text
    for default in ("(default: digits)", "(default: 256,128;", "(default: adam)",
                    "(default: mlp)", "with --model cnn one size, default 100",
                    "(default: sgd 0.1, momentum 0.05, adagrad 0.05, adam 0.001)",
                    "(default: 50; cnn 100)", "(default: 60; cnn 20)", "(default: 0)",
                    "(default: float64)", "'' for none (default: none)",
                    "squared weights to the loss (default: 0)",
                    "(default: bpcore-checkpoint.npz)"):  # fmt: skip
        assert default in text, default


def test_a_train_run_with_no_options_uses_the_documented_defaults(
    tmp_path: Path, capsys: Capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With only --epochs given, a run trains 64-256-128-10 on the digits with Adam at lr
    0.001, batches of 50, seed 0, in float64, and checkpoints to bpcore-checkpoint.npz,
    which its first line names."""
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--epochs", "1"]) == 0
    summary = capsys.readouterr().out.splitlines()[0]
    assert summary == (
        "training digits (1438 train, 359 test): layers 64,256,128,10, adam lr 0.001, "
        "batch 50, 1 epochs, seed 0, float64; checkpoint bpcore-checkpoint.npz"
    )
    checkpoint = load_checkpoint(tmp_path / "bpcore-checkpoint.npz")
    assert {p.dtype for p in checkpoint.params.values()} == {np.dtype(np.float64)}
    assert checkpoint.meta["optimizer"] == "adam"


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "adagrad", "adam"])
def test_each_optimizer_gets_its_documented_learning_rate(
    tmp_path: Path, capsys: Capsys, optimizer: str
) -> None:
    """Without --lr each optimizer trains at the rate its help text gives."""
    rates = {"sgd": "0.1", "momentum": "0.05", "adagrad": "0.05", "adam": "0.001"}
    assert main(_train_args(tmp_path, "--optimizer", optimizer, "--epochs", "1")) == 0
    assert f"{optimizer} lr {rates[optimizer]}," in capsys.readouterr().out.splitlines()[0]


@final
class _Terminal(io.StringIO):
    """A stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(
    ("terminal", "quiet", "shown"),
    [(False, False, False), (True, False, True), (True, True, False)],
)
def test_the_progress_bar_is_shown_only_on_a_terminal_and_not_with_quiet(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, terminal: bool, quiet: bool, shown: bool
) -> None:
    """train draws its progress bar on stderr only when stderr is a terminal, and never
    with --quiet."""
    stderr = _Terminal() if terminal else io.StringIO()
    monkeypatch.setattr(sys, "stderr", stderr)
    monkeypatch.setattr(sys, "stdout", io.StringIO())
    argv = _train_args(tmp_path, "--epochs", "1", *(["--quiet"] if quiet else []))
    assert main(argv) == 0
    assert ("epoch 1/1 [" in stderr.getvalue()) is shown


@pytest.mark.parametrize(
    ("terminal", "quiet", "shown"),
    [(False, False, False), (True, False, True), (True, True, False)],
)
def test_the_download_progress_is_shown_only_on_a_terminal_and_not_with_quiet(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    terminal: bool,
    quiet: bool,
    shown: bool,
) -> None:
    """download passes a progress callback only when stderr is a terminal and --quiet is not
    given; it fetches from the default mirror unless --base-url says otherwise."""
    seen: list[Mapping[str, object]] = []

    def fake(data_dir: Path, **kwargs: object) -> list[Path]:
        seen.append(kwargs)
        return []

    monkeypatch.setattr(bpcore.datasets, "download_mnist", fake)
    monkeypatch.setattr(sys, "stderr", _Terminal() if terminal else io.StringIO())
    argv = ["download", "mnist", "--data-dir", str(tmp_path), *(["--quiet"] if quiet else [])]
    assert main(argv) == 0
    assert (seen[0]["progress"] is not None) is shown
    assert seen[0]["base_url"] == bpcore.datasets.DEFAULT_MIRROR


def test_gradcheck_defaults_are_the_documented_ones(capsys: Capsys) -> None:
    """gradcheck builds a 64-50-10 TwoLayerNet on 3 digits samples, float64, weight std 0.1,
    seed 0, unless told otherwise, as its help text says."""
    text = _help(capsys, "gradcheck")
    for default in ("(default: digits)", "hidden size (default: 50)", "(default: 10; at least 10",
                    "samples (default: 3)", "(default: 0.1)", "(default: 0)",
                    "(default: float64)"):  # fmt: skip
        assert default in text, default
    assert main(["gradcheck", "--hidden", "5"]) == 0
    header = capsys.readouterr().out.splitlines()[0]
    assert header == "TwoLayerNet 64-5-10, 3 digits samples, float64, weight std 0.1, seed 0"
    parser, _ = _parser()
    assert parser.parse_args(["gradcheck"]).hidden == 50


def test_verify_without_layer_runs_every_property_over_every_registered_layer(
    capsys: Capsys,
) -> None:
    """With no --layer, verify checks every registered layer and network against every
    generic property: one table row each, in order, and exit 0 when all hold."""
    assert main(["verify", "--examples", "1"]) == 0
    out = capsys.readouterr().out
    rows = [line.split()[1:3] for line in out.splitlines() if line.lstrip().startswith("[")]
    expected = [[spec.name, prop] for spec in registered() for prop in PROPERTY_NAMES]
    assert rows == expected


def test_verify_runs_50_examples_by_default_and_a_seed_fixes_the_draws(capsys: Capsys) -> None:
    """--examples defaults to 50, as its help says; with --seed two runs print the same
    table (all but the times)."""
    parser, _ = _parser()
    assert parser.parse_args(["verify"]).examples == 50
    assert "(default 50)" in _help(capsys, "verify")
    tables = []
    for _ in range(2):
        assert main(["verify", "--layer", "Sigmoid", "--examples", "2", "--seed", "7"]) == 0
        rows = capsys.readouterr().out.splitlines()[:-1]
        # Each row's time (the token before the status) varies from run to run.
        tables.append([re.sub(r"\b\d+\.\d+s\b", "", row) for row in rows])
    assert tables[0] == tables[1]


def test_an_empty_hidden_option_trains_softmax_regression(tmp_path: Path, capsys: Capsys) -> None:
    """--hidden '' means no hidden layer: the run trains 64-10 softmax regression."""
    assert main(_train_args(tmp_path, "--hidden", "", "--epochs", "1")) == 0
    assert "layers 64,10," in capsys.readouterr().out.splitlines()[0]
    assert set(load_checkpoint(tmp_path / "ck.npz").params) == {"W1", "b1"}
