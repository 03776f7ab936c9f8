"""MIDI files in and out: notes measured in beats, read with pretty_midi, written for any player."""

from generator.midi.notes import (
    MidiReadError,
    Note,
    note_number,
    parse_midi,
    read_midi,
    read_notes,
    write_midi,
)

__all__ = [
    "MidiReadError",
    "Note",
    "note_number",
    "parse_midi",
    "read_midi",
    "read_notes",
    "write_midi",
]
