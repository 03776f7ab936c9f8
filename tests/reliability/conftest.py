"""Fixtures for the reliability tests: real and synthetic MIDI files to read and mutate."""

from __future__ import annotations

import mido
import pytest
from reliability_files import midi_bytes, song


@pytest.fixture(scope="session")
def chorale_bytes() -> bytes:
    """A real file: Bach's BWV 66.6 from music21's bundled corpus, written by music21's own
    MIDI writer (four parts, tempo and key meta events), not by this project."""
    music21 = pytest.importorskip("music21")
    score = music21.corpus.parse("bach/bwv66.6")
    return music21.midi.translate.streamToMidiFile(score).writestr()


@pytest.fixture(scope="session")
def seed_files(chorale_bytes: bytes) -> list[bytes]:
    """The files the property tests mutate: a real chorale, and types 0, 1 and 2."""
    type0 = mido.MidiFile(type=0, ticks_per_beat=480)
    type0.tracks.append(mido.merge_tracks(song(1, ticks_per_beat=480).tracks))
    return [
        chorale_bytes,
        midi_bytes(type0),
        midi_bytes(song(1, tempos=(500_000, 250_000, 1_000_000))),
        midi_bytes(song(2)),
    ]
