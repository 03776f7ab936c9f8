"""Input checks shared by the command line and the app: one place, one message per rule."""

from __future__ import annotations

import math
from pathlib import Path

MAX_VARIATIONS = 16
MAX_BARS = 256
MAX_SECONDS = 600.0
MAX_TOKENS = 100_000
MAX_MIDI_BYTES = 16_000_000  # one MIDI file read whole (a primer, a melody)
MAX_PRIME_CHARACTERS = 1_000_000  # a text prime (from --prime or stdin)


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
        raise ValueError(f"{name} must be {kind} in {bracket}{low:g}, {high:g}], got {value:g}")
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
    with open(path, "rb") as handle:
        data = handle.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise ValueError(f"{path}: the {what} holds more than {max_bytes:,} bytes (the cap)")
    return data


def read_bounded_text(stream, max_characters: int, what: str) -> str:
    """At most ``max_characters`` from a text stream (stdin), else a ValueError."""
    text = stream.read(max_characters + 1)
    if len(text) > max_characters:
        raise ValueError(f"the {what} is longer than {max_characters:,} characters (the cap)")
    return text
