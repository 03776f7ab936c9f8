"""Input checks shared by the command line and the app: one place, one message per rule."""

from __future__ import annotations

import math
import numbers
import os
from pathlib import Path

MAX_VARIATIONS = 16
MAX_BARS = 256
MAX_SECONDS = 600.0
MAX_TOKENS = 100_000
MAX_MIDI_BYTES = 16_000_000  # one MIDI file read whole (a primer, a melody)
MAX_PRIME_CHARACTERS = 1_000_000  # a text prime (from --prime or stdin)


class WrongType(TypeError, ValueError):
    """An argument of the wrong type (text where a number belongs, None for a path): a
    TypeError to a Python caller, and bad input (a ValueError) to the command line and the
    app, which print it in one line."""


def _wrong(name: str, expected: str, value: object) -> WrongType:
    shown = repr(value)
    shown = f"{shown[:60]}…" if len(shown) > 60 else shown
    return WrongType(f"{name} must be {expected}, got {shown} ({type(value).__name__})")


def check_type(name: str, value, kind: type | tuple[type, ...], expected: str, optional=False):
    """``value`` when it is a ``kind`` (or None, when ``optional``), else a WrongType naming
    the argument and what was expected."""
    if (optional and value is None) or isinstance(value, kind):
        return value
    raise _wrong(name, expected, value)


def check_number(name: str, value, *, whole: bool = False, optional: bool = False):
    """``value`` when it is a number (int, float, a NumPy scalar; not a bool or text), else a
    WrongType naming it; its range is the caller's check."""
    if optional and value is None:
        return value
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise _wrong(name, "a whole number" if whole else "a number", value)
    return value


def check_path(name: str, value, optional: bool = False) -> Path | None:
    """A file path given as str or Path (os.PathLike), as a Path; else a WrongType."""
    check_type(name, value, (str, os.PathLike), "a file path (str or Path)", optional)
    return None if value is None else Path(value)


SEED_RANGE = (-(2**63), 2**64 - 1)  # what torch's manual_seed takes


def check_seed(seed) -> int | None:
    """A random seed: None (a fresh one each time) or a whole number torch takes."""
    if seed is None:
        return None
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise _wrong("seed", "a whole number or None", seed)
    if not SEED_RANGE[0] <= seed <= SEED_RANGE[1]:
        raise ValueError(f"seed must be a whole number from -2**63 to 2**64 - 1, got {seed}")
    return int(seed)


def _number(name: str, value: float) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value}")
    return value


def check_range(
    name: str,
    value: float,
    low: float,
    high: float,
    *,
    integer: bool = False,
    low_open: bool = False,
) -> float:
    """``value`` within [low, high] (or (low, high] with low_open), else a ValueError naming it."""
    value = _number(name, value)
    if integer and value != int(value):
        raise ValueError(f"{name} must be a whole number, got {value}")
    below = value <= low if low_open else value < low
    if below or value > high:
        bracket = "(" if low_open else "["
        kind = "a whole number" if integer else "a number"
        shown = f"{int(value)}" if integer else f"{value:g}"
        raise ValueError(f"{name} must be {kind} in {bracket}{low:g}, {high:g}], got {shown}")
    return int(value) if integer else value


def check_sampling(temperature: float, top_k: int, top_p: float) -> tuple[float, int, float]:
    """temperature in (0, 10], top-k in [0, 100000] (0 = off), top-p in (0, 1]."""
    return (
        check_range("temperature", temperature, 0.0, 10.0, low_open=True),
        check_range("top-k", top_k, 0, MAX_TOKENS, integer=True),
        check_range("top-p", top_p, 0.0, 1.0, low_open=True),
    )


def check_program(program: int) -> int:
    """General MIDI program number 0-127."""
    return check_range("program", program, 0, 127, integer=True)


def check_bpm(bpm: float) -> float:
    """Tempo in beats per minute, 20-400."""
    return check_range("tempo (BPM)", bpm, 20, 400)


def check_bars(bars: float) -> float:
    """Length in bars, up to MAX_BARS."""
    return check_range("bars", bars, 0, MAX_BARS, low_open=True)


def check_seconds(seconds: float) -> float:
    """Length in seconds, up to MAX_SECONDS."""
    return check_range("seconds", seconds, 0, MAX_SECONDS, low_open=True)


def check_variations(count: int) -> int:
    """Number of pieces generated at once, 1-MAX_VARIATIONS."""
    return check_range("number of variations", count, 1, MAX_VARIATIONS, integer=True)


def check_beats_per_bar(beats: int) -> int:
    """Beats in a bar, 1-16."""
    return check_range("beats per bar", beats, 1, 16, integer=True)


