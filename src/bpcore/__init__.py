"""bpcore: the backpropagation chapter of *Deep Learning from Scratch*, done properly and proven.

The top-level names follow the book: layers with ``forward``/``backward``
(:class:`Relu`, :class:`Sigmoid`, :class:`Tanh`, :class:`Affine`, :class:`SoftmaxWithLoss`,
:class:`MulLayer`, :class:`AddLayer`; from chapters 6 and 7 :class:`BatchNormalization`,
:class:`Dropout`, :class:`Convolution` and :class:`Pooling`) and the functions of
:mod:`bpcore.functional`.
"""

from bpcore.errors import ArgumentError as ArgumentError
from bpcore.errors import ArgumentTypeError as ArgumentTypeError
from bpcore.errors import BpcoreError as BpcoreError
from bpcore.errors import CheckpointError as CheckpointError
from bpcore.errors import DatasetError as DatasetError
from bpcore.errors import DomainError as DomainError
from bpcore.errors import DtypeError as DtypeError
from bpcore.errors import NotForwardedError as NotForwardedError
from bpcore.errors import ShapeError as ShapeError
from bpcore.errors import TargetError as TargetError
from bpcore.errors import UnusableGradient as UnusableGradient
from bpcore.functional import col2im as col2im
from bpcore.functional import cross_entropy_error as cross_entropy_error
from bpcore.functional import im2col as im2col
from bpcore.functional import log_softmax as log_softmax
from bpcore.functional import relu as relu
from bpcore.functional import sigmoid as sigmoid
from bpcore.functional import softmax as softmax
from bpcore.functional import tanh as tanh
from bpcore.layers import AddLayer as AddLayer
from bpcore.layers import Affine as Affine
from bpcore.layers import BatchNormalization as BatchNormalization
from bpcore.layers import Convolution as Convolution
from bpcore.layers import Dropout as Dropout
from bpcore.layers import MulLayer as MulLayer
from bpcore.layers import Pooling as Pooling
from bpcore.layers import Relu as Relu
from bpcore.layers import Sigmoid as Sigmoid
from bpcore.layers import SoftmaxWithLoss as SoftmaxWithLoss
from bpcore.layers import Tanh as Tanh
from bpcore.networks import MultiLayerNet as MultiLayerNet
from bpcore.networks import TwoLayerNet as TwoLayerNet

__version__ = "0.1.0"

__all__ = [
    "AddLayer",
    "Affine",
    "ArgumentError",
    "ArgumentTypeError",
    "BatchNormalization",
    "BpcoreError",
    "CheckpointError",
    "Convolution",
    "DatasetError",
    "DomainError",
    "Dropout",
    "DtypeError",
    "MulLayer",
    "MultiLayerNet",
    "NotForwardedError",
    "Pooling",
    "Relu",
    "ShapeError",
    "Sigmoid",
    "SoftmaxWithLoss",
    "Tanh",
    "TargetError",
    "TwoLayerNet",
    "UnusableGradient",
    "col2im",
    "cross_entropy_error",
    "im2col",
    "log_softmax",
    "relu",
    "sigmoid",
    "softmax",
    "tanh",
]
