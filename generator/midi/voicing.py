"""Four-part voicing conventions shared by the harmony metrics and the harmonizer's rules.

- Ranges (MIDI pitches, inclusive): soprano C4-A5, alto F3-D5, tenor C3-A4, bass E2-D4.
- A voice's range comes from its name when it is Soprano/Alto/Tenor/Bass (any case), otherwise
  from its place counted from the bottom: the last voice is the bass, the one above it the
  tenor, then the alto, then the soprano.
- Consonant with the melody: a unison or octave, third, fifth or sixth (the interval mod 12);
  a fourth too, except against the lowest voice.
- Beats: quarter notes, dotted quarters in 6/8, 9/8 and 12/8, else 1/denominator notes.
"""

from __future__ import annotations

from collections.abc import Sequence

SATB_RANGES = {"Soprano": (60, 81), "Alto": (53, 74), "Tenor": (48, 69), "Bass": (40, 62)}
FROM_THE_BOTTOM = ("Bass", "Tenor", "Alto", "Soprano")
CONSONANT = frozenset({0, 3, 4, 7, 8, 9})  # unison/octave, thirds, fifth, sixths (mod 12)
FOURTH = 5
PERFECT = (0, 7)  # octave/unison and fifth: the intervals parallels are counted on


def range_names(names: Sequence[str]) -> list[str]:
    """The SATB voice whose range applies to each voice (highest first); see the module rules."""
    if all(name.title() in SATB_RANGES for name in names):
        return [name.title() for name in names]
    count = len(names)
    return [FROM_THE_BOTTOM[min(count - 1 - k, 3)] for k in range(count)]


def consonant_intervals(lowest: bool) -> frozenset[int]:
    """Intervals (mod 12) consonant with the melody, for the lowest voice or another."""
    return CONSONANT if lowest else CONSONANT | {FOURTH}


def beat_length(numerator: int, denominator: int) -> float:
    """Quarter notes per beat of a meter: 1.5 in 6/8, 9/8 and 12/8, else one 1/denominator."""
    if denominator == 8 and numerator % 3 == 0 and numerator > 3:
        return 1.5
    return 4.0 / denominator
