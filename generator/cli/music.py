"""``python -m generator {train,evaluate,sample} music``: event-token models on MIDI folders."""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

from generator.cli.common import (
    add_command,
    add_config_flags,
    add_model_flags,
    add_sampling_flags,
    add_training_flags,
    add_training_threads_flag,
    command_line,
    config_from_args,
    data_set_fields,
    load_model,
    model_fields,
)
from generator.cli.data import DEFAULT_MUSIC_DATA
from generator.cli.notate import add_format_flags, write_scores
from generator.config import (
    MODEL_SIZES,
    ModelConfig,
    TrainConfig,
    apply_model_size,
    model_size_help,
)
from generator.families.token_rnn import MUSIC, MusicData

CACHE_HELP = "token cache (default ~/.cache/rnn-generator)"
DEFAULT_MUSIC_MINUTES = 12.0  # train music's --max-minutes unless given (0 = no time limit)
DEFAULT_MUSIC_SIZE = "medium"  # train music's --size: the shipped model's shape


def add_parsers(train_recipes, evaluate_what, sample_recipes) -> None:
    train = add_command(
        train_recipes,
        "music",
        _cmd_train_music,
        help="on a folder of MIDI files",
        description="Train on every .mid/.midi file under --data (recursively). A file's "
        "first-level subfolder names its style. Writes the best model to --out and the "
        "resumable state next to it (NAME.last.pt).",
    )
    add_training_flags(
        train, "folder of MIDI files", "share of files held out", data_default=DEFAULT_MUSIC_DATA
    )
    train.add_argument("--cache-dir", type=Path, default=None, help=CACHE_HELP)
    add_training_threads_flag(train)
    add_corpus_rule_flags(train)
    train.add_argument(
        "--init-from",
        type=Path,
        default=None,
        help="start from this music checkpoint's weights and architecture (same styles and "
        "token settings; ids the data adds, such as meters, start fresh)",
    )
    add_config_flags(train, ModelConfig, data_set_fields(MUSIC))
    train.add_argument(
        "--size", choices=tuple(MODEL_SIZES), default=DEFAULT_MUSIC_SIZE, help=model_size_help()
    )
    add_config_flags(train, TrainConfig, set())
    # A default run fits a laptop: on 2 CPU cores an LSTM 2×512 (--size large) runs at
    # 1.5-3k tokens/s, so 5,000 steps would take hours. The default is the shipped model's size
    # (--size medium, 2×256), and the clock stops it; the schedule follows the clock. The
    # shape flags default to None: --size fills the ones not given.
    train.set_defaults(max_minutes=DEFAULT_MUSIC_MINUTES, **dict.fromkeys(MODEL_SIZES["small"]))

    evaluate = add_command(evaluate_what, "music", _cmd_evaluate_music, "NLL on a MIDI folder")
    add_model_flags(evaluate)
    evaluate.add_argument("--data", type=Path, required=True, help="MIDI file or folder")
    evaluate.add_argument("--batch-size", type=int, default=16)
    evaluate.add_argument("--seq-len", type=int, default=256)
    evaluate.add_argument("--cache-dir", type=Path, default=None, help=CACHE_HELP)
    add_corpus_rule_flags(evaluate, groups=False)

    sample = add_command(
        sample_recipes,
        "music",
        _cmd_sample_music,
        help="write MIDI files",
        description="How a piece starts: --style and/or --seed-note condition the first step; "
        "--primer continues a MIDI file; --null (the default when nothing else is given) "
        "feeds the zero vector.",
    )
    add_model_flags(sample, shipped="music")
    sample.add_argument("--out", type=Path, default=Path("out"), help="output folder")
    start = sample.add_argument_group("how to start")
    start.add_argument("--style", default=None, help="a style the model was trained with")
    start.add_argument("--seed-note", default=None, help="first note: name (D4, F#3) or number")
    start.add_argument("--primer", type=Path, default=None, help="a MIDI file to continue")
    start.add_argument("--null", action="store_true", help="start from the null zero vector")
    length = sample.add_argument_group("length and sound")
    length.add_argument("--bars", type=float, default=16, help="length of new music in bars")
    length.add_argument("--seconds", type=float, default=None, help="length in seconds instead")
    length.add_argument(
        "--beats-per-bar", type=int, default=4, help="quarter notes per bar without --meter"
    )
    length.add_argument(
        "--meter",
        default=None,
        help="time signature, e.g. 6/8 (models that learned meters; without it they choose "
        "one, or keep the primer's); bars count in it and it is written into the MIDI file",
    )
    length.add_argument(
        "--bpm",
        type=float,
        default=None,
        help="tempo, quarter notes per minute (default: the primer's, else 120)",
    )
    length.add_argument("--program", type=int, default=0, help="General MIDI program 0-127")
    rules = sample.add_argument_group(
        "constraints (exact: masked at every step, the distribution renormalised)"
    )
    rules.add_argument(
        "--key",
        default=None,
        help="tonic of the scale notes stay in: D, F#, Bb; or auto: every note fits one major "
        "scale or a mode of it, whichever the piece's first notes choose. The MIDI file's key "
        "signature is this key (a mode: the major key with its signature), else the primer's, "
        "else the key of the notes",
    )
    rules.add_argument(
        "--scale",
        default=None,
        help="with --key (default major): major, minor, harmonic-minor, ionian, dorian, "
        "phrygian, lydian, mixolydian, aeolian, locrian, pentatonic, minor-pentatonic",
    )
    rules.add_argument("--lowest", default=None, help="lowest note allowed: name or number")
    rules.add_argument("--highest", default=None, help="highest note allowed: name or number")
    rules.add_argument(
        "--voices", type=int, default=None, help="at most this many notes start together"
    )
    rules.add_argument("--monophonic", action="store_true", help="one line: --voices 1")
    rules.add_argument(
        "--cost",
        action="store_true",
        help="print the constraints' cost: the samples' NLL under the unconstrained model, "
        "and that of unconstrained samples with the same seed",
    )
    add_sampling_flags(sample)
    sample.add_argument(
        "--pitch-temperature",
        type=float,
        default=1.0,
        help="temperature among notes only, on top of --temperature: < 1 keeps melodies "
        "closer to the tune's main notes and leaves the rhythm alone",
    )
    sample.add_argument("--num", type=int, default=1, help="variations (one batch, 1-16)")
    add_format_flags(sample, marks=False)  # --meter, --key: the music's own


