"""Layout rules: the grid, staves, voices, ties and rests (no music21 needed)."""

from __future__ import annotations

from fractions import Fraction as F

import pytest

from generator.midi import Note
from generator.notation import Meter, quantize, readable_divisions
from generator.notation.layout import (
    GridNote,
    is_expressible,
    make_staves,
    split_voices,
    voice_bars,
)


@pytest.mark.parametrize(
    ("steps", "divisions"),
    [(12, (4, 3)), (2, (2,)), (4, (4,)), (1, (1,)), (6, (2, 3)), (24, (8, 3)), (96, (8, 3))],
)
def test_model_grids_are_notated_on_readable_grids(steps, divisions):
    assert readable_divisions(steps) == divisions


def test_a_beat_is_straight_or_in_triplets_never_both():
    notes = [
        Note(0, 1 / 3, 60, 80),
        Note(1 / 3, 1 / 3, 62, 80),
        Note(2 / 3, 1 / 3, 64, 80),  # beat 0: triplets
        Note(1, 0.25, 65, 80),
        Note(1.25, 0.25, 67, 80),
        Note(1.5, 0.5, 69, 80),  # beat 1: sixteenths
        Note(2.02, 0.97, 71, 80),  # a little off the grid
    ]
    grid = quantize(notes, 12)
    assert [n.start for n in grid] == [0, F(1, 3), F(2, 3), 1, F(5, 4), F(3, 2), 2]
    assert [n.end for n in grid] == [F(1, 3), F(2, 3), 1, F(5, 4), F(3, 2), 2, 3]


def test_quantizing_to_an_eighth_grid_keeps_a_vanishing_note_one_step():
    grid = quantize([Note(1.0, 0.1, 60, 80), Note(1.0, 0.5, 60, 80)], 2)
    assert grid == [GridNote(F(1), F(3, 2), 60)]  # duplicates at one onset: the longer stays
    assert quantize([Note(0.2, 0.05, 60, 80)], 2) == [GridNote(F(0), F(1, 2), 60)]


@pytest.mark.parametrize(
    ("text", "bar", "beat"),
    [("4/4", 4, 1), ("3/4", 3, 1), ("6/8", 3, F(3, 2)), ("9/8", F(9, 2), F(3, 2)), ("2/2", 4, 2)],
)
def test_meters(text, bar, beat):
    meter = Meter.parse(text)
    assert (meter.bar, meter.beat, str(meter)) == (bar, beat, text)


@pytest.mark.parametrize("bad", ["4", "4/3", "0/4", "x/4", "4/4/4", ""])
def test_bad_meters_are_refused(bad):
    with pytest.raises(ValueError, match="4/4"):
        Meter.parse(bad)


def g(start, end, pitch=60) -> GridNote:
    return GridNote(F(start), F(end), pitch)


def test_a_melody_is_one_staff_and_chords_make_a_grand_staff():
    melody = [g(0, 1, 67), g(1, 2, 72)]
    staves, group = make_staves({"": melody})
    assert len(staves) == 1 and staves[0].clef == "treble" and group == ""
    low = [g(0, 1, 40), g(1, 2, 45)]
    assert make_staves({"": low})[0][0].clef == "bass"
    chords = [g(0, 2, 48), g(0, 2, 64), g(0, 2, 67), g(2, 4, 72)]
    staves, group = make_staves({"": chords})
    assert group == "brace"
    assert [[n.pitch for n in s.notes] for s in staves] == [[64, 67, 72], [48]]


def test_a_tune_with_one_held_low_note_stays_on_one_staff():
    tune = [g(i, i + 1, 72 + i % 5) for i in range(12)] + [g(0, 2, 55)]  # 2 of 13 overlap
    staves, group = make_staves({"": tune})
    assert len(staves) == 1 and group == ""
    assert len(staves[0].voices) == 2  # the held note is a second voice


def test_named_parts_get_a_staff_each_with_choir_clefs():
    parts = {
        name: [g(0, 1, p)]
        for name, p in zip(["Soprano", "Alto", "Tenor", "Bass"], [72, 67, 60, 48], strict=True)
    }
    staves, group = make_staves(parts)
    assert [(s.name, s.clef) for s in staves] == [
        ("Soprano", "treble"),
        ("Alto", "treble"),
        ("Tenor", "treble8vb"),
        ("Bass", "bass"),
    ]
    assert group == "bracket"


def test_bad_layout_is_refused():
    with pytest.raises(ValueError, match="grand"):
        make_staves({"": [g(0, 1)]}, "piano")


def test_overlapping_chords_go_to_a_second_voice():
    voices = split_voices([g(0, 2, 72), g(0, 2, 76), g(0, 1, 64), g(1, 2, 65), g(2, 3, 60)])
    assert voices == [
        [(0, 2, (72, 76)), (2, 3, (60,))],
        [(0, 1, (64,)), (1, 2, (65,))],
    ]


def events(voice, meter="4/4", bars=1):
    return [
        [(e.offset, e.duration, e.pitches, e.tie_in, e.tie_out) for e in bar]
        for bar in voice_bars(voice, Meter.parse(meter), bars)
    ]


def test_a_note_over_the_barline_is_tied():
    assert events([(F(3), F(5), (60,))], bars=2) == [
        [(0, 2, (), False, False), (2, 1, (), False, False), (3, 1, (60,), False, True)],
        [(0, 1, (60,), True, False), (1, 1, (), False, False), (2, 2, (), False, False)],
    ]


def test_rests_join_into_half_bars_and_whole_bars():
    out = voice_bars([(F(0), F(1), (60,))], Meter.parse("4/4"), 2)
    assert [(e.offset, e.duration) for e in out[0]] == [(0, 1), (1, 1), (2, 2)]
    assert [(e.offset, e.duration, e.full_bar) for e in out[1]] == [(0, 4, True)]


def test_an_offbeat_note_is_tied_at_the_beat():
    # an eighth-note syncopation: starts half a beat in, lasts a beat and a half
    bar = events([(F(1, 2), F(2), (60,))])[0]
    notes = [e for e in bar if e[2]]
    assert [(e[0], e[1]) for e in notes] == [(F(1, 2), F(1, 2)), (1, 1)]
    assert notes[0][4] and notes[1][3]


def test_a_dotted_quarter_on_the_beat_stays_whole():
    bar = events([(F(0), F(3, 2), (60,)), (F(3, 2), F(2), (62,))])[0]
    assert (0, F(3, 2), (60,), False, False) in bar


def test_in_six_eight_the_beat_is_a_dotted_quarter():
    bar = events([(F(1, 2), F(2), (60,))], "6/8")[0]
    notes = [(e[0], e[1]) for e in bar if e[2]]
    assert notes == [(F(1, 2), 1), (F(3, 2), F(1, 2))]


def test_a_triplet_note_does_not_cross_the_quarter():
    bar = events([(F(2, 3), F(4, 3), (60,))])[0]
    assert [(e[0], e[1]) for e in bar if e[2]] == [(F(2, 3), F(1, 3)), (1, F(1, 3))]


def test_every_event_is_one_note_value_and_bars_are_full():
    voice = [(F(0), F(5, 4), (60,)), (F(11, 8), F(23, 8), (62,)), (F(10, 3), F(13, 2), (64,))]
    for bar in voice_bars(voice, Meter.parse("4/4"), 2):
        assert sum(e.duration for e in bar) == 4
        assert all(e.full_bar or is_expressible(e.duration) for e in bar)