def read_bounded(path: str | Path, max_bytes: int, what: str = "file") -> bytes:
    """A file's bytes, reading at most ``max_bytes`` + 1: a ValueError naming the file when it
    holds more (a huge file, or a device such as /dev/zero that never ends), so memory stays
    bounded whatever the path is. OSError as open() raises it."""
    chunks, size = [], 0
    with open(path, "rb") as handle:  # in chunks: read(n) reserves n bytes before reading
        while size <= max_bytes:
            chunk = handle.read(min(1 << 20, max_bytes + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    data = b"".join(chunks)
    if len(data) > max_bytes:
        raise ValueError(f"{path}: the {what} holds more than {max_bytes:,} bytes (the cap)")
    return data


def read_bounded_text(stream, max_characters: int, what: str) -> str:
    """At most ``max_characters`` from a text stream (stdin), else a ValueError."""
    text = stream.read(max_characters + 1)
    if len(text) > max_characters:
        raise ValueError(f"the {what} is longer than {max_characters:,} characters (the cap)")
    return text


MAX_BEAM = 64  # beam width: each beam is a decoder state per source
MAX_CANDIDATES = 64  # best of N: N decoder states per window
MAX_HARMONIZE_BEATS = 4096  # a melody's length: 256 windows of 16 beats, about a minute on a CPU
MAX_THREADS_PER_CPU = 4  # --threads beyond this many per CPU is refused (torch crashes at 1e6)


def check_threads(threads: int) -> int:
    """CPU threads: 0 (torch's default) up to a few per CPU of this machine."""
    import os

    most = MAX_THREADS_PER_CPU * (os.cpu_count() or 1)
    return check_range("--threads", threads, 0, most, integer=True)


def check_beam(beam: int) -> int:
    """Beam width 1-MAX_BEAM (1 = no beam search)."""
    return check_range("beam width", beam, 1, MAX_BEAM, integer=True)


def check_candidates(candidates: int) -> int:
    """Best of N: 1-MAX_CANDIDATES samples per window."""
    return check_range("candidates (best of N)", candidates, 1, MAX_CANDIDATES, integer=True)


def check_length_penalty(penalty: float) -> float:
    """Beam search's length exponent, 0-10."""
    return check_range("length penalty", penalty, 0, 10)


def check_encoding(encoding: str) -> str:
    """A text encoding Python knows (utf-8, latin-1, ...)."""
    import codecs

    try:
        codecs.lookup(encoding)
    except LookupError:
        raise ValueError(f"unknown text encoding {encoding!r} (try utf-8 or latin-1)") from None
    if encoding.lower().replace("-", "_") in ("rot_13", "rot13", "base64", "hex", "zlib", "bz2"):
        raise ValueError(f"{encoding!r} is not a text encoding (try utf-8 or latin-1)")
    return encoding


def check_device(name: str) -> str:
    """A torch device this machine has: auto, cpu, cuda[:N] (with CUDA and that GPU), mps."""
    import torch

    if name == "auto":
        return name
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError):
        raise ValueError(f"unknown device {name!r}; use auto, cpu, cuda, cuda:N or mps") from None
    if device.type == "cpu":
        return name
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {name!r}: CUDA is not available on this machine")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ValueError(
                f"device {name!r}: this machine has {torch.cuda.device_count()} CUDA device(s)"
            )
        return name
    if device.type == "mps":
        backend = getattr(torch.backends, "mps", None)
        if not (backend and backend.is_available()):
            raise ValueError(f"device {name!r}: MPS is not available on this machine")
        return name
    raise ValueError(f"unsupported device {name!r}; use auto, cpu, cuda, cuda:N or mps")


TRAIN_RANGES = {  # TrainConfig field → (least, most, whole number); checked for every run
    "batch_size": (1, 65_536, True),
    "seq_len": (1, 1_000_000, True),
    "lr": (0.0, 10.0, False),  # > 0, below
    "momentum": (0.0, 1.0, False),
    "weight_decay": (0.0, 1.0, False),
    "warmup_steps": (0, 10**9, True),
    "clip_norm": (0.0, 1e6, False),
    "max_steps": (1, 10**9, True),
    "max_minutes": (0.0, 1e7, False),
    "eval_every": (1, 10**9, True),
    "eval_batches": (0, 10**9, True),
    "patience": (0, 10**6, True),
    "save_every": (1, 10**9, True),
    "log_every": (1, 10**9, True),
    "max_bad_steps": (1, 10**6, True),
    "seed": (0, 2**63 - 1, True),
    "transpose": (0, 24, True),
    "style_dropout": (0.0, 1.0, False),
}


def check_train_fields(fields: dict) -> None:
    """Every TrainConfig number within its range (nan, negative and zero where zero means
    nothing are refused), with the flag's name in the message."""
    for name, (low, high, integer) in TRAIN_RANGES.items():
        if name in fields:
            flag = "--" + name.replace("_", "-")
            check_range(flag, fields[name], low, high, integer=integer, low_open=name == "lr")


def check_out_file(path: Path) -> Path:
    """An output file that can be written: not a folder, in a folder that can be made."""
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{path}: --out is a folder; give the file to write")
    _check_writable_folder(path.parent, path)
    return path


def check_out_folder(path: Path) -> Path:
    """An output folder that can be written: not a file, inside a folder that can be made."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ValueError(f"{path}: --out is a file, not a folder")
    _check_writable_folder(path, path)
    return path


def _check_writable_folder(folder: Path, out: Path) -> None:
    import os

    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise ValueError(f"{out}: cannot write there: {existing} is a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ValueError(f"{out}: cannot write there: no permission in {existing}")
