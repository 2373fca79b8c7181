"""ProgressBar: one line per epoch, redrawn in place, throttled, padded and cleared."""

from __future__ import annotations

import io

from bpcore.training import ProgressBar, StepInfo


def _step(epoch: int, step: int, loss: float = 0.5, steps: int = 10) -> StepInfo:
    return StepInfo(epoch=epoch, step=step, steps_per_epoch=steps, global_step=step, loss=loss)


def test_the_bar_draws_and_clears_one_line() -> None:
    """The bar redraws in place with a carriage return and erases itself on clear()."""
    out = io.StringIO()
    bar = ProgressBar(out, epochs=2, width=10, min_interval=0.0)
    bar.update(_step(1, 1, loss=0.5, steps=4))
    bar.update(_step(1, 4, loss=0.25, steps=4))
    drawn = out.getvalue()
    assert "\n" not in drawn
    assert drawn.split("\r")[1].startswith("epoch 1/2 [##........] 1/4 loss 0.5000")
    # The loss shown is the epoch's running mean: (0.5 + 0.25) / 2.
    assert drawn.split("\r")[2].startswith("epoch 1/2 [##########] 4/4 loss 0.3750")
    bar.clear()
    assert out.getvalue().endswith("\r" + " " * len(drawn.split("\r")[2]) + "\r")


def test_the_bar_redraws_at_most_once_per_interval() -> None:
    """Within min_interval only an epoch's first step is drawn, and a new epoch resets the mean."""
    out = io.StringIO()
    now = [0.0]
    bar = ProgressBar(out, epochs=2, width=4, min_interval=1.0, clock=lambda: now[0])
    for step, loss in [(1, 1.0), (2, 3.0), (3, 5.0)]:
        bar.update(_step(1, step, loss=loss, steps=4))
    assert out.getvalue().count("\r") == 1
    now[0] = 1.0
    bar.update(_step(1, 4, loss=7.0, steps=4))
    bar.update(_step(2, 1, loss=0.5, steps=4))
    frames = out.getvalue().split("\r")[1:]
    assert [f.split("loss ")[1].strip() for f in frames] == ["1.0000", "4.0000", "0.5000"]


def test_defaults_are_30_characters_and_a_tenth_of_a_second() -> None:
    """By default the bar is 30 characters wide and redraws at most every 0.1 s."""
    out = io.StringIO()
    now = [0.0]
    bar = ProgressBar(out, epochs=1, clock=lambda: now[0])
    bar.update(_step(1, 1))
    now[0] = 0.05
    bar.update(_step(1, 2))
    now[0] = 0.1
    bar.update(_step(1, 3))
    frames = out.getvalue().split("\r")[1:]
    assert frames == [
        "epoch 1/1 [###...........................] 1/10 loss 0.5000",
        "epoch 1/1 [#########.....................] 3/10 loss 0.5000",
    ]


def test_a_first_update_mid_epoch_is_drawn_at_once() -> None:
    """A bar that starts mid-epoch (a resumed run) draws its first update immediately, and
    then waits min_interval from that draw, on any clock."""
    out = io.StringIO()
    now = [10.0]
    bar = ProgressBar(out, epochs=1, width=10, min_interval=1.0, clock=lambda: now[0])
    bar.update(_step(1, 3))
    now[0] = 10.5
    bar.update(_step(1, 4))
    assert out.getvalue().split("\r")[1:] == ["epoch 1/1 [###.......] 3/10 loss 0.5000"]


def test_a_shorter_line_is_padded_and_clear_erases_only_what_was_drawn() -> None:
    """A shorter line is padded after its end to cover the previous one; clear() erases a
    shown line once and writes nothing when no line is shown."""
    out = io.StringIO()
    bar = ProgressBar(out, epochs=2, width=10, min_interval=0.0)
    bar.clear()
    assert out.getvalue() == ""
    bar.update(_step(1, 10))
    bar.update(_step(2, 1))
    longer, shorter = out.getvalue().split("\r")[1:]
    assert shorter == "epoch 2/2 [#.........] 1/10 loss 0.5000 "
    assert len(shorter) == len(longer)
    bar.clear()
    bar.clear()
    # The erase covers the last line drawn; its padding is blank already.
    erase = " " * len(shorter.rstrip())
    assert out.getvalue().endswith(longer + "\r" + shorter + "\r" + erase + "\r")
