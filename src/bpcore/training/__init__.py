"""Training a bpcore network on mini-batches, with checkpoints, resume and a clean Ctrl-C.

:class:`Trainer` runs the book's training loop (chapter 4's ``train_neuralnet.py``
with chapter 5's backpropagation and chapter 6's optimizers): shuffled
mini-batches that cover every sample once per epoch, train and test accuracy and
test loss after every epoch, an optional learning-rate schedule (:class:`StepDecay`),
a checkpoint after every epoch, and :class:`TrainingDiverged`
as soon as the loss stops being finite. :class:`TrainingState` is what a
checkpoint records of the run.
"""

from bpcore.training._errors import TrainingDiverged as TrainingDiverged
from bpcore.training._history import EpochStats as EpochStats
from bpcore.training._history import History as History
from bpcore.training._history import StepInfo as StepInfo
from bpcore.training._network import LossHolder as LossHolder
from bpcore.training._network import TrainableNetwork as TrainableNetwork
from bpcore.training._progress import ProgressBar as ProgressBar
from bpcore.training._schedule import LrSchedule as LrSchedule
from bpcore.training._schedule import StepDecay as StepDecay
from bpcore.training._state import CHECKPOINT_FORMAT as CHECKPOINT_FORMAT
from bpcore.training._state import TrainingState as TrainingState
from bpcore.training._trainer import EVAL_BATCH_SIZE as EVAL_BATCH_SIZE
from bpcore.training._trainer import OnEpoch as OnEpoch
from bpcore.training._trainer import OnStep as OnStep
from bpcore.training._trainer import Trainer as Trainer

__all__ = [
    "CHECKPOINT_FORMAT",
    "EVAL_BATCH_SIZE",
    "EpochStats",
    "History",
    "LossHolder",
    "LrSchedule",
    "OnEpoch",
    "OnStep",
    "ProgressBar",
    "StepDecay",
    "StepInfo",
    "TrainableNetwork",
    "Trainer",
    "TrainingDiverged",
    "TrainingState",
]
