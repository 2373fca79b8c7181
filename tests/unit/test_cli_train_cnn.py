"""``bpcore train --model cnn``: the book's SimpleConvNet from the command line, its defaults,
its checkpoints and their resumption."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bpcore.checkpoint import load_checkpoint, save_checkpoint
from bpcore.cli import main
from bpcore.training import TrainingState

Capsys = pytest.CaptureFixture[str]


def _final_test_accuracy(out: str) -> float:
    final = next(line for line in out.splitlines() if line.startswith("final"))
    return float(final.split("test accuracy ")[1].split()[0])


def test_the_default_cnn_run_on_the_digits_reaches_95_percent(
    tmp_path: Path, capsys: Capsys
) -> None:
    """--model cnn alone: 30 filters of 3x3 on the 8x8 digits, a 100-unit hidden layer,
    batches of 100 for 20 epochs; it ends at >= 0.95 test accuracy (0.967-0.972 over seeds
    0-2 when the defaults were chosen)."""
    assert main(["train", "--model", "cnn", "--checkpoint", str(tmp_path / "ck.npz")]) == 0
    out = capsys.readouterr().out
    first = out.splitlines()[0]
    assert "cnn 30 filters 3x3, pool 2x2, hidden 100, 10 classes" in first
    assert ", batch 100, 20 epochs," in first
    assert _final_test_accuracy(out) >= 0.95
    checkpoint = load_checkpoint(tmp_path / "ck.npz")
    assert checkpoint.meta["model"] == "cnn"
    assert {k: v.shape for k, v in checkpoint.params.items()} == {
        "W1": (30, 1, 3, 3), "b1": (30,), "W2": (270, 100), "b2": (100,), "W3": (100, 10),
        "b3": (10,)}  # fmt: skip


def test_a_resumed_cnn_run_continues_the_same_run(tmp_path: Path, capsys: Capsys) -> None:
    """Three epochs, then --resume to five, end with the parameters of five epochs straight."""
    path, straight = tmp_path / "ck.npz", tmp_path / "straight.npz"
    common = ["train", "--model", "cnn", "--hidden", "8", "--seed", "3"]
    assert main([*common, "--epochs", "3", "--checkpoint", str(path)]) == 0
    assert main(["train", "--resume", "--epochs", "5", "--checkpoint", str(path)]) == 0
    assert "resumed from" in capsys.readouterr().out
    assert main([*common, "--epochs", "5", "--checkpoint", str(straight)]) == 0
    resumed, whole = load_checkpoint(path), load_checkpoint(straight)
    assert TrainingState.from_meta(resumed.meta).epochs_done == 5
    for key, value in whole.params.items():
        np.testing.assert_array_equal(resumed.params[key], value, err_msg=key)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--model", "cnn", "--hidden", "10,10"],
         "--hidden: expected one size with --model cnn (its one hidden layer), got 10,10."),
        (["--model", "cnn", "--hidden", ""],
         "--hidden: expected one size with --model cnn (its one hidden layer), got ''."),
        (["--model", "rnn"], "argument --model: invalid choice: 'rnn'"),
    ],
    ids=["two sizes", "no size", "unknown model"],
)  # fmt: skip
def test_bad_cnn_options_exit_2_with_one_line(
    argv: list[str], message: str, tmp_path: Path, capsys: Capsys
) -> None:
    """A cnn has one hidden layer; another model name is not a choice."""
    assert main(["train", *argv, "--checkpoint", str(tmp_path / "ck.npz")]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert len(err.strip().splitlines()) <= 2  # the usage line argparse prints, and the error


def test_resume_refuses_another_model(tmp_path: Path, capsys: Capsys) -> None:
    """A run's model is fixed: --resume with another --model is refused before training."""
    path = tmp_path / "ck.npz"
    assert (
        main(
            ["train", "--model", "cnn", "--hidden", "8", "--epochs", "1", "--checkpoint", str(path)]
        )
        == 0
    )
    capsys.readouterr()
    assert main(["train", "--resume", "--model", "mlp", "--checkpoint", str(path)]) == 2
    assert capsys.readouterr().err == (
        "bpcore: error: --model mlp differs from the checkpoint's cnn; a resumed run cannot "
        "change it (drop --model, or start a new run without --resume).\n"
    )


def test_a_checkpoint_without_a_model_resumes_as_the_fully_connected_net(
    tmp_path: Path, capsys: Capsys
) -> None:
    """Checkpoints written before --model existed hold no meta 'model': they are mlp runs."""
    path = tmp_path / "ck.npz"
    assert main(["train", "--hidden", "8", "--epochs", "1", "--checkpoint", str(path)]) == 0
    saved = load_checkpoint(path)
    meta = {k: v for k, v in saved.meta.items() if k != "model"}
    save_checkpoint(path, saved.params, meta=meta, state=saved.state)
    capsys.readouterr()
    assert main(["train", "--resume", "--epochs", "2", "--checkpoint", str(path)]) == 0
    out = capsys.readouterr().out
    assert "layers 64,8,10" in out.splitlines()[0]
    assert load_checkpoint(path).meta["model"] == "mlp"
