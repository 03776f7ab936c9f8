"""Configuration dataclasses: one for the model, one for training. CLI flags map onto fields."""

from __future__ import annotations

import inspect
import re
from dataclasses import asdict, dataclass, fields
from functools import cache
from pathlib import Path
from typing import Any

from generator.validation import check_train_fields

CELLS = ("rnn", "lstm", "gru")
# Where things are. The shipped models are package data: generator/checkpoints/ in a checkout
# and in an installed wheel alike; the CLI's sample commands and the app default to them.
# PROJECT_DIR is the checkout (the folder with pyproject.toml beside generator/) when the
# package runs from one, else the current folder: the app writes under PROJECT_DIR/runs/app
# and reads built data from PROJECT_DIR/datasets.
PACKAGE_DIR = Path(__file__).resolve().parent
SHIPPED_DIR = PACKAGE_DIR / "checkpoints"
_CHECKOUT = PACKAGE_DIR.parent
PROJECT_DIR = _CHECKOUT if (_CHECKOUT / "pyproject.toml").is_file() else Path.cwd()
APP_DIR_ENV = "RNN_GENERATOR_APP_DIR"  # where the app writes (default: PROJECT_DIR/runs/app)
CHECKPOINTS_ENV = "RNN_GENERATOR_CHECKPOINTS"  # more checkpoints for the app, os.pathsep


