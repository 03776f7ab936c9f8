"""``python -m generator evaluate quality``: generated MIDI against real MIDI, feature by feature,
with the half-against-half ceiling and the copy check (generator/evaluation/quality.py)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from generator.cli.common import add_command

DESCRIPTION = """\
Per piece: pitch range, pitch classes and their entropy, scale consistency, polyphony, the
share of onsets on the grid, empty beats, groove consistency, and histograms of top-voice
intervals, note lengths and inter-onset intervals. Per feature: the overlap area (0-1) of the
samples' distribution with the reference's, and the ceiling, the same for one half of the
reference against the other. quality ratio = mean overlap / mean ceiling.
Bars and beats are those of each file's own time signature (its first): a 6/8 bar is six
eighths (3 quarter notes) with two dotted-quarter beats, a 2/2 bar has two half-note beats;
a file with none has bars of --beats-per-bar quarter notes. The grid stays in quarter notes
(--grid-per-beat 2: eighths, also the pulse of 6/8).
With --train: the share of 8-note pitch sequences found verbatim in the training files and the
longest copied run, for the samples and for the reference (the yardstick).
--style S takes the reference (and --samples, when it has a subfolder S) from subfolder S;
--reference-split valid keeps the files `train --data` holds out, by the same hash of the path
relative to --reference, so `--reference datasets/music --style reel --reference-split valid
--train datasets/music --train-split train` measures against the music model's held-out reels."""


def add_parsers(evaluate_what) -> None:
    parser = add_command(
        evaluate_what,
        "quality",
        _cmd_quality,
        help="generated MIDI against real MIDI: features, overlap, copy check",
        description=DESCRIPTION,
    )
    parser.add_argument("--samples", type=Path, required=True, help="folder of generated MIDI")
    parser.add_argument("--reference", type=Path, required=True, help="folder of real MIDI")
    parser.add_argument("--train", type=Path, default=None, help="training MIDI: copy check")
    parser.add_argument("--json", type=Path, default=None, help="also write the report here")
    parser.add_argument("--plots", type=Path, default=None, help="write histogram PNGs here")
    parser.add_argument(
        "--style", action="append", default=None, help="a style subfolder (repeatable)"
    )
    split = parser.add_argument_group("splits (as the training code makes them)")
    split.add_argument("--reference-split", choices=("all", "train", "valid"), default="all")
    split.add_argument("--train-split", choices=("all", "train", "valid"), default="all")
    split.add_argument("--valid-fraction", type=float, default=0.1, help="share held out")
    measure = parser.add_argument_group("measuring")
    measure.add_argument("--grid-per-beat", type=int, default=2, help="grid for on_grid (2: 8ths)")
    measure.add_argument(
        "--beats-per-bar",
        type=int,
        default=4,
        help="bar, in quarter notes, of a file with no time signature",
    )
    measure.add_argument(
        "--max-beats", type=float, default=None, help="compare only the first beats of each piece"
    )
    measure.add_argument("--run-length", type=int, default=8, help="copy check: notes per run")
    measure.add_argument(
        "--ceiling-splits", type=int, default=50, help="random halvings for the ceiling"
    )
    measure.add_argument("--seed", type=int, default=0, help="seed of the halvings")


def _cmd_quality(args: argparse.Namespace) -> int:
    from generator.evaluation.quality import (
        QualityOptions,
        evaluate_quality,
        read_folder,
        write_plots,
    )

    if args.grid_per_beat < 1 or args.beats_per_bar < 1:
        raise ValueError("--grid-per-beat and --beats-per-bar must be at least 1")
    if args.max_beats is not None and args.max_beats <= 0:
        raise ValueError("--max-beats must be > 0")
    options = QualityOptions(
        grid_per_beat=args.grid_per_beat,
        beats_per_bar=args.beats_per_bar,
        max_beats=args.max_beats,
        run_length=args.run_length,
        ceiling_splits=args.ceiling_splits,
        seed=args.seed,
    )
    samples = read_folder(args.samples, "--samples")
    reference = read_folder(args.reference, "--reference")
    train = None
    if args.train is not None:
        train_folder = read_folder(args.train, "--train")
        train = list(train_folder.select(None, args.train_split, args.valid_fraction).values())
        if not train:
            raise ValueError(
                f"--train {args.train}: no readable pieces in the {args.train_split} split"
            )
    for folder in (samples, reference):
        if folder.skipped:
            print(
                f"{folder.folder}: skipped {len(folder.skipped)} files, e.g. "
                f"{folder.skipped[0][0]}: {folder.skipped[0][1]}",
                file=sys.stderr,
            )

    reports = {}
    for style in args.style or [None]:
        chosen = reference.select(style, args.reference_split, args.valid_fraction)
        if not chosen:
            where = f"style {style!r}, " if style else ""
            raise ValueError(
                f"--reference {args.reference}: no readable pieces ({where}"
                f"{args.reference_split} split)"
            )
        mine = samples.select(style) if style and samples.select(style) else samples.pieces
        if not mine:
            raise ValueError(f"--samples {args.samples}: no readable pieces")
        report = evaluate_quality(
            list(mine.values()),
            list(chosen.values()),
            train,
            options,
            sample_meters=samples.meters_of(mine),
            reference_meters=reference.meters_of(chosen),
        )
        if style:
            print(f"== style {style} ==")
        print(report.table())
        if args.plots is not None:
            folder = args.plots / style if style else args.plots
            paths = write_plots(report, folder, title=style or "")
            print(f"plots: {len(paths)} PNG files in {folder}", file=sys.stderr)
        reports[style] = report
    if args.json is not None:
        if args.style:
            data = {"styles": {style: r.to_dict() for style, r in reports.items()}}
        else:
            data = reports[None].to_dict()
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(data, indent=2) + "\n")
        print(f"report: {args.json}", file=sys.stderr)
    return 0
