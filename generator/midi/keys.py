"""Keys: read from text or a MIDI key signature, or found by key analysis; pitches spelled to
match the key.

Key analysis correlates the piece's pitch-class durations with the Krumhansl-Kessler
major and minor key profiles and takes the best of the 24 keys; the tonic is named the way
key signatures usually are (D♭ major rather than C♯ major, E♭ minor rather than D♯ minor).

Spelling: the seven scale degrees take the key's own letters (F♯ in D major, G♭ in E♭ minor);
the five chromatic notes are named as what they most often are. In a major key: ♯1, ♭3, ♯4,
♭6, ♭7 (D♯, F, G♯, B♭, C in D major). In a minor key (natural minor as the scale): ♭2, the
raised 3rd (a major chord on the tonic), ♯4, the raised 6th and the raised 7th, the leading
tone (C♯ and B in D minor, D♮ in E♭ minor).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import numpy as np

LETTERS = "CDEFGAB"
NATURAL_PITCH_CLASS = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
MAJOR_TONICS = ("C", "D-", "D", "E-", "E", "F", "F#", "G", "A-", "A", "B-", "B")  # music21 names
MINOR_TONICS = ("C", "C#", "D", "E-", "E", "F", "F#", "G", "G#", "A", "B-", "B")

# semitones above the tonic → scale degree (0 = tonic) whose letter names the pitch
DEGREE = {
    "major": (0, 0, 1, 2, 2, 3, 3, 4, 5, 5, 6, 6),
    "minor": (0, 1, 1, 2, 2, 3, 3, 4, 5, 5, 6, 6),
}

# Krumhansl & Kessler (1982) probe-tone ratings, tonic first
MAJOR_PROFILE = (6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88)
MINOR_PROFILE = (6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17)

_KEY_TEXT = re.compile(r"^([A-Ga-g])\s*([#b♯♭]?)\s*(major|minor|maj|min|m)?$", re.IGNORECASE)


class Key:
    """A major or minor key, named by its tonic (letter and alteration)."""

    def __init__(self, letter: str, alter: int, mode: str):
        if letter not in NATURAL_PITCH_CLASS or mode not in DEGREE or abs(alter) > 1:
            raise ValueError(f"invalid key {letter}{alter:+d} {mode}")
        self.letter, self.alter, self.mode = letter, alter, mode
        self.tonic_pitch_class = (NATURAL_PITCH_CLASS[letter] + alter) % 12

    @classmethod
    def from_pitch_class(cls, pitch_class: int, mode: str) -> Key:
        """The usual spelling of the key on this tonic (module doc)."""
        name = (MAJOR_TONICS if mode == "major" else MINOR_TONICS)[pitch_class % 12]
        return cls(name[0], {"": 0, "#": 1, "-": -1}[name[1:]], mode)

    @classmethod
    def parse(cls, text: str) -> Key:
        """Key from text: "D", "D major", "Eb minor", "f#m", "Bb"; ValueError for anything else.
        A lone lower-case letter with no mode ("e") is minor, as in music21."""
        match = _KEY_TEXT.match(str(text).strip())
        if not match:
            raise ValueError(
                f"invalid key {text!r}: write a tonic and a mode, like D major, Eb minor or F#m"
            )
        letter, accidental, mode = match.groups()
        if mode:
            mode = "major" if mode.lower().startswith("maj") else "minor"
            if mode == "minor" and match.group(3) == "M":
                mode = "major"
        else:
            mode = "minor" if letter.islower() else "major"
        alter = {"#": 1, "♯": 1, "b": -1, "♭": -1}.get(accidental, 0)
        return cls(letter.upper(), alter, mode)

    @classmethod
    def from_midi_key_number(cls, key_number: int) -> Key:
        """A MIDI key signature as pretty_midi numbers it (0-11 major, 12-23 minor, on C-B)."""
        return cls.from_pitch_class(key_number % 12, "major" if key_number < 12 else "minor")

    @property
    def midi_key_number(self) -> int:
        """The key as a MIDI key signature, numbered as pretty_midi numbers it."""
        return self.tonic_pitch_class + (12 if self.mode == "minor" else 0)

    @property
    def sharps(self) -> int:
        """Sharps (> 0) or flats (< 0) of the key signature."""
        fifths = {"C": 0, "G": 1, "D": 2, "A": 3, "E": 4, "B": 5, "F": -1}[self.letter]
        fifths += 7 * self.alter
        return fifths - 3 if self.mode == "minor" else fifths

    @property
    def tonic_name(self) -> str:
        """The tonic in music21's spelling: "E-", "F#", "C"."""
        return self.letter + {0: "", 1: "#", -1: "-"}[self.alter]

    def __str__(self) -> str:
        accidental = {0: "", 1: "#", -1: "b"}[self.alter]
        return f"{self.letter}{accidental} {self.mode}"

    def __repr__(self) -> str:
        return f"Key({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Key) and str(self) == str(other)

    def __hash__(self) -> int:
        return hash(str(self))

    def signature_alter(self, letter: str) -> int:
        """The key signature's alteration of ``letter`` (+1 sharp, -1 flat, 0)."""
        if self.sharps > 0 and letter in "FCGDAEB"[: self.sharps]:
            return 1
        if self.sharps < 0 and letter in "BEADGCF"[: -self.sharps]:
            return -1
        return 0

    def spell(self, midi: int) -> tuple[str, int, int]:
        """(letter, alteration in semitones, octave) naming MIDI pitch ``midi`` in this key;
        the alteration is -2..2, octave numbers as in C4 = 60."""
        degree = DEGREE[self.mode][(midi - self.tonic_pitch_class) % 12]
        letter = LETTERS[(LETTERS.index(self.letter) + degree) % 7]
        natural = NATURAL_PITCH_CLASS[letter]
        alter = (midi - natural + 6) % 12 - 6
        octave = (midi - alter - natural) // 12 - 1
        return letter, alter, octave


def shown_accidentals(notes: Iterable[tuple[int, bool]], key: Key) -> list[bool]:
    """Which notes of one bar of one staff print their accidental: ``notes`` are (MIDI pitch,
    tied over from the note before) in time order. An accidental holds for its letter and
    octave to the end of the bar; a note tied over shows none; no courtesy accidentals."""
    in_force: dict[tuple[str, int], int] = {}  # (letter, octave) → alteration this bar
    shown = []
    for midi, tied in notes:
        letter, alter, octave = key.spell(midi)
        current = in_force.get((letter, octave), key.signature_alter(letter))
        show = not tied and alter != current
        if show:
            in_force[letter, octave] = alter
        shown.append(show)
    return shown


def analyze_key(weighted_pitches: Iterable[tuple[int, float]]) -> Key:
    """The major or minor key whose Krumhansl-Kessler profile best matches the pitch classes
    weighted by duration; C major when there is nothing to weigh."""
    histogram = np.zeros(12)
    for pitch, weight in weighted_pitches:
        histogram[int(pitch) % 12] += weight
    if not histogram.any() or np.ptp(histogram) == 0:
        return Key("C", 0, "major")
    best, best_score = None, -np.inf
    for mode, profile in (("major", MAJOR_PROFILE), ("minor", MINOR_PROFILE)):
        for tonic in range(12):
            score = np.corrcoef(histogram, np.roll(profile, tonic))[0, 1]
            if score > best_score:
                best, best_score = (tonic, mode), score
    return Key.from_pitch_class(*best)
