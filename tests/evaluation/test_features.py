"""Each per-piece feature on a case small enough to work out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from generator.evaluation.features import (
    FEATURE_NAMES,
    LENGTH_CLASSES,
    clip_notes,
    length_class,
    meter_lengths,
    outside_range,
    piece_features,
)
from generator.midi.notes import Note


def melody(pitches, step=1.0, start=0.0):
    return [Note(start + i * step, step, p, 80) for i, p in enumerate(pitches)]


def test_an_arpeggio_by_hand():
    # C4 E4 G4 C5, one beat each: pitch classes C C E G.
    f = piece_features(melody([60, 64, 67, 72]))
    assert f["pitch_range"] == 12
    assert f["pitch_classes"] == 3
    assert f["pitch_class_entropy"] == pytest.approx(1.5)  # -(1/2 log 1/2 + 2 · 1/4 log 1/4)
    assert f["scale_consistency"] == 1.0
    assert f["polyphony"] == 1.0
    assert f["on_grid"] == 1.0
    assert f["empty_beats"] == 0.0
    assert math.isnan(f["groove_consistency"])  # one bar only
    intervals = f["interval_histogram"]
    assert intervals.sum() == pytest.approx(1.0)
    assert intervals[12 + 4] == intervals[12 + 3] == intervals[12 + 5] == pytest.approx(1 / 3)
    assert f["note_length_histogram"][list(LENGTH_CLASSES).index(1)] == 1.0
    assert f["ioi_histogram"][list(LENGTH_CLASSES).index(1)] == 1.0


def test_chromatic_scale_entropy_and_scale_consistency():
    f = piece_features(melody(range(60, 72)))
    assert f["pitch_class_entropy"] == pytest.approx(math.log2(12))
    assert f["scale_consistency"] == pytest.approx(7 / 12)
    assert f["pitch_classes"] == 12


def test_polyphony_counts_notes_per_onset_and_the_top_voice_is_the_highest():
    chord = [Note(0, 1, p, 80) for p in (48, 55, 64)]
    f = piece_features(chord + [Note(1, 1, 62, 80)])
    assert f["polyphony"] == 2.0  # 4 notes over 2 onsets
    assert f["interval_histogram"][12 - 2] == 1.0  # E4 -> D4 in the top voice


def test_on_grid_share_on_the_eighth_grid():
    notes = [Note(t, 0.25, 60, 80) for t in (0.0, 0.5, 0.75, 1 / 3)]
    assert piece_features(notes)["on_grid"] == 0.5
    assert piece_features(notes, grid_per_beat=4)["on_grid"] == 0.75


def test_empty_beats():
    notes = [Note(0, 1, 60, 80), Note(3, 0.5, 62, 80)]  # beats 1 and 2 are silent
    assert piece_features(notes)["empty_beats"] == 0.5
    notes = [Note(0, 1, 60, 80), Note(1.5, 0.75, 62, 80), Note(3, 1, 62, 80)]
    assert piece_features(notes)["empty_beats"] == 0.0  # 1.5-2.25 sounds in beats 1 and 2


def test_groove_consistency_by_hand():
    notes = melody([60, 62, 64, 65]) + melody([67, 65, 64], start=4.0)
    # bar 2 lacks the onset at its fourth beat: 1 position of 48 differs
    assert piece_features(notes)["groove_consistency"] == pytest.approx(1 - 1 / 48)
    # in 2-beat bars: 0-1, 2-3, 4-5 all have onsets on both beats, the last bar (6) on one
    assert piece_features(notes, beats_per_bar=2)["groove_consistency"] == pytest.approx(
        1 - 1 / (24 * 3)
    )


def jig(bars: int) -> list[Note]:
    """A 6/8 jig rhythm, quarter + eighth twice a bar (times in quarter notes: a bar is 3)."""
    pattern = [(0.0, 1.0), (1.0, 0.5), (1.5, 1.0), (2.5, 0.5)]
    return [
        Note(3 * bar + t, d, 60 + i, 80) for bar in range(bars) for i, (t, d) in enumerate(pattern)
    ]


def test_a_jig_is_measured_in_its_own_6_8_bars():
    notes = jig(4)
    assert piece_features(notes, meter="6/8")["groove_consistency"] == 1.0  # every bar alike
    assert piece_features(notes, meter="12/8")["groove_consistency"] == 1.0
    # in 4/4 bars (the old assumption) the same tune looks irregular
    assert piece_features(notes)["groove_consistency"] < 0.95
    assert piece_features(notes, meter="4/4")["groove_consistency"] < 0.95


def test_empty_beats_count_the_meters_beats():
    notes = [Note(0, 0.5, 60, 80), Note(2.5, 0.5, 62, 80)]  # an eighth at each end of a bar
    assert piece_features(notes, meter="6/8")["empty_beats"] == 0.0  # two dotted quarters
    assert piece_features(notes, meter="3/4")["empty_beats"] == pytest.approx(1 / 3)  # 1-2 silent
    half_notes = [Note(0, 0.5, 60, 80), Note(3, 0.5, 62, 80)]
    assert piece_features(half_notes, meter="2/2")["empty_beats"] == 0.0
    assert piece_features(half_notes, meter="4/4")["empty_beats"] == 0.5


def test_meter_lengths():
    assert meter_lengths("6/8") == (3.0, 1.5)
    assert meter_lengths("2/2") == (4.0, 2.0)
    assert meter_lengths("3/4") == (3.0, 1.0)
    assert meter_lengths(None, beats_per_bar=3) == (3.0, 1.0)


def test_length_classes_are_nearest_on_a_log_scale():
    classes = list(LENGTH_CLASSES)
    found = length_class([0.5, 0.45, 1.5, 100.0, 0.001])
    assert found.tolist() == [
        classes.index(0.5),
        classes.index(0.5),
        classes.index(1.5),
        len(classes) - 1,
        0,
    ]


def test_an_empty_piece_is_nan_everywhere():
    f = piece_features([])
    assert set(f) == set(FEATURE_NAMES)
    assert all(isinstance(v, float) and math.isnan(v) for v in f.values())


def test_clip_and_outside_range():
    notes = melody([60, 62, 64, 65], step=2.0)
    clipped = clip_notes(notes, 5.0)
    assert [(n.start, n.duration) for n in clipped] == [(0, 2), (2, 2), (4, 1)]
    assert clip_notes(notes, None) == notes
    assert outside_range(notes, 61, 64) == 2
    assert np.isclose(sum(piece_features(notes)["ioi_histogram"]), 1.0)
