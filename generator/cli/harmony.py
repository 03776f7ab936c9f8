"""``python -m generator evaluate harmony``: harmony metrics of harmonized MIDI files.

Thin like every command module: parse flags, call generator.evaluation.harmony, print.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from generator.cli.common import add_command


def add_parsers(train_recipes, evaluate_what, sample_recipes) -> None:
    """Add ``harmony`` to evaluate (nothing to train or sample)."""
    evaluate = add_command(
        evaluate_what,
        "harmony",
        _evaluate,
        help="harmony metrics of multi-track MIDI files (melody + voices)",
        description="For each file: the melody (track named Soprano or Melody, else the "
        "highest; --melody-track names another) and every other track as a voice, highest "
        "first. Measured at every beat (quarter notes; dotted quarters in 6/8, 9/8, 12/8): "
        "consonance of each voice with the melody, the share of beats forming a triad or "
        "seventh chord, parallel fifths/octaves per 100 beat-to-beat transitions, crossings, "
        "overlaps, the melody doubled or crossed, notes outside each voice's SATB range. "
        "Rules in generator/evaluation/harmony.py.",
    )
    evaluate.add_argument(
        "--files",
        type=Path,
        nargs="+",
        required=True,
        help="MIDI files or folders (recursive; files without voices are skipped)",
    )
    evaluate.add_argument("--melody-track", default=None, help="name of the melody's track")
    evaluate.add_argument("--json", action="store_true", help="print one JSON object")


def _evaluate(args: argparse.Namespace) -> int:
    from generator.data.midi_corpus import find_midi_files
    from generator.evaluation.harmony import combine, file_harmony

    paths = []
    for given in args.files:
        if given.is_dir():
            paths.extend(find_midi_files(given))
        elif given.is_file():
            paths.append(given)
        else:
            raise FileNotFoundError(f"{given}: no such file or folder")
    if not paths:
        raise ValueError(f"no MIDI files in {', '.join(map(str, args.files))}")
    results = []
    for path in paths:
        try:
            results.append(file_harmony(path, args.melody_track))
        except ValueError as error:  # unreadable, or no voices: skipped, and said so
            if len(paths) == 1:
                raise
            print(f"skipped {error}", file=sys.stderr)
    if not results:
        raise ValueError("no file with a melody and voices to measure")
    total = combine([r.metrics for r in results])
    if args.json:
        files = [
            {"path": r.path, "melody": r.melody, "voices": r.voices, **r.metrics.to_dict()}
            for r in results
        ]
        print(json.dumps({"files": files, "total": total.to_dict()}))
        return 0
    for r in results:
        m = r.metrics
        print(
            f"{r.path}: melody {r.melody!r}, voices {', '.join(r.voices)}; consonance "
            f"{m.consonance:.3f}, parallels {m.parallels_per_100:.2f}/100, crossings "
            f"{m.crossings_per_100:.2f}/100, {m.out_of_range} notes out of range"
        )
    print(total.summary("all files" if len(results) > 1 else "total"))
    return 0