def add_corpus_rule_flags(parser: argparse.ArgumentParser, groups: bool = True) -> None:
    """How files become pieces: styles, excluded paths, versions of one tune."""
    rules = parser.add_argument_group("which files, which styles")
    rules.add_argument(
        "--styles",
        default="folders",
        metavar="folders|none|FILE.csv",
        help="where styles come from: a file's first-level subfolder, nothing, or a CSV file "
        "with path,style columns (paths relative to --data)",
    )
    rules.add_argument(
        "--exclude",
        action="append",
        default=[],
        metavar="GLOB",
        help="leave out files whose path under --data matches (repeatable): 'melody' or "
        "'melody/*' (a folder), '*-draft.mid'",
    )
    if groups:
        rules.add_argument(
            "--group-by",
            choices=("name", "none"),
            default="name",
            help="keep versions of a tune on one side of the train/valid split: 'name' groups "
            "files with the same file name in different folders; 'none' splits file by file",
        )


def _corpus_rules(args: argparse.Namespace) -> dict:
    rules = {"styles": args.styles, "exclude": tuple(args.exclude)}
    if hasattr(args, "group_by"):
        rules["group_by"] = args.group_by
    return rules


def _music_options(args: argparse.Namespace) -> MusicData:
    """The --data reading flags as the recipe's options."""
    return MusicData(
        valid_fraction=getattr(args, "valid_fraction", 0.0),
        cache_dir=args.cache_dir or "default",
        **_corpus_rules(args),
    )


def _cmd_train_music(args: argparse.Namespace) -> int:
    from generator import api

    vars(args).update(apply_model_size(vars(args), args.size))  # --size fills shapes not given
    api.train(
        "music",
        args.data,
        args.out,
        model=model_fields(ModelConfig, args, MUSIC),
        training=config_from_args(TrainConfig, args),
        options=_music_options(args),
        resume=args.resume,
        init_from=args.init_from,
        progress=not args.no_progress,
        info={"command": command_line(args)},
    )
    return 0


