"""The one trainer, shared by every model family that predicts the next token."""

from generator.training.trainer import TrainingStopped, TrainResult, evaluate, train, unigram_nll

__all__ = ["TrainResult", "TrainingStopped", "evaluate", "train", "unigram_nll"]
