"""Model families. Models know tensors and configs only: no files, tokenizers or CLI."""

from generator.models.rnn import RNNGenerator, State

__all__ = ["RNNGenerator", "State"]
