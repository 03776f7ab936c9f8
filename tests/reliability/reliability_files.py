"""MIDI files the reliability tests write at test time (nothing is downloaded)."""

from __future__ import annotations

import io
import os

import mido

# Hypothesis examples per property test; RELIABILITY_EXAMPLES=20000 runs the long campaign
# whose figures RELIABILITY.md reports.
EXAMPLES = int(os.environ.get("RELIABILITY_EXAMPLES", "250"))


def midi_bytes(midi: mido.MidiFile) -> bytes:
    """A mido file as the bytes of a standard MIDI file."""
    buffer = io.BytesIO()
    midi.save(file=buffer)
    return buffer.getvalue()


def melody_track(pitches: list[int], *, channel: int = 0, step: int = 48) -> mido.MidiTrack:
    """One note after another, each ``step`` ticks long, with a program change first."""
    track = mido.MidiTrack([mido.Message("program_change", program=40, channel=channel)])
    for pitch in pitches:
        track.append(mido.Message("note_on", note=pitch, velocity=80, channel=channel))
        track.append(mido.Message("note_off", note=pitch, velocity=0, channel=channel, time=step))
    return track


def song(kind: int = 1, *, tempos: tuple[int, ...] = (500_000,), ticks_per_beat: int = 96):
    """A small file of type ``kind``: a tempo track (with tempo changes), a melody, a bass
    line and a drum track (channel 10, which the reader drops)."""
    midi = mido.MidiFile(type=kind, ticks_per_beat=ticks_per_beat)
    conductor = mido.MidiTrack([mido.MetaMessage("time_signature", numerator=3, denominator=4)])
    for index, tempo in enumerate(tempos):
        conductor.append(mido.MetaMessage("set_tempo", tempo=tempo, time=96 if index else 0))
    midi.tracks.append(conductor)
    midi.tracks.append(melody_track([60, 62, 64, 65, 67, 69, 71, 72] * 2))
    midi.tracks.append(melody_track([36, 43, 41, 43], channel=1, step=192))
    midi.tracks.append(melody_track([35, 38, 42, 38] * 2, channel=9))
    return midi