@dataclass
class ModelConfig:
    """Shape of an RNN generator. ``vocab_size`` and the conditioning sizes come from the data."""

    vocab_size: int = 0  # ids in the tokenizer's vocabulary (set by the data)
    cell: str = "lstm"  # recurrent cell: rnn (tanh), lstm or gru
    embedding_size: int = 128  # size of token embeddings and of the conditioning vector
    hidden_size: int = 512  # units per recurrent layer
    num_layers: int = 2  # stacked recurrent layers
    dropout: float = 0.1  # dropout between layers (and on embeddings and outputs with io_dropout)
    io_dropout: bool = True  # also drop out the input embeddings and the recurrent output
    tie_weights: bool = False  # share input embedding and output weights (needs a projection)
    num_styles: int = 0  # style labels the first step can be conditioned on (0 = none)
    num_seed_tokens: int = 0  # first notes the first step can be conditioned on (128 for MIDI)

    def __post_init__(self) -> None:
        if self.cell not in CELLS:
            raise ValueError(f"cell must be one of {', '.join(CELLS)}, got {self.cell!r}")
        for name in ("embedding_size", "hidden_size", "num_layers"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        return cls(**_known_fields(cls, data))


# ``train music --size``: model shapes named for what they cost. Measured tokens/s: LSTM,
# batch 32 x 128, one thread of the project's shared 2-core CPU (BENCHMARKS.md, "Model size
# presets", gives the command and the load); a GPU runs large at many times that.
MODEL_SIZES: dict[str, dict[str, int]] = {
    "small": {"embedding_size": 64, "hidden_size": 128, "num_layers": 2},
    "medium": {"embedding_size": 128, "hidden_size": 256, "num_layers": 2},  # the shipped model
    "large": {"embedding_size": 128, "hidden_size": 512, "num_layers": 2},
}
# tokens/s of each, 60-step runs on the built corpus at load average 7.4-12.2 (one thread)
MODEL_SIZE_SPEEDS = {"small": 11_000, "medium": 3_100, "large": 730}
MODEL_SIZE_LOAD = "7-12"  # the load average those runs shared the CPU with


def model_size_help() -> str:
    """--size's help: each preset's shape and measured speed."""
    shapes = "; ".join(
        f"{name}: {s['num_layers']}x{s['hidden_size']}, ~{MODEL_SIZE_SPEEDS[name]:,} tokens/s"
        for name, s in MODEL_SIZES.items()
    )
    return (
        f"model shape by cost ({shapes}; LSTM, batch 32x128, measured on one thread of a "
        f"2-core CPU shared at load average {MODEL_SIZE_LOAD}: a quiet CPU is faster, a GPU "
        "far faster). --hidden-size, --layers and --embedding-size given beside it win"
    )


def apply_model_size(values: dict[str, Any], size: str) -> dict[str, Any]:
    """``values`` (ModelConfig fields, None where the user gave none) with the gaps filled
    from MODEL_SIZES[size]."""
    if size not in MODEL_SIZES:
        raise ValueError(f"size must be one of {', '.join(MODEL_SIZES)}, got {size!r}")
    preset = MODEL_SIZES[size]
    return {**values, **{k: v for k, v in preset.items() if values.get(k) is None}}


@dataclass
class PianoRollConfig:
    """Shape of a piano-roll model: an RNN over 88-key frames with a per-frame output head."""

    num_keys: int = 88  # units per frame (set by the data: 88 piano keys, MIDI 21-108)
    cell: str = "lstm"  # recurrent cell: rnn (tanh), lstm or gru
    hidden_size: int = 256  # units per recurrent layer
    num_layers: int = 1  # stacked recurrent layers
    dropout: float = 0.3  # dropout between layers and on the recurrent output
    input_dropout: float = 0.0  # dropout on the keys of the input frame
    head: str = "sigmoid"  # sigmoid (keys independent given the past) or nade (autoregressive)
    nade_hidden: int = 128  # hidden units of the NADE head (ignored by the sigmoid head)
    pitch_span: int = 0  # previous frame → key logits by a convolution over ±N semitones (0 = off)
    pitch_channels: int = 0  # kernels of that convolution, mixed by the state (0 = one, fixed)

    def __post_init__(self) -> None:
        if self.cell not in CELLS:
            raise ValueError(f"cell must be one of {', '.join(CELLS)}, got {self.cell!r}")
        if self.head not in PIANO_ROLL_HEADS:
            raise ValueError(f"head must be sigmoid or nade, got {self.head!r}")
        for name in ("pitch_span", "pitch_channels"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be 0 or more, got {getattr(self, name)}")
        for name in ("num_keys", "hidden_size", "num_layers", "nade_hidden"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        for name in ("dropout", "input_dropout"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"{name} must be in [0, 1), got {getattr(self, name)}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PianoRollConfig:
        return cls(**_known_fields(cls, data))


PIANO_ROLL_HEADS = ("sigmoid", "nade")


@dataclass
class Seq2SeqConfig:
    """Shape of an encoder-decoder: RNN encoder (optionally bidirectional), attention decoder."""

    vocab_size: int = 0  # ids shared by sources and targets (set by the data)
    cell: str = "lstm"  # recurrent cell of encoder and decoder: rnn (tanh), lstm or gru
    embedding_size: int = 64  # size of the source and the target token embeddings
    hidden_size: int = 256  # units per recurrent layer (encoder: per direction) and of attention
    num_layers: int = 1  # stacked recurrent layers, in the encoder and in the decoder
    bidirectional: bool = True  # encoder reads both ways; the two states are projected to one
    attention: str = "additive"  # additive (Bahdanau), general or dot (Luong), none (final state)
    dropout: float = 0.1  # dropout on embeddings, between layers and before the output layer
    teacher_forcing: float = 1.0  # training: chance of feeding the true previous token, else argmax
    positions: int = 0  # learned position embeddings up to this index (0 = none; later: the last)
    aligned_voices: int = 0  # N > 0: target token i also reads source token i // N (0 = off)
    attention_window: int = 0  # K > 0 (with aligned_voices): learned score bias per offset ±K
    aligned_read: str = "embedding"  # aligned input: the source embedding, or the encoder state
    attention_prior: float = 0.0  # the window's bias starts at −prior × |offset| (looks near "now")
    attention_summary: bool = False  # with attention, the decoder also reads the encoder's summary
    encoder_residual: bool = False  # each encoder state also gets its own token's embedding

    def __post_init__(self) -> None:
        if self.cell not in CELLS:
            raise ValueError(f"cell must be one of {', '.join(CELLS)}, got {self.cell!r}")
        if self.attention not in ATTENTION_KINDS:
            kinds = ", ".join(ATTENTION_KINDS)
            raise ValueError(f"attention must be one of {kinds}, got {self.attention!r}")
        for name in ("embedding_size", "hidden_size", "num_layers"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if not 0.0 <= self.teacher_forcing <= 1.0:
            raise ValueError(f"teacher_forcing must be in [0, 1], got {self.teacher_forcing}")
        if self.positions < 0:
            raise ValueError(f"positions must be 0 (none) or more, got {self.positions}")
        if self.aligned_voices < 0:
            raise ValueError(f"aligned_voices must be 0 (off) or more, got {self.aligned_voices}")
        if self.aligned_read not in ALIGNED_READS:
            reads = ", ".join(ALIGNED_READS)
            raise ValueError(f"aligned_read must be one of {reads}, got {self.aligned_read!r}")
        if self.attention_prior < 0 or (self.attention_prior and not self.attention_window):
            raise ValueError(
                f"attention_prior must be 0 or more, and needs attention_window; "
                f"got {self.attention_prior} with attention_window {self.attention_window}"
            )
        if self.attention_window < 0 or (self.attention_window and not self.aligned_voices):
            raise ValueError(
                f"attention_window must be 0 (off) or more, and needs aligned_voices; "
                f"got {self.attention_window} with aligned_voices {self.aligned_voices}"
            )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Seq2SeqConfig:
        return cls(**_known_fields(cls, data))


ATTENTION_KINDS = ("additive", "general", "dot", "none")
ALIGNED_READS = ("embedding", "encoder")


@dataclass
class TrainConfig:
    """How to train: batching, truncated BPTT, optimizer, schedule, stopping and bookkeeping."""

    batch_size: int = 32  # pieces trained side by side (lanes)
    seq_len: int = 128  # truncated-BPTT window in tokens; state is carried across windows
    optimizer: str = "adam"  # adam or sgd
    lr: float = 2e-3  # peak learning rate
    momentum: float = 0.9  # SGD momentum (ignored by Adam)
    weight_decay: float = 0.0  # L2 penalty
    schedule: str = "cosine"  # cosine (after warmup, down to 10%), constant, or plateau
    warmup_steps: int = 100  # linear warmup from 0 to lr
    clip_norm: float = 1.0  # clip the global gradient norm to this (0 disables clipping)
    max_steps: int = 5000  # optimizer steps in the whole run
    max_minutes: float = 0.0  # stop after N minutes (0 = none); the bar, ETA and LR follow it
    eval_every: int = 250  # validate (and maybe save the best model) every N steps
    eval_batches: int = 0  # validation windows to use (0 = the whole validation set)
    patience: int = 0  # stop after N validations without improvement (0 = never)
    save_every: int = 500  # write the resumable checkpoint every N steps
    log_every: int = 50  # print loss, gradient norm and speed every N steps
    max_bad_steps: int = 10  # stop after this many NaN/Inf steps in a row
    seed: int = 0  # seeds weights, dropout, shuffling and augmentation
    transpose: int = 0  # random transposition of each piece by up to ±N semitones (MIDI)
    style_dropout: float = 0.2  # chance of hiding a piece's style/first note during training
    device: str = "auto"  # auto, cpu, cuda, cuda:1 or mps
    amp: str = "off"  # mixed precision on CUDA: off, bf16 or fp16

    def __post_init__(self) -> None:
        if self.optimizer not in ("adam", "sgd"):
            raise ValueError(f"optimizer must be adam or sgd, got {self.optimizer!r}")
        if self.schedule not in ("cosine", "constant", "plateau"):
            raise ValueError(f"schedule must be cosine, constant or plateau, got {self.schedule!r}")
        for name in ("batch_size", "seq_len", "max_steps", "eval_every", "save_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.amp not in ("off", "bf16", "fp16"):
            raise ValueError(f"amp must be off, bf16 or fp16, got {self.amp!r}")
        check_train_fields(asdict(self))  # ranges of every number: generator/validation.py

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        return cls(**_known_fields(cls, data))


def _known_fields(cls: type, data: dict[str, Any]) -> dict[str, Any]:
    names = {f.name for f in fields(cls)}
    unknown = set(data) - names
    if unknown:
        raise ValueError(f"unknown {cls.__name__} fields: {sorted(unknown)}")
    return dict(data)


@cache
def field_help(cls: type) -> dict[str, str]:
    """Each field's trailing comment in the class source: the one place its meaning is written."""
    pattern = re.compile(r"^\s+(\w+): [^=]+=.*?#\s*(.+)$")
    return {
        m.group(1): m.group(2).strip()
        for line in inspect.getsource(cls).splitlines()
        if (m := pattern.match(line))
    }
