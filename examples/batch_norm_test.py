"""The book's ch06/batch_norm_test.py: the same deep network trained with and without
batch normalization, on 1,000 training images, printing both networks' training (and,
beyond the book, test) accuracy per epoch; batch normalization learns faster.

``python examples/batch_norm_test.py`` uses MNIST from bpcore's default folder (fill it
with ``bpcore download mnist``); ``python examples/batch_norm_test.py digits`` the 8x8
digits inside bpcore. A third argument, a PNG path, also draws the two curves (with
matplotlib).
"""

import sys

import numpy as np

from bpcore.datasets import load_digits, load_mnist
from bpcore.networks import MultiLayerNetExtend
from bpcore.optim import SGD

data = load_digits() if sys.argv[1:2] == ["digits"] else load_mnist(normalize=True)
(x_train, t_train), (x_test, t_test) = data
x_train = x_train[:1000]
t_train = t_train[:1000]

max_epochs = 20
train_size = x_train.shape[0]
batch_size = 100
learning_rate = 0.01
rng = np.random.default_rng(0)


def train(weight_init_std: float) -> tuple[list[float], list[float], list[float], list[float]]:
    bn_network = MultiLayerNetExtend(
        input_size=x_train.shape[1],
        hidden_size_list=[100, 100, 100, 100, 100],
        output_size=10,
        weight_init_std=weight_init_std,
        use_batchnorm=True,
        rng=1,
    )
    network = MultiLayerNetExtend(
        input_size=x_train.shape[1],
        hidden_size_list=[100, 100, 100, 100, 100],
        output_size=10,
        weight_init_std=weight_init_std,
        rng=1,
    )
    optimizer = SGD(lr=learning_rate)

    train_acc_list: list[float] = []
    bn_train_acc_list: list[float] = []
    test_acc_list: list[float] = []
    bn_test_acc_list: list[float] = []

    iter_per_epoch = max(train_size // batch_size, 1)
    epoch_cnt = 0

    for i in range(1000000000):
        batch_mask = rng.choice(train_size, batch_size)
        x_batch = x_train[batch_mask]
        t_batch = t_train[batch_mask]

        for _network in (bn_network, network):
            grads = _network.gradient(x_batch, t_batch)
            optimizer.update(_network.params, grads)

        if i % iter_per_epoch == 0:
            train_acc = network.accuracy(x_train, t_train)
            bn_train_acc = bn_network.accuracy(x_train, t_train)
            train_acc_list.append(train_acc)
            bn_train_acc_list.append(bn_train_acc)
            test_acc_list.append(network.accuracy(x_test, t_test))
            bn_test_acc_list.append(bn_network.accuracy(x_test, t_test))
            print(
                f"epoch:{epoch_cnt} | {train_acc} - {bn_train_acc} | test "
                f"{test_acc_list[-1]} - {bn_test_acc_list[-1]}"
            )
            epoch_cnt += 1
            if epoch_cnt >= max_epochs:
                break

    return train_acc_list, bn_train_acc_list, test_acc_list, bn_test_acc_list


train_acc_list, bn_train_acc_list, test_acc_list, bn_test_acc_list = train(0.05)

if len(sys.argv) > 2:
    import importlib

    figure = importlib.import_module("matplotlib.figure").Figure(figsize=(10, 4))
    for axes, kind, normal, bn in zip(
        figure.subplots(1, 2),
        ("train", "test"),
        (train_acc_list, test_acc_list),
        (bn_train_acc_list, bn_test_acc_list),
        strict=True,
    ):
        axes.plot(range(max_epochs), bn, label="Batch Normalization", marker="o")
        axes.plot(range(max_epochs), normal, label="Normal (without BatchNorm)", marker="s")
        axes.set(xlabel="epochs", ylabel=f"{kind} accuracy", ylim=(0, 1.0))
        axes.legend(loc="lower right")
    figure.savefig(sys.argv[2])
