"""The layers, each with ``forward`` and ``backward`` in the book's call shapes."""

from bpcore.layers._affine import Affine as Affine
from bpcore.layers._batch_norm import BatchNormalization as BatchNormalization
from bpcore.layers._convolution import Convolution as Convolution
from bpcore.layers._dropout import Dropout as Dropout
from bpcore.layers._graph import AddLayer as AddLayer
from bpcore.layers._graph import MulLayer as MulLayer
from bpcore.layers._loss import SoftmaxWithLoss as SoftmaxWithLoss
from bpcore.layers._pooling import Pooling as Pooling
from bpcore.layers._relu import Relu as Relu
from bpcore.layers._sigmoid import Sigmoid as Sigmoid
from bpcore.layers._tanh import Tanh as Tanh

__all__ = [
    "AddLayer",
    "Affine",
    "BatchNormalization",
    "Convolution",
    "Dropout",
    "MulLayer",
    "Pooling",
    "Relu",
    "Sigmoid",
    "SoftmaxWithLoss",
    "Tanh",
]
