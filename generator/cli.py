"""Command line: ``python -m generator {data,train,evaluate,sample} music ...``.

Thin on purpose: parse flags, call the package's functions, print what they return.
"""

from __future__ import annotations

import argparse
import dataclasses
import shlex
import sys
import time
from pathlib import Path

from generator.config import ModelConfig, TrainConfig, field_help

DEFAULT_MUSIC_DATA = Path("datasets/music")
FLAG_ALIASES = {"num_layers": ["--layers"], "embedding_size": ["--embed"]}  # short spellings


class _Formatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    pass


def _add_config_flags(parser: argparse.ArgumentParser, cls: type, skip: set[str]) -> None:
    """One flag per config field (``hidden_size`` → ``--hidden-size``), help from its comment."""
    helps = field_help(cls)
    group = parser.add_argument_group(f"{cls.__name__} (one flag per field)")
    for f in dataclasses.fields(cls):
        if f.name in skip:
            continue
        text = helps[f.name].replace("%", "%%")  # argparse formats help with %
        flags = ["--" + f.name.replace("_", "-"), *FLAG_ALIASES.get(f.name, [])]
        if f.type in ("bool", bool):
            group.add_argument(
                *flags,
                action=argparse.BooleanOptionalAction,
                default=f.default,
                help=text,
            )
        else:
            kind = {"int": int, "float": float, "str": str}[str(f.type)]
            group.add_argument(*flags, type=kind, default=f.default, help=text)


def _config_from_args(cls: type, args: argparse.Namespace, **fixed):
    names = {f.name for f in dataclasses.fields(cls)}
    values = {k: v for k, v in vars(args).items() if k in names}
    return cls(**{**values, **fixed})


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m generator",
        description="Train recurrent networks (tanh RNN, LSTM, GRU) on music and text, "
        "and sample from them.",
        formatter_class=_Formatter,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    data = commands.add_parser(
        "data", help="build the built-in corpora", formatter_class=_Formatter
    )
    data_kinds = data.add_subparsers(dest="kind", required=True, metavar="KIND")
    data_music = data_kinds.add_parser(
        "music",
        help="MIDI files from music21's bundled corpus (Bach chorales, folk tunes)",
        formatter_class=_Formatter,
    )
    data_music.add_argument("--out", type=Path, default=DEFAULT_MUSIC_DATA, help="output folder")
    data_music.add_argument("--force", action="store_true", help="rebuild even if cached")
    data_music.add_argument(
        "--limit", type=int, default=None, help="at most N pieces per source (quick trials)"
    )
    data_music.add_argument("--workers", type=int, default=2, help="parallel processes")

    train = commands.add_parser("train", help="train a model", formatter_class=_Formatter)
    train_kinds = train.add_subparsers(dest="kind", required=True, metavar="KIND")
    train_music = train_kinds.add_parser(
        "music",
        help="on a folder of MIDI files",
        formatter_class=_Formatter,
        description="Train on every .mid/.midi file under --data (recursively). A file's "
        "first-level subfolder names its style. Writes the best model to --out and the "
        "resumable state next to it (NAME.last.pt).",
    )
    train_music.add_argument(
        "--data", type=Path, default=DEFAULT_MUSIC_DATA, help="folder of MIDI files"
    )
    train_music.add_argument("--out", type=Path, required=True, help="checkpoint to write")
    train_music.add_argument("--resume", action="store_true", help="continue from OUT.last.pt")
    train_music.add_argument(
        "--valid-fraction", type=float, default=0.1, help="share of files held out for validation"
    )
    train_music.add_argument(
        "--cache-dir", type=Path, default=None, help="token cache (default ~/.cache/rnn-generator)"
    )
    train_music.add_argument(
        "--no-progress", action="store_true", help="log lines instead of a progress bar"
    )
    _add_config_flags(train_music, ModelConfig, {"vocab_size", "num_styles", "num_seed_tokens"})
    _add_config_flags(train_music, TrainConfig, set())

    evaluate = commands.add_parser("evaluate", help="loss of a model on data")
    evaluate_kinds = evaluate.add_subparsers(dest="kind", required=True, metavar="KIND")
    evaluate_music = evaluate_kinds.add_parser(
        "music", help="NLL on a MIDI folder", formatter_class=_Formatter
    )
    evaluate_music.add_argument("--checkpoint", type=Path, required=True)
    evaluate_music.add_argument("--data", type=Path, required=True, help="MIDI file or folder")
    evaluate_music.add_argument("--batch-size", type=int, default=16)
    evaluate_music.add_argument("--seq-len", type=int, default=256)

    sample = commands.add_parser("sample", help="generate from a checkpoint")
    sample_kinds = sample.add_subparsers(dest="kind", required=True, metavar="KIND")
    sample_music = sample_kinds.add_parser(
        "music",
        help="write MIDI files",
        formatter_class=_Formatter,
        description="How a piece starts: --style and/or --seed-note condition the first step; "
        "--primer continues a MIDI file; --null (the default when nothing else is given) "
        "feeds the zero vector.",
    )
    sample_music.add_argument("--checkpoint", type=Path, required=True)
    sample_music.add_argument("--out", type=Path, default=Path("out"), help="output folder")
    start = sample_music.add_argument_group("how to start")
    start.add_argument("--style", default=None, help="a style the model was trained with")
    start.add_argument("--seed-note", default=None, help="first note: name (D4, F#3) or number")
    start.add_argument("--primer", type=Path, default=None, help="a MIDI file to continue")
    start.add_argument("--null", action="store_true", help="start from the null zero vector")
    length = sample_music.add_argument_group("length and sound")
    length.add_argument("--bars", type=float, default=16, help="length of new music in bars")
    length.add_argument("--seconds", type=float, default=None, help="length in seconds instead")
    length.add_argument("--beats-per-bar", type=int, default=4, help="meter for counting bars")
    length.add_argument("--bpm", type=float, default=120.0, help="tempo, beats per minute")
    length.add_argument("--program", type=int, default=0, help="General MIDI program 0-127")
    _add_sampling_flags(sample_music)
    sample_music.add_argument("--num", type=int, default=1, help="variations (one batch)")
    sample_music.add_argument("--device", default="cpu", help="cpu, cuda, mps or auto")
    return parser


