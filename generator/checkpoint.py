"""The one checkpoint format, for every model family.

A checkpoint is one self-contained file written by ``torch.save`` holding only plain types and
tensors, so it loads with ``torch.load(weights_only=True)``:

    format_version  int, bumped on incompatible changes
    family          the model family's name ("rnn", "pianoroll", "seq2seq"): the registry in
                    generator/families/ gives its model and config classes
    model_config    the family's config dataclass as a dict
    tokenizer       Tokenizer.to_dict() (for SentencePiece, the model bytes too)
    model_state     state_dict of the unwrapped model
    train_state     optimizer, step, RNG states, carried hidden state, best valid loss (or None)
    info            free-form facts: corpus report, valid NLL, wall time, command line

Writes go to a temporary file in the same folder, then a rename (generator/atomic.py): a crash
never leaves a half-written file under the real name. A temporary file that a killed process
left behind is deleted by a later save of the same checkpoint.
"""

from __future__ import annotations

import pickle
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from generator.atomic import ABANDONED_AFTER_SECONDS as ABANDONED_AFTER_SECONDS
from generator.atomic import atomic_write, remove_abandoned_temporaries
from generator.families import family_of, get_family
from generator.tokenizers import Tokenizer, tokenizer_from_dict

FORMAT_VERSION = 1

# Caps checked before anything a checkpoint describes is allocated: a crafted file must be
# refused with a message, not exhaust memory or time.
MAX_CHECKPOINT_BYTES = 1_000_000_000  # the file's contents, uncompressed (torch never compresses)
MAX_PARAMETERS = 100_000_000  # the model the stored config describes
MAX_TOKENIZER_ITEMS = 100_000  # alphabet characters, styles, voices
MAX_SENTENCEPIECE_BYTES = 50_000_000
TOKENIZER_CAPS = {  # stored tokenizer numbers: (least, most)
    "steps_per_beat": (1, 96),
    "frames_per_beat": (1, 96),
    "velocity_bins": (1, 128),
    "max_shift": (1, 10_000),
    "max_duration": (1, 10_000),
    "num_keys": (1, 128),
    "lowest_pitch": (0, 127),
    "segment_beats": (1, 1_024),
}
PAYLOAD_TYPES = {  # top-level entries and the types they must have (None: may be missing)
    "family": (str,),
    "model_config": (dict,),
    "tokenizer": (dict,),
    "model_state": (dict,),
    "train_state": (dict, type(None)),
    "info": (dict, type(None)),
}


class CheckpointError(Exception):
    """A checkpoint that cannot be read; the message names the file and the problem."""


def save_checkpoint(
    path: str | Path,
    model: nn.Module,
    tokenizer: Tokenizer,
    *,
    family: str | None = None,
    train_state: dict[str, Any] | None = None,
    info: dict[str, Any] | None = None,
) -> Path:
    """Write a checkpoint atomically (temporary file in the same folder, then rename).
    ``family``: the model family's name; None looks it up from the model's class."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    model = getattr(model, "module", model)  # unwrap DistributedDataParallel
    payload = {
        "format_version": FORMAT_VERSION,
        "family": family or family_of(model).name,
        "model_config": model.config.to_dict(),
        "tokenizer": tokenizer.to_dict(),
        "model_state": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "train_state": train_state,
        "info": info or {},
    }
    with atomic_write(path, "wb", durable=True) as handle:
        torch.save(payload, handle)
    remove_abandoned_temporaries(path)
    return path


def _check_container(path: Path) -> None:
    """Refuse a file whose contents would unpack beyond MAX_CHECKPOINT_BYTES, before loading:
    a small file holding a deflated huge tensor is refused unread (torch.save never deflates)."""
    size = path.stat().st_size
    if size > MAX_CHECKPOINT_BYTES:
        raise CheckpointError(f"{path}: {size:,} bytes, over the cap of {MAX_CHECKPOINT_BYTES:,}")
    if not zipfile.is_zipfile(path):
        return  # torch's legacy format: its contents are no bigger than the file
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as error:
        raise CheckpointError(f"{path}: not a readable checkpoint ({error})") from None
    packed = [m.filename for m in members if m.compress_type != zipfile.ZIP_STORED]
    if packed:
        raise CheckpointError(
            f"{path}: refused: compressed entries ({packed[0]}), which torch never writes"
        )
    total = sum(m.file_size for m in members)
    if total > MAX_CHECKPOINT_BYTES:
        raise CheckpointError(
            f"{path}: refused: it unpacks to {total:,} bytes, over the cap of "
            f"{MAX_CHECKPOINT_BYTES:,}"
        )


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a checkpoint's contents safely (``weights_only=True``, size caps checked first)
    and check its format and the types of its entries."""
    path = Path(path)
    if path.is_dir():
        raise CheckpointError(f"{path}: a folder, not a checkpoint file")
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    _check_container(path)
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
            f"{path}: checkpoint format version {version!r}, but this program reads version "
            f"{FORMAT_VERSION}; retrain or use the matching program version"
        )
    missing = {"family", "model_config", "tokenizer", "model_state"} - set(payload)
    if missing:
        raise CheckpointError(f"{path}: checkpoint lacks {sorted(missing)}")
    for key, types in PAYLOAD_TYPES.items():
        if not isinstance(payload.get(key), types):
            wanted = " or ".join("None" if t is type(None) else t.__name__ for t in types)
            raise CheckpointError(
                f"{path}: {key} must be {wanted}, not {type(payload.get(key)).__name__}"
            )
    try:
        get_family(payload["family"])
    except KeyError:
        raise CheckpointError(f"{path}: unknown model family {payload['family']!r}") from None
    state = payload["model_state"]
    bad = next(
        (k for k, v in state.items() if not isinstance(k, str) or not torch.is_tensor(v)), None
    )
    if bad is not None:
        raise CheckpointError(f"{path}: model_state entry {bad!r} is not a named tensor")
    return payload


