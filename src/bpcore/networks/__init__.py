"""Networks built from the layers: the book's two-layer net, nets of any depth (with batch
normalization and dropout) and a convolutional net.

All have the book's interface: ``params`` (shared with the layers, so in-place
updates train the network), ``layers``, ``last_layer``, ``predict``, ``loss``,
``accuracy``, ``gradient`` (backpropagation) and ``numerical_gradient``.
"""

from bpcore.networks._conv_net import SimpleConvNet as SimpleConvNet
from bpcore.networks._init import WeightInit as WeightInit
from bpcore.networks._multi_layer import MultiLayerNet as MultiLayerNet
from bpcore.networks._multi_layer import MultiLayerNetExtend as MultiLayerNetExtend
from bpcore.networks._two_layer import TwoLayerNet as TwoLayerNet

__all__ = ["MultiLayerNet", "MultiLayerNetExtend", "SimpleConvNet", "TwoLayerNet", "WeightInit"]
