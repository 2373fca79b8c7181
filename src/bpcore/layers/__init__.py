"""The layers, each with ``forward`` and ``backward`` in the book's call shapes."""

from bpcore.layers._affine import Affine as Affine
from bpcore.layers._graph import AddLayer as AddLayer
from bpcore.layers._graph import MulLayer as MulLayer
from bpcore.layers._loss import SoftmaxWithLoss as SoftmaxWithLoss
from bpcore.layers._relu import Relu as Relu
from bpcore.layers._sigmoid import Sigmoid as Sigmoid
from bpcore.layers._tanh import Tanh as Tanh

__all__ = ["AddLayer", "Affine", "MulLayer", "Relu", "Sigmoid", "SoftmaxWithLoss", "Tanh"]
