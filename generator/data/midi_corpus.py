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
  atomically, so runs reading at the same time never see half a file.
"""

from __future__ import annotations

import concurrent.futures
import csv
import fnmatch
import functools
import hashlib
import io
import multiprocessing
import os
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pretty_midi
from tqdm import tqdm

from generator.atomic import atomic_write
from generator.data.pieces import Piece, TokenCorpus, is_valid_split, skipped_lines
from generator.midi.notes import MidiReadError, notes_from_bytes
from generator.tokenizers import MidiEventTokenizer
from generator.validation import read_bounded

MIDI_SUFFIXES = {".mid", ".midi"}
CACHE_VERSION = 4  # 3: symusic reading, one cache file per corpus; 4: meter and voices
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
class CorpusReport:
    """What was read and what was skipped, and why."""

    folder: str
    files_found: int = 0
    files_read: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (relative path, reason)
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
    read_seconds: float = 0.0

    def summary(self, *, split: bool = True) -> str:
        """The report in lines; ``split`` adds the train/valid line (training, not evaluation)."""
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
        lines += skipped_lines(self.skipped)
        for name, original in self.duplicates[:5]:
            lines.append(f"  duplicate: {name} has the same bytes as {original} (read once)")
        if len(self.duplicates) > 5:
            lines.append(f"    ... and {len(self.duplicates) - 5} more duplicates")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "folder": self.folder,
            "files_found": self.files_found,
            "files_read": self.files_read,
            "skipped": [list(s) for s in self.skipped],
            "duplicates": [list(d) for d in self.duplicates],
            "excluded": self.excluded,
            "notes": self.notes,
            "seconds": round(self.seconds, 1),
            "tokens": self.tokens,
            "pitch_range": [self.min_pitch, self.max_pitch] if self.files_read else None,
            "styles": dict(self.styles),
            "meters": dict(self.meters),
            "style_ranges": dict(self.style_ranges),
            "style_voices": dict(self.style_voices),
            "style_rule": self.style_rule,
            "unstyled": self.unstyled,
            "group_rule": self.group_rule,
            "groups": self.groups,
            "grouped_files": self.grouped_files,
            "warnings": dict(self.warnings),
            "train_pieces": self.train_pieces,
            "valid_pieces": self.valid_pieces,
        }


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'s' * (n != 1)}"


def find_midi_files(folder: Path, exclude: tuple[str, ...] = ()) -> list[Path]:
    """All MIDI files under a folder (or the file itself), recursively, sorted, less those
    whose relative path matches an ``exclude`` glob."""
    return [Path(found.path) for found in _scan_midi_files(Path(folder), exclude)[0]]


@dataclass(frozen=True)
class _Found:
    path: str
    relative: str  # POSIX path relative to the corpus folder
    size: int
    mtime_ns: int


def _scan_midi_files(folder: Path, exclude: tuple[str, ...]) -> tuple[list[_Found], int]:
    """(the files in sorted order with their size and time stamp, how many ``exclude`` left
    out). os.scandir's entries carry the stat, so a folder of 100,000 files is listed fast."""
    if folder.is_file():
        stat = folder.stat()
        return [_Found(str(folder), folder.name, stat.st_size, stat.st_mtime_ns)], 0
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no such folder or file")
    found, excluded, pending = [], 0, [(str(folder), "")]
    while pending:
        directory, prefix = pending.pop()
        try:
            entries = list(os.scandir(directory))
        except OSError:
            continue
        for entry in entries:
            relative = prefix + entry.name
            if entry.is_dir():
                pending.append((entry.path, relative + "/"))
            elif os.path.splitext(entry.name)[1].lower() in MIDI_SUFFIXES and entry.is_file():
                if _excluded(relative, exclude):
                    excluded += 1
                    continue
                stat = entry.stat()
                found.append(_Found(entry.path, relative, stat.st_size, stat.st_mtime_ns))
    found.sort(key=lambda f: f.relative.split("/"))  # the order of sorted Path objects
    return found, excluded


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


