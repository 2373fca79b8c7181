"""The book's ch07/train_convnet.py: a SimpleConvNet trained with Adam for 20 epochs.

``python examples/train_convnet.py`` trains on MNIST from bpcore's default folder (fill it
with ``bpcore download mnist``) and prints the final test accuracy; it takes a while on a
CPU. ``python examples/train_convnet.py digits EPOCHS`` trains on the 8x8 digits inside
bpcore, with 3x3 filters.
"""

import sys

from bpcore.datasets import load_digits, load_mnist
from bpcore.networks import SimpleConvNet
from bpcore.optim import Adam
from bpcore.training import Trainer

digits = sys.argv[1:2] == ["digits"]
data = load_digits(flatten=False) if digits else load_mnist(flatten=False)
(x_train, t_train), (x_test, t_test) = data
input_dim, filter_size = ((1, 8, 8), 3) if digits else ((1, 28, 28), 5)

max_epochs = int(sys.argv[2]) if len(sys.argv) > 2 else 20

network = SimpleConvNet(
    input_dim=input_dim,
    conv_param={"filter_num": 30, "filter_size": filter_size, "pad": 0, "stride": 1},
    hidden_size=100,
    output_size=10,
    weight_init_std=0.01,
)
trainer = Trainer(
    network,
    Adam(lr=0.001),
    x_train,
    t_train,
    x_test,
    t_test,
    batch_size=100,
    epochs=max_epochs,
    on_epoch=lambda stats: print(stats.epoch, stats.train_acc, stats.test_acc),
)
history = trainer.fit()
print("test acc:", history.test_acc[-1])
