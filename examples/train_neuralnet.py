"""The book's ch05/train_neuralnet.py: a TwoLayerNet trained by SGD on mini-batches,
printing the train and test accuracy once per epoch.

``python examples/train_neuralnet.py`` trains on MNIST from bpcore's default folder (fill
it with ``bpcore download mnist``) for the book's 10,000 iterations;
``python examples/train_neuralnet.py digits`` on the 8x8 digits inside bpcore.
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
(x_train, t_train), (x_test, t_test) = data

network = TwoLayerNet(input_size=x_train.shape[1], hidden_size=50, output_size=10)

iters_num = int(sys.argv[2]) if len(sys.argv) > 2 else 10000
train_size = x_train.shape[0]
batch_size = 100
learning_rate = 0.1

train_loss_list = []
train_acc_list = []
test_acc_list = []

iter_per_epoch = max(train_size // batch_size, 1)

for i in range(iters_num):
    batch_mask = np.random.choice(train_size, batch_size)
    x_batch = x_train[batch_mask]
    t_batch = t_train[batch_mask]

    grad = network.gradient(x_batch, t_batch)

    for key in ("W1", "b1", "W2", "b2"):
        network.params[key] -= learning_rate * grad[key]

    loss = network.loss(x_batch, t_batch)
    train_loss_list.append(loss)

    if i % iter_per_epoch == 0:
        train_acc = network.accuracy(x_train, t_train)
        test_acc = network.accuracy(x_test, t_test)
        train_acc_list.append(train_acc)
        test_acc_list.append(test_acc)
        print(train_acc, test_acc)
