"""The one trainer, shared by every model family; a Task supplies what differs."""

from generator.training.tasks import TEXT_TASK, TOKEN_TASK, Corpus, Task, TokenTask, unigram_nll
from generator.training.trainer import TrainingStopped, TrainResult, evaluate, train

__all__ = [
    "TEXT_TASK",
    "TOKEN_TASK",
    "Corpus",
    "Task",
    "TokenTask",
    "TrainResult",
    "TrainingStopped",
    "evaluate",
    "train",
    "unigram_nll",
]