def _cmd_evaluate_music(args: argparse.Namespace) -> int:
    from generator import api

    loaded = load_model(args)
    tokenizer = loaded.tokenizer
    corpus = api.read_data("music", args.data, _music_options(args), tokenizer=tokenizer)
    print(corpus.report.summary(split=False), file=sys.stderr)
    pieces = corpus.train + corpus.valid
    if not pieces:
        print(f"error: no usable MIDI files in {args.data}", file=sys.stderr)
        return 2
    unknown = Counter(p.style for p in pieces if p.style and p.style not in tokenizer.styles)
    if unknown:
        names = ", ".join(f"{style} ({count} files)" for style, count in unknown.most_common())
        known = ", ".join(tokenizer.styles) or "none"
        print(
            f"note: styles this model does not know, scored with no style: {names}; "
            f"it knows: {known}",
            file=sys.stderr,
        )
    score = api.evaluate(loaded, corpus, batch_size=args.batch_size, seq_len=args.seq_len)
    nll, unigram, files = score.nats_per_token, score.unigram_nats_per_token, score.files
    print(
        f"NLL {nll:.4f} nats/token ({nll / math.log(2):.4f} bits/token) on {files} "
        f"file{'s' * (files != 1)}"
    )
    print(
        f"  unigram baseline {unigram:.4f} nats/token (token frequencies of these very files, "
        f"which favours the baseline): the model is {unigram - nll:+.4f} nats/token better"
    )
    return 0


def _cmd_sample_music(args: argparse.Namespace) -> int:
    from generator import api
    from generator.sampling import SamplingOptions
    from generator.sampling.music import MusicRequest, marks_text, write_pieces

    if args.null and (args.style or args.seed_note or args.primer):
        print("error: --null means no style, seed note or primer", file=sys.stderr)
        return 2
    if args.monophonic and args.voices not in (None, 1):
        print("error: --monophonic means --voices 1", file=sys.stderr)
        return 2
    options = SamplingOptions(args.temperature, args.top_k, args.top_p, args.greedy, args.seed)
    request = MusicRequest(
        num=args.num,
        style=args.style,
        seed_note=args.seed_note,
        primer=args.primer,
        bars=args.bars,
        seconds=args.seconds,
        beats_per_bar=args.beats_per_bar,
        bpm=args.bpm,
        program=args.program,
        options=options,
        meter=args.meter,
        key=args.key,
        scale=args.scale,
        lowest=args.lowest,
        highest=args.highest,
        voices=1 if args.monophonic else args.voices,
        score=args.cost,
        pitch_temperature=args.pitch_temperature,
    )
    loaded = load_model(args)
    result = api.generate(loaded, request)
    how = (
        f"primer {args.primer}"
        if args.primer
        else " + ".join(
            x
            for x in (
                args.style and f"style {args.style}",
                args.seed_note and f"seed note {args.seed_note}",
            )
            if x
        )
        or "null input"
    )
    stem = time.strftime("music-%Y%m%d-%H%M%S")
    paths = write_pieces(
        result.pieces,
        args.out,
        stem=stem,
        bpm=result.bpm,
        program=args.program,
        meters=result.meters,
        keys=result.keys,
        beats_per_bar=args.beats_per_bar,
    )
    if result.primer_marks:
        flags = "/".join(f"--{what}" for what in result.primer_marks)
        print(
            f"kept from the primer: {marks_text(result.primer_marks)} (set {flags} to change)",
            file=sys.stderr,
        )
    for path, notes, meter, key in zip(
        paths, result.pieces, result.meters, result.keys, strict=True
    ):
        meter = meter or f"{args.beats_per_bar}/4"
        print(f"{path}  ({len(notes)} notes, {meter}, {key}, {result.bpm:g} bpm)")
        grid = loaded.tokenizer.steps_per_beat
        for score in write_scores(args, [path], steps_per_beat=grid):  # the file's meter and key
            print(score)
    if args.cost:
        free = replace(request, key=None, scale=None, lowest=None, highest=None, voices=None)
        baseline = api.generate(loaded, free).nll
        print(
            f"constraint cost: the samples score {result.nll:.3f} nats/token under the "
            f"unconstrained model; unconstrained samples (same seed) {baseline:.3f} nats/token",
            file=sys.stderr,
        )
    print(
        f"sampled {len(paths)} pieces from {how}: {result.tokens} tokens in "
        f"{result.sampling_seconds:.2f} s",
        file=sys.stderr,
    )
    return 0
