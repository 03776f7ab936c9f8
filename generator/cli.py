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
    data_text = data_kinds.add_parser(
        "text",
        help="English text from this Python: the Language Reference and stdlib docstrings",
        formatter_class=_Formatter,
    )
    data_text.add_argument("--out", type=Path, default=Path("datasets/text"), help="folder")
    data_text.add_argument("--force", action="store_true", help="rebuild even if present")

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
    evaluate_music.add_argument(
        "--cache-dir", type=Path, default=None, help="token cache (default ~/.cache/rnn-generator)"
    )

    describe = commands.add_parser(
        "describe", help="print a checkpoint's model card (Markdown)", formatter_class=_Formatter
    )
    describe.add_argument("checkpoint", type=Path)

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
    _add_text_parsers(train_kinds, evaluate_kinds, sample_kinds)
    from generator import cli_pianoroll  # imports this module's helpers, so imported late

    cli_pianoroll.add_parsers(train_kinds, evaluate_kinds, sample_kinds)
    from generator import cli_seq2seq  # likewise

    cli_seq2seq.add_parsers(commands, train_kinds, evaluate_kinds, sample_kinds)
    return parser


def _add_sampling_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("sampling")
    group.add_argument("--temperature", type=float, default=1.0, help="> 0; lower is safer")
    group.add_argument("--top-k", type=int, default=0, help="keep the k likeliest tokens (0=all)")
    group.add_argument("--top-p", type=float, default=1.0, help="nucleus probability (0, 1]")
    group.add_argument("--greedy", action="store_true", help="always take the likeliest token")
    group.add_argument("--seed", type=int, default=None, help="random seed for repeatable output")


def _cmd_data_text(args: argparse.Namespace) -> int:
    from generator.data.python_docs import build_text_corpus

    print(build_text_corpus(args.out, force=args.force).summary())
    return 0


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
    corpus = load_midi_corpus(
        args.data,
        tokenizer=loaded.tokenizer,
        valid_fraction=0.0,
        cache_dir=args.cache_dir or "default",
    )
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


def _cmd_describe(args: argparse.Namespace) -> int:
    from generator.model_card import model_card

    print(model_card(str(args.checkpoint)), end="")
    return 0


# -- text -------------------------------------------------------------------------------------
def _add_text_corpus_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--encoding", default="utf-8", help="encoding of the text files")
    parser.add_argument(
        "--skip-bad-files",
        action="store_true",
        help="skip (and list) files that do not decode, instead of stopping",
    )
    parser.add_argument(
        "--segment-len",
        type=int,
        default=0,
        help="cut texts into segments of at most N tokens (0 = 16 windows of --seq-len)",
    )