class _CorpusCache:
    """The tokenized files of one corpus folder at one tokenizer setting: a single ``.npz``
    (no pickles) holding every entry by content digest, and each file's stamp (relative path,
    size, modification time) → digest, so an unchanged file is not even read again. It is
    replaced atomically when it changes."""

    def __init__(self, cache_dir: Path | None, settings: str, folder: Path):
        key = hashlib.sha256(f"{CACHE_VERSION}|{settings}|{folder.resolve()}".encode()).hexdigest()[
            :20
        ]
        self.path = None if cache_dir is None else cache_dir / f"midi-corpus-{key}.npz"
        self.entries: dict[str, dict[str, Any]] = {}
        self.stamps: dict[tuple[str, int, int], str] = {}
        self.used: dict[str, dict[str, Any]] = {}  # what this read needed: what is written
        self.used_stamps: dict[tuple[str, int, int], str] = {}
        if self.path is not None and self.path.exists():
            try:
                self.entries, self.stamps = _load_entries(self.path)
            except Exception:
                self.entries, self.stamps = {}, {}  # a damaged cache is rebuilt, never trusted

    def digest_of(self, stamp: tuple[str, int, int]) -> str | None:
        """The digest of a file seen before with this stamp (and still in the cache)."""
        digest = self.stamps.get(stamp)
        return digest if digest in self.entries else None

    def get(self, digest: str, stamp: tuple[str, int, int]) -> dict[str, Any] | None:
        entry = self.entries.get(digest)
        if entry is not None:
            self.used[digest] = entry
            self.used_stamps[stamp] = digest
        return entry

    def put(self, digest: str, stamp: tuple[str, int, int], entry: dict[str, Any]) -> None:
        self.used[digest] = entry
        self.used_stamps[stamp] = digest

    def save(self) -> None:
        if self.path is None:
            return
        if self.used.keys() == self.entries.keys() and self.used_stamps == self.stamps:
            return
        with atomic_write(self.path, "wb") as handle:
            np.savez(handle, **_pack_entries(self.used), **_pack_stamps(self.used_stamps))


def _pack_stamps(stamps: dict[tuple[str, int, int], str]) -> dict[str, np.ndarray]:
    return {
        "stamp_names": np.array([s[0] for s in stamps], dtype=str),
        "stamp_sizes": np.array([s[1] for s in stamps], dtype=np.int64),
        "stamp_times": np.array([s[2] for s in stamps], dtype=np.int64),
        "stamp_digests": np.array(list(stamps.values()), dtype="U64"),
    }


_STATS = ("notes", "min_pitch", "max_pitch", "voices")


def _pack_entries(entries: dict[str, dict[str, Any]]) -> dict[str, np.ndarray]:
    digests = list(entries)
    tokens = [entries[d]["tokens"] if "tokens" in entries[d] else np.zeros(0) for d in digests]
    return {
        "digests": np.array(digests, dtype="U64"),
        "skips": np.array([entries[d].get("skip", "") for d in digests], dtype=str),
        "warnings": np.array(
            ["\n".join(entries[d].get("warnings", [])) for d in digests], dtype=str
        ),
        "lengths": np.array([len(t) for t in tokens], dtype=np.int64),
        "tokens": np.concatenate(tokens).astype(np.int32) if tokens else np.zeros(0, np.int32),
        "seconds": np.array([entries[d].get("seconds", 0.0) for d in digests], dtype=np.float64),
        "meters": np.array([entries[d].get("meter", "") for d in digests], dtype=str),
        **{
            name: np.array([entries[d].get(name, 0) for d in digests], dtype=np.int64)
            for name in _STATS
        },
    }


