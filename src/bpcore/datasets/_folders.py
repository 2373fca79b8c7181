"""Where bpcore keeps downloaded datasets unless it is given a folder."""

from __future__ import annotations

import os
from pathlib import Path

DATA_DIR_VARIABLE = "BPCORE_DATA_DIR"
"""The environment variable naming the folder that holds bpcore's datasets."""


def default_data_dir(dataset: str) -> Path:
    """The folder of ``dataset`` (``"mnist"``) when none is given.

    ``$BPCORE_DATA_DIR/<dataset>`` if that variable is set and not empty, else
    ``$XDG_CACHE_HOME/bpcore/<dataset>``, else ``~/.cache/bpcore/<dataset>``. Nothing is
    created or read here.
    """
    root = os.environ.get(DATA_DIR_VARIABLE)
    if root:
        return Path(root).expanduser() / dataset
    cache = os.environ.get("XDG_CACHE_HOME")
    base = Path(cache).expanduser() if cache else Path.home() / ".cache"
    return base / "bpcore" / dataset
