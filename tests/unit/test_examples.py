"""The book's programs in examples/, run as a reader runs them: on the digits inside
bpcore, and on the real MNIST where it is at hand."""

from __future__ import annotations

import runpy
from pathlib import Path

import numpy as np
import pytest

from tests.helpers import PROJECT_ROOT, real_mnist_dir

EXAMPLES = PROJECT_ROOT / "examples"
Capsys = pytest.CaptureFixture[str]


def _run(name: str, monkeypatch: pytest.MonkeyPatch, *args: str) -> None:
    monkeypatch.setattr("sys.argv", [str(EXAMPLES / name), *args])
    runpy.run_path(str(EXAMPLES / name), run_name="__main__")


def test_buy_apple_prints_the_books_price_and_derivatives(
    monkeypatch: pytest.MonkeyPatch, capsys: Capsys
) -> None:
    """220 for two apples with tax; d/dapple 2.2, d/dnum 110, d/dtax 200, as the book prints."""
    _run("buy_apple.py", monkeypatch)
    assert capsys.readouterr().out.splitlines() == [
        "price: 220", "dApple: 2.2", "dApple_num: 110", "dTax: 200.0"]  # fmt: skip


def test_buy_apple_orange_prints_the_books_price_and_derivatives(
    monkeypatch: pytest.MonkeyPatch, capsys: Capsys
) -> None:
    """715 with tax; the derivatives of the book's figure 5-17."""
    _run("buy_apple_orange.py", monkeypatch)
    lines = capsys.readouterr().out.splitlines()
    values = {k: float(v) for k, v in (line.split(": ") for line in lines)}
    assert values == pytest.approx({"price": 715, "dApple": 2.2, "dApple_num": 110,
                                    "dOrange": 3.3, "dOrange_num": 165, "dTax": 650},
                                   rel=1e-15)  # fmt: skip


def _gradient_differences(out: str) -> dict[str, float]:
    return {k: float(v) for k, v in (line.split(":") for line in out.splitlines())}


def test_gradient_check_on_the_digits(monkeypatch: pytest.MonkeyPatch, capsys: Capsys) -> None:
    """Backprop and central differences differ by about 1e-11 on average per parameter (the
    truncation and rounding of a float64 central difference, as test_networks.py derives);
    1e-7 is far above that and far below any error of the backward pass."""
    _run("gradient_check.py", monkeypatch, "digits")
    differences = _gradient_differences(capsys.readouterr().out)
    assert set(differences) == {"W1", "b1", "W2", "b2"}
    assert all(d < 1e-7 for d in differences.values())


def test_train_neuralnet_learns_the_digits(monkeypatch: pytest.MonkeyPatch, capsys: Capsys) -> None:
    """300 iterations of the book's loop (about 21 epochs of the 1,438 digits) print a
    line per epoch (at iterations 0, 14, ..., 294: 22 lines) and end far above chance
    (0.1): the book's script works unchanged."""
    np.random.seed(0)  # noqa: NPY002  # the book's loop draws from NumPy's global generator
    _run("train_neuralnet.py", monkeypatch, "digits", "300")
    rows = [list(map(float, line.split())) for line in capsys.readouterr().out.splitlines()]
    assert len(rows) == 22
    assert rows[-1][1] >= 0.5


def test_train_convnet_runs_on_the_digits(monkeypatch: pytest.MonkeyPatch, capsys: Capsys) -> None:
    """Two epochs of the book's SimpleConvNet program print a row per epoch and the final
    test accuracy."""
    _run("train_convnet.py", monkeypatch, "digits", "2")
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines[:2]] == ["1", "2"]
    assert lines[-1].startswith("test acc: ")
    assert 0.0 <= float(lines[-1].split(": ")[1]) <= 1.0


def _use_real_mnist(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Make bpcore's default MNIST folder the real files, as `bpcore download mnist` would."""
    data = tmp_path / "data"
    data.mkdir()
    (data / "mnist").symlink_to(real_mnist_dir(), target_is_directory=True)
    monkeypatch.setenv("BPCORE_DATA_DIR", str(data))


def test_gradient_check_on_the_real_mnist(
    monkeypatch: pytest.MonkeyPatch, capsys: Capsys, tmp_path: Path
) -> None:
    """The book's gradient check on MNIST itself, with the same bound as on the digits."""
    _use_real_mnist(monkeypatch, tmp_path)
    _run("gradient_check.py", monkeypatch)
    differences = _gradient_differences(capsys.readouterr().out)
    assert all(d < 1e-7 for d in differences.values())


def test_train_neuralnet_learns_the_real_mnist(
    monkeypatch: pytest.MonkeyPatch, capsys: Capsys, tmp_path: Path
) -> None:
    """1,200 iterations (two epochs) of the book's loop on MNIST reach 0.85 test accuracy
    (the book's figure 5-32 passes 0.9 in its third epoch)."""
    _use_real_mnist(monkeypatch, tmp_path)
    np.random.seed(0)  # noqa: NPY002  # the book's loop draws from NumPy's global generator
    _run("train_neuralnet.py", monkeypatch, "mnist", "1200")
    rows = [list(map(float, line.split())) for line in capsys.readouterr().out.splitlines()]
    assert len(rows) == 2
    assert rows[-1][1] >= 0.85


def test_batch_norm_test_shows_batch_normalization_learning_faster(
    monkeypatch: pytest.MonkeyPatch, capsys: Capsys
) -> None:
    """The book's batch normalization experiment on the digits: 20 epochs of the 5x100 net
    at weight std 0.05, the plain net stuck near chance (as in the book's figure) while the
    batch-normalized one passes 0.9 in training and 0.8 in test accuracy."""
    _run("batch_norm_test.py", monkeypatch, "digits")
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 20
    last = lines[-1].replace("|", " ").replace("-", " ").split()
    plain_train, bn_train, plain_test, bn_test = map(float, (last[1], last[2], last[4], last[5]))
    assert plain_train < 0.3
    assert plain_test < 0.3
    assert bn_train > 0.9
    assert bn_test > 0.8
