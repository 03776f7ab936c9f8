"""Atomic file writes: a temporary file in the same folder, then a rename onto the target.

A crash, a kill -9 or a full disk never leaves half a file under the target's name: readers
see the old file or the new one. The temporary is ``.NAME.XXXXXXXX.tmp`` beside ``NAME``
(hidden, and in the same file system, so the rename is atomic).

    with atomic_write(path, "w", encoding="utf-8") as handle:
        handle.write(text)
"""

from __future__ import annotations

import contextlib
import glob
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

ABANDONED_AFTER_SECONDS = 600  # a temporary file untouched this long has no writer left


@contextlib.contextmanager
def atomic_write(
    path: str | Path,
    mode: str = "wb",
    *,
    encoding: str | None = None,
    newline: str | None = None,
    durable: bool = False,
    permissions: int | None = None,
) -> Iterator[IO[Any]]:
    """Open a temporary file beside ``path`` for writing; when the block ends without an
    exception, rename it onto ``path``, else delete it. ``durable``: fsync the data before the
    rename (checkpoints). ``permissions``: the file's mode bits (default: the usual ones under
    the umask, not mkstemp's 0600; 0o600 for a secret)."""
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_write writes whole files: mode 'w' or 'wb', not {mode!r}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode, encoding=encoding, newline=newline) as handle:
            yield handle
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        os.chmod(temporary, 0o666 & ~_umask() if permissions is None else permissions)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_bytes_atomic(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically."""
    with atomic_write(path, "wb") as handle:
        handle.write(data)
    return Path(path)


def write_text_atomic(path: str | Path, text: str, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` atomically."""
    with atomic_write(path, "w", encoding=encoding) as handle:
        handle.write(text)
    return Path(path)


def temporaries(path: str | Path) -> list[Path]:
    """The temporary files of ``path`` in its folder: being written, or left by a killed writer."""
    path = Path(path)
    return sorted(path.parent.glob(f".{glob.escape(path.name)}.*.tmp"))


def remove_abandoned_temporaries(path: str | Path) -> None:
    """Delete temporary files of ``path`` that a killed process left (kill -9 or a power cut
    between writing and renaming); one still being written changes more often than this."""
    cutoff = time.time() - ABANDONED_AFTER_SECONDS
    for temporary in temporaries(path):
        try:
            if temporary.stat().st_mtime < cutoff:
                temporary.unlink()
        except OSError:
            pass  # gone already, or not ours to delete


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
