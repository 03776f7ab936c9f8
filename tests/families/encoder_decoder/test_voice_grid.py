"""The voice-grid tokenizer: aligned steps, HOLD/REST, windows, round trips, transposition."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from generator.midi.notes import Note
from generator.tokenizers import tokenizer_from_dict
from generator.tokenizers.voice_grid import VoiceGridTokenizer

TOKENIZER = VoiceGridTokenizer(steps_per_beat=2, voices=["Alto", "Tenor", "Bass"])


def names(ids) -> list[str]:
    return [TOKENIZER.token_name(int(i)) for i in ids]


def test_one_voice_on_the_grid():
    melody = [Note(0.5, 1.0, 67, 80), Note(1.5, 0.5, 69, 80), Note(3.0, 1.0, 71, 80)]
    ids = TOKENIZER.encode([melody])
    assert names(ids) == ["REST", "G4", "HOLD", "A4", "REST", "HOLD", "B4", "HOLD"]


def test_voices_are_interleaved_step_by_step():
    alto = [Note(0, 2, 64, 80)]
    tenor = [Note(0, 1, 59, 80), Note(1, 1, 60, 80)]
    bass = [Note(0, 2, 48, 80)]
    ids = TOKENIZER.encode([alto, tenor, bass])
    assert len(ids) == 4 * 3
    assert names(ids[:3]) == ["E4", "B3", "C3"]  # step 0: alto, tenor, bass
    assert names(ids[6:9]) == ["HOLD", "C4", "HOLD"]  # step 2: only the tenor moves


def test_a_window_restates_a_held_note_at_its_start():
    melody = [Note(0, 4, 60, 80)]
    assert names(TOKENIZER.encode([melody], start=3, steps=3)) == ["C4", "HOLD", "HOLD"]


def test_a_repeated_pitch_is_a_new_note_and_overlaps_show_the_latest_onset():
    notes = [Note(0, 1, 60, 80), Note(1, 1, 60, 80), Note(1.5, 1, 64, 80)]
    assert names(TOKENIZER.encode([notes])) == ["C4", "HOLD", "C4", "E4", "HOLD"]


def test_a_sixteenth_melody_shows_the_note_sounding_at_each_step():
    """Issue 13: onsets were rounded half to even and the latest rounded onset won, so step 0
    showed D4 (from 0.25) and step 2 showed G4 (from 1.25): notes not yet started then."""
    melody = [
        Note(0.0, 0.25, 60, 80),
        Note(0.25, 0.25, 62, 80),  # sounds at no grid time, and C4 sounds at 0.0: dropped
        Note(0.5, 0.25, 64, 80),
        Note(0.75, 0.5, 65, 80),  # sounds at 1.0
        Note(1.25, 0.25, 67, 80),  # sounds at no grid time, and F4 sounds at 1.0: dropped
        Note(1.5, 0.5, 69, 80),
    ]
    assert names(TOKENIZER.encode([melody])) == ["C4", "E4", "F4", "A4"]  # was D4 E4 G4 A4


def test_a_short_note_keeps_one_step_where_nothing_else_sounds():
    notes = [Note(0, 1, 60, 80), Note(1.25, 0.25, 64, 80), Note(2, 1, 67, 80)]
    assert names(TOKENIZER.encode([notes])) == ["C4", "HOLD", "E4", "REST", "G4", "HOLD"]


def test_times_a_hair_off_the_grid_count_as_on_it():
    exact = [Note(0.5, 1.0, 67, 80), Note(1.5, 0.5, 69, 80)]
    noisy = [Note(0.5 + 1e-9, 1.0 - 2e-9, 67, 80), Note(1.5 - 1e-9, 0.5 + 1e-9, 69, 80)]
    assert names(TOKENIZER.encode([noisy])) == names(TOKENIZER.encode([exact]))


def test_decode_gives_each_voice_its_notes():
    parts = [[Note(0, 1, 64, 80)], [Note(0, 0.5, 59, 80), Note(1, 1, 57, 80)], [Note(0, 2, 48, 80)]]
    decoded = TOKENIZER.decode(TOKENIZER.encode(parts))
    assert decoded == parts


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 30), st.integers(1, 6), st.integers(30, 90)), max_size=12
    ).map(lambda spans: sorted(spans))
)
def test_round_trip_of_one_voice_without_overlaps(spans):
    """Notes on the grid that never overlap come back exactly."""
    notes, clock = [], 0
    for gap, length, pitch in spans:
        start = clock + gap % 3
        notes.append(Note(start / 2, length / 2, pitch, 80))
        clock = start + length
    decoded = TOKENIZER.decode_voices(TOKENIZER.encode([notes]), 1)[0]
    assert decoded == notes


def test_decode_tolerates_any_ids():
    rng = np.random.default_rng(0)
    for _ in range(20):
        ids = rng.integers(0, TOKENIZER.vocab_size, 40)
        for part in TOKENIZER.decode(ids):
            assert all(n.duration > 0 and 0 <= n.pitch < 128 for n in part)


def test_transpose_shifts_notes_only_and_refuses_to_leave_midi():
    ids = TOKENIZER.encode([[Note(0, 1, 60, 80), Note(2, 1, 127, 80)]])
    assert TOKENIZER.transpose(ids, 1) is None
    down = TOKENIZER.transpose(ids, -2)
    assert names(down) == ["A#3", "HOLD", "REST", "HOLD", "F9", "HOLD"]


def test_settings_survive_a_checkpoint():
    tokenizer = VoiceGridTokenizer(steps_per_beat=4, voices=["Bass"], segment_beats=8)
    rebuilt = tokenizer_from_dict(tokenizer.to_dict())
    assert isinstance(rebuilt, VoiceGridTokenizer) and rebuilt.to_dict() == tokenizer.to_dict()
    assert rebuilt.segment_steps == 32
    with pytest.raises(ValueError):
        VoiceGridTokenizer(voices=[])


def test_sounding_pitch_per_step_and_voice():
    alto = [Note(0, 1, 64, 80), Note(1.5, 0.5, 65, 80)]
    bass = [Note(0.5, 1.5, 48, 80)]
    sounding = TOKENIZER.sounding(TOKENIZER.encode([alto, bass]), 2)
    assert sounding.tolist() == [[64, -1], [64, 48], [-1, 48], [65, 48]]
