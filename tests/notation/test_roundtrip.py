"""MusicXML written from notes and read back with music21 gives the notes on the grid."""

from __future__ import annotations

from collections import Counter
from fractions import Fraction

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from generator.midi import Note
from generator.notation import quantize, read_musicxml, readable_divisions, write_musicxml


def on_grid(notes) -> Counter:
    return Counter((n.pitch, Fraction(n.start), Fraction(n.end)) for n in notes)


def read_back(path) -> Counter:
    staves = read_musicxml(path)
    return on_grid(
        Note(
            Fraction(n.start).limit_denominator(96),
            Fraction(n.duration).limit_denominator(96),
            n.pitch,
            64,
        )
        for notes in staves.values()
        for n in notes
    )


def near_the_grid(original: list[Note], steps_per_beat: int) -> bool:
    """Each note has a quantised note of its pitch whose onset moved at most half a step of
    the coarsest readable grid and whose end is no earlier than half a step before its own
    (a note kept from vanishing grows; of two notes at one onset the longer stays)."""
    half = Fraction(1, 2 * min(readable_divisions(steps_per_beat)))
    grid = quantize(original, steps_per_beat)
    return all(
        any(
            g.pitch == n.pitch
            and abs(g.start - Fraction(n.start)) <= half
            and g.end >= Fraction(n.end) - half
            for g in grid
        )
        for n in original
    )


@st.composite
def pieces(draw):
    """Parts of notes on a model grid, nudged off it a little, in a random meter and layout."""
    steps_per_beat = draw(st.sampled_from([2, 4, 12]))
    num_parts = draw(st.sampled_from([1, 1, 2, 4]))
    parts = {}
    for index in range(num_parts):
        notes = []
        for _ in range(draw(st.integers(1, 14))):
            start = draw(st.integers(0, 16 * steps_per_beat))
            length = draw(st.integers(1, 6 * steps_per_beat))
            nudge = draw(st.floats(-0.2, 0.2)) / steps_per_beat
            pitch = draw(st.integers(36, 84))
            notes.append(
                Note(max(0.0, (start + nudge) / steps_per_beat), length / steps_per_beat, pitch, 80)
            )
        parts[("Soprano", "Alto", "Tenor", "Bass")[index] if num_parts == 4 else f"P{index}"] = (
            notes
        )
    meter = draw(st.sampled_from(["4/4", "3/4", "2/4", "6/8", "9/8", "2/2", "12/8"]))
    key = draw(st.sampled_from([None, "D major", "Eb minor", "F# minor", "Bb major"]))
    layout = draw(st.sampled_from(["auto", "staff", "grand"] if num_parts == 1 else ["auto"]))
    music = parts[next(iter(parts))] if num_parts == 1 and draw(st.booleans()) else parts
    return music, steps_per_beat, meter, key, layout


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(piece=pieces())
def test_musicxml_round_trip_gives_the_notes_on_the_grid(tmp_path, piece):
    music, steps_per_beat, meter, key, layout = piece
    path = write_musicxml(
        music,
        tmp_path / "piece.musicxml",
        steps_per_beat=steps_per_beat,
        meter=meter,
        key=key,
        layout=layout,
    )
    parts = music if isinstance(music, dict) else {"": music}
    expected = Counter()
    for notes in parts.values():
        expected += on_grid(quantize(notes, steps_per_beat))
        assert near_the_grid(notes, steps_per_beat)
    assert read_back(path) == expected
