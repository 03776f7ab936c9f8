"""The one checkpoint format, for every model family.

A checkpoint is one self-contained file written by ``torch.save`` holding only plain types and
tensors, so it loads with ``torch.load(weights_only=True)``:

    format_version  int, bumped on incompatible changes
    family          "rnn" (more families register themselves)
    model_config    the family's config dataclass as a dict
    tokenizer       Tokenizer.to_dict() (for SentencePiece, the model bytes too)
    model_state     state_dict of the unwrapped model
    train_state     optimizer, step, RNG states, carried hidden state, best valid loss (or None)
    info            free-form facts: corpus report, valid NLL, wall time, command line

Writes go to a temporary file in the same folder, then ``os.replace``: a crash never leaves a
half-written file under the real name. A temporary file that a killed process left behind is
deleted by a later save of the same checkpoint.
"""

from __future__ import annotations

import glob
import os
import pickle
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from generator.config import ModelConfig, PianoRollConfig, Seq2SeqConfig
from generator.models import RNNGenerator
from generator.models.pianoroll import PianoRollRNN
from generator.models.seq2seq import Seq2Seq
from generator.tokenizers import Tokenizer, tokenizer_from_dict
from generator.tokenizers.piano_roll import PianoRollTokenizer  # noqa: F401 (registers its kind)
from generator.tokenizers.voice_grid import VoiceGridTokenizer  # noqa: F401 (registers its kind)

FORMAT_VERSION = 1

# family name → (model class, config class); other families add themselves with register_family
FAMILIES: dict[str, tuple[type[nn.Module], type]] = {
    "rnn": (RNNGenerator, ModelConfig),
    "pianoroll": (PianoRollRNN, PianoRollConfig),
    "seq2seq": (Seq2Seq, Seq2SeqConfig),
}


class CheckpointError(Exception):
    """A checkpoint that cannot be read; the message names the file and the problem."""


def register_family(name: str, model_class: type[nn.Module], config_class: type) -> None:
    """Make a model family loadable from checkpoints."""
    FAMILIES[name] = (model_class, config_class)


def save_checkpoint(
    path: str | Path,
    model: nn.Module,
    tokenizer: Tokenizer,
    *,
    family: str = "rnn",
    train_state: dict[str, Any] | None = None,
    info: dict[str, Any] | None = None,
) -> Path:
    """Write a checkpoint atomically (temporary file in the same folder, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    model = getattr(model, "module", model)  # unwrap DistributedDataParallel
    payload = {
        "format_version": FORMAT_VERSION,
        "family": family,
        "model_config": model.config.to_dict(),
        "tokenizer": tokenizer.to_dict(),
        "model_state": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "train_state": train_state,
        "info": info or {},
    }
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            torch.save(payload, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp_name, 0o666 & ~_umask())  # mkstemp makes 0600; use the usual permissions
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    _remove_abandoned_temporaries(path)
    return path


ABANDONED_AFTER_SECONDS = 600  # a temporary file untouched this long has no writer left


def _remove_abandoned_temporaries(path: Path) -> None:
    """Delete temporary files of ``path`` that a killed process left (kill -9 or a power cut
    between writing and renaming); one still being written changes more often than this."""
    cutoff = time.time() - ABANDONED_AFTER_SECONDS
    for temporary in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
        try:
            if temporary.stat().st_mtime < cutoff:
                temporary.unlink()
        except OSError:
            pass  # gone already, or not ours to delete


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a checkpoint's contents safely (``weights_only=True``) and check its format."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        raise CheckpointError(
            f"{path}: refused to load: the file holds objects other than tensors and plain "
            f"data, which could run code ({str(error).splitlines()[0]})"
        ) from None
    except Exception as error:  # truncated, not a torch file, ...
        raise CheckpointError(f"{path}: not a readable checkpoint ({error})") from None
    if not isinstance(payload, dict) or "format_version" not in payload:
        raise CheckpointError(f"{path}: not a checkpoint of this program (no format_version)")
    version = payload["format_version"]
    if version != FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: checkpoint format version {version}, but this program reads version "
            f"{FORMAT_VERSION}; retrain or use the matching program version"
        )
    missing = {"family", "model_config", "tokenizer", "model_state"} - set(payload)
    if missing:
        raise CheckpointError(f"{path}: checkpoint lacks {sorted(missing)}")
    if payload["family"] not in FAMILIES:
        raise CheckpointError(f"{path}: unknown model family {payload['family']!r}")
    return payload


@dataclass
class Loaded:
    """A model ready to use, with its tokenizer and what the checkpoint says about it."""

    model: nn.Module
    tokenizer: Tokenizer
    family: str
    info: dict[str, Any] = field(default_factory=dict)
    train_state: dict[str, Any] | None = None
    path: Path | None = None


def build_model(payload: dict[str, Any], path: str | Path = "checkpoint") -> nn.Module:
    """Construct the family's model from a checkpoint payload and load weights strictly."""
    model_class, config_class = FAMILIES[payload["family"]]
    try:
        model = model_class(config_class.from_dict(payload["model_config"]))
        model.load_state_dict(payload["model_state"], strict=True)
    except (RuntimeError, ValueError, TypeError) as error:
        raise CheckpointError(f"{path}: weights do not match the model config: {error}") from None
    return model


def load_checkpoint(path: str | Path, device: str | torch.device = "cpu") -> Loaded:
    """Read a checkpoint and return the model (eval mode, on ``device``) and its tokenizer."""
    payload = read_checkpoint(path)
    model = build_model(payload, path).to(device).eval()
    try:
        tokenizer = tokenizer_from_dict(payload["tokenizer"])
    except (ValueError, TypeError) as error:
        raise CheckpointError(f"{path}: bad tokenizer description: {error}") from None
    return Loaded(
        model=model,
        tokenizer=tokenizer,
        family=payload["family"],
        info=payload.get("info") or {},
        train_state=payload.get("train_state"),
        path=Path(path),
    )
