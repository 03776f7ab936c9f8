"""MIDI files in and out: notes measured in beats, read with pretty_midi, written for any player."""

from generator.midi.notes import Note, note_number, read_notes, write_midi

__all__ = ["Note", "note_number", "read_notes", "write_midi"]