def _add_text_parsers(train_kinds, evaluate_kinds, sample_kinds) -> None:
    train_text = train_kinds.add_parser(
        "text",
        help="on a text file or a folder of .txt/.md files",
        formatter_class=_Formatter,
        description="Train on a text file, or every .txt/.md file under a folder (recursively). "
        "The tokenizer is built from the corpus: characters, or a SentencePiece model trained "
        "here (kept inside the checkpoint). Writes the best model to --out and the resumable "
        "state next to it (NAME.last.pt); --resume keeps the tokenizer of that state.",
    )
    train_text.add_argument("--data", type=Path, required=True, help="text file or folder")
    train_text.add_argument("--out", type=Path, required=True, help="checkpoint to write")
    train_text.add_argument("--resume", action="store_true", help="continue from OUT.last.pt")
    train_text.add_argument(
        "--tokenizer", choices=("char", "sentencepiece"), default="char", help="token unit"
    )
    train_text.add_argument(
        "--vocab-size", type=int, default=4000, help="SentencePiece: most pieces (an upper bound)"
    )
    train_text.add_argument(
        "--sp-model-type", choices=("unigram", "bpe"), default="unigram", help="SentencePiece"
    )
    train_text.add_argument(
        "--valid-fraction", type=float, default=0.1, help="share of the text held out"
    )
    _add_text_corpus_flags(train_text)
    train_text.add_argument(
        "--no-progress", action="store_true", help="log lines instead of a progress bar"
    )
    _add_config_flags(train_text, ModelConfig, {"vocab_size", "num_styles", "num_seed_tokens"})
    _add_config_flags(train_text, TrainConfig, {"transpose", "style_dropout"})

    evaluate_text = evaluate_kinds.add_parser(
        "text",
        help="NLL per token and bits per character on text",
        formatter_class=_Formatter,
        description="Score a text model on a file or folder: nats per token, and bits per "
        "character (total nats / ln 2 / characters), which compares character and subword "
        "models on one scale.",
    )
    evaluate_text.add_argument("--checkpoint", type=Path, required=True)
    evaluate_text.add_argument("--data", type=Path, required=True, help="text file or folder")
    evaluate_text.add_argument("--batch-size", type=int, default=16)
    evaluate_text.add_argument("--seq-len", type=int, default=256)
    _add_text_corpus_flags(evaluate_text)

    sample_text = sample_kinds.add_parser(
        "text",
        help="print text, streamed as it is generated",
        formatter_class=_Formatter,
        description="Continue --prime (or nothing). Text streams to stdout token by token; "
        "with --num > 1 the samples follow one another, separated by a line of dashes. "
        "Prime characters the model does not know are dropped (with a warning).",
    )
    sample_text.add_argument("--checkpoint", type=Path, required=True)
    sample_text.add_argument(
        "--prime", default="", help='text to continue; "-" reads it from stdin'
    )
    sample_text.add_argument(
        "--length", type=int, default=500, help="new text to generate (0 = until end of text)"
    )
    sample_text.add_argument(
        "--unit", choices=("characters", "tokens"), default="characters", help="of --length"
    )
    _add_sampling_flags(sample_text)
    sample_text.add_argument("--num", type=int, default=1, help="samples (one batch)")
    sample_text.add_argument("--device", default="cpu", help="cpu, cuda, mps or auto")
    sample_text.add_argument(
        "--threads",
        type=int,
        default=1,
        help="CPU threads; token-by-token sampling is fastest on one (0 = torch's default)",
    )
    sample_text.add_argument(
        "--json", action="store_true", help="print one JSON object (no streaming)"
    )


def _segment_len(args: argparse.Namespace) -> int:
    return args.segment_len or 16 * args.seq_len - 1  # whole windows: no padding


def _cmd_train_text(args: argparse.Namespace) -> int:
    from generator.checkpoint import read_checkpoint
    from generator.data.text_corpus import load_text_corpus
    from generator.sampling.text import bits_per_character, prediction_count
    from generator.tokenizers import tokenizer_from_dict
    from generator.training import train
    from generator.training.trainer import last_path_for

    tokenizer = args.tokenizer
    if args.resume and last_path_for(args.out).exists():
        tokenizer = tokenizer_from_dict(read_checkpoint(last_path_for(args.out))["tokenizer"])
    corpus = load_text_corpus(
        args.data,
        tokenizer=tokenizer,
        vocab_size=args.vocab_size,
        sp_model_type=args.sp_model_type,
        encoding=args.encoding,
        skip_bad_files=args.skip_bad_files,
        valid_fraction=args.valid_fraction,
        segment_len=_segment_len(args),
        progress=not args.no_progress,
    )
    report = corpus.report
    print(report.summary(), file=sys.stderr)
    print(f"from the data: vocabulary {report.vocab_size} ids", file=sys.stderr)
    model_config = _config_from_args(
        ModelConfig, args, vocab_size=corpus.tokenizer.vocab_size, num_styles=0, num_seed_tokens=0
    )
    result = train(
        model_config,
        _config_from_args(TrainConfig, args, transpose=0, style_dropout=0.0),
        corpus,
        args.out,
        resume=args.resume,
        progress=not args.no_progress,
        info={
            "command": "python -m generator " + shlex.join(sys.argv[1:]),
            "corpus": report.to_dict(),
            # bits/char = best_valid_nll * valid_predictions / ln 2 / corpus.valid_characters
            "valid_predictions": prediction_count(corpus.valid),
        },
    )
    if result.best_valid_nll is not None:
        bpc = bits_per_character(result.best_valid_nll, corpus.valid, report.valid_characters)
        print(f"best valid: {bpc:.4f} bits per character", file=sys.stderr)
    return 0


