"""Sheet music: notes → a score (music21) → MusicXML files and SVG engraved by Verovio.

    from generator.notation import notate, score_svg, write_musicxml

    notation = notate(notes, steps_per_beat=12, meter="4/4", bpm=120)  # build once ...
    svg = score_svg(notation)                                          # ... engrave
    write_musicxml(notation, "piece.musicxml")                         # ... and write

Every function also takes the music directly: notes in beats (one stream: one staff, or a
grand staff when it has chords), {part name: notes} (one staff per part: Soprano, Alto,
Tenor, Bass), a pretty_midi.PrettyMIDI or the path of a MIDI file. The rules (grid, staves,
voices, ties, rests, key, spelling and accidentals) are in layout.py and generator/midi/keys.py;
``warm_up()`` imports music21 and Verovio ahead of the first score, ``read_musicxml`` and
``check.round_trip`` read a score back to compare it with its notes.
"""

from generator.midi.keys import Key, analyze_key
from generator.notation.engrave import score_svg, warm_up, write_svg
from generator.notation.layout import LAYOUTS, Meter, quantize, readable_divisions
from generator.notation.score import (
    DEFAULT_STEPS_PER_BEAT,
    Music,
    Notation,
    file_marks,
    notate,
    read_musicxml,
    write_musicxml,
)

__all__ = [
    "DEFAULT_STEPS_PER_BEAT",
    "LAYOUTS",
    "Key",
    "Meter",
    "Music",
    "Notation",
    "analyze_key",
    "file_marks",
    "notate",
    "quantize",
    "read_musicxml",
    "readable_divisions",
    "score_svg",
    "warm_up",
    "write_musicxml",
    "write_svg",
]
