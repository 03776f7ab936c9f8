"""The one trainer, shared by every model family; a Task supplies what differs."""

from generator.training.tasks import TOKEN_TASK, TokenTask, unigram_nll
from generator.training.trainer import TrainingStopped, TrainResult, evaluate, train

__all__ = [
    "TOKEN_TASK",
    "TokenTask",
    "TrainResult",
    "TrainingStopped",
    "evaluate",
    "train",
    "unigram_nll",
]