def _cmd_evaluate_text(args: argparse.Namespace) -> int:
    from generator.checkpoint import load_checkpoint
    from generator.data.text_corpus import load_text_corpus
    from generator.sampling.text import evaluate_text, text_tokenizer

    loaded = load_checkpoint(args.checkpoint)
    corpus = load_text_corpus(
        args.data,
        tokenizer=text_tokenizer(loaded),
        encoding=args.encoding,
        skip_bad_files=args.skip_bad_files,
        valid_fraction=0.0,
        segment_len=_segment_len(args),
    )
    print(corpus.report.summary(), file=sys.stderr)
    score = evaluate_text(loaded, corpus, batch_size=args.batch_size, seq_len=args.seq_len)
    print(
        f"NLL {score.nats_per_token:.4f} nats/token, {score.bits_per_character:.4f} "
        f"bits/character on {corpus.report.files_read} files ({score.tokens:,} tokens, "
        f"{score.characters:,} characters)"
    )
    return 0


def _cmd_sample_text(args: argparse.Namespace) -> int:
    import json

    from generator.checkpoint import load_checkpoint
    from generator.sampling import SamplingOptions
    from generator.sampling.text import SequentialPrinter, generate_text
    from generator.training.trainer import resolve_device

    prime = args.prime
    if prime == "-":
        prime = sys.stdin.read()
        prime = prime[:-1] if prime.endswith("\n") else prime  # echo's newline is not text
    options = SamplingOptions(args.temperature, args.top_k, args.top_p, args.greedy, args.seed)
    if args.threads > 0:
        import torch

        torch.set_num_threads(args.threads)
    loaded = load_checkpoint(args.checkpoint, device=resolve_device(args.device))

    def write(text: str) -> None:
        sys.stdout.write(text)
        sys.stdout.flush()

    printer = None
    if not args.json:
        printer = SequentialPrinter(args.num, write, head=prime, separator="\n" + "-" * 40 + "\n")
    result = generate_text(
        loaded,
        prime,
        args.length or None,
        args.unit,
        options,
        args.num,
        on_text=printer.text if printer else None,
        on_end=printer.end if printer else None,
    )
    if result.dropped:
        print(
            f"warning: prime characters the model lacks, dropped: {result.dropped!r}",
            file=sys.stderr,
        )
    tokens, characters = sum(result.tokens), sum(len(t) for t in result.texts)
    seconds = result.sampling_seconds
    if args.json:
        samples = [
            {"text": prime + text, "generated": text, "tokens": count}
            for text, count in zip(result.texts, result.tokens, strict=True)
        ]
        timing = {
            "seconds": round(seconds, 4),
            "tokens_per_second": round(tokens / max(seconds, 1e-9), 1),
            "characters_per_second": round(characters / max(seconds, 1e-9), 1),
        }
        settings = {**result.settings, "prime": prime, "checkpoint": str(args.checkpoint)}
        print(json.dumps({"samples": samples, "settings": settings, "timing": timing}))
    else:
        write("\n")
        print(
            f"sampled {args.num} texts: {tokens} tokens, {characters} characters in "
            f"{seconds:.2f} s ({characters / max(seconds, 1e-9):,.0f} characters/s)",
            file=sys.stderr,
        )
    return 0


def _cmd_pianoroll(args: argparse.Namespace) -> int:
    from generator import cli_pianoroll

    return cli_pianoroll.run(args)


def _cmd_seq2seq(args: argparse.Namespace) -> int:
    from generator import cli_seq2seq

    return cli_seq2seq.run(args)


COMMANDS = {
    ("describe", None): _cmd_describe,
    ("data", "music"): _cmd_data_music,
    ("data", "text"): _cmd_data_text,
    ("train", "music"): _cmd_train_music,
    ("evaluate", "music"): _cmd_evaluate_music,
    ("sample", "music"): _cmd_sample_music,
    ("train", "text"): _cmd_train_text,
    ("evaluate", "text"): _cmd_evaluate_text,
    ("sample", "text"): _cmd_sample_text,
    ("train", "pianoroll"): _cmd_pianoroll,
    ("evaluate", "pianoroll"): _cmd_pianoroll,
    ("sample", "pianoroll"): _cmd_pianoroll,
    ("train", "seq2seq"): _cmd_seq2seq,
    ("evaluate", "seq2seq"): _cmd_seq2seq,
    ("sample", "seq2seq"): _cmd_seq2seq,
    ("harmonize", None): _cmd_seq2seq,
}


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status (0 ok, 2 bad input, 130 interrupted)."""
    from generator.checkpoint import CheckpointError
    from generator.training import TrainingStopped

    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[(args.command, getattr(args, "kind", None))](args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (ValueError, FileNotFoundError, CheckpointError, TrainingStopped) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