TRAIN_STATE_KEYS = (  # what the trainer needs to resume
    "train_config",
    "optimizer",
    "step",
    "epoch",
    "batch_index",
    "best_valid_nll",
    "evals_since_best",
    "skipped_steps",
    "tokens_seen",
)


def check_resumable(path: str | Path) -> None:
    """A CheckpointError unless ``path`` holds a training state the trainer can resume."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"--resume: {path} does not exist (nothing to resume)")
    state = read_checkpoint(path).get("train_state")
    if not isinstance(state, dict):
        raise CheckpointError(
            f"{path}: holds no training state (a best-model file, not a resumable one)"
        )
    missing = [key for key in TRAIN_STATE_KEYS if key not in state]
    if missing or not isinstance(state.get("train_config"), dict):
        raise CheckpointError(f"{path}: the training state lacks {missing or ['train_config']}")


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
    """Construct the family's model from a checkpoint payload and load weights strictly.

    The stored config is checked first on a model without storage (torch's meta device): its
    size against MAX_PARAMETERS and every stored tensor's shape against it, so a crafted config
    costs neither memory nor time before it is refused."""
    family = get_family(payload["family"])
    model_class, config_class = family.model_class, family.config_class
    try:
        config = config_class.from_dict(payload["model_config"])
        with torch.device("meta"):
            expected = model_class(config).state_dict()
    except (RuntimeError, ValueError, TypeError, KeyError, AttributeError) as error:
        raise CheckpointError(f"{path}: bad model config: {error}") from None
    parameters = sum(t.numel() for t in expected.values())
    if parameters > MAX_PARAMETERS:
        raise CheckpointError(
            f"{path}: the model config describes {parameters:,} parameters, over the cap of "
            f"{MAX_PARAMETERS:,}"
        )
    state = payload["model_state"]
    missing, unexpected = sorted(set(expected) - set(state)), sorted(set(state) - set(expected))
    if missing or unexpected:
        raise CheckpointError(
            f"{path}: weights do not match the model config: missing {missing[:3]}, "
            f"unexpected {unexpected[:3]}"
        )
    for name, tensor in expected.items():
        if tuple(state[name].shape) != tuple(tensor.shape):
            raise CheckpointError(
                f"{path}: weights do not match the model config: {name} is "
                f"{tuple(state[name].shape)}, the config says {tuple(tensor.shape)}"
            )
    try:
        model = model_class(config)
        model.load_state_dict(state, strict=True)
    except (RuntimeError, ValueError, TypeError) as error:
        raise CheckpointError(f"{path}: weights do not match the model config: {error}") from None
    return model


def _check_tokenizer_fields(data: dict[str, Any], path: str | Path) -> None:
    """Stored tokenizer fields within their caps, before the tokenizer is built."""
    for name, (low, high) in TOKENIZER_CAPS.items():
        if name not in data:
            continue
        value = data[name]
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise CheckpointError(
                f"{path}: bad tokenizer description: {name} must be a whole number in "
                f"[{low}, {high}], got {value!r}"
            )
    for name in ("alphabet", "styles", "voices"):
        value = data.get(name)
        if value is not None and (
            not isinstance(value, (str, list)) or len(value) > MAX_TOKENIZER_ITEMS
        ):
            raise CheckpointError(
                f"{path}: bad tokenizer description: {name} must be a string or list of at "
                f"most {MAX_TOKENIZER_ITEMS:,} items"
            )
    model = data.get("model")
    if model is not None and (not isinstance(model, bytes) or len(model) > MAX_SENTENCEPIECE_BYTES):
        raise CheckpointError(
            f"{path}: bad tokenizer description: the SentencePiece model must be at most "
            f"{MAX_SENTENCEPIECE_BYTES:,} bytes"
        )


def _check_tokenizer_fits(model: nn.Module, tokenizer: Tokenizer, path: str | Path) -> None:
    """The tokenizer's ids and styles are the ones the model was built for."""
    config = model.config
    pairs = [
        ("vocabulary", getattr(config, "vocab_size", None), "vocab_size"),
        ("keys", getattr(config, "num_keys", None), "num_keys"),
    ]
    for what, wanted, attribute in pairs:
        got = getattr(tokenizer, attribute, None)
        if wanted is not None and got is not None and got != wanted:
            raise CheckpointError(
                f"{path}: the tokenizer has {got} {what} ids but the model {wanted}; the "
                "checkpoint was altered or mixed from two runs"
            )
    styles = getattr(tokenizer, "styles", None)
    num_styles = getattr(config, "num_styles", None)
    if styles is not None and num_styles is not None and len(styles) > num_styles:
        raise CheckpointError(
            f"{path}: the tokenizer names {len(styles)} styles but the model knows {num_styles}"
        )


def load_checkpoint(path: str | Path, device: str | torch.device = "cpu") -> Loaded:
    """Read a checkpoint and return the model (eval mode, on ``device``) and its tokenizer."""
    payload = read_checkpoint(path)
    _check_tokenizer_fields(payload["tokenizer"], path)
    model = build_model(payload, path).to(device).eval()
    try:
        tokenizer = tokenizer_from_dict(payload["tokenizer"])
    except Exception as error:  # any kind: KeyError, SentencePiece's RuntimeError, ...
        raise CheckpointError(
            f"{path}: bad tokenizer description: {type(error).__name__}: {error}"
        ) from None
    _check_tokenizer_fits(model, tokenizer, path)
    return Loaded(
        model=model,
        tokenizer=tokenizer,
        family=payload["family"],
        info=payload.get("info") or {},
        train_state=payload.get("train_state"),
        path=Path(path),
    )
