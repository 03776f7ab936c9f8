"""Multi-track MIDI as named parts: read each track on its own, write parts as tracks.

The melody rule (also in docs/seq2seq.md): of a file's non-drum tracks with notes, the
melody is the first track named "Soprano" or "Melody" (any case); failing that, the track with
the highest mean pitch. The other tracks are the accompanying voices, highest mean pitch first.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pretty_midi

from generator.midi.notes import (
    Note,
    beats_converter,
    instrument_notes,
    read_midi,
    to_pretty_midi,
)

MELODY_NAMES = ("soprano", "melody")


@dataclass
class Part:
    """One track: its name, General MIDI program and notes (in beats)."""

    name: str
    program: int
    notes: list[Note]

    @property
    def mean_pitch(self) -> float:
        return sum(n.pitch for n in self.notes) / max(len(self.notes), 1)


def parts_from_pretty_midi(midi: pretty_midi.PrettyMIDI) -> list[Part]:
    """Every non-drum track with notes, in file order, times in beats (via the tempo map)."""
    to_beats = beats_converter(midi)
    parts = []
    for instrument in midi.instruments:
        if instrument.is_drum:
            continue
        notes = instrument_notes(instrument, to_beats)
        if notes:
            parts.append(Part(instrument.name.strip(), int(instrument.program), sorted(notes)))
    return parts


def read_parts(path: str | Path) -> list[Part]:
    """A MIDI file's tracks as parts; MidiReadError naming the file if it cannot be read."""
    return parts_from_pretty_midi(read_midi(path))


def split_melody(parts: Sequence[Part], melody_track: str | None = None) -> tuple[Part, list[Part]]:
    """(melody, other parts by mean pitch, highest first) by the melody rule, or by the track
    named ``melody_track`` when given. ValueError when there is no such track or no notes."""
    if not parts:
        raise ValueError("no tracks with notes")
    names = [melody_track.lower()] if melody_track else list(MELODY_NAMES)
    melody = next((p for name in names for p in parts if p.name.lower() == name), None)
    if melody is None:
        if melody_track:
            found = ", ".join(repr(p.name) for p in parts)
            raise ValueError(f"no track named {melody_track!r} (tracks: {found})")
        melody = max(parts, key=lambda p: p.mean_pitch)
    others = sorted((p for p in parts if p is not melody), key=lambda p: -p.mean_pitch)
    return melody, others


def write_parts(
    parts: Mapping[str, Sequence[Note]],
    path: str | Path,
    *,
    bpm: float = 120.0,
    programs: Mapping[str, int] | None = None,
) -> Path:
    """Write {track name: notes in beats} as a type-1 MIDI file, one track per part, at one
    tempo; each track on its own channel."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    midi = pretty_midi.PrettyMIDI(initial_tempo=bpm)
    for name, notes in parts.items():
        program = (programs or {}).get(name, 0)
        midi.instruments.extend(
            to_pretty_midi(list(notes), bpm=bpm, program=program, name=name).instruments
        )
    midi.write(str(path))
    return path
