"""``python -m generator {train,evaluate,sample} text``: character and SentencePiece models."""

from __future__ import annotations

import argparse
import dataclasses
import math
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
    add_training_threads_flag,
    command_line,
    config_from_args,
    data_set_fields,
    load_model,
    model_fields,
)
from generator.config import MODEL_SIZES, ModelConfig, TrainConfig, model_size_help
from generator.data.text_corpus import MAX_VALID_TOKENS
from generator.evaluation.text import SPLITS
from generator.families.token_rnn import TEXT, TEXT_BUDGET_RECIPE, TextData


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


def add_parsers(train_recipes, evaluate_what, sample_recipes) -> None:
    train = add_command(
        train_recipes,
        "text",
        _cmd_train_text,
        help="on a text file or a folder of .txt/.md files",
        description="Train on a text file, or every .txt/.md file under a folder (recursively). "
        "The tokenizer is built from the corpus: characters, or a SentencePiece model trained "
        "here (kept inside the checkpoint). Writes the best model to --out and the resumable "
        "state next to it (NAME.last.pt); --resume keeps the tokenizer of that state. Given "
        "--max-minutes, the flags whose help says 'with --max-minutes' default to the budget "
        "recipe: the lowest held-out NLL measured for a fixed CPU time (README); flags given "
        "beside it win.",
    )
    add_training_flags(train, "text file or folder", "share of the text held out")
    add_training_threads_flag(train)
    add_tokenizer_flags(train)
    _add_text_corpus_flags(train)
    add_config_flags(train, ModelConfig, data_set_fields(TEXT))
    train.add_argument(
        "--size",
        choices=tuple(MODEL_SIZES),
        default=argparse.SUPPRESS,
        help=model_size_help() + " (default: "
        "the budget recipe's shape with --max-minutes, else ModelConfig's)",
    )
    add_config_flags(train, TrainConfig, {"transpose", "style_dropout"})
    _budget_recipe_defaults(train)
    train.add_argument(
        "--max-valid-tokens",
        type=int,
        default=MAX_VALID_TOKENS,
        help="validate on at most N held-out tokens, the first same share of each held-out "
        "file (0 = all of them; the run prints the share used)",
    )

    evaluate = add_command(
        evaluate_what,
        "text",
        _cmd_evaluate_text,
        help="NLL per token and bits per character on text",
        description="Score a text model on a file or folder: nats per token, and bits per "
        "character (total nats / ln 2 / characters), which compares character and subword "
        "models on one scale. --split valid scores only the text `train text` held out of the "
        "same --data (the same --valid-fraction).",
    )
    add_model_flags(evaluate)
    evaluate.add_argument("--data", type=Path, required=True, help="text file or folder")
    evaluate.add_argument(
        "--split",
        choices=SPLITS,
        default="all",
        help="all of --data, or one side of the split `train text` makes of it: the held-out "
        "text (valid) or the rest (train)",
    )
    evaluate.add_argument(
        "--valid-fraction",
        type=float,
        default=TextData.valid_fraction,
        help="with --split train/valid: the --valid-fraction the model was trained with",
    )
    evaluate.add_argument("--batch-size", type=int, default=16)
    evaluate.add_argument("--seq-len", type=int, default=256)
    _add_text_corpus_flags(evaluate)

    sample = add_command(
        sample_recipes,
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
    sample.add_argument("--num", type=int, default=1, help="samples (one batch, 1-16)")
    add_threads_flag(sample)
    sample.add_argument("--json", action="store_true", help="print one JSON object (no streaming)")


def _field_defaults() -> dict:
    """What each flag of TEXT_BUDGET_RECIPE defaults to without --max-minutes."""
    return {
        f.name: f.default
        for cls in (ModelConfig, TrainConfig, TextData)
        for f in dataclasses.fields(cls)
        if f.name in TEXT_BUDGET_RECIPE
    }


def _budget_recipe_defaults(parser: argparse.ArgumentParser) -> None:
    """The flags of TEXT_BUDGET_RECIPE default to it with --max-minutes, else to the config
    classes; each flag's help says both (the values are filled in by _fill_defaults)."""
    plain = _field_defaults()
    for action in parser._actions:
        if action.dest == "max_minutes":  # given or not decides the recipe, and --resume's budget
            action.default = argparse.SUPPRESS
            action.help += f" (default: {TrainConfig.max_minutes:g}; with --resume: the run's)"
        if action.dest in TEXT_BUDGET_RECIPE:
            action.default = argparse.SUPPRESS  # absent unless given: _fill_defaults decides
            action.help = (
                f"{action.help} (default: {plain[action.dest]}; with --max-minutes: "
                f"{TEXT_BUDGET_RECIPE[action.dest]})"
            )


def _fill_defaults(args: argparse.Namespace) -> list[str]:
    """Fill the recipe flags not given: --size's shape first, then the budget recipe (with
    --max-minutes) or the config defaults; with --resume, the interrupted run's own values
    (its time limit and step count too), warning about shape flags the saved model overrides.
    Returns what the budget recipe set, for the log."""
    given = set(vars(args))
    if args.resume:
        return _fill_from_saved_run(args, given)
    if "size" in given:
        for name, value in MODEL_SIZES[args.size].items():
            if name not in given:
                setattr(args, name, value)
    if "max_minutes" not in given:
        args.max_minutes = TrainConfig.max_minutes
    recipe = TEXT_BUDGET_RECIPE if args.max_minutes else _field_defaults()
    filled = [name for name in TEXT_BUDGET_RECIPE if not hasattr(args, name)]
    for name in filled:
        setattr(args, name, recipe[name])
    return filled if recipe is TEXT_BUDGET_RECIPE else []


def _fill_from_saved_run(args: argparse.Namespace, given: set[str]) -> list[str]:
    """--resume continues the saved run: its model and settings, and the budget (--max-steps,
    --max-minutes) it had unless given now. Shape and recipe flags given that differ from the
    saved run are named in a warning: the saved model keeps its own."""
    from generator import api
    from generator.checkpoint import read_checkpoint
    from generator.training.trainer import last_path_for

    last = last_path_for(args.out)
    saved: dict = {}
    if last.exists():  # else the trainer says there is nothing to resume
        payload = read_checkpoint(last)
        saved = {
            **payload["model_config"],
            **(payload["train_state"] or {}).get("train_config", {}),
        }
    fallback = {**_field_defaults(), "max_minutes": TrainConfig.max_minutes}
    ignored = [
        name  # a shape or recipe flag given now that the saved run overrides (not the budget)
        for name in TEXT_BUDGET_RECIPE
        if name != "max_steps"
        and name in given
        and name in saved
        and getattr(args, name) != saved[name]
    ]
    if "size" in given:
        ignored.append("size")
    if ignored:
        api.note(
            "warning: --resume continues the saved run as it was; ignored: "
            + ", ".join(_flag(n, getattr(args, n)) for n in ignored)
        )
    for name in (*TEXT_BUDGET_RECIPE, "max_minutes"):
        if name not in given:
            setattr(args, name, saved.get(name, fallback[name]))
    return []


def _flag(name: str, value) -> str:
    """``name`` and ``value`` as the command line says them: --lr 0.003, --no-io-dropout."""
    flag = name.replace("_", "-")
    if isinstance(value, bool):
        return f"--{flag}" if value else f"--no-{flag}"
    return f"--{flag} {value}"


def _text_options(args: argparse.Namespace, **fixed) -> TextData:
    """The --data reading flags as the recipe's options."""
    return config_from_args(TextData, args, **fixed)


def _cmd_train_text(args: argparse.Namespace) -> int:
    from generator import api
    from generator.validation import check_range

    check_range("--max-valid-tokens", args.max_valid_tokens, 0, 10**12, integer=True)
    recipe = _fill_defaults(args)
    if recipe:
        api.note(
            f"--max-minutes {args.max_minutes:g}: the budget recipe (README, BENCHMARKS.md) sets "
            + ", ".join(_flag(name, getattr(args, name)) for name in recipe)
            + "; flags given beside it win"
        )
    api.train(
        "text",
        args.data,
        args.out,
        model=model_fields(ModelConfig, args, TEXT),
        training=config_from_args(TrainConfig, args),
        options=_text_options(args),
        resume=args.resume,
        progress=not args.no_progress,
        info={"command": command_line(args)},
    )
    return 0


def _cmd_evaluate_text(args: argparse.Namespace) -> int:
    from generator import api
    from generator.families.token_rnn import segment_length
    from generator.sampling.text import text_tokenizer

    loaded = load_model(args)
    if args.split == "all":
        args.valid_fraction = 0.0
    options = _text_options(args, max_valid_tokens=0)
    corpus = api.read_data(
        "text", args.data, options, tokenizer=text_tokenizer(loaded), seq_len=args.seq_len
    )
    print(corpus.report.summary(), file=sys.stderr)
    score = api.evaluate(
        loaded, corpus, batch_size=args.batch_size, seq_len=args.seq_len, split=args.split
    )
    files = corpus.report.files_read
    part = {"all": "", "train": "the training part of ", "valid": "the held-out part of "}
    print(
        f"NLL {score.nats_per_token:.4f} nats/token, {score.bits_per_character:.4f} "
        f"bits/character ({score.bits_per_character * math.log(2):.4f} nats/character) on "
        f"{part[args.split]}{files} file{'s' * (files != 1)} ({score.tokens:,} tokens, "
        f"{score.characters:,} characters), state carried through each file"
    )
    print(
        f"    {score.segment_nats_per_token:.4f} nats/token, "
        f"{score.segment_bits_per_character:.4f} bits/character with the state reset every "
        f"{segment_length(options, args.seq_len):,} tokens"
    )
    return 0


def _cmd_sample_text(args: argparse.Namespace) -> int:
    import json

    from generator import api
    from generator.families.token_rnn import TextRequest
    from generator.sampling import SamplingOptions
    from generator.sampling.text import SequentialPrinter
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
    request = TextRequest(
        prime,
        args.length or None,
        args.unit,
        options,
        args.num,
        on_text=printer.text if printer else None,
        on_end=printer.end if printer else None,
    )
    result = api.generate(loaded, request)
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
