"""Keys: parsing, MIDI key signatures, key analysis and spelling in the key."""

from __future__ import annotations

import pytest

from generator.midi import note_number
from generator.midi.keys import Key, analyze_key, shown_accidentals


def spelled(key: str, note: str) -> str:
    letter, alter, octave = Key.parse(key).spell(note_number(note))
    return letter + {-2: "bb", -1: "b", 0: "", 1: "#", 2: "##"}[alter] + str(octave)


@pytest.mark.parametrize(
    ("key", "note", "name"),
    [
        ("D major", "F#4", "F#4"),
        ("D major", "C#5", "C#5"),
        ("Eb minor", "F#4", "Gb4"),  # the minor third of E-flat minor
        ("Eb minor", "D4", "D4"),  # its leading tone, a natural
        ("Eb minor", "B3", "Cb4"),  # its sixth: C-flat, and the octave follows the letter
        ("D minor", "C#4", "C#4"),  # leading tone
        ("D minor", "A#3", "Bb3"),  # the minor sixth
        ("F major", "A#4", "Bb4"),
        ("G# minor", "G4", "F##4"),  # leading tone of G-sharp minor
        ("C major", "F#4", "F#4"),  # raised fourth
        ("C major", "A#4", "Bb4"),  # flat seventh
        ("Gb major", "B3", "Cb4"),
        ("C# minor", "B#3", "B#3"),  # leading tone, B-sharp, octave 3
    ],
)
def test_pitches_are_spelled_in_the_key(key, note, name):
    assert spelled(key, note) == name


def test_every_spelling_names_the_right_pitch():
    for tonic in range(12):
        for mode in ("major", "minor"):
            key = Key.from_pitch_class(tonic, mode)
            for midi in range(21, 109):
                letter, alter, octave = key.spell(midi)
                natural = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}[letter]
                assert 12 * (octave + 1) + natural + alter == midi
                assert abs(alter) <= 2


@pytest.mark.parametrize(
    ("text", "name", "sharps"),
    [
        ("D", "D major", 2),
        ("D major", "D major", 2),
        ("Eb minor", "Eb minor", -6),
        ("f#m", "F# minor", 3),
        ("e", "E minor", 1),
        ("Bb", "Bb major", -2),
        ("c minor", "C minor", -3),
    ],
)
def test_key_names_parse(text, name, sharps):
    key = Key.parse(text)
    assert str(key) == name
    assert key.sharps == sharps


@pytest.mark.parametrize("bad", ["H major", "D dorian", "", "C##", "major"])
def test_bad_key_names_are_refused_with_an_example(bad):
    with pytest.raises(ValueError, match="D major"):
        Key.parse(bad)


def test_midi_key_numbers_follow_pretty_midi():
    assert str(Key.from_midi_key_number(2)) == "D major"
    assert str(Key.from_midi_key_number(12 + 3)) == "Eb minor"
    assert str(Key.from_midi_key_number(1)) == "Db major"


def scale(tonic: int, steps: list[int]) -> list[tuple[int, float]]:
    weights = [2.0, 1, 1, 1, 1.5, 1, 1]  # tonic and fifth held longest
    return [(tonic + step, weights[i % 7]) for i, step in enumerate(steps)]


MAJOR = [0, 2, 4, 5, 7, 9, 11]
HARMONIC_MINOR = [0, 2, 3, 5, 7, 8, 11]


@pytest.mark.parametrize(
    ("tonic", "steps", "name"),
    [
        (62, MAJOR, "D major"),
        (63, HARMONIC_MINOR, "Eb minor"),
        (64, HARMONIC_MINOR, "E minor"),
        (65, MAJOR, "F major"),
        (61, MAJOR, "Db major"),
    ],
)
def test_key_analysis_finds_the_scale(tonic, steps, name):
    assert str(analyze_key(scale(tonic, steps))) == name


def test_key_analysis_of_nothing_is_c_major():
    assert str(analyze_key([])) == "C major"


def test_accidentals_hold_to_the_end_of_the_bar_per_octave():
    c_major = Key.parse("C major")
    f4, f_sharp4, f_sharp5 = 65, 66, 78
    notes = [(f_sharp4, False), (f_sharp4, False), (f_sharp5, False), (f4, False)]
    assert shown_accidentals(notes, c_major) == [True, False, True, True]  # F4 gets a natural
    assert shown_accidentals([(f_sharp4, True), (f_sharp4, False)], c_major) == [False, True]


def test_accidentals_against_the_key_signature():
    d_major = Key.parse("D major")
    assert shown_accidentals([(66, False), (65, False), (65, False)], d_major) == [
        False,
        True,  # F natural against the signature's F#
        False,
    ]
    assert shown_accidentals([(62, False)], Key.parse("Eb minor")) == [True]  # D natural
