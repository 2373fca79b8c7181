"""``bpcore train --lr-decay`` and ``--weight-decay``: the run they give, what the checkpoint
records of them, and how ``--resume`` keeps or changes them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bpcore.checkpoint import load_checkpoint, save_checkpoint
from bpcore.cli import main
from bpcore.datasets import load_digits
from bpcore.networks import MultiLayerNet, SimpleConvNet
from bpcore.optim import Adam
from bpcore.training import StepDecay, TrainableNetwork, Trainer

Capsys = pytest.CaptureFixture[str]

DECAY = ["--lr-decay", "1:0.5,2:0.1", "--weight-decay", "0.01"]


def _run(tmp_path: Path, *extra: str, name: str = "ck.npz") -> list[str]:
    return ["train", "--hidden", "16", "--seed", "3", "--checkpoint", str(tmp_path / name),
            "--quiet", *extra]  # fmt: skip


def _library_network(model: str) -> TrainableNetwork:
    if model == "mlp":
        return MultiLayerNet(64, (16,), 10, rng=3, weight_decay_lambda=0.01)
    return SimpleConvNet((1, 8, 8), {"filter_num": 30, "filter_size": 3}, hidden_size=16,
                         output_size=10, weight_init_std="he", rng=3,
                         weight_decay_lambda=0.01)  # fmt: skip


@pytest.mark.parametrize(("model", "batch"), [("mlp", 50), ("cnn", 100)])
def test_a_decayed_run_is_the_library_run_with_the_same_settings(
    tmp_path: Path, model: str, batch: int
) -> None:
    """--lr-decay 1:0.5,2:0.1 --weight-decay 0.01 ends with the parameters of a Trainer
    with StepDecay(0.001, {1: 0.5, 2: 0.1}) on a network built with
    weight_decay_lambda=0.01: both options reach the run, and nothing else changes."""
    assert main([*_run(tmp_path, "--model", model, "--epochs", "3"), *DECAY]) == 0
    (x_train, t_train), (x_test, t_test) = load_digits(flatten=model == "mlp")
    network = _library_network(model)
    Trainer(network, Adam(lr=0.001), x_train, t_train, x_test, t_test, batch_size=batch,
            epochs=3, rng=3, lr_schedule=StepDecay(0.001, {1: 0.5, 2: 0.1})).fit()  # fmt: skip
    saved = load_checkpoint(tmp_path / "ck.npz").params
    for key, value in network.params.items():
        np.testing.assert_array_equal(saved[key], value, err_msg=key)


def test_the_first_line_and_the_checkpoint_record_both(tmp_path: Path, capsys: Capsys) -> None:
    assert main([*_run(tmp_path, "--epochs", "1"), "--lr-decay", "2:0.1, 1:0.5",
                 "--weight-decay", "1e-4"]) == 0  # fmt: skip
    first = capsys.readouterr().out.splitlines()[0]
    assert (
        "adam lr 0.001, x0.5 after epoch 1, x0.1 after epoch 2, weight decay 0.0001, batch 50"
        in first
    )
    meta = load_checkpoint(tmp_path / "ck.npz").meta
    assert (meta["lr_decay"], meta["weight_decay"]) == ("1:0.5,2:0.1", 1e-4)


def test_without_them_a_run_has_neither(tmp_path: Path, capsys: Capsys) -> None:
    assert main(_run(tmp_path, "--epochs", "1")) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert "adam lr 0.001, batch 50," in first
    meta = load_checkpoint(tmp_path / "ck.npz").meta
    assert (meta["lr_decay"], meta["weight_decay"]) == ("", 0.0)


def test_resume_keeps_the_saved_decay_bit_for_bit(tmp_path: Path, capsys: Capsys) -> None:
    """One epoch, then --resume to three with no option: the schedule's cuts after epochs
    1 and 2 and the weight decay come from the checkpoint, and the run ends as a straight
    three-epoch run does."""
    assert main([*_run(tmp_path, "--epochs", "3", name="straight.npz"), *DECAY]) == 0
    assert main([*_run(tmp_path, "--epochs", "1"), *DECAY]) == 0
    capsys.readouterr()
    path = str(tmp_path / "ck.npz")
    assert main(["train", "--resume", "--epochs", "3", "--checkpoint", path, "--quiet"]) == 0
    assert "x0.5 after epoch 1, x0.1 after epoch 2, weight decay 0.01" in capsys.readouterr().out
    straight = load_checkpoint(tmp_path / "straight.npz").params
    resumed = load_checkpoint(path).params
    for key, value in straight.items():
        np.testing.assert_array_equal(resumed[key], value, err_msg=key)


def test_resume_may_change_or_drop_them(tmp_path: Path, capsys: Capsys) -> None:
    """--lr-decay '' drops the schedule and --weight-decay replaces the saved one; the
    checkpoint then records the new settings."""
    assert main([*_run(tmp_path, "--epochs", "1"), *DECAY]) == 0
    capsys.readouterr()
    path = str(tmp_path / "ck.npz")
    argv = ["train", "--resume", "--epochs", "2", "--checkpoint", path, "--quiet",
            "--lr-decay", "", "--weight-decay", "0.5"]  # fmt: skip
    assert main(argv) == 0
    assert "adam lr 0.001, weight decay 0.5, batch 50" in capsys.readouterr().out
    meta = load_checkpoint(path).meta
    assert (meta["lr_decay"], meta["weight_decay"]) == ("", 0.5)


def test_a_checkpoint_from_before_the_options_resumes_without_them(
    tmp_path: Path, capsys: Capsys
) -> None:
    """A checkpoint without meta 'lr_decay' and 'weight_decay' (bpcore 0.2's) resumes with
    a constant rate and no weight decay."""
    assert main([*_run(tmp_path, "--epochs", "1"), *DECAY]) == 0
    path = tmp_path / "ck.npz"
    saved = load_checkpoint(path)
    meta = {k: v for k, v in saved.meta.items() if k not in ("lr_decay", "weight_decay")}
    save_checkpoint(path, saved.params, meta=meta, state=saved.state)
    capsys.readouterr()
    assert main(["train", "--resume", "--epochs", "2", "--checkpoint", str(path)]) == 0
    assert "adam lr 0.001, batch 50" in capsys.readouterr().out
    after = load_checkpoint(path).meta
    assert (after["lr_decay"], after["weight_decay"]) == ("", 0.0)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--lr-decay", "10"], "argument --lr-decay: expected EPOCH:FACTOR pairs"),
        (["--lr-decay", "10:0"], "argument --lr-decay: expected `steps[10]` to be finite"),
        (["--lr-decay", "0:0.5"], "argument --lr-decay: expected the epochs of `steps` to be"),
        (["--lr-decay", "5:0.1,5:0.2"], "argument --lr-decay: expected each epoch once"),
        (["--weight-decay", "-1"], "argument --weight-decay: expected a non-negative number"),
        (["--weight-decay", "nan"], "argument --weight-decay: expected a non-negative number"),
        (["--weight-decay", "inf"], "argument --weight-decay: expected a non-negative number"),
        (["--weight-decay", "x"], "argument --weight-decay: expected a non-negative number"),
    ],
)
def test_bad_values_exit_2_with_one_line(
    tmp_path: Path, capsys: Capsys, argv: list[str], message: str
) -> None:
    assert main([*_run(tmp_path), *argv]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"bpcore: error: {message}")
    assert not (tmp_path / "ck.npz").exists()
