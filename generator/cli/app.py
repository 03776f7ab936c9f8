"""``rnn-generator app`` (``python -m generator app``; ``python app.py`` in a checkout): serve
the browser app. The page itself is generator/app/ui.py, imported only when the app starts, so
the rest of the command line never loads Gradio."""

from __future__ import annotations

import argparse
import errno
import os
import socket

from generator.cli.common import add_command, add_threads_flag
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
        help=f"port (default: $GRADIO_SERVER_PORT when set, else {DEFAULT_PORT})",
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
    add_threads_flag(parser, "sampling")  # checked and applied by cli.main, like every command's
    parser.add_argument(
        "--share-trained-models",
        action="store_true",
        help="list the models a visitor trains in every visitor's pickers (default: only in "
        "the pickers of the visitor who trained them)",
    )


def run(args: argparse.Namespace) -> int:
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
    check_listen(args.host, args.port)  # Gradio's word for any failure: "Cannot find empty port"
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


def check_listen(host: str, port: int) -> None:
    """That the app can listen on ``host`` (a name, an IPv4 or an IPv6 address) at ``port``:
    each address the host resolves to is bound and let go the way the server will bind it,
    and 127.0.0.1 too, where Gradio tries the port first. A ValueError that names the host or
    the port and the reason: a name that does not resolve, an address this machine does not
    have, a port in use or one that needs privileges."""
    name = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not name:
        raise ValueError("--host is empty; give an address such as 127.0.0.1 or 0.0.0.0")
    addresses = []
    for where in dict.fromkeys((name, "127.0.0.1")):
        try:
            found = socket.getaddrinfo(
                where, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
            )
        except socket.gaierror as error:
            raise ValueError(f"--host {host}: cannot resolve it ({error.strerror})") from None
        addresses += [(where, *address) for address in found]
    for where, family, kind, protocol, _, address in addresses:
        with socket.socket(family, kind, protocol) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server does
            if family == socket.AF_INET6:  # one family per socket, as asyncio's server binds
                probe.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                probe.bind(address)
            except OSError as error:
                raise ValueError(_listen_problem(where, port, error)) from None


def _listen_problem(host: str, port: int, error: OSError) -> str:
    if error.errno == errno.EADDRINUSE:
        return f"port {port} on {host} is in use; pick another with --port"
    if error.errno == errno.EADDRNOTAVAIL:
        return (
            f"--host {host}: not an address of this machine, so the app cannot listen there "
            "(use 127.0.0.1, 0.0.0.0 or one of this machine's addresses)"
        )
    if error.errno == errno.EACCES:
        return f"port {port} on {host}: permission denied; pick another with --port (1024 up)"
    return f"cannot listen on {host} port {port}: {error.strerror or error}"
