"""Voices on a time grid: one token per voice per grid step, so parts stay aligned in time.

    grid step (eighths):    0        1        2        3        4     ...
    melody (source):       NOTE_67  HOLD     NOTE_69  NOTE_71  NOTE_72
    alto, tenor, bass:     NOTE_64 NOTE_59 NOTE_48 | HOLD HOLD HOLD | NOTE_64 NOTE_60 NOTE_45 | ...
    (target: the voices of one step in a row, then the next step: A T B A T B ...)

Step t of a voice is the note sounding at beat t / steps_per_beat:

    NOTE_p   a note of MIDI pitch p starts at this step
    HOLD     what sounded at the previous step (a note, or silence) goes on
    REST     silence starts

A source of n steps therefore has n tokens and its target n × (number of voices) tokens, and
target token i belongs to voice i mod (number of voices) at step i // (number of voices):
the alignment the harmonizer relies on. A step shows the note sounding at its time t
(onset ≤ t < end); where several of one track do, the one that started last (the highest on
ties), so a chord in a track keeps its top note. A note too short to sound at any grid time
takes the step its onset rounds to only if nothing sounds there, else it is dropped: with 2
steps per beat, most sixteenth-note passing tones (about 1% of the chorales' notes) are, and a
step never shows a note that starts after its time (issue 13: onsets used to be rounded, half
to even, so a sixteenth at beat 36.25 took the step of beat 36.0 from the note sounding then).
Notes on the grid encode as they always did.

Each window of a piece is encoded on its own: a note already sounding at the window's first
step is written as NOTE there, so every window (a training pair) stands alone.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pretty_midi

from generator.midi.notes import Note
from generator.tokenizers import register
from generator.tokenizers.base import Tokenizer, shift_notes

NUM_PITCHES = 128
ON_GRID = 1e-6  # in steps: a time this close to a grid step counts as on it (float noise)


@register
class VoiceGridTokenizer(Tokenizer):
    """Parts (lists of notes in beats) ↔ interleaved per-step voice tokens."""

    kind = "voice_grid"
    rest_id = 3
    hold_id = 4
    note_offset = 5

    def __init__(
        self,
        steps_per_beat: int = 2,
        voices: Sequence[str] = ("Bass",),
        segment_beats: int = 16,
    ):
        if steps_per_beat < 1:
            raise ValueError(f"steps_per_beat must be at least 1, got {steps_per_beat}")
        if segment_beats < 1:
            raise ValueError(f"segment_beats must be at least 1, got {segment_beats}")
        if not voices:
            raise ValueError("name at least one target voice")
        self.steps_per_beat = int(steps_per_beat)
        self.voices = [str(v) for v in voices]  # the target's voices, in token order
        self.segment_beats = int(segment_beats)  # the model harmonizes windows of this length

    @property
    def segment_steps(self) -> int:
        return self.segment_beats * self.steps_per_beat

    # -- the interface -------------------------------------------------------------------------
    @property
    def vocab_size(self) -> int:
        return self.note_offset + NUM_PITCHES

    def encode(
        self, parts: Sequence[Sequence[Note]], start: int = 0, steps: int | None = None
    ) -> np.ndarray:
        """Parts → int32 ids of grid steps [start, start + steps), voices interleaved per step.

        ``steps`` defaults to the end of the last note of any part."""
        if steps is None:
            steps = max((self.num_steps(part) for part in parts), default=0) - start
        grid = np.stack([self._voice_tokens(part, start, max(steps, 0)) for part in parts], 1)
        return grid.reshape(-1).astype(np.int32)  # (steps × voices,)

    def decode(self, ids: Any) -> list[list[Note]]:
        """Interleaved ids → one list of notes per target voice (``self.voices``)."""
        return self.decode_voices(ids, len(self.voices))

    def decode_voices(self, ids: Any, num_voices: int, velocity: int = 80) -> list[list[Note]]:
        """Ids interleaving ``num_voices`` voices → their notes (beats from the first step).
        Tolerates any ids: PAD/BOS/EOS count as HOLD, a trailing partial step is kept."""
        ids = [int(t) for t in ids]
        step = 1.0 / self.steps_per_beat
        parts: list[list[Note]] = []
        for voice in range(num_voices):
            notes: list[Note] = []
            pitch, onset = -1, 0
            tokens = ids[voice::num_voices]
            for t, token in enumerate(tokens):
                if token == self.rest_id or token >= self.note_offset:
                    if pitch >= 0:
                        notes.append(Note(onset * step, (t - onset) * step, pitch, velocity))
                    pitch = token - self.note_offset if token != self.rest_id else -1
                    onset = t
            if pitch >= 0:
                notes.append(Note(onset * step, (len(tokens) - onset) * step, pitch, velocity))
            parts.append(notes)
        return parts

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "steps_per_beat": self.steps_per_beat,
            "voices": list(self.voices),
            "segment_beats": self.segment_beats,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> VoiceGridTokenizer:
        return cls(
            steps_per_beat=int(data["steps_per_beat"]),
            voices=list(data["voices"]),
            segment_beats=int(data["segment_beats"]),
        )

    def token_name(self, token_id: int) -> str:
        token_id = int(token_id)
        names = {0: "PAD", 1: "BOS", 2: "EOS", self.rest_id: "REST", self.hold_id: "HOLD"}
        if token_id in names:
            return names[token_id]
        if not self.note_offset <= token_id < self.vocab_size:
            raise ValueError(f"token id {token_id} is outside the vocabulary ({self.vocab_size})")
        return pretty_midi.note_number_to_name(token_id - self.note_offset)

    def transpose(self, ids: np.ndarray, semitones: int) -> np.ndarray | None:
        """Every NOTE shifted by ``semitones``; None if a note would leave MIDI's 0-127."""
        if semitones == 0:
            return ids
        return shift_notes(ids, ids >= self.note_offset, self.note_offset, semitones)

    # -- the grid ------------------------------------------------------------------------------
    def sounding(self, ids: Any, num_voices: int) -> np.ndarray:
        """(steps, voices) pitch each voice sounds at each step of interleaved ids, -1 = none."""
        ids = np.asarray(ids, dtype=np.int64)
        steps = len(ids) // num_voices
        out = np.full((steps, num_voices), -1, dtype=np.int64)
        grid = ids[: steps * num_voices].reshape(steps, num_voices)
        current = np.full(num_voices, -1, dtype=np.int64)
        for t in range(steps):
            row = grid[t]
            current = np.where(row >= self.note_offset, row - self.note_offset, current)
            current = np.where(row == self.rest_id, -1, current)
            out[t] = current
        return out

    def num_steps(self, notes: Sequence[Note]) -> int:
        """Grid steps up to the last step any note can show (see ``_steps``)."""
        return max((self._steps(n)[1] for n in notes), default=0)

    def _steps(self, note: Note) -> tuple[int, int, bool]:
        """Grid steps [first, last) at whose time the note sounds (onset ≤ t < end), or, for a
        note too short to sound at any grid time, the one step it may take if nothing sounds
        there (its onset rounded, as before). Times within ``ON_GRID`` of a step count as on it."""
        onset, end = note.start * self.steps_per_beat, note.end * self.steps_per_beat
        first, last = math.ceil(onset - ON_GRID), math.ceil(end - ON_GRID)
        if last > first:
            return first, last, True
        first = round(onset)
        return first, first + 1, False

    def _voice_tokens(self, notes: Sequence[Note], start: int, steps: int) -> np.ndarray:
        """One voice's tokens for grid steps [start, start + steps)."""
        for note in notes:
            if not 0 <= note.pitch < NUM_PITCHES:
                raise ValueError(f"note pitch {note.pitch} is outside MIDI's 0-127")
        # Which note each step shows: of the notes sounding at its time, the one that started
        # last, then the highest pitch; a note sounding at no grid time only where none sounds.
        shown = np.full(steps, -1, dtype=np.int64)  # index into ``ordered``, -1 = silence
        ordered = sorted(
            notes, key=lambda n: (round(n.start * self.steps_per_beat / ON_GRID), n.pitch)
        )
        spans = [self._steps(note) for note in ordered]
        short = []
        for index, (first, last, on_grid) in enumerate(spans):
            if not on_grid:
                short.append(index)
                continue
            lo, hi = max(first - start, 0), min(last - start, steps)
            if lo < hi:
                shown[lo:hi] = index
        sounding = shown >= 0
        for index in short:  # later ones (in onset, then pitch) win among themselves
            t = spans[index][0] - start
            if 0 <= t < steps and not sounding[t]:
                shown[t] = index
        tokens = np.full(steps, self.hold_id, dtype=np.int32)
        previous = -2  # nothing yet: the first step always says what it is
        for t in range(steps):
            current = int(shown[t])
            if current < 0:
                if previous != -1:
                    tokens[t] = self.rest_id
            elif current != previous:
                tokens[t] = self.note_offset + ordered[current].pitch
            previous = current
        return tokens
