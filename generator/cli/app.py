"""``rnn-generator app`` (``python -m generator app``; ``python app.py`` in a checkout): serve
the browser app. The page itself is generator/app/ui.py, imported only when the app starts, so
the rest of the command line never loads Gradio."""

from __future__ import annotations

import argparse
import os

from generator.cli.common import add_command
from generator.config import APP_DIR_ENV, CHECKPOINTS_ENV

DEFAULT_PORT = 7860


def add_parsers(commands) -> None:
    parser = add_command(
        commands,
        "app",
        run,
        help="serve the browser app (Compose, Harmonize, Write, Train)",
        description="Serve the RNN music generator in the browser, at http://HOST:PORT/. "
        "It offers the shipped models, those named with --checkpoint, and those its visitors "
        "train.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument(
        "--port",
        type=int,
        default=None,
        help=f"port ($GRADIO_SERVER_PORT when set, else {DEFAULT_PORT})",
    )
    parser.add_argument(
        "--checkpoint",
        action="append",
        default=[],
        help=f"another checkpoint file or folder to offer (repeatable; also ${CHECKPOINTS_ENV})",
    )
    parser.add_argument(
        "--app-dir",
        default=None,
        help=f"folder the app writes to (default: ${APP_DIR_ENV}, else runs/app in the "
        "checkout, or in the current folder when installed)",
    )
    parser.add_argument(
        "--audio", choices=("wav", "ogg"), default="wav", help="wav (fast) or ogg (Opus)"
    )
    parser.add_argument("--threads", type=int, default=1, help="torch threads for sampling")
    parser.add_argument(
        "--share-trained-models",
        action="store_true",
        help="list the models a visitor trains in every visitor's pickers (default: only in "
        "the pickers of the visitor who trained them)",
    )


def run(args: argparse.Namespace) -> int:
    cpus = os.cpu_count() or 1
    if not 1 <= args.threads <= cpus:
        raise ValueError(f"--threads must be 1 to {cpus} (this machine's CPUs)")
    if args.port is None:  # read here, not while parsing: a bad value only stops the app
        setting = os.environ.get("GRADIO_SERVER_PORT", str(DEFAULT_PORT))
        try:
            args.port = int(setting)
        except ValueError:
            raise ValueError(
                f"$GRADIO_SERVER_PORT must be a port number 1-65535, got {setting!r}"
            ) from None
    if not 1 <= args.port <= 65535:
        raise ValueError(f"--port must be 1 to 65535, got {args.port}")
    for path in args.checkpoint:
        if not os.path.exists(path):
            raise ValueError(f"--checkpoint {path}: no such file or folder")
    from generator.app.ui import serve

    serve(
        host=args.host,
        port=args.port,
        checkpoints=args.checkpoint,
        app_dir=args.app_dir,
        audio=args.audio,
        threads=args.threads,
        share_trained_models=args.share_trained_models,
    )
    return 0
