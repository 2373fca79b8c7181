"""The book's chapter 5 code runs against bpcore with only its imports changed: the
example of docs/from-the-book.md, on MNIST-format files in the default folder."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

from bpcore.datasets import default_data_dir
from tests.helpers import write_fake_mnist

PAGE = Path(__file__).resolve().parents[2] / "docs" / "from-the-book.md"


def test_the_books_training_loop_runs(capsys: pytest.CaptureFixture[str]) -> None:
    """The page's Python block, the book's train_neuralnet.py, runs and prints the train
    and test accuracy, each in [0, 1]."""
    write_fake_mnist(default_data_dir("mnist"), n_train=120, n_test=20)
    (block,) = re.findall(r"```python\n(.*?)```", PAGE.read_text(encoding="utf-8"), re.DOTALL)
    exec(compile(block, str(PAGE), "exec"), {})
    train_acc, test_acc = map(float, capsys.readouterr().out.split())
    assert 0 <= train_acc <= 1
    assert 0 <= test_acc <= 1


def test_the_page_names_only_what_bpcore_has() -> None:
    """Every ``bpcore.*`` name in the page's table imports."""
    names = set(re.findall(r"`(bpcore(?:\.\w+)+)`", PAGE.read_text(encoding="utf-8")))
    assert names
    for name in sorted(names):
        module, _, attribute = name.rpartition(".")
        try:
            owner = importlib.import_module(name)
        except ImportError:
            owner = getattr(importlib.import_module(module), attribute)
        assert owner is not None, name
