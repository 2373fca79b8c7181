"""The layers of the backpropagation chapter, each with ``forward`` and ``backward``."""

from bpcore.layers._activation import Relu as Relu
from bpcore.layers._activation import Sigmoid as Sigmoid
from bpcore.layers._affine import Affine as Affine
from bpcore.layers._graph import AddLayer as AddLayer
from bpcore.layers._graph import MulLayer as MulLayer
from bpcore.layers._loss import SoftmaxWithLoss as SoftmaxWithLoss

__all__ = ["AddLayer", "Affine", "MulLayer", "Relu", "Sigmoid", "SoftmaxWithLoss"]
