"""Checkpoints for long-running programs (the app): found in folders, loaded once, cached.

``load_cached(path)`` is the one way the app gets a model. Entries are keyed by the file's
resolved path, modification time and size, so a checkpoint rewritten in place (a training run
saving a better model) is read again, while repeated requests reuse the loaded model. Loaded
models are in eval mode and are only read during sampling, so threads may share one.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from generator.checkpoint import CheckpointError, Loaded, load_checkpoint, read_checkpoint


class CheckpointCache:
    """A small least-recently-used cache of loaded checkpoints, safe to use from threads."""

    def __init__(self, max_models: int = 4):
        self.max_models = max_models
        self._entries: OrderedDict[tuple[str, int, int], Loaded] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, path: str | Path) -> Loaded:
        """The checkpoint at ``path``, loaded at most once per version of the file."""
        resolved = Path(path).resolve()
        try:
            stat = resolved.stat()
        except OSError:
            stat = None
        key = (str(resolved), stat.st_mtime_ns if stat else 0, stat.st_size if stat else 0)
        with self._lock:  # loading under the lock: two first requests load the model once
            if key in self._entries:
                self._entries.move_to_end(key)
                return self._entries[key]
            loaded = load_checkpoint(resolved)  # raises CheckpointError for a missing file
            for old in [k for k in self._entries if k[0] == key[0]]:
                del self._entries[old]  # an older version of the same file
            self._entries[key] = loaded
            while len(self._entries) > self.max_models:
                self._entries.popitem(last=False)
            return loaded


_CACHE = CheckpointCache()


def load_cached(path: str | Path) -> Loaded:
    """Load a checkpoint through the process-wide cache (keyed by path, mtime and size)."""
    return _CACHE.get(path)


def find_checkpoints(folders: Iterable[str | Path]) -> list[Path]:
    """Loadable-looking checkpoints in ``folders`` (not recursive): ``*.pt`` files, sorted by
    name, leaving out resumable training states (``*.last.pt``) and hidden temporary files."""
    found: list[Path] = []
    for folder in folders:
        folder = Path(folder)
        if not folder.is_dir():
            continue
        found.extend(
            path
            for path in sorted(folder.glob("*.pt"))
            if path.is_file()
            and not path.name.endswith(".last.pt")
            and not path.name.startswith(".")
        )
    return found


@dataclass(frozen=True)
class CheckpointSummary:
    """What a checkpoint holds, without building its model: enough to list it in a picker."""

    path: Path
    family: str  # model family ("rnn", ...)
    tokenizer_kind: str  # "midi_events" (music), "characters" / "sentencepiece" (text), ...
    info: dict[str, Any] = field(default_factory=dict, compare=False)


_SUMMARIES: dict[tuple[str, int, int], CheckpointSummary | None] = {}
_SUMMARIES_LOCK = threading.Lock()


def summarize_checkpoint(path: str | Path) -> CheckpointSummary | None:
    """The checkpoint's family, tokenizer kind and info (None if unreadable); cached per file
    version, so listing a folder again only reads new or changed files."""
    resolved = Path(path).resolve()
    try:
        stat = resolved.stat()
    except OSError:
        return None
    key = (str(resolved), stat.st_mtime_ns, stat.st_size)
    with _SUMMARIES_LOCK:
        if key in _SUMMARIES:
            return _SUMMARIES[key]
    try:
        payload = read_checkpoint(resolved)
        summary = CheckpointSummary(
            resolved,
            payload["family"],
            str(payload["tokenizer"].get("kind", "")),
            dict(payload.get("info") or {}),
        )
    except (CheckpointError, AttributeError):
        summary = None
    with _SUMMARIES_LOCK:
        _SUMMARIES[key] = summary
    return summary
