"""The piano-roll family's commands: ``python -m generator {train,evaluate,sample} pianoroll``.

Thin like every command module: parse flags, call the package, print results.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

from generator.cli.common import (
    add_command,
    add_config_flags,
    add_model_flags,
    add_threads_flag,
    add_training_flags,
    add_training_threads_flag,
    command_line,
    config_from_args,
    data_set_fields,
    load_model,
    model_fields,
)
from generator.cli.notate import add_format_flags, write_scores
from generator.config import PianoRollConfig, TrainConfig
from generator.families.piano_roll import PIANOROLL, PianoRollData

DATA_HELP = "a piano-roll JSON file ({'train': [...], 'valid': [...]}) or a folder of MIDI files"


def add_parsers(train_recipes, evaluate_what, sample_recipes) -> None:
    """Add the ``pianoroll`` subcommand to train, evaluate and sample."""
    train = add_command(
        train_recipes,
        "pianoroll",
        _train,
        help="88-key piano-roll frames (JSON benchmark or MIDI folder)",
        description="Train an RNN over piano-roll frames with a sigmoid or NADE output head. "
        "With a JSON file, its 'train' split is trained on and its 'valid' split selects the "
        "best model; a MIDI folder is quantized to --frames-per-beat and split by file. "
        "Writes the best model (by valid NLL per frame) to --out and the resumable state next "
        "to it (NAME.last.pt).",
    )
    add_training_flags(train, DATA_HELP, "share of MIDI files held out (a JSON has its splits)")
    add_training_threads_flag(train)
    train.add_argument(
        "--frames-per-beat", type=int, default=4, help="grid of a MIDI folder (frames/quarter)"
    )
    add_config_flags(train, PianoRollConfig, data_set_fields(PIANOROLL))
    add_config_flags(train, TrainConfig, {"style_dropout"})
    train.set_defaults(seq_len=64, batch_size=16)  # JSB pieces are ~60 frames long

    evaluate = add_command(
        evaluate_what,
        "pianoroll",
        _evaluate,
        help="NLL per frame on a piano-roll split",
        description="Prints the NLL per frame in nats by the standard convention: frame t is "
        "predicted from the frames before it, -log p is summed over the keys, and the average "
        "is over all predicted frames pooled across pieces (the first frame of each piece is "
        "not predicted).",
    )
    add_model_flags(evaluate)
    evaluate.add_argument("--data", type=Path, required=True, help=DATA_HELP)
    evaluate.add_argument(
        "--split", default="valid", help="JSON key to evaluate (a MIDI folder: every file)"
    )
    evaluate.add_argument("--batch-size", type=int, default=32, help="pieces side by side")
    evaluate.add_argument("--seq-len", type=int, default=256, help="frames per window")

    sample = add_command(
        sample_recipes,
        "pianoroll",
        _sample,
        help="write MIDI files from a piano-roll model",
        description="Starts from --first-frame (or the frames of --primer), then samples "
        "--frames frames one at a time. Each frame lasts 1/frames-per-beat beats (a quarter "
        "note for the JSON benchmarks); keys held over consecutive frames become one note "
        "(--restrike strikes them again every frame).",
    )
    add_model_flags(sample, shipped="pianoroll")
    sample.add_argument("--out", type=Path, default=Path("out"), help="output folder")
    sample.add_argument("--frames", type=int, default=64, help="frames to generate")
    sample.add_argument("--num", type=int, default=1, help="variations (one batch, 1-16)")
    sample.add_argument(
        "--first-frame",
        default="C3,G3,E4,C5",
        help="comma-separated notes (names or numbers) of the starting frame",
    )
    sample.add_argument("--primer", type=Path, default=None, help="a MIDI file to continue")
    sample.add_argument("--bpm", type=float, default=100.0, help="tempo, quarter notes/minute")
    sample.add_argument("--program", type=int, default=0, help="General MIDI program 0-127")
    sample.add_argument("--restrike", action="store_true", help="re-strike held keys each frame")
    group = sample.add_argument_group("sampling")
    group.add_argument("--temperature", type=float, default=1.0, help="> 0; lower is safer")
    group.add_argument("--greedy", action="store_true", help="keys on where p > 0.5")
    group.add_argument("--seed", type=int, default=None, help="random seed for repeatable output")
    add_threads_flag(sample, "frame-by-frame sampling")
    add_format_flags(sample)


def _train(args: argparse.Namespace) -> int:
    from generator import api

    api.train(
        "pianoroll",
        args.data,
        args.out,
        model=model_fields(PianoRollConfig, args, PIANOROLL),
        training=config_from_args(TrainConfig, args),
        options=config_from_args(PianoRollData, args),
        resume=args.resume,
        progress=not args.no_progress,
        info={"command": command_line(args)},
    )
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from generator import api
    from generator.data.piano_roll import predicted_frames

    loaded = load_model(args)
    if not isinstance(loaded.tokenizer, PIANOROLL.tokenizers):
        raise ValueError(f"{args.checkpoint}: a {loaded.family!r} model, not a piano-roll model")
    options = PianoRollData(valid_fraction=0.0, splits=(args.split, ""))
    corpus = api.read_data(PIANOROLL, args.data, options, tokenizer=loaded.tokenizer)
    print(corpus.report.summary(split=False), file=sys.stderr)
    nll = api.evaluate(loaded, corpus, batch_size=args.batch_size, seq_len=args.seq_len)
    where = f"split {args.split!r} of " if args.data.suffix.lower() == ".json" else ""
    print(
        f"NLL {nll:.4f} nats/frame ({nll / math.log(2):.4f} bits/frame) on "
        f"{predicted_frames(corpus.train):,} predicted frames in {len(corpus.train)} pieces "
        f"({where}{args.data})"
    )
    return 0


def _sample(args: argparse.Namespace) -> int:
    from generator import api
    from generator.sampling import SamplingOptions
    from generator.sampling.pianoroll import PianoRollRequest, write_rolls

    request = PianoRollRequest(
        num=args.num,
        frames=args.frames,
        first_frame=tuple(n for n in args.first_frame.split(",") if n.strip()),
        primer=args.primer,
        bpm=args.bpm,
        program=args.program,
        restrike=args.restrike,
        options=SamplingOptions(temperature=args.temperature, greedy=args.greedy, seed=args.seed),
    )
    loaded = load_model(args)
    result = api.generate(loaded, request)
    stem = time.strftime("pianoroll-%Y%m%d-%H%M%S")
    paths = write_rolls(
        result.rolls,
        loaded.tokenizer,
        args.out,
        stem=stem,
        bpm=args.bpm,
        program=args.program,
        restrike=args.restrike,
    )
    for path, roll in zip(paths, result.rolls, strict=True):
        print(f"{path}  ({len(roll)} frames, {int(roll.sum())} key-frames on)")
    for path in write_scores(args, paths, steps_per_beat=loaded.tokenizer.frames_per_beat):
        print(path)
    print(f"sampled {len(paths)} pieces in {result.sampling_seconds:.2f} s", file=sys.stderr)
    return 0
