"""Helpers every command module shares: flags from config dataclasses, sampling flags."""

from __future__ import annotations

import argparse
import dataclasses
import shlex
import sys
from pathlib import Path

from generator import validation as v
from generator.config import SHIPPED_DIR, field_help

FLAG_ALIASES = {"num_layers": ["--layers"], "embedding_size": ["--embed"]}  # short spellings


class Formatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """--help with each flag's default, once: a help that says "(default ..." itself (an
    environment variable, a rule) gets no second one."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if "(default" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


def add_config_flags(parser: argparse.ArgumentParser, cls: type, skip: set[str]) -> None:
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


def add_command(subcommands, name: str, run, help: str, description: str | None = None):
    """A subcommand ``name`` of ``subcommands`` that calls ``run(args)``; --help shows defaults."""
    parser = subcommands.add_parser(
        name, help=help, description=description, formatter_class=Formatter
    )
    parser.set_defaults(run=run)
    return parser


def add_training_flags(
    parser: argparse.ArgumentParser, data_help: str, held_out: str, data_default: Path | None = None
) -> None:
    """What every ``train RECIPE`` takes: --data, --out, --resume, --valid-fraction and
    --no-progress."""
    if data_default is None:
        parser.add_argument("--data", type=Path, required=True, help=data_help)
    else:
        parser.add_argument("--data", type=Path, default=data_default, help=data_help)
    parser.add_argument("--out", type=Path, required=True, help="checkpoint to write")
    parser.add_argument("--resume", action="store_true", help="continue from OUT.last.pt")
    parser.add_argument("--valid-fraction", type=float, default=0.1, help=held_out)
    parser.add_argument(
        "--no-progress", action="store_true", help="log lines instead of a progress bar"
    )


def add_tokenizer_flags(parser) -> None:
    """How text becomes tokens: characters, or a SentencePiece model trained on the data."""
    parser.add_argument(
        "--tokenizer", choices=("char", "sentencepiece"), default="char", help="token unit"
    )
    parser.add_argument(
        "--vocab-size", type=int, default=4000, help="SentencePiece: most pieces (an upper bound)"
    )
    parser.add_argument(
        "--sp-model-type", choices=("unigram", "bpe"), default="unigram", help="SentencePiece"
    )


def add_model_flags(parser: argparse.ArgumentParser, shipped: str | None = None) -> None:
    """--checkpoint and --device, for reading a model; --checkpoint is required unless
    ``shipped`` names a shipped model (``music`` → generator/checkpoints/music.pt) to default to."""
    if shipped is None:
        parser.add_argument("--checkpoint", type=Path, required=True, help="a .pt checkpoint")
    else:
        default = SHIPPED_DIR / f"{shipped}.pt"
        parser.add_argument(
            "--checkpoint",
            type=Path,
            default=default,
            help=f"a .pt checkpoint ({shipped}.pt: the shipped model)",
        )
    parser.add_argument("--device", default="cpu", help="cpu, cuda, mps or auto")


def load_model(args: argparse.Namespace):
    """The checkpoint of --checkpoint, on --device."""
    from generator import api

    return api.load(args.checkpoint, device=args.device)


def config_from_args(cls: type, args: argparse.Namespace, **fixed):
    """``cls`` built from the flags named like its fields, with ``fixed`` on top."""
    names = {f.name for f in dataclasses.fields(cls)}
    values = {k: v for k, v in vars(args).items() if k in names}
    return cls(**{**values, **fixed})


def data_set_fields(recipe) -> set[str]:
    """The config fields a recipe's data sets: they get no flag."""
    return set(recipe.data_sets)


def model_fields(cls: type, args: argparse.Namespace, recipe) -> dict:
    """The model config fields the flags give (those the data sets left out)."""
    names = {f.name for f in dataclasses.fields(cls)} - data_set_fields(recipe)
    return {k: v for k, v in vars(args).items() if k in names}


def add_sampling_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("sampling")
    group.add_argument("--temperature", type=float, default=1.0, help="> 0; lower is safer")
    group.add_argument("--top-k", type=int, default=0, help="keep the k likeliest tokens (0=all)")
    group.add_argument("--top-p", type=float, default=1.0, help="nucleus probability (0, 1]")
    group.add_argument("--greedy", action="store_true", help="always take the likeliest token")
    group.add_argument("--seed", type=int, default=None, help="random seed for repeatable output")


