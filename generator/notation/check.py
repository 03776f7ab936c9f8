"""Round trip: write a piece's MusicXML, read it back with music21, compare with the notes.

Two questions, answered apart:
- does the score hold exactly the quantised notes (pitch, onset, end)? It should, always;
- how far did quantising move the notes? Not at all for notes on a readable grid (the
  piano roll's and the harmonizer's eighths); at most half a step of the beat's grid for the
  music model's 12-step grid (an onset at 1/12 of a beat goes to the nearest sixteenth or
  triplet eighth), and only where a note's own grid is finer than notation shows.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction

from generator.midi.notes import Note
from generator.notation.layout import quantize, snap_notes
from generator.notation.score import notate, read_musicxml


@dataclass
class RoundTrip:
    """What came back from a piece's MusicXML, against its notes."""

    notes: int  # notes given
    shown: int  # notes in the score (a note doubled at one onset and pitch is shown once)
    read_back: int  # notes read back from the MusicXML
    missing: int  # quantised notes not read back
    extra: int  # notes read back that were not among the quantised notes
    moved: int  # given notes whose onset or end quantising moved
    max_onset_shift: float  # largest onset move, in beats
    max_end_shift: float  # largest end move, in beats (a note too short for the grid grows)

    @property
    def exact(self) -> bool:
        """The score holds exactly the quantised notes."""
        return self.missing == 0 and self.extra == 0


def round_trip(
    music: Sequence[Note] | Mapping[str, Sequence[Note]], *, steps_per_beat: int, **options
) -> RoundTrip:
    """Notate ``music`` (options as for ``notate``), write MusicXML, read it back, compare."""
    parts = dict(music) if isinstance(music, Mapping) else {"": list(music)}
    notation = notate(parts, steps_per_beat=steps_per_beat, **options)
    expected: Counter = Counter()
    moved, onset_shift, end_shift = 0, 0.0, 0.0
    for notes in parts.values():
        expected += _keys(quantize(notes, steps_per_beat))
        for note, grid in zip(notes, snap_notes(notes, steps_per_beat), strict=True):
            onset, end = abs(float(grid.start) - note.start), abs(float(grid.end) - note.end)
            moved += max(onset, end) > 1e-6
            onset_shift, end_shift = max(onset_shift, onset), max(end_shift, end)
    got: Counter = Counter()
    for notes in read_musicxml(notation.musicxml()).values():
        got += _keys(notes)
    return RoundTrip(
        notes=sum(len(n) for n in parts.values()),
        shown=sum(expected.values()),
        read_back=sum(got.values()),
        missing=sum((expected - got).values()),
        extra=sum((got - expected).values()),
        moved=moved,
        max_onset_shift=onset_shift,
        max_end_shift=end_shift,
    )


def _keys(notes) -> Counter:
    """(pitch, onset, end) of notes, as exact fractions of a quarter note."""

    def exact(time) -> Fraction:
        return Fraction(time).limit_denominator(96)

    return Counter((n.pitch, exact(n.start), exact(n.end)) for n in notes)
