"""``python -m generator {train,evaluate,sample} text``: character and SentencePiece models."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from generator.cli.common import (
    add_command,
    add_config_flags,
    add_model_flags,
    add_sampling_flags,
    add_threads_flag,
    add_tokenizer_flags,
    add_training_flags,
    command_line,
    config_from_args,
    load_model,
    note,
)
from generator.config import ModelConfig, TrainConfig
from generator.data.text_corpus import MAX_VALID_TOKENS


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


def add_parsers(train_kinds, evaluate_kinds, sample_kinds) -> None:
    train = add_command(
        train_kinds,
        "text",
        _cmd_train_text,
        help="on a text file or a folder of .txt/.md files",
        description="Train on a text file, or every .txt/.md file under a folder (recursively). "
        "The tokenizer is built from the corpus: characters, or a SentencePiece model trained "
        "here (kept inside the checkpoint). Writes the best model to --out and the resumable "
        "state next to it (NAME.last.pt); --resume keeps the tokenizer of that state.",
    )
    add_training_flags(train, "text file or folder", "share of the text held out")
    add_tokenizer_flags(train)
    _add_text_corpus_flags(train)
    add_config_flags(train, ModelConfig, {"vocab_size", "num_styles", "num_seed_tokens"})
    add_config_flags(train, TrainConfig, {"transpose", "style_dropout"})
    train.add_argument(
        "--max-valid-tokens",
        type=int,
        default=MAX_VALID_TOKENS,
        help="validate on at most N held-out tokens, the first same share of each held-out "
        "file (0 = all of them; the run prints the share used)",
    )

    evaluate = add_command(
        evaluate_kinds,
        "text",
        _cmd_evaluate_text,
        help="NLL per token and bits per character on text",
        description="Score a text model on a file or folder: nats per token, and bits per "
        "character (total nats / ln 2 / characters), which compares character and subword "
        "models on one scale.",
    )
    add_model_flags(evaluate)
    evaluate.add_argument("--data", type=Path, required=True, help="text file or folder")
    evaluate.add_argument("--batch-size", type=int, default=16)
    evaluate.add_argument("--seq-len", type=int, default=256)
    _add_text_corpus_flags(evaluate)

    sample = add_command(
        sample_kinds,
        "text",
        _cmd_sample_text,
        help="print text, streamed as it is generated",
        description="Continue --prime (or nothing). Text streams to stdout token by token; "
        "with --num > 1 the samples follow one another, separated by a line of dashes. "
        "Prime characters the model does not know are dropped (with a warning).",
    )
    add_model_flags(sample, shipped="text")
    sample.add_argument("--prime", default="", help='text to continue; "-" reads it from stdin')
    sample.add_argument(
        "--length", type=int, default=500, help="new text to generate (0 = until end of text)"
    )
    sample.add_argument(
        "--unit", choices=("characters", "tokens"), default="characters", help="of --length"
    )
    add_sampling_flags(sample)
    sample.add_argument("--num", type=int, default=1, help="samples (one batch)")
    add_threads_flag(sample)
    sample.add_argument("--json", action="store_true", help="print one JSON object (no streaming)")


def _segment_len(args: argparse.Namespace) -> int:
    return args.segment_len or 16 * args.seq_len - 1  # whole windows: no padding


def _cmd_train_text(args: argparse.Namespace) -> int:
    from generator.checkpoint import read_checkpoint
    from generator.data.text_corpus import load_text_corpus
    from generator.evaluation.text import bits_per_character, prediction_count
    from generator.tokenizers import tokenizer_from_dict
    from generator.training import train
    from generator.training.tasks import TEXT_TASK
    from generator.training.trainer import last_path_for
    from generator.validation import check_range

    check_range("--max-valid-tokens", args.max_valid_tokens, 0, 10**12, integer=True)
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
        max_valid_tokens=args.max_valid_tokens,
        progress=not args.no_progress,
    )
    report = corpus.report
    note(report.summary())
    note(f"from the data: vocabulary {report.vocab_size} ids")
    model_config = config_from_args(
        ModelConfig, args, vocab_size=corpus.tokenizer.vocab_size, num_styles=0, num_seed_tokens=0
    )
    result = train(
        model_config,
        config_from_args(TrainConfig, args, transpose=0, style_dropout=0.0),
        corpus,
        args.out,
        resume=args.resume,
        progress=not args.no_progress,
        task=TEXT_TASK,
        info={
            "command": command_line(args),
            "corpus": report.to_dict(),
            # bits/char = best_valid_nll * valid_predictions / ln 2 / corpus.valid_characters
            "valid_predictions": prediction_count(corpus.valid),
        },
    )
    if result.best_valid_nll is not None:
        bpc = bits_per_character(result.best_valid_nll, corpus.valid, report.valid_characters)
        note(f"best valid: {bpc:.4f} bits per character")
    return 0


def _cmd_evaluate_text(args: argparse.Namespace) -> int:
    from generator.data.text_corpus import load_text_corpus
    from generator.evaluation.text import evaluate_text
    from generator.sampling.text import text_tokenizer

    loaded = load_model(args)
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
    files = corpus.report.files_read
    print(
        f"NLL {score.nats_per_token:.4f} nats/token, {score.bits_per_character:.4f} "
        f"bits/character on {files} file{'s' * (files != 1)} ({score.tokens:,} tokens, "
        f"{score.characters:,} characters), state carried through each file"
    )
    print(
        f"    {score.segment_nats_per_token:.4f} nats/token, "
        f"{score.segment_bits_per_character:.4f} bits/character with the state reset every "
        f"{_segment_len(args):,} tokens"
    )
    return 0


def _cmd_sample_text(args: argparse.Namespace) -> int:
    import json

    from generator.sampling import SamplingOptions
    from generator.sampling.text import SequentialPrinter, generate_text
    from generator.validation import MAX_PRIME_CHARACTERS, read_bounded_text

    prime = args.prime
    if prime == "-":
        prime = read_bounded_text(sys.stdin, MAX_PRIME_CHARACTERS, "prime")
        prime = prime[:-1] if prime.endswith("\n") else prime  # echo's newline is not text
    options = SamplingOptions(args.temperature, args.top_k, args.top_p, args.greedy, args.seed)
    loaded = load_model(args)

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
