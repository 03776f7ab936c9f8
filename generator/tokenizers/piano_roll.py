"""Piano-roll frames: each time step is a multi-hot vector over the keys of a piano.

    key index:   0    1    2   ...   39   ...   87        (88 keys by default)
    MIDI pitch:  21   22   23  ...   60   ...   108       (A0 ... C4 ... C8)
    frame:      [0,   0,   0,  ...,  1,   ...,  0]        1 = the key sounds in this frame

A piece is a (frames, keys) uint8 array. "Data" for this tokenizer is what the shared JSON
benchmarks hold: a list of frames, each a list of the MIDI pitches sounding (``[]`` = a rest).
Pitches outside the keyboard are refused by ``encode`` (readers drop and count them first).

The grid: ``frames_per_beat`` frames per quarter note (1 for the JSB/Nottingham JSON files).
``from_notes`` puts a note on the frames from ``round(start · fpb)`` up to ``round(end · fpb)``
(at least one frame). ``to_notes`` turns frames back into notes: by default a key held over
consecutive frames becomes one long note (``restrike=False``); with ``restrike=True`` every frame
strikes its keys again (a piano roll cannot tell a held note from a repeated one).

There are no ids, PAD, BOS or EOS here: a piano-roll model reads and predicts whole frames.
The class still implements the Tokenizer interface so checkpoints carry and rebuild it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pretty_midi

from generator.midi.notes import Note
from generator.tokenizers import register
from generator.tokenizers.base import Tokenizer

LOWEST_PIANO_KEY = 21  # A0
PIANO_KEYS = 88  # A0 (21) ... C8 (108)


@register
class PianoRollTokenizer(Tokenizer):
    """Frames of sounding pitches ↔ (frames, keys) multi-hot arrays on a fixed time grid."""

    kind = "piano_roll"

    def __init__(
        self,
        num_keys: int = PIANO_KEYS,
        lowest_pitch: int = LOWEST_PIANO_KEY,
        frames_per_beat: int = 1,
    ):
        if num_keys < 1 or not 0 <= lowest_pitch <= 127 or lowest_pitch + num_keys > 128:
            raise ValueError(
                f"keys {lowest_pitch}..{lowest_pitch + num_keys - 1} are not MIDI pitches 0-127"
            )
        if frames_per_beat < 1:
            raise ValueError(f"frames_per_beat must be at least 1, got {frames_per_beat}")
        self.num_keys = num_keys
        self.lowest_pitch = lowest_pitch
        self.frames_per_beat = frames_per_beat

    @property
    def highest_pitch(self) -> int:
        return self.lowest_pitch + self.num_keys - 1

    # -- the interface -------------------------------------------------------------------------
    @property
    def vocab_size(self) -> int:
        """Units per frame (keys)."""
        return self.num_keys

    def encode(self, data: Sequence[Sequence[int]]) -> np.ndarray:
        """Frames (lists of MIDI pitches) → (frames, keys) uint8 multi-hot array."""
        roll = np.zeros((len(data), self.num_keys), dtype=np.uint8)
        for t, frame in enumerate(data):
            for pitch in frame:
                key = int(pitch) - self.lowest_pitch
                if not 0 <= key < self.num_keys:
                    raise ValueError(
                        f"frame {t}: pitch {pitch} is outside the keyboard "
                        f"{self.lowest_pitch}-{self.highest_pitch}"
                    )
                roll[t, key] = 1
        return roll

    def decode(self, ids: Any) -> list[list[int]]:
        """(frames, keys) array (any nonzero = on) → frames as sorted lists of MIDI pitches."""
        roll = np.asarray(ids)
        return [(np.flatnonzero(row) + self.lowest_pitch).tolist() for row in roll]

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "num_keys": self.num_keys,
            "lowest_pitch": self.lowest_pitch,
            "frames_per_beat": self.frames_per_beat,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PianoRollTokenizer:
        return cls(
            num_keys=int(data["num_keys"]),
            lowest_pitch=int(data["lowest_pitch"]),
            frames_per_beat=int(data["frames_per_beat"]),
        )

    def token_name(self, token_id: int) -> str:
        """The name of key ``token_id`` (0 → A0 on an 88-key roll)."""
        if not 0 <= int(token_id) < self.num_keys:
            raise ValueError(f"key {token_id} is outside the roll's {self.num_keys} keys")
        return pretty_midi.note_number_to_name(self.lowest_pitch + int(token_id))

    def transpose(self, ids: np.ndarray, semitones: int) -> np.ndarray | None:
        """The roll shifted by ``semitones``, or None if a note would leave the keyboard."""
        if semitones == 0:
            return ids
        used = np.flatnonzero(ids.any(axis=0))
        if used.size and not (0 <= used[0] + semitones and used[-1] + semitones < self.num_keys):
            return None
        return np.roll(ids, semitones, axis=1)

    def length_cost(self, unit: str) -> np.ndarray:
        raise ValueError("a piano roll is measured in frames, not in token costs")

    # -- notes on the grid ---------------------------------------------------------------------
    def from_notes(self, notes: Sequence[Note]) -> tuple[np.ndarray, int]:
        """Notes (in beats) → (frames, keys) roll on the grid, and how many notes were dropped
        for lying outside the keyboard."""
        fpb = self.frames_per_beat
        inside = [n for n in notes if self.lowest_pitch <= n.pitch <= self.highest_pitch]
        spans = [(round(n.start * fpb), n) for n in inside]
        spans = [(first, max(round(n.end * fpb), first + 1), n) for first, n in spans]
        length = max((last for _, last, _ in spans), default=0)
        roll = np.zeros((length, self.num_keys), dtype=np.uint8)
        for first, last, note in spans:
            roll[first:last, note.pitch - self.lowest_pitch] = 1
        return roll, len(notes) - len(inside)

    def to_notes(
        self, roll: np.ndarray, *, restrike: bool = False, velocity: int = 80
    ) -> list[Note]:
        """(frames, keys) roll → notes in beats: held keys merge into one note unless
        ``restrike``, where each frame strikes its keys anew."""
        roll = np.asarray(roll) != 0
        step = 1.0 / self.frames_per_beat
        notes = []
        for key in range(self.num_keys):
            on = roll[:, key]
            if not on.any():
                continue
            pitch = self.lowest_pitch + key
            if restrike:
                notes.extend(
                    Note(t * step, step, pitch, velocity) for t in np.flatnonzero(on).tolist()
                )
                continue
            edges = np.diff(np.concatenate([[0], on.astype(np.int8), [0]]))
            onsets, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
            for start, end in zip(onsets.tolist(), ends.tolist(), strict=True):
                notes.append(Note(start * step, (end - start) * step, pitch, velocity))
        notes.sort()
        return notes
