"""Command line: ``python -m generator COMMAND KIND ...``, one module per kind of model.

    data       music | text                       generator/cli/data.py
    train      music | text | pianoroll | seq2seq
    evaluate   music | text | pianoroll | seq2seq  generator/cli/{music,text,pianoroll,seq2seq}.py
    sample     music | text | pianoroll | seq2seq
    harmonize                                     generator/cli/seq2seq.py
    notate     FILE.mid                           generator/cli/notate.py
    describe   CHECKPOINT                          (below)
    app        serve the browser app               generator/cli/app.py

Thin on purpose: each command parses flags, calls the package's functions and prints what they
return. Each subcommand is made by ``common.add_command`` with its handler ``run(args)``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from generator.cli import app, data, harmony, music, notate, pianoroll, quality, seq2seq, text
from generator.cli.common import Formatter, add_command, check_args, set_threads


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m generator",
        description="Train recurrent networks (tanh RNN, LSTM, GRU) on music and text, "
        "and sample from them.",
        formatter_class=Formatter,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    data.add_parsers(commands)
    kinds = []
    for name, help_text in (
        ("train", "train a model"),
        ("evaluate", "loss of a model on data"),
        ("sample", "generate from a checkpoint"),
    ):
        command = commands.add_parser(name, help=help_text, formatter_class=Formatter)
        kinds.append(command.add_subparsers(dest="kind", required=True, metavar="KIND"))
    for module in (music, text, pianoroll, harmony):
        module.add_parsers(*kinds)
    seq2seq.add_parsers(commands, *kinds)
    notate.add_parsers(commands)
    quality.add_parsers(kinds[1])  # evaluate quality: generated MIDI against real MIDI

    describe = add_command(
        commands, "describe", _describe, help="print a checkpoint's model card (Markdown)"
    )
    describe.add_argument("checkpoint", type=Path)
    app.add_parsers(commands)
    return parser


def _describe(args: argparse.Namespace) -> int:
    from generator.model_card import model_card

    print(model_card(str(args.checkpoint)), end="")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status (0 ok, 2 bad input, 130 interrupted)."""
    from generator.checkpoint import CheckpointError
    from generator.training import TrainingStopped

    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv)
    args.argv = argv  # recorded in checkpoints as the command that made them
    try:
        check_args(args)  # every flag and --out, before any work
        set_threads(args)
        return args.run(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (ValueError, CheckpointError, TrainingStopped) as error:
        print(f"error: {_one_line(error)}", file=sys.stderr)
        return 2
    except OSError as error:  # a file or folder that cannot be read or written
        where = f"{error.filename}: " if error.filename else ""
        print(f"error: {where}{error.strerror or error}", file=sys.stderr)
        return 2
    except MemoryError:
        print("error: out of memory; use a smaller model, batch or length", file=sys.stderr)
        return 2


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__