def _load_entries(path: Path) -> tuple[dict[str, dict[str, Any]], dict[tuple[str, int, int], str]]:
    with np.load(path, allow_pickle=False) as data:
        arrays = {name: data[name] for name in data.files}
    lengths = arrays["lengths"]
    ends = np.cumsum(lengths)
    tokens = arrays["tokens"]
    skips, warnings = arrays["skips"].tolist(), arrays["warnings"].tolist()
    seconds, meters = arrays["seconds"].tolist(), arrays["meters"].tolist()
    stats = {name: arrays[name].tolist() for name in _STATS}
    entries = {}
    for i, digest in enumerate(arrays["digests"].tolist()):
        entry: dict[str, Any] = {"warnings": warnings[i].split("\n") if warnings[i] else []}
        if skips[i]:
            entry["skip"] = skips[i]
        else:
            entry["tokens"] = tokens[int(ends[i] - lengths[i]) : int(ends[i])]
            entry["seconds"] = seconds[i]
            entry["meter"] = meters[i]
            entry.update({name: stats[name][i] for name in _STATS})
        entries[digest] = entry
    stamps = dict(
        zip(
            zip(
                arrays["stamp_names"].tolist(),
                arrays["stamp_sizes"].tolist(),
                arrays["stamp_times"].tolist(),
                strict=True,
            ),
            arrays["stamp_digests"].tolist(),
            strict=True,
        )
    )
    return entries, stamps


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
    table = None if str(styles) in STYLE_RULES else style_table(Path(styles))
    files, excluded = _scan_midi_files(folder, tuple(exclude))
    cache = _CorpusCache(
        default_cache_dir() if cache_dir == "default" else (Path(cache_dir) if cache_dir else None),
        tokenizer.settings_key() + repr(sorted(vars(limits).items())),
        folder,
    )
    report = CorpusReport(
        folder=str(folder),
        files_found=len(files),
        excluded=excluded,
        style_rule=str(styles) if table is None else Path(styles).name,
        group_rule=group_by,
    )
    pieces: list[Piece] = []
    file_meters: list[str] = []  # per piece, "" for none
    voices: dict[str, list[int]] = {}  # style → each file's most notes starting together
    first_of: dict[str, str] = {}  # content digest → the first file with those bytes
    bar = tqdm(
        total=len(files), desc="reading MIDI", unit="file", disable=not progress, leave=False
    )
    with _Parser(tokenizer, limits, workers) as parser:
        for begin in range(0, len(files), READ_BATCH):  # bounded memory: a batch's bytes at once
            batch = files[begin : begin + READ_BATCH]
            outcomes: list[tuple[str, dict[str, Any] | None]] = []  # (relative, entry)
            to_parse: list[tuple[int, str, tuple[str, int, int], bytes]] = []
            for found in batch:
                relative = found.relative
                stamp = (relative, found.size, found.mtime_ns)
                if found.size > limits.max_file_bytes:
                    cap = limits.max_file_bytes
                    outcomes.append(
                        (relative, {"skip": f"too large: {found.size:,} bytes > cap {cap:,}"})
                    )
                    continue
                digest, data = cache.digest_of(stamp), None
                try:
                    if digest is None:
                        data = _read_bytes(found.path)
                        digest = hashlib.sha256(data).hexdigest()
                    if digest in first_of:
                        report.duplicates.append((relative, first_of[digest]))
                        continue
                    first_of[digest] = relative
                    entry = cache.get(digest, stamp)
                    if entry is not None:
                        report.cached_files += 1
                    elif data is None:
                        data = _read_bytes(found.path)
                except OSError as error:
                    reason = f"cannot read file: {error.strerror or error}"
                    outcomes.append((relative, {"skip": reason}))
                    continue
                if entry is None:
                    to_parse.append((len(outcomes), digest, stamp, data))
                outcomes.append((relative, entry))
            parsed = parser.parse([data for *_, data in to_parse])
            for (index, digest, stamp, _), entry in zip(to_parse, parsed, strict=True):
                cache.put(digest, stamp, entry)
                outcomes[index] = (outcomes[index][0], entry)
            for relative, entry in outcomes:
                _add_piece(relative, entry, report, pieces, table, styles, file_meters, voices)
            bar.update(len(batch))
    bar.close()
    cache.save()
    report.style_voices = {k: int(np.median(v)) for k, v in sorted(voices.items())}
    if not tokenizer.styles:
        tokenizer.styles = sorted(report.styles)
    train, valid = split_groups(pieces, valid_fraction, group_by, report)
    if new_tokenizer and report.files_read:
        pitch_range, style_ranges = pitch_ranges(train or valid, tokenizer)
        learned = {
            "meters": sorted(report.meters, key=_meter_order),
            "pitch_range": pitch_range,
            "style_ranges": style_ranges,
            "style_voices": report.style_voices,
        }  # the meters add ids: a new tokenizer, not a changed one
        tokenizer = MidiEventTokenizer.from_dict({**tokenizer.to_dict(), **learned})
    if tokenizer.meters:  # each piece opens with its meter, when the tokenizer knows it
        for piece, meter in zip(pieces, file_meters, strict=True):
            if meter in tokenizer.meters:
                head = np.array([tokenizer.meter_id(meter)], dtype=np.int32)
                piece.tokens = np.concatenate([head, piece.tokens]).astype(np.int32)
                report.tokens += 1
    report.train_pieces, report.valid_pieces = len(train), len(valid)
    report.read_seconds = time.perf_counter() - started
    return TokenCorpus(tokenizer=tokenizer, train=train, valid=valid, report=report)


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


