"""Melody → accompanying voices pairs from a folder of multi-track MIDI files (e.g. chorales).

Rules (also in docs/seq2seq.md):
- Every ``.mid`` / ``.midi`` file under the folder, recursively, in sorted order.
- The melody is chosen by the rule of generator.midi.parts (a track named Soprano or Melody,
  else the highest track). The target voices are the tokenizer's ``voices``: when every one of
  them names a track (any case), those tracks; otherwise, by pitch: the last voice (the bass)
  is the lowest other track and the voices before it are the highest other tracks, in order.
  A file with fewer other tracks than voices is skipped, with the reason in the report.
- Pieces are cut into windows of ``segment_beats`` beats starting every ``hop_beats`` beats
  (train) or back to back (valid); each window is one pair (see tokenizers.voice_grid).
  Windows where the melody is silent throughout are left out.
- Train/valid split by the melody, not the file: a hash of the melody's first 16 pitch
  intervals. The same tune harmonized twice (even in another key) lands on one side, so a
  valid melody was never seen in training.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from generator.data.midi_corpus import find_midi_files
from generator.data.pairs import Pair, PairCorpus
from generator.data.pieces import is_valid_split
from generator.data.report import ReadReport
from generator.midi.notes import Note
from generator.midi.parts import Part, read_parts, split_melody
from generator.tokenizers.voice_grid import VoiceGridTokenizer

VOICE_SETS = {"bass": ("Bass",), "atb": ("Alto", "Tenor", "Bass")}
SPLIT_INTERVALS = 16


@dataclass
class HarmonyReport(ReadReport):
    """What was read, skipped (relative path, reason) and split."""

    folder: str
    voices: list[str] = field(default_factory=list)
    files_found: int = 0
    files_read: int = 0
    train_files: int = 0
    valid_files: int = 0
    train_pairs: int = 0
    valid_pairs: int = 0

    def describe(self, split: bool) -> list[str]:
        lines = [
            f"harmony pairs {self.folder}: melody → {' + '.join(self.voices)}; "
            f"{self.files_found} MIDI files found, {self.files_read} read, "
            f"{len(self.skipped)} skipped ({self.read_seconds:.1f} s)",
        ]
        if split:
            lines.append(
                f"  split by melody: {self.train_files} train files ({self.train_pairs} "
                f"windows), {self.valid_files} valid files ({self.valid_pairs} windows)"
            )
        return lines


def choose_voices(others: list[Part], voices: list[str]) -> list[Part]:
    """The tracks that play ``voices`` (see the module rules); ValueError if too few."""
    by_name = {p.name.lower(): p for p in others}
    if all(v.lower() in by_name for v in voices):
        return [by_name[v.lower()] for v in voices]
    if len(others) < len(voices):
        raise ValueError(f"{len(others)} accompanying tracks, {len(voices)} needed")
    return [*others[: len(voices) - 1], others[-1]]  # others run highest first


def melody_key(melody: list[Note]) -> str:
    """The split key: the melody's first pitch intervals, blind to key (transposition)."""
    onsets: dict[float, int] = {}
    for note in melody:
        onsets[note.start] = max(note.pitch, onsets.get(note.start, 0))
    pitches = [onsets[t] for t in sorted(onsets)]
    intervals = [b - a for a, b in zip(pitches, pitches[1:], strict=False)][:SPLIT_INTERVALS]
    return hashlib.sha1(repr(intervals).encode()).hexdigest()


def piece_pairs(
    name: str,
    melody: list[Note],
    voices: list[list[Note]],
    tokenizer: VoiceGridTokenizer,
    hop_beats: int,
) -> list[Pair]:
    """One piece's windows as pairs: melody tokens → interleaved voice tokens."""
    steps = max(tokenizer.num_steps(part) for part in [melody, *voices])
    length, hop = tokenizer.segment_steps, max(1, hop_beats * tokenizer.steps_per_beat)
    pairs = []
    for start in range(0, max(steps - length, 0) + hop, hop):
        size = min(length, steps - start)
        if size <= 0:
            break
        source = tokenizer.encode([melody], start, size)
        if not (source >= tokenizer.note_offset).any():
            continue  # the melody is silent here: nothing to harmonize
        target = tokenizer.encode(voices, start, size)
        pairs.append(Pair(f"{name}@{start}", source, target))
    return pairs


def load_harmony_corpus(
    folder: str | Path,
    tokenizer: VoiceGridTokenizer,
    *,
    valid_fraction: float = 0.1,
    hop_beats: int | None = None,
) -> PairCorpus:
    """Read a MIDI folder into melody → voices pairs (``hop_beats`` defaults to half a window)."""
    started = time.perf_counter()
    folder = Path(folder).expanduser()
    files = find_midi_files(folder)
    root = folder if folder.is_dir() else folder.parent
    report = HarmonyReport(folder=str(folder), voices=list(tokenizer.voices))
    report.files_found = len(files)
    hop_beats = hop_beats or max(1, tokenizer.segment_beats // 2)
    pieces = []
    for path in files:
        relative = str(path.relative_to(root))
        try:
            melody, others = split_melody(read_parts(path))
            voices = choose_voices(others, tokenizer.voices)
        except ValueError as error:
            report.skipped.append((relative, str(error)))
            continue
        except Exception as error:  # pretty_midi and mido raise many kinds on bad bytes
            report.skipped.append((relative, f"not a readable MIDI file: {type(error).__name__}"))
            continue
        report.files_read += 1
        pieces.append((relative, melody.notes, [v.notes for v in voices]))
    train: list[Pair] = []
    valid: list[Pair] = []
    keys = [melody_key(melody) for _, melody, _ in pieces]
    held = [is_valid_split(key, valid_fraction) for key in keys]
    if valid_fraction > 0 and len(pieces) >= 2:  # both sides get at least one piece
        if not any(held):
            held[-1] = True
        elif all(held):
            held[0] = False
    for (name, melody, voices), is_valid in zip(pieces, held, strict=True):
        hop = tokenizer.segment_beats if is_valid else hop_beats
        (valid if is_valid else train).extend(piece_pairs(name, melody, voices, tokenizer, hop))
    report.valid_files = sum(held)
    report.train_files = len(held) - report.valid_files
    report.train_pairs, report.valid_pairs = len(train), len(valid)
    report.read_seconds = time.perf_counter() - started
    held_out = [name for (name, _, _), h in zip(pieces, held, strict=True) if h]
    return PairCorpus(tokenizer, train, valid, report=report, valid_files=held_out)


def source_ids(tokenizer: VoiceGridTokenizer, melody: list[Note]) -> list[np.ndarray]:
    """A melody's windows (back to back from beat 0) as source ids, for harmonizing."""
    steps = tokenizer.num_steps(melody)
    length = tokenizer.segment_steps
    return [
        tokenizer.encode([melody], start, min(length, steps - start))
        for start in range(0, steps, length)
    ]
