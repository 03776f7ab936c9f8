"""Harmony metrics on tiny hand-made pieces whose counts can be worked out by hand."""

from __future__ import annotations

import json

import numpy as np
import pytest

from generator.evaluation.harmony import (
    combine,
    file_harmony,
    harmony_metrics,
    is_chord,
    sounding,
)
from generator.midi.notes import Note
from generator.midi.parts import write_parts
from generator.midi.voicing import beat_length, range_names


def line(*pitches: int, length: float = 1.0) -> list[Note]:
    """One note per beat (``length`` beats each)."""
    return [Note(i * length, length, p, 80) for i, p in enumerate(pitches)]


def test_consonance_counts_thirds_fifths_sixths_and_fourths_except_against_the_bass():
    melody = line(72, 72, 72, 72)
    # Alto: sixth (8), fourth (5), second (2), octave (12 → 0): 3 of 4 consonant.
    # Bass: fourth (24 + 5 below), fifth, third, tritone: the fourth counts against it.
    voices = {"Alto": line(64, 67, 70, 60), "Bass": line(43, 41, 45, 42)}
    metrics = harmony_metrics(melody, voices)
    alto, bass = metrics.voices
    assert (alto.beats, alto.consonant) == (4, 3)
    assert (bass.beats, bass.consonant) == (4, 2)
    assert metrics.consonance == pytest.approx(5 / 8)


def test_parallel_fifths_and_octaves_are_counted_once_per_pair():
    melody = line(72, 74, 76, 76)
    # Bass: C→D→E under C→D→E: octaves (mod 12) twice; the last beat holds: no motion.
    voices = {"Bass": line(48, 50, 52, 52)}
    metrics = harmony_metrics(melody, voices)
    assert metrics.voices[0].parallels == 2
    assert metrics.parallels == 2
    assert metrics.transitions == 3
    assert metrics.parallels_per_100 == pytest.approx(200 / 3)
    # A fifth to a sixth is no parallel; oblique motion (one part holds) neither.
    assert harmony_metrics(line(72, 74, 74), {"Bass": line(65, 65, 62)}).parallels == 0


def test_parallels_between_two_added_voices_count_for_both():
    melody = line(79, 79)
    voices = {"Alto": line(67, 69), "Tenor": line(60, 62), "Bass": line(48, 48)}
    metrics = harmony_metrics(melody, voices)
    alto, tenor, bass = metrics.voices
    assert (alto.parallels, tenor.parallels, bass.parallels) == (1, 1, 0)
    assert metrics.parallels == 1


def test_crossings_doubling_and_overlaps():
    melody = line(67, 67, 67)
    # Alto: below, doubling the melody, above it.
    voices = {"Alto": line(64, 67, 69), "Tenor": line(60, 66, 70)}
    metrics = harmony_metrics(melody, voices)
    alto, tenor = metrics.voices
    assert alto.doubled == 1 and alto.above_melody == 1 and alto.crossings == 1
    assert tenor.above_melody == 1  # 70 > 67 on beat 3
    assert tenor.crossings == 1  # 70 above the alto's 69
    # Tenor 66 (beat 2) is above the alto's previous 64: an overlap; and 70 > 67.
    assert tenor.overlaps == 2
    assert metrics.crossings == 2


def test_out_of_range_notes_by_voice_name_or_place():
    voices = {"Alto": line(52, 60), "Bass": line(38, 62)}
    metrics = harmony_metrics(line(72, 72), voices)
    assert [v.out_of_range for v in metrics.voices] == [1, 1]  # F3-D5 and E2-D4
    assert range_names(["Alto", "tenor", "Bass"]) == ["Alto", "Tenor", "Bass"]
    assert range_names(["Piano", "Strings"]) == ["Tenor", "Bass"]
    assert range_names(["a", "b", "c", "d"]) == ["Soprano", "Alto", "Tenor", "Bass"]


def test_chord_share_uses_complete_triads_and_seventh_chords():
    melody = line(72, 74, 72)
    voices = {"Alto": line(67, 65, 65), "Tenor": line(64, 71, 62), "Bass": line(48, 55, 50)}
    # Beat 1: C E G (triad); beat 2: D F B G (G7); beat 3: C F D (no chord).
    metrics = harmony_metrics(melody, voices)
    assert metrics.chord_beats == 2 and metrics.beats == 3
    assert is_chord(frozenset({0, 4, 7})) and not is_chord(frozenset({0, 4}))


def test_sounding_takes_the_latest_onset_then_the_highest():
    notes = [Note(0.0, 4.0, 60, 80), Note(1.0, 1.0, 64, 80), Note(1.0, 1.0, 67, 80)]
    times = np.array([0.0, 1.0, 2.0, 4.0])
    assert sounding(notes, times).tolist() == [60, 67, 60, -1]


def test_beats_follow_the_meter():
    assert beat_length(6, 8) == 1.5 and beat_length(3, 4) == 1.0 and beat_length(2, 2) == 2.0
    melody = line(72, 72, 72, 72, length=0.5)  # four eighths; beats at 0 and 1.5 in 6/8
    voices = {"Bass": [Note(0.0, 1.5, 48, 80), Note(1.5, 0.5, 54, 80)]}  # octave, tritone
    bass = harmony_metrics(melody, voices, beat=1.5).voices[0]
    assert (bass.beats, bass.consonant) == (2, 1)


def test_combine_adds_pieces_and_file_metrics(tmp_path):
    parts = {
        "Soprano": line(72, 74, 76),
        "Alto": line(67, 65, 67),
        "Tenor": line(64, 62, 60),
        "Bass": line(48, 55, 48),
    }
    path = write_parts(parts, tmp_path / "four.mid")
    read = file_harmony(path)
    assert read.melody == "Soprano" and read.voices == ["Alto", "Tenor", "Bass"]
    direct = harmony_metrics(parts["Soprano"], {k: parts[k] for k in ("Alto", "Tenor", "Bass")})
    assert read.metrics.to_dict() == direct.to_dict()
    both = combine([read.metrics, direct])
    assert both.pieces == 2 and both.beats == 2 * direct.beats
    assert both.consonance == pytest.approx(direct.consonance)
    json.dumps(both.to_dict())  # plain types only


def test_a_file_without_voices_is_refused(tmp_path):
    path = write_parts({"Melody": line(60, 62)}, tmp_path / "solo.mid")
    with pytest.raises(ValueError, match="solo.mid"):
        file_harmony(path)
