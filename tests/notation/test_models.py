"""Round trip on what the shipped models write: the MusicXML holds exactly the notes on the
grid. (benchmarks/notation_roundtrip.py runs the same check on 100 samples per model.)"""

from __future__ import annotations

import pytest

from generator.checkpoint import load_checkpoint
from generator.config import SHIPPED_DIR
from generator.midi.parts import Part
from generator.notation.check import round_trip
from generator.sampling import SamplingOptions
from generator.sampling.harmonize import harmonize
from generator.sampling.music import MusicRequest, generate_music
from generator.sampling.pianoroll import PianoRollRequest, generate_pianoroll

SAMPLES = 3


@pytest.fixture(scope="module")
def music_pieces():
    loaded = load_checkpoint(SHIPPED_DIR / "music.pt")
    request = MusicRequest(
        num=SAMPLES, style="reel", seed_note="D4", bars=8, options=SamplingOptions(seed=3)
    )
    return loaded.tokenizer.steps_per_beat, generate_music(loaded, request).pieces


def test_music_model_samples_round_trip(music_pieces):
    steps_per_beat, pieces = music_pieces
    for notes in pieces:
        result = round_trip(notes, steps_per_beat=steps_per_beat, meter="4/4")
        assert result.exact, result
        # the 12-step grid is shown as sixteenths or triplet eighths: a move of at most
        # half a sixteenth on straight beats, half a triplet eighth on triplet beats
        assert result.max_onset_shift <= 1 / 6 + 1e-9


def test_pianoroll_model_samples_round_trip_unmoved():
    loaded = load_checkpoint(SHIPPED_DIR / "pianoroll.pt")
    tokenizer = loaded.tokenizer
    rolls = generate_pianoroll(
        loaded, PianoRollRequest(num=SAMPLES, frames=32, options=SamplingOptions(seed=3))
    ).rolls
    for roll in rolls:
        notes = tokenizer.to_notes(roll)
        result = round_trip(notes, steps_per_beat=tokenizer.frames_per_beat)
        assert result.exact and result.moved == 0, result


def test_harmonizer_output_round_trips_on_satb_staves(music_pieces):
    loaded = load_checkpoint(SHIPPED_DIR / "harmonizer.pt")
    for notes in music_pieces[1]:
        melody = Part("Soprano", 0, sorted(notes))
        result = harmonize(loaded, melody, options=SamplingOptions(temperature=0.7, seed=3))
        parts = {"Soprano": melody.notes, **result.voices}
        check = round_trip(parts, steps_per_beat=12)
        assert check.exact, check
        voices_only = round_trip(result.voices, steps_per_beat=loaded.tokenizer.steps_per_beat)
        assert voices_only.exact and voices_only.moved == 0, voices_only
