"""The optimizers of the book's chapter 6: SGD, Momentum, AdaGrad and Adam.

Each has ``update(params, grads)``, which changes the arrays in ``params`` in
place (so layers sharing them see the step) and never writes to ``grads``.
"""

from bpcore.optim._adagrad import AdaGrad as AdaGrad
from bpcore.optim._adam import Adam as Adam
from bpcore.optim._base import Optimizer as Optimizer
from bpcore.optim._base import StatefulOptimizer as StatefulOptimizer
from bpcore.optim._momentum import Momentum as Momentum
from bpcore.optim._sgd import SGD as SGD

__all__ = ["SGD", "AdaGrad", "Adam", "Momentum", "Optimizer", "StatefulOptimizer"]