def _add_piece(
    relative: str,
    entry: dict[str, Any],
    report: CorpusReport,
    pieces: list[Piece],
    table: dict[str, str] | None,
    styles: str | Path,
    file_meters: list[str],
    voices: dict[str, list[int]],
) -> None:
    """Count one file's outcome in the report, and keep it as a piece if it was read (with its
    meter in ``file_meters``, and its voices under its style)."""
    if entry.get("warnings"):
        report.warnings.update(entry["warnings"])
    if "skip" in entry:
        report.skipped.append((relative, entry["skip"]))
        return
    if table is not None:
        style = table.get(relative)
    elif styles == "folders":
        style = relative.split("/", 1)[0] if "/" in relative else None
    else:
        style = None
    tokens = entry["tokens"]
    pieces.append(Piece(relative, tokens, style))
    report.files_read += 1
    report.notes += entry["notes"]
    report.seconds += entry["seconds"]
    report.tokens += len(tokens)
    report.min_pitch = min(report.min_pitch, entry["min_pitch"])
    report.max_pitch = max(report.max_pitch, entry["max_pitch"])
    file_meters.append(entry["meter"])
    if entry["meter"]:
        report.meters[entry["meter"]] += 1
    if style:
        report.styles[style] += 1
        low, high = report.style_ranges.get(style, (127, 0))
        report.style_ranges[style] = [min(low, entry["min_pitch"]), max(high, entry["max_pitch"])]
        voices.setdefault(style, []).append(entry["voices"])
    else:
        report.unstyled += 1


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
    groups = [group_of(piece.name, group_by) for piece in pieces]
    members: dict[str, list[Piece]] = defaultdict(list)
    for group, piece in zip(groups, pieces, strict=True):
        members[group].append(piece)
    side: dict[str, bool] = {}  # group → valid?
    for group, found in members.items():
        key = found[0].name if len(found) == 1 else f"group:{group}"
        side[group] = is_valid_split(key, valid_fraction)
        if len(found) > 1:
            report.groups += 1
            report.grouped_files += len(found)
    if valid_fraction > 0 and len(members) >= 2:  # both sides get a group at least
        if not any(side.values()):
            side[groups[-1]] = True
        elif all(side.values()):
            side[groups[0]] = False
    train = [p for p, g in zip(pieces, groups, strict=True) if not side[g]]
    valid = [p for p, g in zip(pieces, groups, strict=True) if side[g]]
    return train, valid
