"""``python -m generator data music|text``: build the built-in corpora from installed packages."""

from __future__ import annotations

import argparse
from pathlib import Path

from generator.cli.common import Formatter, add_command

DEFAULT_MUSIC_DATA = Path("datasets/music")


def add_parsers(commands) -> None:
    data = commands.add_parser("data", help="build the built-in corpora", formatter_class=Formatter)
    datasets = data.add_subparsers(dest="dataset", required=True, metavar="DATASET")
    music = add_command(
        datasets,
        "music",
        _cmd_data_music,
        help="MIDI files from music21's bundled corpus (Bach chorales, folk tunes)",
    )
    music.add_argument("--out", type=Path, default=DEFAULT_MUSIC_DATA, help="output folder")
    music.add_argument("--force", action="store_true", help="rebuild even if cached")
    music.add_argument(
        "--limit", type=int, default=None, help="at most N pieces per source (quick trials)"
    )
    music.add_argument("--workers", type=int, default=2, help="parallel processes")
    text = add_command(
        datasets,
        "text",
        _cmd_data_text,
        help="English text from this Python: the Language Reference and stdlib docstrings",
    )
    text.add_argument("--out", type=Path, default=Path("datasets/text"), help="folder")
    text.add_argument("--force", action="store_true", help="rebuild even if present")


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
