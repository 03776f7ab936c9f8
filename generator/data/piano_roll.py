"""Piano-roll corpora: the shared JSON benchmarks, or a MIDI folder quantized to a grid.

JSON (the JSB Chorales / Nottingham benchmark files): ``{"train": [...], "valid": [...], ...}``;
a piece is a list of frames and a frame is a list of the MIDI pitches sounding (``[]`` = rest).
Splits are taken as they are; other keys (e.g. "test") are read only when asked for.

MIDI folder: every ``.mid``/``.midi`` file, recursively (generator.data.midi_corpus rules:
drums dropped, tracks merged, times in beats), quantized to ``frames_per_beat`` frames per
quarter note (PianoRollTokenizer.from_notes). Skipped, with the reason in the report: files
that do not parse, files with no notes, files over the size/notes/beats caps, and files with
no note on the keyboard. Notes outside the keyboard are dropped and counted. The train/valid
split is by a hash of the relative path, as for token corpora.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from generator.data.midi_corpus import ReadLimits, find_midi_files
from generator.data.pieces import split_pieces
from generator.data.report import ReadReport
from generator.midi.notes import MidiReadError, read_notes
from generator.tokenizers.piano_roll import PianoRollTokenizer


@dataclass
class RollPiece:
    """One piece as a piano roll."""

    name: str  # where it came from (file and index, or relative path)
    frames: np.ndarray  # (frames, keys) uint8 multi-hot


@dataclass
class RollReport(ReadReport):
    """What was read, what was skipped (name, reason) and why, and what the frames look like."""

    source: str
    pieces_found: int = 0
    dropped_notes: int = 0  # notes outside the keyboard (MIDI folders only)
    frames: int = 0
    notes_per_frame: float = 0.0
    min_pitch: int | None = None
    max_pitch: int | None = None
    train_pieces: int = 0
    valid_pieces: int = 0

    NOT_SAVED = ("notes_per_frame", "min_pitch", "max_pitch")

    def describe(self, split: bool) -> list[str]:
        split_line = f"; split: {self.train_pieces} train, {self.valid_pieces} valid pieces"
        lines = [
            f"piano roll {self.source}: {self.pieces_found} pieces found, "
            f"{len(self.skipped)} skipped ({self.read_seconds:.1f} s)",
            f"  {self.frames:,} frames, {self.notes_per_frame:.2f} notes per frame, pitches "
            f"{self.min_pitch}-{self.max_pitch}" + (split_line if split else ""),
        ]
        if self.dropped_notes:
            lines.append(f"  dropped {self.dropped_notes:,} notes outside the keyboard")
        return lines

    def derived(self) -> dict[str, Any]:
        return {"pitch_range": [self.min_pitch, self.max_pitch]}


@dataclass
class FrameCorpus:
    """Piano-roll pieces split into train and valid, with the report of how they were read."""

    tokenizer: PianoRollTokenizer
    train: list[RollPiece]
    valid: list[RollPiece]
    report: RollReport | None = None

    @property
    def num_train_frames(self) -> int:
        """Predicted frames in train (the first frame of each piece is not predicted)."""
        return predicted_frames(self.train)

    @property
    def num_valid_frames(self) -> int:
        return predicted_frames(self.valid)


def predicted_frames(pieces: list[RollPiece]) -> int:
    """Frames a model predicts: all but the first of each piece."""
    return sum(max(len(p.frames) - 1, 0) for p in pieces)


def _finish(report: RollReport, pieces: list[RollPiece], started: float) -> None:
    rolls = [p.frames for p in pieces if len(p.frames)]
    report.frames = sum(len(r) for r in rolls)
    if rolls:
        stacked = np.concatenate(rolls)
        report.notes_per_frame = float(stacked.sum() / len(stacked))
        used = np.flatnonzero(stacked.any(axis=0))
        if used.size:
            report.min_pitch = int(used[0])
            report.max_pitch = int(used[-1])
    report.read_seconds = time.perf_counter() - started


def load_piano_roll_json(
    path: str | Path,
    tokenizer: PianoRollTokenizer | None = None,
    splits: tuple[str, str] = ("train", "valid"),
) -> FrameCorpus:
    """Read a benchmark JSON file; ``splits`` names the (train, valid) keys to use.

    A valid split may be absent (the corpus then has none); the train split must exist
    unless it is named "" (evaluation only)."""
    started = time.perf_counter()
    path = Path(path).expanduser()
    tokenizer = tokenizer or PianoRollTokenizer()
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"{path}: not a readable piano-roll JSON file ({error})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected an object of splits such as {{'train': [...]}}")
    report = RollReport(source=str(path))
    parts: list[list[RollPiece]] = []
    for split in splits:
        if not split:
            parts.append([])
            continue
        if split not in data:
            if split == splits[0]:
                raise ValueError(f"{path}: no {split!r} split (it has {sorted(data)})")
            parts.append([])
            continue
        pieces = []
        for index, frames in enumerate(data[split]):
            report.pieces_found += 1
            name = f"{split}[{index}]"
            try:
                pieces.append(RollPiece(name, tokenizer.encode(frames)))
            except (ValueError, TypeError) as error:
                report.skipped.append((name, f"bad piece: {error}"))
        parts.append(pieces)
    train, valid = parts
    report.train_pieces, report.valid_pieces = len(train), len(valid)
    _finish(report, train + valid, started)
    _pitch_names(report, tokenizer)
    return FrameCorpus(tokenizer=tokenizer, train=train, valid=valid, report=report)


def load_piano_roll_midi(
    folder: str | Path,
    tokenizer: PianoRollTokenizer | None = None,
    *,
    valid_fraction: float = 0.1,
    limits: ReadLimits | None = None,
) -> FrameCorpus:
    """Read every MIDI file under ``folder`` into piano rolls on the tokenizer's grid."""
    started = time.perf_counter()
    folder = Path(folder).expanduser()
    tokenizer = tokenizer or PianoRollTokenizer(frames_per_beat=4)
    limits = limits or ReadLimits()
    files = find_midi_files(folder)
    root = folder if folder.is_dir() else folder.parent
    report = RollReport(source=str(folder), pieces_found=len(files))
    pieces = []
    for path in files:
        name = str(path.relative_to(root))
        reason, roll = _read_midi_roll(path, tokenizer, limits, report)
        if reason:
            report.skipped.append((name, reason))
        else:
            pieces.append(RollPiece(name, roll))
    train, valid = split_pieces(pieces, valid_fraction)
    report.train_pieces, report.valid_pieces = len(train), len(valid)
    _finish(report, pieces, started)
    _pitch_names(report, tokenizer)
    return FrameCorpus(tokenizer=tokenizer, train=train, valid=valid, report=report)