def _add_sampling_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("sampling")
    group.add_argument("--temperature", type=float, default=1.0, help="> 0; lower is safer")
    group.add_argument("--top-k", type=int, default=0, help="keep the k likeliest tokens (0=all)")
    group.add_argument("--top-p", type=float, default=1.0, help="nucleus probability (0, 1]")
    group.add_argument("--greedy", action="store_true", help="always take the likeliest token")
    group.add_argument("--seed", type=int, default=None, help="random seed for repeatable output")


def _cmd_data_music(args: argparse.Namespace) -> int:
    from generator.data.music21_corpus import build_music_corpus

    report = build_music_corpus(
        args.out, limit_per_source=args.limit, workers=args.workers, force=args.force
    )
    print(report.summary())
    return 0


def _cmd_train_music(args: argparse.Namespace) -> int:
    from generator.data.midi_corpus import load_midi_corpus
    from generator.training import train

    corpus = load_midi_corpus(
        args.data,
        valid_fraction=args.valid_fraction,
        cache_dir=args.cache_dir or "default",
        progress=not args.no_progress,
    )
    print(corpus.report.summary(), file=sys.stderr)
    if not corpus.train:
        print(f"error: no usable MIDI files in {args.data}", file=sys.stderr)
        return 2
    tokenizer = corpus.tokenizer
    model_config = _config_from_args(
        ModelConfig,
        args,
        vocab_size=tokenizer.vocab_size,
        num_styles=len(tokenizer.styles),
        num_seed_tokens=128,
    )
    print(
        f"from the data: vocabulary {tokenizer.vocab_size} ids, "
        f"{len(tokenizer.styles)} styles ({', '.join(tokenizer.styles) or 'none'})",
        file=sys.stderr,
    )
    train_config = _config_from_args(TrainConfig, args)
    train(
        model_config,
        train_config,
        corpus,
        args.out,
        resume=args.resume,
        progress=not args.no_progress,
        info={
            "command": "python -m generator " + shlex.join(sys.argv[1:]),
            "corpus": corpus.report.to_dict(),
        },
    )
    return 0


def _cmd_evaluate_music(args: argparse.Namespace) -> int:
    import math

    from generator.checkpoint import load_checkpoint
    from generator.data.midi_corpus import load_midi_corpus
    from generator.data.windows import EpochPlan
    from generator.training import evaluate

    loaded = load_checkpoint(args.checkpoint)
    corpus = load_midi_corpus(args.data, tokenizer=loaded.tokenizer, valid_fraction=0.0)
    print(corpus.report.summary(), file=sys.stderr)
    pieces = corpus.train + corpus.valid
    if not pieces:
        print(f"error: no usable MIDI files in {args.data}", file=sys.stderr)
        return 2
    plan = EpochPlan(
        pieces, loaded.tokenizer, min(args.batch_size, len(pieces)), args.seq_len, shuffle=False
    )
    nll = evaluate(loaded.model, plan, next(loaded.model.parameters()).device)
    print(f"NLL {nll:.4f} nats/token ({nll / math.log(2):.4f} bits/token) on {len(pieces)} files")
    return 0


def _cmd_sample_music(args: argparse.Namespace) -> int:
    from generator.checkpoint import load_checkpoint
    from generator.sampling import SamplingOptions
    from generator.sampling.music import MusicRequest, generate_music, write_pieces
    from generator.training.trainer import resolve_device

    if args.null and (args.style or args.seed_note or args.primer):
        print("error: --null means no style, seed note or primer", file=sys.stderr)
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
    )
    loaded = load_checkpoint(args.checkpoint, device=resolve_device(args.device))
    result = generate_music(loaded, request)
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
    paths = write_pieces(result.pieces, args.out, stem=stem, bpm=args.bpm, program=args.program)
    for path, notes in zip(paths, result.pieces, strict=True):
        print(f"{path}  ({len(notes)} notes)")
    print(
        f"sampled {len(paths)} pieces from {how}: {result.tokens} tokens in "
        f"{result.sampling_seconds:.2f} s",
        file=sys.stderr,
    )
    return 0


COMMANDS = {
    ("data", "music"): _cmd_data_music,
    ("train", "music"): _cmd_train_music,
    ("evaluate", "music"): _cmd_evaluate_music,
    ("sample", "music"): _cmd_sample_music,
}


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status (0 ok, 2 bad input, 130 interrupted)."""
    from generator.checkpoint import CheckpointError
    from generator.training import TrainingStopped

    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[(args.command, args.kind)](args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (ValueError, FileNotFoundError, CheckpointError, TrainingStopped) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
