"""``python -m generator notate FILE.mid --out FILE.musicxml|.mxl|.svg``: sheet music from any
MIDI file, and ``--format`` for the commands that write MIDI (``sample music``, ``sample
pianoroll``, ``harmonize``): MusicXML and/or SVG written next to each MIDI file.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from generator.cli.common import add_command

FORMATS = ("mid", "musicxml", "mxl", "svg")
SUFFIX = {"musicxml": ".musicxml", "mxl": ".mxl", "svg": ".svg"}


def add_parsers(commands) -> None:
    """Add the ``notate`` command."""
    from generator.notation import DEFAULT_STEPS_PER_BEAT

    notate = add_command(
        commands,
        "notate",
        _notate,
        help="sheet music (MusicXML or SVG) from a MIDI file",
        description="Quantises the notes to --grid, takes the meter, key and tempo from the "
        "file (or --meter and --key; with no key signature the key is found by key analysis), "
        "and writes one staff for a melody, a grand staff for one track with chords, or a "
        "staff per track (Soprano, Alto, Tenor, Bass: a choir's staves). Drum tracks are "
        "left out.",
    )
    notate.add_argument("midi", type=Path, help="a MIDI file")
    notate.add_argument(
        "--out",
        type=Path,
        default=None,
        help="FILE.musicxml, FILE.mxl (compressed MusicXML) or FILE.svg; "
        "None: the MIDI file's name with .musicxml",
    )
    notate.add_argument(
        "--grid",
        type=int,
        default=DEFAULT_STEPS_PER_BEAT,
        help="steps per quarter note to quantise to (12: sixteenths and eighth triplets)",
    )
    notate.add_argument("--title", default="", help="printed above the music")
    add_notation_flags(notate)


def add_notation_flags(parser: argparse.ArgumentParser, marks: bool = True) -> None:
    """--meter, --key, --layout and --width: how the score is written. Without ``marks`` the
    command has its own --meter and --key (sample music: what the music is made in), and the
    score takes them from the music instead."""
    from generator.notation import LAYOUTS
    from generator.notation.engrave import DEFAULT_WIDTH

    group = parser.add_argument_group("sheet music")
    parser.set_defaults(notation_marks=marks)
    if marks:
        group.add_argument(
            "--meter",
            type=_checked_meter,
            default=None,
            help="time signature, e.g. 6/8; None: the piece's",
        )
        group.add_argument(
            "--key",
            type=_checked_key,
            default=None,
            help="key, e.g. 'D major', 'Eb minor', or auto (key analysis); None: the file's "
            "key signature, else auto",
        )
    group.add_argument(
        "--layout",
        choices=LAYOUTS,
        default="auto",
        help="staves; auto: one for a melody, a grand staff for chords, one per track; "
        "staff: all on one; grand: split at middle C; parts: one per track",
    )
    group.add_argument("--width", type=int, default=DEFAULT_WIDTH, help="SVG page width, pixels")


def add_format_flags(parser: argparse.ArgumentParser, marks: bool = True) -> None:
    """--format (and the sheet-music flags) for a command that writes MIDI files."""
    parser.add_argument(
        "--format",
        type=parse_formats,
        default=("mid",),
        help="files to write per piece, comma-separated from mid, musicxml, mxl, svg "
        "(the .mid is always written; the others go next to it)",
    )
    add_notation_flags(parser, marks)


def _checked_meter(text: str) -> str:
    """--meter, checked while the command line is read (before any work is done)."""
    from generator.notation.layout import Meter

    try:
        Meter.parse(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return text


def _checked_key(text: str) -> str:
    """--key, checked while the command line is read; "auto" asks for key analysis."""
    from generator.midi.keys import Key

    if text != "auto":
        try:
            Key.parse(text)
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from None
    return text


def parse_formats(text: str) -> tuple[str, ...]:
    """The formats of ``--format mid,musicxml``, in order, without repeats."""
    formats = tuple(dict.fromkeys(f.strip().lower() for f in text.split(",") if f.strip()))
    unknown = [f for f in formats if f not in FORMATS]
    if unknown or not formats:
        raise argparse.ArgumentTypeError(
            f"unknown format {', '.join(unknown) or repr(text)}: choose from {', '.join(FORMATS)}"
        )
    return formats


def write_scores(
    args: argparse.Namespace,
    midi_paths: list[Path],
    *,
    steps_per_beat: int,
    meter: str | None = None,
    key: str | None = None,
    like: Path | None = None,
) -> list[Path]:
    """The sheet music of each MIDI file just written, in the formats of --format, next to it.

    The score shows the file as written, quantised to the model's grid ``steps_per_beat``.
    Meter and key: --meter/--key, else ``meter`` (what the command was asked for), else those
    of the MIDI file ``like`` (the harmonizer's melody), else the written file's. With
    ``like``, the file's first track is the melody: its staff is called Melody unless its
    track has a voice's name (Soprano ...)."""
    from generator.midi import read_midi
    from generator.notation import file_marks, notate, write_musicxml, write_svg
    from generator.notation.score import midi_marks, midi_parts

    wanted = [f for f in args.format if f != "mid"]
    if not wanted:
        return []
    marks = file_marks(like) if like is not None else {}
    own = getattr(args, "notation_marks", True)  # --meter/--key are the score's own flags
    options = {
        "steps_per_beat": steps_per_beat,
        "meter": (args.meter if own else None) or meter or marks.get("meter"),
        "key": (args.key if own else None) or key or marks.get("key"),
        "layout": args.layout,
    }
    written = []
    for midi_path in midi_paths:
        music = midi = read_midi(midi_path)
        if like is not None:
            music = _melody_first(midi_parts(midi))
            options["bpm"] = midi_marks(midi).get("bpm")
        notation = notate(music, **options)
        for kind in wanted:
            out = midi_path.with_suffix(SUFFIX[kind])
            if kind == "svg":
                written.append(write_svg(notation, out, width=args.width))
            else:
                written.append(write_musicxml(notation, out))
    return written


def _melody_first(parts: dict) -> dict:
    """Parts with the first (the melody) called Melody unless it has a voice's name."""
    names = list(parts)
    if not names or names[0].lower() in ("soprano", "alto", "tenor", "bass", "melody"):
        return parts
    return {("Melody" if name == names[0] else name): notes for name, notes in parts.items()}


def _notate(args: argparse.Namespace) -> int:
    from generator.notation import notate, write_musicxml, write_svg

    out = args.out or args.midi.with_suffix(".musicxml")
    if out.suffix.lower() not in (".musicxml", ".xml", ".mxl", ".svg"):
        raise ValueError(f"{out}: --out must end in .musicxml, .mxl or .svg")
    notation = notate(
        args.midi,
        steps_per_beat=args.grid,
        meter=args.meter,
        key=args.key,
        layout=args.layout,
        title=args.title,
    )
    if out.suffix.lower() == ".svg":
        write_svg(notation, out, width=args.width)
    else:
        write_musicxml(notation, out)
    staves = len(notation.staves)
    print(out)
    print(
        f"{args.midi}: {notation.bars} bars of {notation.meter} in {notation.key}, "
        + ("1 staff" if staves == 1 else f"{staves} staves"),
        file=sys.stderr,
    )
    return 0