def load_piano_roll(
    source: str | Path,
    tokenizer: PianoRollTokenizer | None = None,
    *,
    frames_per_beat: int = 4,
    valid_fraction: float = 0.1,
    splits: tuple[str, str] = ("train", "valid"),
) -> FrameCorpus:
    """A ``.json`` file → load_piano_roll_json; anything else → load_piano_roll_midi.

    ``frames_per_beat`` sets the grid of a new tokenizer for a MIDI folder (JSON benchmark
    frames are quarter notes: 1)."""
    source = Path(source).expanduser()
    if source.suffix.lower() == ".json":
        return load_piano_roll_json(source, tokenizer or PianoRollTokenizer(), splits)
    tokenizer = tokenizer or PianoRollTokenizer(frames_per_beat=frames_per_beat)
    return load_piano_roll_midi(source, tokenizer, valid_fraction=valid_fraction)


def _read_midi_roll(
    path: Path, tokenizer: PianoRollTokenizer, limits: ReadLimits, report: RollReport
) -> tuple[str | None, np.ndarray | None]:
    """(skip reason, None) or (None, roll) for one file."""
    try:
        size = path.stat().st_size
    except OSError as error:
        return f"cannot read file: {error.strerror or error}", None
    if size == 0:
        return "empty file: 0 bytes", None
    if size > limits.max_file_bytes:
        return f"too large: {size:,} bytes > cap {limits.max_file_bytes:,}", None
    try:
        notes = read_notes(path)
    except MidiReadError as error:
        return error.reason, None
    if not notes:
        return "no notes: the file has no non-drum notes", None
    if len(notes) > limits.max_notes:
        return f"too long: {len(notes):,} notes > cap {limits.max_notes:,}", None
    beats = max(n.end for n in notes)
    if beats > limits.max_beats:
        return f"too long: {beats:,.0f} beats > cap {limits.max_beats:,.0f}", None
    roll, dropped = tokenizer.from_notes(notes)
    report.dropped_notes += dropped
    if not len(roll):
        return "no notes on the keyboard: every note is outside the piano's range", None
    return None, roll


def _pitch_names(report: RollReport, tokenizer: PianoRollTokenizer) -> None:
    """Key indices in the report → MIDI pitches."""
    if report.min_pitch is not None:
        report.min_pitch += tokenizer.lowest_pitch
        report.max_pitch += tokenizer.lowest_pitch
