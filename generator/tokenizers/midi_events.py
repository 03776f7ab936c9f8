"""MIDI event vocabulary: notes with durations, time shifts and velocity bins.

Resolution: time is quantized to ``steps_per_beat`` steps per quarter note (default 12, so
sixteenths, eighth-note triplets and everything coarser are exact). A piece is a stream of

    SHIFT_k    advance the clock k steps (1..max_shift; longer gaps repeat the token)
    VEL_b      velocity bin b for the notes that follow (emitted only when it changes)
    NOTE_p     a note of MIDI pitch p starting now ...
    DUR_k      ... lasting k steps (1..max_duration; longer notes repeat the token, summed)
    METER_m    the piece's time signature (``meters[m]``, e.g. "6/8"): its first token, when the
               file has a time signature the tokenizer knows (models trained without meters
               have none of these ids)

Notes sounding together are written in ascending pitch order, with no shift between them.
Round trip (MIDI → tokens → MIDI): pitch is exact; onset and duration are within one step
(each is rounded to the grid; a note shorter than a step lasts one step); velocity comes back
as the centre of its bin, so it stays within the bin (16 bins of 8 velocities by default).

Styles are not tokens: a piece's style goes into the model's one-off conditioning input.
The tokenizer keeps the list of style names so style ids mean the same thing everywhere.
It also keeps what the training data showed, for sampling to stay inside it: the pitch range
(overall and per style) and the number of voices (notes per onset) of each style. Tokenizers
saved before these existed load with none of them (see generator.sampling.music for the rule).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from generator.midi.notes import Note
from generator.tokenizers.base import Tokenizer, shift_notes

NUM_PITCHES = 128


class MidiEventTokenizer(Tokenizer):
    """Polyphonic MIDI ↔ NOTE/DUR/SHIFT/VEL event ids."""

    kind = "midi_events"

    def __init__(
        self,
        steps_per_beat: int = 12,
        max_shift: int = 48,
        max_duration: int = 48,
        velocity_bins: int = 16,
        styles: list[str] | None = None,
        meters: list[str] | None = None,
        pitch_range: list[int] | tuple[int, int] | None = None,
        style_ranges: dict[str, list[int]] | None = None,
        style_voices: dict[str, int] | None = None,
    ):
        if 128 % velocity_bins:
            raise ValueError("velocity_bins must divide 128")
        self.steps_per_beat = steps_per_beat
        self.max_shift = max_shift
        self.max_duration = max_duration
        self.velocity_bins = velocity_bins
        self.styles = list(styles or [])
        self.meters = list(meters or [])  # time signatures with a token, e.g. ["3/4", "6/8"]
        # lowest and highest MIDI pitch of the training data, overall and per style
        self.pitch_range = tuple(pitch_range) if pitch_range else None
        self.style_ranges = {k: tuple(v) for k, v in (style_ranges or {}).items()}
        self.style_voices = dict(style_voices or {})  # notes per onset: 1 = one line
        self.note_offset = 3
        self.duration_offset = self.note_offset + NUM_PITCHES
        self.shift_offset = self.duration_offset + max_duration
        self.velocity_offset = self.shift_offset + max_shift
        self.meter_offset = self.velocity_offset + velocity_bins
        self._vocab_size = self.meter_offset + len(self.meters)

    # -- the interface -------------------------------------------------------------------------
    @property
    def vocab_size(self) -> int:
        return self._vocab_size

    def encode(self, notes: list[Note], meter: str | None = None) -> np.ndarray:
        """Notes (any float beats) → event ids on the grid, after the METER id of ``meter``
        when the tokenizer has one for it (else no meter id)."""
        start = np.array([n.start for n in notes], dtype=np.float64)
        end = np.array([n.end for n in notes], dtype=np.float64)
        pitch = np.array([n.pitch for n in notes], dtype=np.int64)
        velocity = np.array([n.velocity for n in notes], dtype=np.int64)
        ids = self.encode_arrays(start, end, pitch, velocity)
        if meter in self.meters:
            ids = np.concatenate([np.array([self.meter_id(meter)], dtype=np.int32), ids])
        return ids

    def encode_arrays(
        self, start: np.ndarray, end: np.ndarray, pitch: np.ndarray, velocity: np.ndarray
    ) -> np.ndarray:
        """The notes as columns (onsets and ends in beats, pitches, velocities) → event ids,
        without a Python object per note: this is what reading a large corpus costs.

        Each note, in (onset, pitch, duration, velocity) order, writes
            SHIFT…  the steps since the previous onset, max_shift at a time, the rest last
            VEL     when its velocity bin differs from the previous note's
            NOTE    its pitch
            DUR…    its length in steps (at least one), max_duration at a time, the rest last
        """
        if not len(start):
            return np.zeros(0, dtype=np.int32)
        spb = self.steps_per_beat
        onset = np.rint(start * spb).astype(np.int64)  # round half to even, like round()
        length = np.maximum(1, np.rint(end * spb).astype(np.int64) - onset)
        vbin = np.clip(velocity, 0, 127).astype(np.int64) * self.velocity_bins // 128
        pitch = np.asarray(pitch, dtype=np.int64)
        if pitch.min() < 0 or pitch.max() > 127:  # else a NOTE id would land on another kind
            bad = int(pitch[(pitch < 0) | (pitch > 127)][0])
            raise ValueError(f"note pitch {bad} is outside MIDI's 0-127")
        order = np.lexsort((vbin, length, pitch, onset))
        onset, pitch, length, vbin = onset[order], pitch[order], length[order], vbin[order]

        gap = onset.copy()
        gap[1:] -= onset[:-1]
        shifts = -(-gap // self.max_shift)  # tokens per gap (0 for a chord's later notes)
        changes = np.empty(len(vbin), dtype=bool)
        changes[0] = True
        np.not_equal(vbin[1:], vbin[:-1], out=changes[1:])
        durations = -(-length // self.max_duration)
        counts = shifts + changes + 1 + durations
        first = np.cumsum(counts) - counts  # where each note's tokens begin
        ids = np.empty(int(counts.sum()), dtype=np.int64)
        _fill_repeated(ids, first, shifts, gap, self.shift_offset, self.max_shift)
        ids[(first + shifts)[changes]] = self.velocity_offset + vbin[changes]
        note_at = first + shifts + changes
        ids[note_at] = self.note_offset + pitch
        _fill_repeated(ids, note_at + 1, durations, length, self.duration_offset, self.max_duration)
        return ids.astype(np.int32)

    def decode(self, ids: Any) -> list[Note]:
        """Event ids → notes in beats. Tolerates any sequence: stray DURs are ignored, a NOTE
        with no DUR lasts one step, specials are skipped."""
        notes: list[Note] = []
        clock, velocity = 0, self.velocity_bins * 5 // 8  # default: bin of velocity ~80
        pitch, duration = -1, 0

        def flush() -> None:
            if pitch >= 0:
                notes.append(self._note(clock, pitch, max(duration, 1), velocity))

        for token in (int(t) for t in ids):
            kind, value = self.split(token)
            if kind == "DUR":
                if pitch >= 0:
                    duration += value
                continue
            flush()
            pitch, duration = -1, 0
            if kind == "NOTE":
                pitch = value
            elif kind == "SHIFT":
                clock += value
            elif kind == "VEL":
                velocity = value
        flush()
        notes.sort()
        return notes

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "steps_per_beat": self.steps_per_beat,
            "max_shift": self.max_shift,
            "max_duration": self.max_duration,
            "velocity_bins": self.velocity_bins,
            "styles": list(self.styles),
            "meters": list(self.meters),
            "pitch_range": list(self.pitch_range) if self.pitch_range else None,
            "style_ranges": {k: list(v) for k, v in self.style_ranges.items()},
            "style_voices": dict(self.style_voices),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MidiEventTokenizer:
        fields = {k: v for k, v in data.items() if k != "kind"}
        return cls(**fields)  # older dicts lack the meter and range fields: their defaults

    def settings_key(self) -> str:
        # Styles, meters and what the data showed do not change how notes encode (meter ids are
        # added when a piece is assembled), so none of them may invalidate caches.
        learned = {"styles", "meters", "pitch_range", "style_ranges", "style_voices"}
        settings = {k: v for k, v in self.to_dict().items() if k not in learned}
        return repr(sorted(settings.items()))

    def token_name(self, token_id: int) -> str:
        kind, value = self.split(token_id)
        if kind == "METER":
            return f"METER_{self.meters[value]}"
        return kind if value < 0 else f"{kind}_{value}"

    def length_cost(self, unit: str) -> np.ndarray:
        """``steps``: grid steps each id advances the clock; ``beats``: the same in beats."""
        if unit in ("steps", "beats"):
            cost = np.zeros(self.vocab_size, dtype=np.float32)
            cost[self.shift_offset : self.velocity_offset] = np.arange(1, self.max_shift + 1)
            return cost / self.steps_per_beat if unit == "beats" else cost
        return super().length_cost(unit)

    # -- music helpers -------------------------------------------------------------------------
    def split(self, token_id: int) -> tuple[str, int]:
        """An id → (kind, value), e.g. ("NOTE", 60), ("DUR", 12), ("SHIFT", 3), ("EOS", -1)."""
        if token_id == self.pad_id:
            return "PAD", -1
        if token_id == self.bos_id:
            return "BOS", -1
        if token_id == self.eos_id:
            return "EOS", -1
        if self.note_offset <= token_id < self.duration_offset:
            return "NOTE", token_id - self.note_offset
        if self.duration_offset <= token_id < self.shift_offset:
            return "DUR", token_id - self.duration_offset + 1
        if self.shift_offset <= token_id < self.velocity_offset:
            return "SHIFT", token_id - self.shift_offset + 1
        if self.velocity_offset <= token_id < self.meter_offset:
            return "VEL", token_id - self.velocity_offset
        if self.meter_offset <= token_id < self.vocab_size:
            return "METER", token_id - self.meter_offset
        raise ValueError(f"token id {token_id} is outside the vocabulary (size {self.vocab_size})")

    def note_id(self, pitch: int) -> int:
        """The NOTE id for a MIDI pitch."""
        return self.note_offset + pitch

    def note_ids(self) -> range:
        """All NOTE ids."""
        return range(self.note_offset, self.duration_offset)

    def meter_id(self, meter: str) -> int:
        """The METER id of a time signature ("6/8"); ValueError naming the known ones."""
        if meter not in self.meters:
            known = ", ".join(self.meters) or "none (this model learned no meter)"
            raise ValueError(f"unknown meter {meter!r}; this model knows: {known}")
        return self.meter_offset + self.meters.index(meter)

    def meter_ids(self) -> range:
        """All METER ids (empty for a model without meters)."""
        return range(self.meter_offset, self.vocab_size)

    def meter_of(self, ids) -> str | None:
        """The meter named by the first METER id of a sequence, or None."""
        for token in ids:
            if self.meter_offset <= int(token) < self.vocab_size:
                return self.meters[int(token) - self.meter_offset]
        return None

    def velocity_bin(self, velocity: int) -> int:
        """A MIDI velocity (0-127) → its bin."""
        return min(max(int(velocity), 0), 127) * self.velocity_bins // 128

    def bin_velocity(self, velocity_bin: int) -> int:
        """A bin → the velocity at its centre (at least 1)."""
        width = 128 // self.velocity_bins
        return max(1, velocity_bin * width + width // 2)

    def style_id(self, style: str | None) -> int:
        """Conditioning id of a style name: 0 for none, 1.. for known styles."""
        if style is None:
            return 0
        if style not in self.styles:
            known = ", ".join(self.styles) or "none (this model has no styles)"
            raise ValueError(f"unknown style {style!r}; this model knows: {known}")
        return self.styles.index(style) + 1

    def transpose(self, ids: np.ndarray, semitones: int) -> np.ndarray | None:
        """Shift every NOTE by ``semitones``; None if a note would leave 0-127."""
        is_note = (ids >= self.note_offset) & (ids < self.duration_offset)
        return shift_notes(ids, is_note, self.note_offset, semitones)

    def condition_ids(self, ids: np.ndarray, style: str | None) -> tuple[int, int]:
        """Style id (unknown styles count as none) and first pitch + 1 (0 if no note)."""
        style_id = self.styles.index(style) + 1 if style in self.styles else 0
        pitch = self.first_pitch(ids)
        return style_id, 0 if pitch is None else pitch + 1

    def first_pitch(self, ids: np.ndarray) -> int | None:
        """Pitch of the first NOTE in a sequence, or None."""
        notes = ids[(ids >= self.note_offset) & (ids < self.duration_offset)]
        return int(notes[0]) - self.note_offset if len(notes) else None

    # -- internals -----------------------------------------------------------------------------
    def _note(self, clock: int, pitch: int, duration: int, velocity_bin: int) -> Note:
        spb = self.steps_per_beat
        return Note(clock / spb, duration / spb, pitch, self.bin_velocity(velocity_bin))


def _fill_repeated(
    ids: np.ndarray,
    at: np.ndarray,
    counts: np.ndarray,
    amounts: np.ndarray,
    offset: int,
    largest: int,
) -> None:
    """Write each amount as ``counts`` tokens from ``at`` on: ``largest`` steps each, the
    remainder last (amount 100, largest 48: 48, 48, 4)."""
    if counts.max(initial=0) <= 1:  # the common case: one token or none per note
        one = counts == 1
        ids[at[one]] = offset + amounts[one] - 1
        return
    total = int(counts.sum())
    group_start = np.repeat(np.cumsum(counts) - counts, counts)
    within = np.arange(total) - group_start  # 0, 1, ... inside each note's run
    positions = np.repeat(at, counts) + within
    values = np.full(total, largest, dtype=np.int64)
    last = np.cumsum(counts)[counts > 0] - 1
    values[last] = (amounts - (counts - 1) * largest)[counts > 0]
    ids[positions] = offset + values - 1
