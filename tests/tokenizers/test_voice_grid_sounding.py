"""The voice grid shows at each step the note sounding at the step's time (issue 13)."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from generator.midi.notes import Note
from generator.tokenizers.voice_grid import VoiceGridTokenizer

TOKENIZER = VoiceGridTokenizer(steps_per_beat=2, voices=["Alto"])

SIXTEENTH_NOTES = st.lists(
    st.tuples(st.integers(0, 24), st.integers(1, 8), st.integers(40, 80)), min_size=1, max_size=10
).map(lambda spans: [Note(at / 4, length / 4, pitch, 80) for at, length, pitch in spans])


@settings(max_examples=150, deadline=None)
@given(SIXTEENTH_NOTES)
def test_a_step_shows_the_latest_started_then_highest_note_sounding_at_its_time(notes):
    ids = TOKENIZER.encode([notes])
    shown = TOKENIZER.sounding(ids, 1)[:, 0]
    for step, pitch in enumerate(shown):
        time = step / TOKENIZER.steps_per_beat
        sounding = [n for n in notes if n.start <= time < n.end]
        if sounding:
            latest = max(sounding, key=lambda n: (n.start, n.pitch))
            assert pitch == latest.pitch, (step, notes)
        elif pitch >= 0:  # only a note too short to sound at any grid time may fill a gap
            assert any(
                n.pitch == pitch and n.start < time + 0.5 and n.end > time - 0.5 for n in notes
            ), (step, notes)


@settings(max_examples=60, deadline=None)
@given(SIXTEENTH_NOTES)
def test_every_step_a_note_sounds_at_is_encoded(notes):
    steps = len(TOKENIZER.encode([notes]))
    for note in notes:  # one past the last step whose time is before the note's end
        assert math.ceil(note.end * TOKENIZER.steps_per_beat) <= steps, note
