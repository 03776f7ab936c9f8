"""Where the app reads models and writes files, and helpers every handler shares."""

from __future__ import annotations

import hashlib
import os
import random
import re
import uuid
from dataclasses import dataclass
from pathlib import Path

from generator.atomic import atomic_write
from generator.checkpoint import CheckpointError
from generator.config import APP_DIR_ENV, CHECKPOINTS_ENV, PROJECT_DIR, SHIPPED_DIR
from generator.validation import check_range

MAX_SEED = 2**31 - 1


@dataclass(frozen=True)
class AppSettings:
    """Where the app reads models from and writes to, and how it renders audio."""

    app_dir: Path  # everything the app writes
    checkpoint_dirs: tuple[Path, ...] = (SHIPPED_DIR,)  # shipped models (read only)
    extra_checkpoints: tuple[Path, ...] = ()  # single files or folders named at start-up
    audio_format: str = "wav"  # wav (fast) or ogg (Opus, small)
    share_trained: bool = False  # list a visitor's trained models in every visitor's pickers

    @property
    def models_dir(self) -> Path:
        return self.app_dir / "models"

    @property
    def outputs_dir(self) -> Path:
        return self.app_dir / "outputs"

    @property
    def training_dir(self) -> Path:
        return self.app_dir / "training"

    @property
    def cache_dir(self) -> Path:
        return self.app_dir / "cache"

    @property
    def visitors_dir(self) -> Path:
        return self.models_dir / "visitors"

    def visitor_models_dir(self, visitor: str | None) -> Path:
        """Where the models a visitor trains go: ``models/`` when the owner shares them (and
        for callers without a visitor: tests, a single local user), else the visitor's own
        folder, named by a hash of the visitor's token (the name is no credential)."""
        if self.share_trained or not visitor:
            return self.models_dir
        return self.visitors_dir / visitor_folder(visitor)


def settings_from_env(
    app_dir: str | Path | None = None,
    checkpoints: list[str | Path] | tuple = (),
    audio_format: str = "wav",
    share_trained: bool = False,
) -> AppSettings:
    """Settings from arguments, falling back to $RNN_GENERATOR_APP_DIR and
    $RNN_GENERATOR_CHECKPOINTS, then to ``PROJECT_DIR/runs/app`` and the shipped models
    (``generator/checkpoints/``)."""
    app_dir = Path(app_dir or os.environ.get(APP_DIR_ENV) or PROJECT_DIR / "runs" / "app")
    extra = [Path(p) for p in checkpoints]
    extra += [Path(p) for p in os.environ.get(CHECKPOINTS_ENV, "").split(os.pathsep) if p]
    return AppSettings(
        app_dir.expanduser().resolve(),
        (SHIPPED_DIR,),
        tuple(p.expanduser().resolve() for p in extra),
        audio_format,
        share_trained,
    )


_TOKEN = re.compile(r"[0-9a-f]{32}")


def new_visitor() -> str:
    """A visitor's token: 128 random bits, kept in the visitor's browser (localStorage)."""
    return uuid.uuid4().hex


def check_visitor(token: object) -> str | None:
    """The token if it has the shape new_visitor gives, else None (a raw client's junk)."""
    return token if isinstance(token, str) and _TOKEN.fullmatch(token) else None


def browser_secret(settings: AppSettings) -> str:
    """The key the page's stored visitor token is encrypted with, kept in the app's folder so
    a visitor keeps their models across server restarts."""
    path = settings.app_dir / ".browser-secret"
    try:
        secret = path.read_text().strip()
    except OSError:
        secret = ""
    if not re.fullmatch(r"[0-9a-f]{32}", secret):
        secret = uuid.uuid4().hex
        with atomic_write(path, "w", permissions=0o600) as handle:  # readable by the app alone
            handle.write(secret)
    return secret


def visitor_folder(token: str) -> str:
    """The folder name of a visitor's models: a hash of the token, never the token itself."""
    return hashlib.sha256(token.encode()).hexdigest()[:32]


def safe_name(text: str, default: str = "file", max_length: int = 40) -> str:
    """A file-name-safe version of user text: letters, digits, ``-`` and ``_`` only."""
    name = re.sub(r"[^A-Za-z0-9_-]+", "-", text).strip("-_")[:max_length].strip("-_")
    return name or default


_ABSOLUTE_PATH = re.compile(r"(?<![\w.~])(?:[A-Za-z]:)?[/\\](?:[^\s/\\'\"():,;]+[/\\])+")


def hide_paths(text: str) -> str:
    """``text`` with every absolute path cut to its last part (``/srv/app/models/x.pt`` →
    ``x.pt``): messages shown to visitors never reveal the server's folders."""
    return _ABSOLUTE_PATH.sub("", str(text))


class AppError(Exception):
    """A problem the user should read: the request stops and the page shows ``message`` (the
    UI module turns it into Gradio's error). Handlers raise it instead of importing Gradio."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Notice:
    """A passing message for the page (a toast that fades): ``level`` is "info" or "warning".
    Handlers return it as plain data; the UI module shows it."""

    level: str
    text: str


def user_error(message: str) -> AppError:
    """An AppError for the page, its message without server paths."""
    return AppError(hide_paths(message))


class UserErrors:
    """Turn the package's input errors into AppError messages the page shows."""

    def __init__(self, what: str):
        self.what = what

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind, error, traceback) -> bool:
        if isinstance(error, (ValueError, CheckpointError, FileNotFoundError)):
            raise user_error(f"{self.what}: {error}") from None
        return False


def parse_seed(seed: str | int | None) -> int:
    """A seed typed by the user, or a fresh random one when the box is empty."""
    if seed is None or not str(seed).strip():
        return random.randrange(MAX_SEED)
    with UserErrors("Invalid setting"):
        return check_range("random seed", str(seed).strip(), 0, MAX_SEED, integer=True)
