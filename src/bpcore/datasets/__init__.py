"""Datasets for training and testing bpcore networks, returned the way the book returns them.

* :func:`load_digits`: 1,797 8x8 handwritten digits that ship inside bpcore, so
  they load with no network access.
* :func:`load_mnist`: MNIST read from its IDX files in a folder, which
  :func:`download_mnist` fills (SHA-256 checked, resumable); both default to
  :func:`default_data_dir` ``("mnist")``.
* :func:`read_idx` and :func:`write_idx`: the IDX file format itself.

Each loader returns ``((x_train, t_train), (x_test, t_test))``.
"""

from bpcore.datasets._digits import load_digits as load_digits
from bpcore.datasets._download import DEADLINE_SECONDS as DEADLINE_SECONDS
from bpcore.datasets._download import DEFAULT_MIRROR as DEFAULT_MIRROR
from bpcore.datasets._download import MNIST_FILES as MNIST_FILES
from bpcore.datasets._download import FileSpec as FileSpec
from bpcore.datasets._download import HttpResponse as HttpResponse
from bpcore.datasets._download import Opener as Opener
from bpcore.datasets._download import download_mnist as download_mnist
from bpcore.datasets._folders import DATA_DIR_VARIABLE as DATA_DIR_VARIABLE
from bpcore.datasets._folders import default_data_dir as default_data_dir
from bpcore.datasets._format import LabelArray as LabelArray
from bpcore.datasets._format import TargetArray as TargetArray
from bpcore.datasets._idx import IdxArray as IdxArray
from bpcore.datasets._idx import read_idx as read_idx
from bpcore.datasets._idx import write_idx as write_idx
from bpcore.datasets._mnist import MNIST_FILE_NAMES as MNIST_FILE_NAMES
from bpcore.datasets._mnist import MnistImages as MnistImages
from bpcore.datasets._mnist import load_mnist as load_mnist

__all__ = [
    "DATA_DIR_VARIABLE",
    "DEADLINE_SECONDS",
    "DEFAULT_MIRROR",
    "MNIST_FILES",
    "MNIST_FILE_NAMES",
    "FileSpec",
    "HttpResponse",
    "IdxArray",
    "LabelArray",
    "MnistImages",
    "Opener",
    "TargetArray",
    "default_data_dir",
    "download_mnist",
    "load_digits",
    "load_mnist",
    "read_idx",
    "write_idx",
]