def add_threads_flag(
    parser: argparse.ArgumentParser, what: str = "token-by-token sampling"
) -> None:
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help=f"CPU threads, 0 (torch's default) to {v.MAX_THREADS_PER_CPU} per CPU; {what} is "
        "fastest on one",
    )


def add_training_threads_flag(parser: argparse.ArgumentParser) -> None:
    """--threads for training, where every core helps (the default)."""
    parser.add_argument(
        "--threads",
        type=int,
        default=0,
        help="CPU threads for training, up to "
        f"{v.MAX_THREADS_PER_CPU} per CPU (default 0: torch's choice, every core; 1 leaves the "
        "machine to other work)",
    )


def set_threads(args: argparse.Namespace) -> None:
    """Apply ``--threads`` (if the command has it): checked, then set unless 0."""
    if getattr(args, "threads", 0) != 0:
        v.check_threads(args.threads)
        import torch

        torch.set_num_threads(args.threads)


def command_line(args: argparse.Namespace) -> str:
    """This run's command, as kept in a checkpoint's info (the model card prints it)."""
    return "python -m generator " + shlex.join(getattr(args, "argv", sys.argv[1:]))


def note(text: str) -> None:
    """A report line on stderr for a training run, printed once: under torchrun, by rank 0."""
    from generator import api

    api.note(text)


def check_args(args: argparse.Namespace) -> None:
    """Every flag a command has, checked before any work by generator/validation.py's rules
    (ValueError with the flag named): sampling, tempo, beam, threads, device, encoding, the
    training numbers, --out, and --resume's state. Commands keep no checks of their own."""
    present = vars(args)

    def given(name: str) -> bool:
        return present.get(name) is not None

    if given("threads"):
        v.check_threads(args.threads)
    if given("device"):
        v.check_device(args.device)
    if given("temperature"):
        v.check_range("--temperature", args.temperature, 0.0, 10.0, low_open=True)
    if given("top_k"):
        v.check_range("--top-k", args.top_k, 0, v.MAX_TOKENS, integer=True)
    if given("top_p"):
        v.check_range("--top-p", args.top_p, 0.0, 1.0, low_open=True)
    if given("bpm"):
        v.check_bpm(args.bpm)
    if given("program"):
        v.check_program(args.program)
    if given("num"):
        v.check_variations(args.num)
    if given("bars") and args.command == "sample":
        v.check_bars(args.bars)
    if given("seconds"):
        v.check_seconds(args.seconds)
    if given("beats_per_bar"):
        v.check_beats_per_bar(args.beats_per_bar)
    if given("beam"):
        v.check_beam(args.beam)
    if given("decode") and args.decode:
        v.check_beam(args.decode)
    if given("length_penalty"):
        v.check_length_penalty(args.length_penalty)
    if given("encoding"):
        v.check_encoding(args.encoding)
    if given("valid_fraction"):
        v.check_range("--valid-fraction", args.valid_fraction, 0.0, 1.0)
        if args.valid_fraction >= 1.0:
            raise ValueError("--valid-fraction must be below 1 (something must be left to train)")
    if given("vocab_size") and args.command == "train":
        v.check_range("--vocab-size", args.vocab_size, 1, 1_000_000, integer=True)
    if args.command == "train":
        from generator.config import TrainConfig

        v.check_train_fields({k: present[k] for k in v.TRAIN_RANGES if given(k)})
        if "max_steps" in present:
            config_from_args(TrainConfig, args)  # its own choices (optimizer, schedule, amp)
    _check_out(args)
    if present.get("resume"):
        from generator.checkpoint import check_resumable
        from generator.training.trainer import last_path_for

        check_resumable(last_path_for(args.out))


def _check_out(args: argparse.Namespace) -> None:
    """--out before any work: a file for train and harmonize, a folder for sample and data."""
    out = getattr(args, "out", None)
    if out is None:
        return
    if args.command in ("train", "harmonize"):
        v.check_out_file(out)
    else:
        v.check_out_folder(out)
