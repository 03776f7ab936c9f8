"""Recurrent networks (tanh RNN, LSTM, GRU) that learn and generate music and text.

The one road for every model family is generator.api (load, train, generate, evaluate); the
names below are the token RNN's, kept for existing callers:

    load_checkpoint(path)            → Loaded(model, tokenizer, info)
    load_midi_corpus(folder)         → TokenCorpus (with a report of skipped files)
    train(model_config, train_config, corpus, out)
    generate_music(loaded, MusicRequest(...)) → pieces of notes; write_pieces(...)
"""

from generator.checkpoint import CheckpointError, Loaded, load_checkpoint, save_checkpoint
from generator.config import ModelConfig, TrainConfig
from generator.data.midi_corpus import load_midi_corpus
from generator.sampling import SamplingOptions
from generator.sampling.music import MusicRequest, generate_music, write_pieces
from generator.training import train

__all__ = [
    "CheckpointError",
    "Loaded",
    "ModelConfig",
    "MusicRequest",
    "SamplingOptions",
    "TrainConfig",
    "generate_music",
    "load_checkpoint",
    "load_midi_corpus",
    "save_checkpoint",
    "train",
    "write_pieces",
]
