"""PyTorch's side of the step benchmark, in a process of its own.

Why a separate process: NumPy's OpenBLAS and PyTorch's OpenMP each keep a pool of
threads that spin for a while after every parallel call. In one process on two
cores, alternating between them makes each wait for the other's spinning threads
(measured here: ~60 ms per alternation instead of ~0.3 ms). Setting
``OMP_WAIT_POLICY=PASSIVE`` avoids that but slows PyTorch itself, which would not be
a fair comparison. So PyTorch runs here with its default settings, and the parent
interleaves its samples with bpcore's round by round over a pipe; each side times
its own work, so the pipe's latency is not counted.

Protocol: one JSON object per line on stdin, one reply per line on stdout.

* start-up reply: ``{"ok": true, "description": ...}`` or ``{"ok": false, "error": ...}``;
* ``{"cmd": "setup", "path": npz, "threads": n}``: build ``Linear-ReLU-Linear`` from the
  arrays ``W1, b1, W2, b2, x, t`` of ``npz`` (bpcore's layout), with ``n`` threads;
* ``{"cmd": "run", "k": k}``: run ``k`` training steps, reply ``{"seconds": s}``;
* ``{"cmd": "quit"}``.
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

LR = 0.01


def _reply(message: dict[str, object]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def _build(torch: Any, arrays: dict[str, npt.NDArray[Any]]) -> Any:
    """A zero-argument training step of ``nn.Linear, ReLU, nn.Linear`` on ``cross_entropy``
    (of the book's SimpleConvNet where ``W1`` is a 4-D filter bank)."""
    if arrays["W1"].ndim == 4:
        return _build_conv_net(torch, arrays)
    nn = torch.nn
    W1, W2 = arrays["W1"], arrays["W2"]
    dtype = torch.float64 if W1.dtype == np.float64 else torch.float32
    model = nn.Sequential(
        nn.Linear(W1.shape[0], W1.shape[1]), nn.ReLU(), nn.Linear(W2.shape[0], W2.shape[1])
    ).to(dtype)
    with torch.no_grad():
        # torch stores Linear weights as (out, in): bpcore's W transposed.
        model[0].weight.copy_(torch.from_numpy(np.ascontiguousarray(W1.T)))
        model[0].bias.copy_(torch.from_numpy(arrays["b1"]))
        model[2].weight.copy_(torch.from_numpy(np.ascontiguousarray(W2.T)))
        model[2].bias.copy_(torch.from_numpy(arrays["b2"]))
    return _sgd_step(torch, model, arrays)


def _sgd_step(torch: Any, model: Any, arrays: dict[str, npt.NDArray[Any]]) -> Any:
    """A zero-argument SGD step of ``model`` on the batch ``x, t`` of ``arrays``."""
    optimizer = torch.optim.SGD(model.parameters(), lr=LR)
    x = torch.from_numpy(arrays["x"])
    t = torch.from_numpy(arrays["t"].astype(np.int64))

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        loss = torch.nn.functional.cross_entropy(model(x), t)
        loss.backward()
        optimizer.step()

    return step


def _build_conv_net(torch: Any, arrays: dict[str, npt.NDArray[Any]]) -> Any:
    """A training step of ``Conv2d, ReLU, MaxPool2d(2), Flatten, Linear, ReLU, Linear``:
    bpcore's SimpleConvNet, whose filters have torch's layout and whose pooled output
    flattens in the same (channel, row, column) order."""
    nn = torch.nn
    W1, W2, W3 = arrays["W1"], arrays["W2"], arrays["W3"]
    dtype = torch.float64 if W1.dtype == np.float64 else torch.float32
    model = nn.Sequential(
        nn.Conv2d(W1.shape[1], W1.shape[0], W1.shape[2]),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(W2.shape[0], W2.shape[1]),
        nn.ReLU(),
        nn.Linear(W3.shape[0], W3.shape[1]),
    ).to(dtype)
    with torch.no_grad():
        model[0].weight.copy_(torch.from_numpy(W1))
        model[0].bias.copy_(torch.from_numpy(arrays["b1"]))
        model[4].weight.copy_(torch.from_numpy(np.ascontiguousarray(W2.T)))
        model[4].bias.copy_(torch.from_numpy(arrays["b2"]))
        model[6].weight.copy_(torch.from_numpy(np.ascontiguousarray(W3.T)))
        model[6].bias.copy_(torch.from_numpy(arrays["b3"]))
    return _sgd_step(torch, model, arrays)


def serve() -> None:
    """The worker's loop: answer commands on stdin until ``quit`` or end of input."""
    try:
        torch = importlib.import_module("torch")
    except ImportError as error:
        _reply({"ok": False, "error": f"torch not importable ({error})"})
        return
    cuda = torch.version.cuda
    build = "CPU-only build" if cuda is None else f"built with CUDA {cuda}"
    description = (
        f"torch {torch.__version__} ({build}), CPU capability "
        f"{torch.backends.cpu.get_cpu_capability()}, in a worker process, default OpenMP settings"
    )
    _reply({"ok": True, "description": description})
    step: Any = None
    for line in sys.stdin:
        command = json.loads(line)
        if command["cmd"] == "setup":
            torch.set_num_threads(int(command["threads"]))
            with np.load(command["path"]) as data:
                arrays = {name: data[name] for name in data.files}
            step = _build(torch, arrays)
            step()
            gc.collect()
            _reply({"ok": True, "threads": torch.get_num_threads()})
        elif command["cmd"] == "run":
            k = int(command["k"])
            # No gc.collect() here: with torch loaded one takes ~0.1 s, per sample.
            gc.disable()
            step()  # untimed: the sample measures back-to-back steps, as bpcore's do
            start = time.perf_counter()
            for _ in range(k):
                step()
            seconds = time.perf_counter() - start
            gc.enable()
            _reply({"seconds": seconds})
        else:
            return


class TorchWorker:
    """The parent's handle on a worker process (started by :meth:`start`)."""

    def __init__(self) -> None:
        self._process: subprocess.Popen[str] | None = None
        self.description = "torch not importable"

    def start(self) -> bool:
        """Start the worker; ``False`` (and a reason in ``description``) without torch."""
        self._process = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve())],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        hello = self._receive()
        if not hello.get("ok"):
            self.description = str(hello.get("error", "torch not importable"))
            self.close()
            return False
        self.description = str(hello["description"])
        return True

    def _send(self, message: dict[str, object]) -> None:
        assert self._process is not None
        assert self._process.stdin is not None
        self._process.stdin.write(json.dumps(message) + "\n")
        self._process.stdin.flush()

    def _receive(self) -> dict[str, object]:
        assert self._process is not None
        assert self._process.stdout is not None
        line = self._process.stdout.readline()
        if not line:
            raise RuntimeError("the torch worker exited unexpectedly")
        reply: dict[str, object] = json.loads(line)
        return reply

    def setup(self, path: Path, threads: int) -> int:
        """Load the arrays of ``path`` into a fresh model; return torch's thread count."""
        self._send({"cmd": "setup", "path": str(path), "threads": threads})
        reply = self._receive()
        threads_used = reply.get("threads")
        return threads_used if isinstance(threads_used, int) else -1

    def timed(self, k: int) -> float:
        """Run ``k`` steps in the worker and return the seconds it measured."""
        self._send({"cmd": "run", "k": k})
        seconds = self._receive()["seconds"]
        assert isinstance(seconds, float)
        return seconds

    def close(self) -> None:
        if self._process is None:
            return
        if self._process.poll() is None:
            with contextlib.suppress(OSError):  # BrokenPipeError: it has already gone
                self._send({"cmd": "quit"})
        self._process.wait(timeout=30)
        self._process = None


if __name__ == "__main__":
    serve()
