"""The column encoder gives exactly the ids of the note-by-note rule it replaced."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from generator.midi import Note
from generator.tokenizers import MidiEventTokenizer


def reference_encode(tokenizer: MidiEventTokenizer, notes: list[Note]) -> list[int]:
    """The rule written note by note (the encoder before it worked on columns)."""
    spb = tokenizer.steps_per_beat
    quantized = sorted(
        (
            round(n.start * spb),
            n.pitch,
            max(1, round(n.end * spb) - round(n.start * spb)),
            tokenizer.velocity_bin(n.velocity),
        )
        for n in notes
    )

    def repeated(ids, amount, offset, largest):
        while amount > 0:
            step = min(amount, largest)
            ids.append(offset + step - 1)
            amount -= step

    ids, clock, velocity = [], 0, -1
    for start, pitch, duration, velocity_bin in quantized:
        repeated(ids, start - clock, tokenizer.shift_offset, tokenizer.max_shift)
        clock = start
        if velocity_bin != velocity:
            ids.append(tokenizer.velocity_offset + velocity_bin)
            velocity = velocity_bin
        ids.append(tokenizer.note_offset + pitch)
        repeated(ids, duration, tokenizer.duration_offset, tokenizer.max_duration)
    return ids


note = st.builds(
    Note,
    start=st.floats(0, 300, allow_nan=False),
    duration=st.floats(0, 40, allow_nan=False),
    pitch=st.integers(0, 127),
    velocity=st.integers(1, 127),
)


@settings(max_examples=300, deadline=None)
@given(
    notes=st.lists(note, max_size=60),
    steps_per_beat=st.sampled_from([1, 4, 12]),
    max_shift=st.sampled_from([1, 5, 48]),
    velocity_bins=st.sampled_from([1, 16, 128]),
)
def test_columns_encode_like_the_note_by_note_rule(notes, steps_per_beat, max_shift, velocity_bins):
    tokenizer = MidiEventTokenizer(
        steps_per_beat=steps_per_beat,
        max_shift=max_shift,
        max_duration=max_shift + 3,
        velocity_bins=velocity_bins,
    )
    ids = tokenizer.encode(notes)
    assert ids.dtype == np.int32
    assert ids.tolist() == reference_encode(tokenizer, notes)


def test_a_long_gap_and_a_long_note_repeat_their_tokens_with_the_rest_last():
    tokenizer = MidiEventTokenizer(steps_per_beat=4, max_shift=48, max_duration=48)
    ids = tokenizer.encode([Note(25.0, 25.0, 60, 80)])  # 100 steps in, 100 steps long
    assert [tokenizer.split(int(t)) for t in ids] == [
        ("SHIFT", 48),
        ("SHIFT", 48),
        ("SHIFT", 4),
        ("VEL", 10),
        ("NOTE", 60),
        ("DUR", 48),
        ("DUR", 48),
        ("DUR", 4),
    ]
