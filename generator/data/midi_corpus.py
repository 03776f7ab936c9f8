"""Read a folder of MIDI files into a token corpus, skipping bad files with a reason.

Rules (also in README "Training on your own MIDI files"):
- Every ``.mid`` / ``.midi`` file under the folder, recursively, in sorted order, except those
  whose path (relative to the folder) matches an ``exclude`` glob (``melody/*``, ``*-draft.mid``).
- Style of a file (``styles``): ``folders`` (default) takes its first-level subfolder's name
  (``jazz/tune.mid`` → ``jazz``; top-level files have none, and the report counts them);
  ``none`` gives no file a style; a CSV file with ``path,style`` columns (paths relative to the
  folder, as in the built corpus's manifest.csv) names each file's style.
- Skipped, with the reason in the report: files over ``max_file_bytes``, files that do not
  parse, files with no non-drum notes, files over ``max_notes`` notes or ``max_beats`` beats.
- Exact duplicates (the same bytes under another name) are read once; the report lists them.
- Versions of one piece stay on one side of the train/valid split (``group_by``): ``name``
  (default) groups files with the same file name in different folders (``tune.mid``,
  ``melody/tune.mid``, ``chords/Tune.MID``); ``none`` splits file by file. A file alone in its
  group is split by a hash of its relative path, so a corpus without versions splits as before;
  a group by a hash of its name. The split is deterministic and stable when files are added.
- Multi-track files are merged and drum tracks dropped (see generator.midi.notes). Parser
  warnings are counted in the report, not printed.
- Meter: a file's first time signature (MIDI files without one have none). A new tokenizer
  learns every meter of the data and each piece then starts with its METER token.
- What the data showed goes into a new tokenizer, for sampling to stay inside it: the pitch
  range of the training split, overall and per style, and per style the voices (the median
  over its files of the most notes that start together).
- Tokenized results are cached per corpus (one file per folder and tokenizer setting, in
  ``cache_dir``, default ``~/.cache/rnn-generator``), keyed by each file's SHA-256: a changed
  file is re-read, a run loads only its own corpus's entries, and the cache file is replaced
  atomically, so runs reading at the same time never see half a file. Each file's stamp (size,
  modification time) is kept too: a file whose stamp is unchanged is not opened, and a read of
  an unchanged folder costs a stat per file and a few whole-array operations.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import csv
import fnmatch
import functools
import gc
import hashlib
import io
import multiprocessing
import operator
import os
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pretty_midi
from tqdm import tqdm

from generator.atomic import atomic_write
from generator.data.pieces import Piece, TokenCorpus, is_valid_split
from generator.data.report import ReadReport
from generator.midi.notes import MidiReadError, notes_from_bytes
from generator.tokenizers import MidiEventTokenizer
from generator.validation import read_bounded

MIDI_SUFFIXES = {".mid", ".midi"}
CACHE_VERSION = 5  # 3: symusic, a file per corpus; 4: meter and voices; 5: columns, stamp rows
STYLE_RULES = ("folders", "none")  # or the path of a CSV file
MAX_STYLE_TABLE_BYTES = 16_000_000  # a path,style line per file: room for 100,000s of files
GROUP_RULES = ("name", "none")


def default_cache_dir() -> Path:
    """Where tokenized corpora are cached: $RNN_GENERATOR_CACHE or ~/.cache/rnn-generator."""
    env = os.environ.get("RNN_GENERATOR_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "rnn-generator"


@dataclass
class ReadLimits:
    """Caps beyond which a file is skipped rather than read."""

    max_file_bytes: int = 4_000_000  # bigger files are skipped unread
    max_notes: int = 100_000  # notes per file
    max_beats: float = 20_000.0  # length per file, in beats


@dataclass
class CorpusReport(ReadReport):
    """What was read and what was skipped (``skipped``: relative path, reason), and why."""

    folder: str
    files_found: int = 0
    files_read: int = 0
    duplicates: list[tuple[str, str]] = field(default_factory=list)  # (path, same bytes as)
    excluded: int = 0  # files matching an exclude pattern
    notes: int = 0
    seconds: float = 0.0  # total duration at the files' own tempos
    tokens: int = 0
    min_pitch: int = 127
    max_pitch: int = 0
    styles: Counter = field(default_factory=Counter)
    meters: Counter = field(default_factory=Counter)  # first time signature of each file
    style_ranges: dict = field(default_factory=dict)  # style → [lowest, highest] pitch
    style_voices: dict = field(default_factory=dict)  # style → voices (median of files)
    style_rule: str = "folders"
    unstyled: int = 0  # files read without a style
    group_rule: str = "name"
    groups: int = 0  # versions of one piece: groups of 2+ files (split together)
    grouped_files: int = 0
    warnings: Counter = field(default_factory=Counter)  # parser warnings, by message
    train_pieces: int = 0
    valid_pieces: int = 0
    cached_files: int = 0  # files whose tokens came from the cache

    NOT_SAVED = ("min_pitch", "max_pitch", "cached_files")

    def describe(self, split: bool) -> list[str]:
        lines = [
            f"corpus {self.folder}: {_count(self.files_found, 'MIDI file')} found, "
            f"{self.files_read} read, {len(self.skipped)} skipped, "
            f"{_count(len(self.duplicates), 'duplicate')}"
            + (f", {self.excluded} excluded" if self.excluded else "")
            + f" ({self.cached_files} from cache, {self.read_seconds:.1f} s)",
        ]
        if self.files_read:
            hours, rest = divmod(int(self.seconds), 3600)
            lines.append(
                f"  {self.notes:,} notes, {self.tokens:,} tokens, {hours} h {rest // 60:02d} min "
                f"of music, pitches {pretty_midi.note_number_to_name(self.min_pitch)}"
                f"–{pretty_midi.note_number_to_name(self.max_pitch)}"
            )
            styles = ", ".join(f"{name} {count}" for name, count in self.styles.most_common())
            if self.style_rule == "none":
                lines.append("  styles: none (--styles none)")
            else:
                none = "none (files are not in style subfolders)"
                if self.style_rule != "folders":
                    none = f"none (no file is listed in {self.style_rule})"
                lines.append(f"  styles ({self.style_rule}): {styles or none}")
                if self.unstyled:
                    where = "top-level files" if self.style_rule == "folders" else "not listed"
                    lines.append(f"  {_count(self.unstyled, 'file')} without a style ({where})")
            meters = ", ".join(f"{name} {count}" for name, count in self.meters.most_common())
            lines.append(f"  meters: {meters or 'none (no time signatures)'}")
            if self.style_voices:
                voices = ", ".join(f"{k} {v}" for k, v in sorted(self.style_voices.items()))
                lines.append(f"  voices per style: {voices}")
            if self.group_rule != "none" and not self.groups:
                lines.append("  versions: none found (no file name is in two folders)")
            elif self.group_rule != "none":
                lines.append(
                    f"  versions (same file name in several folders): "
                    f"{_count(self.groups, 'group')} of 2+ files ({self.grouped_files} files), "
                    f"each kept on one side of the split"
                )
            if split:
                lines.append(
                    f"  split: {self.train_pieces} train, {self.valid_pieces} valid pieces"
                )
        for message, count in self.warnings.most_common(5):
            lines.append(f"  parser warning ×{count}: {message}")
        for name, original in self.duplicates[:5]:
            lines.append(f"  duplicate: {name} has the same bytes as {original} (read once)")
        if len(self.duplicates) > 5:
            lines.append(f"    ... and {len(self.duplicates) - 5} more duplicates")
        return lines

    def derived(self) -> dict[str, Any]:
        return {
            "seconds": round(self.seconds, 1),
            "pitch_range": [self.min_pitch, self.max_pitch] if self.files_read else None,
        }


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'s' * (n != 1)}"


def find_midi_files(folder: Path, exclude: tuple[str, ...] = ()) -> list[Path]:
    """All MIDI files under a folder (or the file itself), recursively, sorted, less those
    whose relative path matches an ``exclude`` glob."""
    listing = _scan_midi_files(Path(folder), exclude)
    return [Path(listing.path(i)) for i in range(len(listing.names))]


@dataclass
class _Listing:
    """The MIDI files under a folder in sorted order, as columns: relative POSIX paths, sizes
    and modification times (a file's stamp), and how many ``exclude`` left out."""

    root: str
    names: list[str]
    sizes: list[int]
    mtimes: list[int]
    excluded: int = 0

    def path(self, index: int) -> str:
        return os.path.join(self.root, self.names[index])


_MIDI_ENDINGS = tuple(MIDI_SUFFIXES)


def _scan_midi_files(folder: Path, exclude: tuple[str, ...]) -> _Listing:
    """List a folder depth first, each directory's entries sorted by name: the order of sorted
    Path objects without sorting 100,000 paths at the end. os.scandir's entries tell folders
    from files without a system call; only each MIDI file's stat (its stamp) costs one."""
    if folder.is_file():
        stat = folder.stat()
        return _Listing(str(folder.parent), [folder.name], [stat.st_size], [stat.st_mtime_ns])
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no such folder or file")
    listing = _Listing(str(folder), [], [], [])
    names, sizes, mtimes = listing.names, listing.sizes, listing.mtimes
    stack = [(_sorted_entries(str(folder)), "")]  # an iterator per open directory
    while stack:
        entries, prefix = stack[-1]
        for entry in entries:
            if entry.name.lower().endswith(_MIDI_ENDINGS) and entry.is_file():
                relative = prefix + entry.name
                if exclude and _excluded(relative, exclude):
                    listing.excluded += 1
                    continue
                stat = entry.stat()
                names.append(relative)
                sizes.append(stat.st_size)
                mtimes.append(stat.st_mtime_ns)
            elif entry.is_dir():
                stack.append((_sorted_entries(entry.path), f"{prefix}{entry.name}/"))
                break  # its files come before the rest of this directory
        else:
            stack.pop()
    return listing


def _sorted_entries(directory: str):
    try:
        with os.scandir(directory) as found:
            return iter(sorted(found, key=operator.attrgetter("name")))
    except OSError:
        return iter(())


def _excluded(relative: str, patterns: tuple[str, ...]) -> bool:
    """A pattern matches the relative path, or (for ``melody`` or ``melody/``) a folder in it."""
    for pattern in patterns:
        pattern = pattern.strip().rstrip("/")
        if fnmatch.fnmatch(relative, pattern) or fnmatch.fnmatch(relative, pattern + "/*"):
            return True
        if "/" not in pattern and any(
            fnmatch.fnmatch(part, pattern) for part in relative.split("/")[:-1]
        ):
            return True
    return False


def style_of(relative: Path) -> str | None:
    """The folder rule: a file's first-level subfolder, or None at the top level."""
    return relative.parts[0] if len(relative.parts) > 1 else None


def style_table(path: Path) -> dict[str, str]:
    """A ``path,style`` CSV (paths relative to the corpus folder) → {path: style}. At most
    MAX_STYLE_TABLE_BYTES are read: a device such as /dev/zero is refused, never read whole."""
    try:
        text = read_bounded(path, MAX_STYLE_TABLE_BYTES, "style table").decode("utf-8")
        rows = list(csv.DictReader(io.StringIO(text, newline="")))
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise ValueError(f"--styles {path}: cannot read the style table ({error})") from None
    if not rows or not {"path", "style"} <= set(rows[0]):
        raise ValueError(f"--styles {path}: a CSV file with 'path' and 'style' columns is needed")
    return {row["path"].strip(): row["style"].strip() for row in rows if row["style"].strip()}


def group_of(relative: str, rule: str) -> str:
    """The group a file belongs to: its lower-cased file name without the suffix (``name``),
    or its own path (``none``)."""
    if rule != "name":
        return relative
    return relative.rsplit("/", 1)[-1].rsplit(".", 1)[0].lower()


def _read_bytes(path: str) -> bytes:
    with open(path, "rb") as handle:
        return handle.read()


def read_midi_file(
    data: bytes, tokenizer: MidiEventTokenizer, limits: ReadLimits
) -> dict[str, Any]:
    """Parse and tokenize one file's bytes. Returns {"tokens" (int32 ids), stats} or
    {"skip": reason}."""
    if not data:
        return {"skip": "empty file: 0 bytes"}
    if len(data) > limits.max_file_bytes:
        return {"skip": f"too large: {len(data):,} bytes > cap {limits.max_file_bytes:,}"}
    try:
        read = notes_from_bytes(data, max_notes=limits.max_notes, max_beats=limits.max_beats)
    except MidiReadError as error:
        return {"skip": error.reason}
    if not len(read):
        return {"skip": "no notes: the file has no non-drum notes", "warnings": read.warnings}
    if len(read) > limits.max_notes:
        return {"skip": f"too long: {len(read):,} notes > cap {limits.max_notes:,}"}
    beats = float(read.end.max())
    if beats > limits.max_beats:
        return {"skip": f"too long: {beats:,.0f} beats > cap {limits.max_beats:,.0f}"}
    onsets = np.rint(read.start * tokenizer.steps_per_beat).astype(np.int64)
    return {
        "tokens": tokenizer.encode_arrays(read.start, read.end, read.pitch, read.velocity),
        "meter": read.meter,
        "voices": int(np.unique(onsets, return_counts=True)[1].max()),
        "notes": len(read),
        "seconds": read.seconds,
        "min_pitch": int(read.pitch.min()),
        "max_pitch": int(read.pitch.max()),
        "warnings": read.warnings,
    }


class _Table:
    """Tokenized files as columns, one row per distinct content (SHA-256 digest): every
    file's tokens in one int32 array, its statistics in one array each, and the few rows that
    were skipped or warned about as (row, text) pairs. No Python object per file: a corpus of
    100,000 files loads from the cache as a handful of arrays."""

    STATS = ("notes", "min_pitch", "max_pitch", "voices")

    def __init__(self, columns: dict[str, np.ndarray] | None = None):
        c = columns or {}
        self.digests: np.ndarray | None = c.get("digests") if c else np.zeros(0, "U64")
        self.lengths = c.get("lengths", np.zeros(0, np.int64)).astype(np.int64)
        self.tokens = c.get("tokens", np.zeros(0, np.int32)).astype(np.int32, copy=False)
        self.seconds = c.get("seconds", np.zeros(0, np.float64)).astype(np.float64)
        self.stats = {k: c.get(k, np.zeros(0, np.int64)).astype(np.int64) for k in self.STATS}
        self.meter_codes = c.get("meter_codes", np.zeros(0, np.int64)).astype(np.int64)
        self.meter_names: list[str] = c.get("meter_names", np.zeros(0, str)).tolist()
        self.skips: dict[int, str] = dict(  # row → why the file was skipped
            zip(
                c.get("skip_rows", np.zeros(0)).tolist(),
                c.get("skip_texts", np.zeros(0, str)).tolist(),  # str, not numpy's str_
                strict=True,
            )
        )
        self.warnings: dict[int, str] = dict(  # row → its parser warnings, one a line
            zip(
                c.get("warning_rows", np.zeros(0)).tolist(),
                c.get("warning_texts", np.zeros(0, str)).tolist(),
                strict=True,
            )
        )
        self.starts = np.cumsum(self.lengths) - self.lengths
        rows = len(self.lengths)
        columns_fit = all(len(v) == rows for v in (self.seconds, self.meter_codes))
        if (
            not columns_fit
            or any(len(v) != rows for v in self.stats.values())
            or (self.digests is not None and len(self.digests) != rows)
            or int(self.lengths.sum()) != len(self.tokens)
            or (rows and (self.lengths.min() < 0 or self.meter_codes.min() < -1))
            or (rows and self.meter_codes.max() >= len(self.meter_names))
            or any(not 0 <= row < rows for row in (*self.skips, *self.warnings))
        ):
            raise ValueError("the cache's columns do not fit together")

    def __len__(self) -> int:
        return len(self.lengths)

    def extended(self, digests: list[str], entries: list[dict[str, Any]]) -> _Table:
        """This table and the entries read_midi_file returned (rows len(self) onwards)."""
        if not entries:
            return self
        first = len(self)
        meters = {name: code for code, name in enumerate(self.meter_names)}
        for entry in entries:
            if entry.get("meter"):
                meters.setdefault(entry["meter"], len(meters))
        tokens = [e.get("tokens", np.zeros(0, np.int32)) for e in entries]
        columns = {
            "digests": np.concatenate([self.digests, np.array(digests, dtype="U64")]),
            "lengths": np.concatenate([self.lengths, [len(t) for t in tokens]]),
            "tokens": np.concatenate([self.tokens, *tokens]).astype(np.int32),
            "seconds": np.concatenate([self.seconds, [e.get("seconds", 0.0) for e in entries]]),
            "meter_codes": np.concatenate(
                [self.meter_codes, [meters[e["meter"]] if e.get("meter") else -1 for e in entries]]
            ),
            "meter_names": np.array(list(meters), dtype=str),
            **{
                k: np.concatenate([self.stats[k], [e.get(k, 0) for e in entries]])
                for k in self.STATS
            },
        }
        table = _Table(columns)
        table.skips = {**self.skips}
        table.warnings = {**self.warnings}
        for row, entry in enumerate(entries, start=first):
            if "skip" in entry:
                table.skips[row] = entry["skip"]
            if entry.get("warnings"):
                table.warnings[row] = "\n".join(entry["warnings"])
        return table

    def columns(self, rows: np.ndarray) -> dict[str, np.ndarray]:
        """The given rows (in that order, renumbered from 0) as the arrays of a cache file."""
        assert self.digests is not None
        if np.array_equal(rows, np.arange(len(self))):
            tokens = self.tokens
        else:
            starts, lengths = self.starts[rows].tolist(), self.lengths[rows].tolist()
            tokens = np.concatenate(
                [np.zeros(0, np.int32)]
                + [self.tokens[s : s + n] for s, n in zip(starts, lengths, strict=True)]
            )
        renumber = {row: new for new, row in enumerate(rows.tolist())}
        skips = {renumber[r]: t for r, t in self.skips.items() if r in renumber}
        warnings = {renumber[r]: t for r, t in self.warnings.items() if r in renumber}
        return {
            "digests": self.digests[rows],
            "lengths": self.lengths[rows],
            "tokens": tokens,
            "seconds": self.seconds[rows],
            "meter_codes": self.meter_codes[rows],
            "meter_names": np.array(self.meter_names, dtype=str),
            "skip_rows": np.array(list(skips), dtype=np.int64),
            "skip_texts": np.array(list(skips.values()), dtype=str),
            "warning_rows": np.array(list(warnings), dtype=np.int64),
            "warning_texts": np.array(list(warnings.values()), dtype=str),
            **{k: self.stats[k][rows] for k in self.STATS},
        }


class _CorpusCache:
    """The tokenized files of one corpus folder at one tokenizer setting, in a single ``.npz``
    (no pickles): a _Table, and each file's stamp (relative path, size, modification time) →
    its row, so an unchanged file is not even opened again. When every stamp matches, as on a
    second read of an unchanged folder, the stamps are compared as arrays, not file by file.
    The file is written to a temporary name and renamed over the old one, so a reader sees
    the old cache or the new one, never half of either; two runs writing at once both leave a
    whole cache (the last one's)."""

    def __init__(self, cache_dir: Path | None, settings: str, folder: Path):
        key = hashlib.sha256(f"{CACHE_VERSION}|{settings}|{folder.resolve()}".encode()).hexdigest()[
            :20
        ]
        self.path = None if cache_dir is None else cache_dir / f"midi-corpus-{key}.npz"

    def lookup(self, listing: _Listing) -> tuple[_Table, np.ndarray, bool]:
        """(the cached table, each listed file's row in it or -1, whether the cache holds
        exactly these files and nothing else, so there is nothing to write back)."""
        missing = np.full(len(listing.names), -1, dtype=np.int64)
        if self.path is None or not self.path.exists():
            return _Table(), missing, False
        try:
            with np.load(self.path, allow_pickle=False) as data:
                stamp_rows = data["stamp_rows"].astype(np.int64)
                names, sizes, times = (data[k] for k in STAMP_KEYS)
                exact = (
                    len(names) == len(listing.names)
                    and np.array_equal(sizes, listing.sizes)
                    and np.array_equal(times, listing.mtimes)
                    and np.array_equal(names, np.array(listing.names, dtype=str))
                )
                skip = {"digests"} if exact else set()  # what a read with no change needs
                table = _Table({k: data[k] for k in data.files if k not in skip})
                if exact:
                    table.digests = None
            if len(stamp_rows) != len(names) or not np.all(
                (stamp_rows >= 0) & (stamp_rows < len(table))
            ):
                raise ValueError("the cache's stamps point outside it")
        except Exception:
            return _Table(), missing, False  # a damaged cache is rebuilt, never trusted
        if exact:
            used = np.zeros(len(table), dtype=bool)
            used[stamp_rows] = True
            if used.all():
                return table, stamp_rows, True
            return self.lookup_with_digests(listing)
        stamps = zip(names.tolist(), sizes.tolist(), times.tolist(), strict=True)
        known = dict(zip(stamps, stamp_rows.tolist(), strict=True))
        rows = [
            known.get(stamp, -1)
            for stamp in zip(listing.names, listing.sizes, listing.mtimes, strict=True)
        ]
        return table, np.array(rows, dtype=np.int64), False

    def lookup_with_digests(self, listing: _Listing) -> tuple[_Table, np.ndarray, bool]:
        """lookup, with the digests loaded (the cache is going to be rewritten)."""
        try:
            with np.load(self.path, allow_pickle=False) as data:
                table = _Table({k: data[k] for k in data.files})
                stamp_rows = data["stamp_rows"].astype(np.int64)
                known = zip(*(data[k].tolist() for k in STAMP_KEYS), strict=True)
                known = dict(zip(known, stamp_rows.tolist(), strict=True))
        except Exception:
            return _Table(), np.full(len(listing.names), -1, dtype=np.int64), False
        stamps = zip(listing.names, listing.sizes, listing.mtimes, strict=True)
        rows = [known.get(stamp, -1) for stamp in stamps]
        rows = np.array(rows, dtype=np.int64)
        return table, np.where((rows >= 0) & (rows < len(table)), rows, -1), False

    def save(self, table: _Table, listing: _Listing, rows: np.ndarray, used: np.ndarray) -> None:
        """Write the rows ``used`` (in that order) and the stamps of the files that have a row."""
        if self.path is None:
            return
        renumber = np.full(len(table), -1, dtype=np.int64)
        renumber[used] = np.arange(len(used))
        listed = np.flatnonzero(rows >= 0)
        stamps = {
            "stamp_names": np.array(listing.names, dtype=str)[listed],
            "stamp_sizes": np.array(listing.sizes, dtype=np.int64)[listed],
            "stamp_times": np.array(listing.mtimes, dtype=np.int64)[listed],
            "stamp_rows": renumber[rows[listed]],
        }
        with atomic_write(self.path, "wb") as handle:
            np.savez(handle, **table.columns(used), **stamps)


STAMP_KEYS = ("stamp_names", "stamp_sizes", "stamp_times")


@contextlib.contextmanager
def _collector_paused():
    """Python's cycle collector off while a corpus is assembled: building 100,000 pieces
    (none in a reference cycle) would otherwise set off full collections that walk every
    object of the process (torch's included), a third of a cached read's time."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@_collector_paused()  # the whole read
def load_midi_corpus(
    folder: str | Path,
    *,
    tokenizer: MidiEventTokenizer | None = None,
    valid_fraction: float = 0.1,
    limits: ReadLimits | None = None,
    cache_dir: Path | None | str = "default",
    progress: bool = True,
    styles: str | Path = "folders",
    exclude: tuple[str, ...] | list[str] = (),
    group_by: str = "name",
    workers: int = 0,
) -> TokenCorpus:
    """Read, tokenize (with cache) and split a MIDI folder by the rules above. The style list
    comes from the data unless ``tokenizer`` already has one (e.g. when fine-tuning a model).
    Files not in the cache are parsed by ``workers`` processes (0: one per CPU core, at most
    4) when there are enough of them to pay for starting the processes. Meters, pitch ranges
    and voices come from the data only for a new tokenizer (``tokenizer`` None)."""
    new_tokenizer = tokenizer is None
    started = time.perf_counter()
    folder = Path(folder).expanduser()
    limits = limits or ReadLimits()
    tokenizer = tokenizer or MidiEventTokenizer()
    if group_by not in GROUP_RULES:
        raise ValueError(f"--group-by must be one of {', '.join(GROUP_RULES)}, got {group_by!r}")
    table_of_styles = None if str(styles) in STYLE_RULES else style_table(Path(styles))
    listing = _scan_midi_files(folder, tuple(exclude))
    cache = _CorpusCache(
        default_cache_dir() if cache_dir == "default" else (Path(cache_dir) if cache_dir else None),
        tokenizer.settings_key() + repr(sorted(vars(limits).items())),
        folder,
    )
    table, rows, unchanged = cache.lookup(listing)
    cached_rows = len(table)
    unread: dict[int, str] = {}  # file → why it has no row (too large, cannot be opened)
    if (rows < 0).any():
        if table.digests is None:
            table, rows, unchanged = cache.lookup_with_digests(listing)
        table = _read_missing(listing, rows, table, unread, tokenizer, limits, workers, progress)

    # Each content once: the first file with it is read, the others are duplicates.
    known = np.flatnonzero(rows >= 0)
    used, first = np.unique(rows[known], return_index=True)
    order = np.argsort(first, kind="stable")
    used, firsts = used[order], known[first[order]]  # rows and files, in file order
    if not unchanged:
        cache.save(table, listing, rows, used)
    report = CorpusReport(
        folder=str(folder),
        files_found=len(listing.names),
        excluded=listing.excluded,
        style_rule=str(styles) if table_of_styles is None else Path(styles).name,
        group_rule=group_by,
        cached_files=int((used < cached_rows).sum()),
    )
    is_first = np.zeros(len(rows), dtype=bool)
    is_first[firsts] = True
    first_file_of = np.full(len(table), -1, dtype=np.int64)
    first_file_of[used] = firsts
    report.duplicates = [
        (listing.names[i], listing.names[first_file_of[rows[i]]])
        for i in known[~is_first[known]].tolist()
    ]
    skipped = np.isin(used, np.fromiter(table.skips, np.int64, len(table.skips)))
    outcomes = sorted(
        [*unread.items()]
        + [
            (i, table.skips[r])
            for i, r in zip(firsts[skipped].tolist(), used[skipped].tolist(), strict=True)
        ]
    )
    report.skipped = [(listing.names[i], reason) for i, reason in outcomes]
    for row in used[np.isin(used, np.fromiter(table.warnings, np.int64))].tolist():
        report.warnings.update(table.warnings[row].split("\n"))

    read_rows, read_files = used[~skipped], firsts[~skipped]
    names = [listing.names[i] for i in read_files.tolist()]
    if table_of_styles is not None:
        file_styles = [table_of_styles.get(name) or None for name in names]
    elif styles == "folders":
        file_styles = [name.partition("/")[0] if "/" in name else None for name in names]
    else:
        file_styles = [None] * len(names)
    _count_read(report, table, read_rows, file_styles)
    if not tokenizer.styles:
        tokenizer.styles = sorted(report.styles)
    valid_side = _valid_sides(names, valid_fraction, group_by, report, report.duplicates)
    valid_side = np.array(valid_side, dtype=bool)
    if new_tokenizer and report.files_read:
        in_train = ~valid_side if (~valid_side).any() else valid_side
        pitch_range, style_ranges = _pitch_spans(table, read_rows, file_styles, in_train)
        learned = {
            "meters": sorted(report.meters, key=_meter_order),
            "pitch_range": pitch_range,
            "style_ranges": style_ranges,
            "style_voices": report.style_voices,
        }  # the meters add ids: a new tokenizer, not a changed one
        tokenizer = MidiEventTokenizer.from_dict({**tokenizer.to_dict(), **learned})
    heads = np.full(len(read_rows), -1, dtype=np.int64)
    if tokenizer.meters:  # each piece opens with its meter, when the tokenizer knows it
        ids = [tokenizer.meter_id(m) if m in tokenizer.meters else -1 for m in table.meter_names]
        codes = table.meter_codes[read_rows]
        heads[codes >= 0] = np.array(ids, dtype=np.int64)[codes[codes >= 0]]
        report.tokens += int((heads >= 0).sum())
    pieces = _pieces(table, read_rows, names, file_styles, heads)
    train = [p for p, valid in zip(pieces, valid_side.tolist(), strict=True) if not valid]
    valid = [p for p, valid in zip(pieces, valid_side.tolist(), strict=True) if valid]
    report.train_pieces, report.valid_pieces = len(train), len(valid)
    report.read_seconds = time.perf_counter() - started
    return TokenCorpus(tokenizer=tokenizer, train=train, valid=valid, report=report)


def _read_missing(
    listing: _Listing,
    rows: np.ndarray,
    table: _Table,
    unread: dict[int, str],
    tokenizer: MidiEventTokenizer,
    limits: ReadLimits,
    workers: int,
    progress: bool,
) -> _Table:
    """Give each file without a row (``rows`` -1) one: the row of its content when the cache
    has it under another stamp or another file of this read has it, else a new row parsed from
    its bytes. Files that cannot be read go to ``unread`` with the reason. READ_BATCH files'
    bytes are held at once."""
    assert table.digests is not None
    row_of = {digest: row for row, digest in enumerate(table.digests.tolist())}
    digests: list[str] = []
    entries: list[dict[str, Any]] = []
    missing = np.flatnonzero(rows < 0).tolist()
    bar = tqdm(
        total=len(missing), desc="reading MIDI", unit="file", disable=not progress, leave=False
    )
    with _Parser(tokenizer, limits, workers) as parser:
        for begin in range(0, len(missing), READ_BATCH):
            datas: list[bytes] = []
            for i in missing[begin : begin + READ_BATCH]:
                if listing.sizes[i] > limits.max_file_bytes:
                    cap = limits.max_file_bytes
                    unread[i] = f"too large: {listing.sizes[i]:,} bytes > cap {cap:,}"
                    continue
                try:
                    data = _read_bytes(listing.path(i))
                except OSError as error:
                    unread[i] = f"cannot read file: {error.strerror or error}"
                    continue
                digest = hashlib.sha256(data).hexdigest()
                if digest not in row_of:
                    row_of[digest] = len(table) + len(entries) + len(datas)
                    digests.append(digest)
                    datas.append(data)
                rows[i] = row_of[digest]
            entries += parser.parse(datas)
            bar.update(min(READ_BATCH, len(missing) - begin))
    bar.close()
    return table.extended(digests, entries)


def _count_read(
    report: CorpusReport, table: _Table, rows: np.ndarray, file_styles: list[str | None]
) -> None:
    """The report's totals over the files read (``rows``, with their styles): notes, time,
    tokens, pitches, meters, styles, and per style the pitch range and voices."""
    report.files_read = len(rows)
    if not len(rows):
        return
    stats = {k: v[rows] for k, v in table.stats.items()}
    report.notes = int(stats["notes"].sum())
    report.seconds = float(table.seconds[rows].sum())
    report.tokens = int(table.lengths[rows].sum())
    report.min_pitch = int(stats["min_pitch"].min())
    report.max_pitch = int(stats["max_pitch"].max())
    seen = table.meter_codes[rows]
    seen = seen[seen >= 0]
    counts = np.bincount(seen, minlength=len(table.meter_names))
    _, first = np.unique(seen, return_index=True)
    for code in seen[np.sort(first)].tolist():  # in the order the files first show them
        report.meters[table.meter_names[code]] = int(counts[code])
    report.styles = Counter(style for style in file_styles if style)
    report.unstyled = len(file_styles) - sum(report.styles.values())
    if not report.styles:
        return
    code_of = {style: code for code, style in enumerate(report.styles)}
    style_codes = np.array([code_of.get(s, -1) for s in file_styles], dtype=np.int64)
    low, high = _spans(style_codes, len(code_of), stats["min_pitch"], stats["max_pitch"])
    report.style_ranges = {s: [int(low[c]), int(high[c])] for s, c in code_of.items()}
    styled = np.flatnonzero(style_codes >= 0)
    order = styled[np.argsort(style_codes[styled], kind="stable")]
    bounds = np.searchsorted(style_codes[order], np.arange(len(code_of) + 1))
    voices = stats["voices"][order]
    report.style_voices = {
        style: int(np.median(voices[bounds[code] : bounds[code + 1]]))
        for style, code in sorted(code_of.items())
    }


def _spans(
    codes: np.ndarray, count: int, lows: np.ndarray, highs: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per code 0..count-1 (-1: none), the lowest of ``lows`` and the highest of ``highs``."""
    low, high = np.full(count, 127, dtype=np.int64), np.zeros(count, dtype=np.int64)
    mask = codes >= 0
    np.minimum.at(low, codes[mask], lows[mask])
    np.maximum.at(high, codes[mask], highs[mask])
    return low, high


def _pitch_spans(
    table: _Table, rows: np.ndarray, file_styles: list[str | None], chosen: np.ndarray
) -> tuple[list[int], dict[str, list[int]]]:
    """pitch_ranges for the files ``chosen`` (the training split), from each file's lowest
    and highest pitch in the table: the same figures without scanning every token."""
    lows, highs = table.stats["min_pitch"][rows][chosen], table.stats["max_pitch"][rows][chosen]
    overall = [int(lows.min()), int(highs.max())] if len(lows) else [127, 0]
    picked = [s for s, c in zip(file_styles, chosen.tolist(), strict=True) if c]
    code_of = {style: code for code, style in enumerate(sorted({s for s in picked if s}))}
    codes = np.array([code_of.get(s, -1) if s else -1 for s in picked], dtype=np.int64)
    low, high = _spans(codes, len(code_of), lows, highs)
    return overall, {s: [int(low[c]), int(high[c])] for s, c in code_of.items()}


def _pieces(
    table: _Table,
    rows: np.ndarray,
    names: list[str],
    file_styles: list[str | None],
    heads: np.ndarray,
) -> list[Piece]:
    """A Piece per file read: its tokens, after its METER id where ``heads`` has one (>= 0),
    are a view into one array holding every piece, built with a few whole-array operations
    rather than a small array per file."""
    lengths = table.lengths[rows]
    if not len(rows) or np.all(np.diff(rows) > 0):  # rows in file order: every cached read
        keep = np.zeros(len(table), dtype=bool)
        keep[rows] = True
        body = table.tokens if keep.all() else table.tokens[np.repeat(keep, table.lengths)]
    else:
        starts = table.starts[rows].tolist()
        body = np.concatenate(
            [np.zeros(0, np.int32)]
            + [table.tokens[s : s + n] for s, n in zip(starts, lengths.tolist(), strict=True)]
        )
    has_head = heads >= 0
    if has_head.any():
        body = np.insert(body, (np.cumsum(lengths) - lengths)[has_head], heads[has_head])
    ends = np.cumsum(lengths + has_head)
    begins = ends - lengths - has_head
    return [
        Piece(name, body[begin:end], style)
        for name, style, begin, end in zip(
            names, file_styles, begins.tolist(), ends.tolist(), strict=True
        )
    ]


def pitch_ranges(
    pieces: list[Piece], tokenizer: MidiEventTokenizer
) -> tuple[list[int], dict[str, list[int]]]:
    """Lowest and highest pitch of ``pieces`` (the training split: what sampling may use),
    overall and per style."""
    overall, per_style = [127, 0], {}
    for piece in pieces:
        ids = piece.tokens
        notes = ids[(ids >= tokenizer.note_offset) & (ids < tokenizer.duration_offset)]
        if not len(notes):
            continue
        low = int(notes.min()) - tokenizer.note_offset
        high = int(notes.max()) - tokenizer.note_offset
        for span in (overall, per_style.setdefault(piece.style, [127, 0])):
            span[0], span[1] = min(span[0], low), max(span[1], high)
    per_style.pop(None, None)
    return overall, dict(sorted(per_style.items()))


def _meter_order(meter: str) -> tuple[int, int]:
    numerator, denominator = meter.split("/")
    return int(denominator), int(numerator)


READ_BATCH = 2048  # files whose bytes are held at once
PARALLEL_FROM = 256  # files to parse in a batch before worker processes pay for themselves


class _Parser:
    """read_midi_file over many files' bytes: in this process, or in worker processes (fork,
    where the platform has it) for large batches."""

    def __init__(self, tokenizer: MidiEventTokenizer, limits: ReadLimits, workers: int):
        self.read = functools.partial(read_midi_file, tokenizer=tokenizer, limits=limits)
        if workers <= 0:
            workers = min(os.cpu_count() or 1, 4)
        self.workers = workers if "fork" in multiprocessing.get_all_start_methods() else 1
        self.pool: concurrent.futures.ProcessPoolExecutor | None = None

    def parse(self, datas: list[bytes]) -> list[dict[str, Any]]:
        if self.workers <= 1 or len(datas) < PARALLEL_FROM:
            return [self.read(data) for data in datas]
        if self.pool is None:
            self.pool = concurrent.futures.ProcessPoolExecutor(
                self.workers, mp_context=multiprocessing.get_context("fork")
            )
        chunk = max(16, len(datas) // (4 * self.workers))
        return list(self.pool.map(self.read, datas, chunksize=chunk))

    def __enter__(self) -> _Parser:
        return self

    def __exit__(self, *exc) -> None:
        if self.pool is not None:
            self.pool.shutdown()


def split_groups(
    pieces: list[Piece], valid_fraction: float, group_by: str, report: CorpusReport
) -> tuple[list[Piece], list[Piece]]:
    """Train/valid split with every group of versions on one side (see the module rules)."""
    sides = _valid_sides([p.name for p in pieces], valid_fraction, group_by, report)
    train = [p for p, valid in zip(pieces, sides, strict=True) if not valid]
    valid = [p for p, valid in zip(pieces, sides, strict=True) if valid]
    return train, valid


def _valid_sides(
    names: list[str],
    valid_fraction: float,
    group_by: str,
    report: CorpusReport,
    same_bytes: list[tuple[str, str]] = (),
) -> list[bool]:
    """Whether each file goes to valid: a file alone in its group by a hash of its name, a
    group by a hash of the group; with 2+ groups both sides get one. Counts the groups.

    ``same_bytes`` pairs (duplicate, file read): a duplicate is read once, under the name that
    sorts first, so its group is joined to the group of the file read (``tune.mid`` copied as
    ``a-copy.mid`` still travels with ``melody/Tune.mid``)."""
    joined: dict[str, str] = {}  # group → the group it was joined to

    def root(group: str) -> str:
        while group in joined:
            group = joined[group]
        return group

    for duplicate, original in same_bytes:
        a, b = root(group_of(duplicate, group_by)), root(group_of(original, group_by))
        if a != b:
            joined[max(a, b)] = min(a, b)  # the smaller name stands for both: order-free
    groups = [root(group_of(name, group_by)) for name in names]
    sizes = Counter(groups)
    side: dict[str, bool] = {}  # group → valid?
    for group, name in zip(groups, names, strict=True):
        if group not in side:
            size = sizes[group]
            side[group] = is_valid_split(name if size == 1 else f"group:{group}", valid_fraction)
            if size > 1:
                report.groups += 1
                report.grouped_files += size
    if valid_fraction > 0 and len(side) >= 2:  # both sides get a group at least
        if not any(side.values()):
            side[groups[-1]] = True
        elif all(side.values()):
            side[groups[0]] = False
    return [side[group] for group in groups]
