"""The book's ch05/gradient_check.py: backpropagation against numerical gradients of a
TwoLayerNet, as the mean absolute difference per parameter.

``python examples/gradient_check.py`` reads MNIST from bpcore's default folder (fill it
with ``bpcore download mnist``); ``python examples/gradient_check.py digits`` uses the
8x8 digits inside bpcore.
"""

import sys

import numpy as np

from bpcore import TwoLayerNet
from bpcore.datasets import load_digits, load_mnist

data = (
    load_digits(one_hot_label=True)
    if sys.argv[1:2] == ["digits"]
    else load_mnist(normalize=True, one_hot_label=True)
)
(x_train, t_train), _ = data

network = TwoLayerNet(input_size=x_train.shape[1], hidden_size=50, output_size=10)

x_batch = x_train[:3]
t_batch = t_train[:3]

grad_numerical = network.numerical_gradient(x_batch, t_batch)
grad_backprop = network.gradient(x_batch, t_batch)

for key in grad_numerical:
    diff = np.average(np.abs(grad_backprop[key] - grad_numerical[key]))
    print(key + ":" + str(diff))
