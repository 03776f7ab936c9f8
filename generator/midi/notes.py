"""Notes in musical time (beats), and the rules for turning MIDI files into notes and back.

Reading rule (documented in README "Data"): every non-drum track is merged into one polyphonic
stream; drum tracks (MIDI channel 10) are dropped, since a pitch there names a drum, not a note.
Times are converted from seconds to beats through the file's own tempo map, so a piece keeps its
rhythm whatever tempo it was recorded at; the tempo is chosen again when a piece is written.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pretty_midi

_NOTE_NAME = re.compile(r"^([A-Ga-g])([#b♯♭]?)(-?\d+)$")
_PITCH_CLASS = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}


@dataclass(frozen=True, order=True)
class Note:
    """One note: onset and duration in beats (quarter notes), MIDI pitch and velocity."""

    start: float  # beats from the start of the piece
    duration: float  # beats
    pitch: int  # MIDI note number 0-127 (60 = C4)
    velocity: int  # 1-127

    @property
    def end(self) -> float:
        return self.start + self.duration


def note_number(name: str | int) -> int:
    """Parse a note given by name ("C4", "F#3", "Bb2"; C4 = 60) or by number ("60")."""
    text = str(name).strip()
    if text.lstrip("-").isdigit():
        number = int(text)
    else:
        match = _NOTE_NAME.match(text)
        if not match:
            raise ValueError(
                f"invalid note {name!r}: use a name such as C4, F#3 or Bb2, or a number 0-127"
            )
        letter, accidental, octave = match.groups()
        shift = {"#": 1, "♯": 1, "b": -1, "♭": -1}.get(accidental, 0)
        number = 12 * (int(octave) + 1) + _PITCH_CLASS[letter.upper()] + shift
    if not 0 <= number <= 127:
        raise ValueError(f"invalid note {name!r}: MIDI note numbers run from 0 to 127")
    return number


def notes_from_pretty_midi(midi: pretty_midi.PrettyMIDI) -> list[Note]:
    """All non-drum notes of a parsed file, in beats, sorted by onset then pitch."""
    resolution = midi.resolution
    notes = []
    for instrument in midi.instruments:
        if instrument.is_drum:
            continue
        for n in instrument.notes:
            start = midi.time_to_tick(n.start) / resolution
            end = midi.time_to_tick(n.end) / resolution
            if end <= start:
                continue
            notes.append(Note(start, end - start, int(n.pitch), max(1, int(n.velocity))))
    notes.sort()
    return notes


def read_notes(path: str | Path) -> list[Note]:
    """Read a MIDI file's notes by the reading rule above; raises on a file that does not parse."""
    return notes_from_pretty_midi(pretty_midi.PrettyMIDI(str(path)))


def to_pretty_midi(
    notes: list[Note], *, bpm: float = 120.0, program: int = 0, name: str = ""
) -> pretty_midi.PrettyMIDI:
    """Build a one-track PrettyMIDI at a fixed tempo from notes in beats."""
    seconds_per_beat = 60.0 / bpm
    midi = pretty_midi.PrettyMIDI(initial_tempo=bpm)
    instrument = pretty_midi.Instrument(program=program, name=name)
    for pitch_notes in _by_pitch(notes).values():
        for i, note in enumerate(pitch_notes):
            end = note.end
            # A MIDI file cannot hold two overlapping notes of one pitch on one channel:
            # the earlier note ends where the later one starts.
            if i + 1 < len(pitch_notes):
                end = min(end, pitch_notes[i + 1].start)
            if end <= note.start:
                continue
            instrument.notes.append(
                pretty_midi.Note(
                    velocity=int(note.velocity),
                    pitch=int(note.pitch),
                    start=note.start * seconds_per_beat,
                    end=end * seconds_per_beat,
                )
            )
    instrument.notes.sort(key=lambda n: (n.start, n.pitch))
    midi.instruments.append(instrument)
    return midi


def write_midi(
    notes: list[Note], path: str | Path, *, bpm: float = 120.0, program: int = 0, name: str = ""
) -> Path:
    """Write notes as a standard MIDI file (type 1, one track) at a fixed tempo and GM program."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    to_pretty_midi(notes, bpm=bpm, program=program, name=name).write(str(path))
    return path


def _by_pitch(notes: list[Note]) -> dict[int, list[Note]]:
    groups: dict[int, list[Note]] = {}
    for note in sorted(notes):
        groups.setdefault(note.pitch, []).append(note)
    return groups
