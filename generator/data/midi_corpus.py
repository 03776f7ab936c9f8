"""Read a folder of MIDI files into a token corpus, skipping bad files with a reason.

Rules (also in README "Data"):
- Every ``.mid`` / ``.midi`` file under the folder, recursively, in sorted order.
- Style of a file: its first-level subfolder's name (``jazz/tune.mid`` → ``jazz``); files at the
  top level have no style. The built-in corpus is laid out this way (``reel/``, ``chorale/`` ...).
- Skipped, with the reason in the report: files over ``max_file_bytes``, files that do not
  parse, files with no non-drum notes, files over ``max_notes`` notes or ``max_beats`` beats.
- Multi-track files are merged and drum tracks dropped (see generator.midi.notes).
- Meter: a file's first time signature (MIDI files without one have none). A new tokenizer
  learns every meter of the data and each piece then starts with its METER token.
- What the data showed goes into a new tokenizer, for sampling to stay inside it: the pitch
  range of the training split, overall and per style, and per style the voices (the median
  over its files of the most notes that start together).
- Tokenized results are cached per file, keyed by the file's SHA-256 and the tokenizer's
  settings, in ``cache_dir`` (default ``~/.cache/rnn-generator``); a changed file is re-read.
- Train/valid split by a hash of the relative path: stable when files are added.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pretty_midi
import torch
from tqdm import tqdm

from generator.data.pieces import Piece, TokenCorpus, skipped_lines, split_pieces
from generator.midi.notes import MidiReadError, notes_from_pretty_midi, parse_midi
from generator.tokenizers import MidiEventTokenizer

MIDI_SUFFIXES = {".mid", ".midi"}
CACHE_VERSION = 3  # 2: skip reasons from generator.midi.parse_midi; 3: meter and voices


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
    notes: int = 0
    seconds: float = 0.0  # total duration at the files' own tempos
    tokens: int = 0
    min_pitch: int = 127
    max_pitch: int = 0
    styles: Counter = field(default_factory=Counter)
    meters: Counter = field(default_factory=Counter)  # first time signature of each file
    style_ranges: dict = field(default_factory=dict)  # style → [lowest, highest] pitch
    style_voices: dict = field(default_factory=dict)  # style → voices (median of files)
    train_pieces: int = 0
    valid_pieces: int = 0
    cached_files: int = 0
    read_seconds: float = 0.0

    def summary(self) -> str:
        lines = [
            f"corpus {self.folder}: {self.files_found} MIDI files found, {self.files_read} read, "
            f"{len(self.skipped)} skipped ({self.cached_files} from cache, "
            f"{self.read_seconds:.1f} s)",
        ]
        if self.files_read:
            hours, rest = divmod(int(self.seconds), 3600)
            lines.append(
                f"  {self.notes:,} notes, {self.tokens:,} tokens, {hours} h {rest // 60:02d} min "
                f"of music, pitches {pretty_midi.note_number_to_name(self.min_pitch)}"
                f"–{pretty_midi.note_number_to_name(self.max_pitch)}"
            )
            styles = ", ".join(f"{name} {count}" for name, count in self.styles.most_common())
            lines.append(f"  styles: {styles or 'none (files are not in style subfolders)'}")
            meters = ", ".join(f"{name} {count}" for name, count in self.meters.most_common())
            lines.append(f"  meters: {meters or 'none (no time signatures)'}")
            if self.style_voices:
                voices = ", ".join(f"{k} {v}" for k, v in sorted(self.style_voices.items()))
                lines.append(f"  voices per style: {voices}")
            lines.append(f"  split: {self.train_pieces} train, {self.valid_pieces} valid pieces")
        lines += skipped_lines(self.skipped)
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "folder": self.folder,
            "files_found": self.files_found,
            "files_read": self.files_read,
            "skipped": [list(s) for s in self.skipped],
            "notes": self.notes,
            "seconds": round(self.seconds, 1),
            "tokens": self.tokens,
            "pitch_range": [self.min_pitch, self.max_pitch] if self.files_read else None,
            "styles": dict(self.styles),
            "meters": dict(self.meters),
            "style_ranges": dict(self.style_ranges),
            "style_voices": dict(self.style_voices),
            "train_pieces": self.train_pieces,
            "valid_pieces": self.valid_pieces,
        }


def find_midi_files(folder: Path) -> list[Path]:
    """All MIDI files under a folder (or the file itself), recursively, sorted."""
    if folder.is_file():
        return [folder]
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no such folder or file")
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in MIDI_SUFFIXES and p.is_file())


def style_of(relative: Path) -> str | None:
    """The style rule: a file's first-level subfolder, or None at the top level."""
    return relative.parts[0] if len(relative.parts) > 1 else None


def read_midi_file(
    data: bytes, tokenizer: MidiEventTokenizer, limits: ReadLimits
) -> dict[str, Any]:
    """Parse and tokenize one file's bytes. Returns {"tokens", stats} or {"skip": reason}."""
    if not data:
        return {"skip": "empty file: 0 bytes"}
    if len(data) > limits.max_file_bytes:
        return {"skip": f"too large: {len(data):,} bytes > cap {limits.max_file_bytes:,}"}
    try:
        midi = parse_midi(data, max_notes=limits.max_notes, max_beats=limits.max_beats)
    except MidiReadError as error:
        return {"skip": error.reason}
    notes = notes_from_pretty_midi(midi)
    seconds = float(midi.get_end_time())
    if not notes:
        return {"skip": "no notes: the file has no non-drum notes"}
    if len(notes) > limits.max_notes:
        return {"skip": f"too long: {len(notes):,} notes > cap {limits.max_notes:,}"}
    beats = max(n.end for n in notes)
    if beats > limits.max_beats:
        return {"skip": f"too long: {beats:,.0f} beats > cap {limits.max_beats:,.0f}"}
    pitches = [n.pitch for n in notes]
    signatures = midi.time_signature_changes
    onsets = Counter(round(n.start * tokenizer.steps_per_beat) for n in notes)
    return {
        "tokens": torch.from_numpy(tokenizer.encode(notes)),
        "meter": f"{signatures[0].numerator}/{signatures[0].denominator}" if signatures else "",
        "voices": max(onsets.values()),
        "notes": len(notes),
        "seconds": seconds,
        "min_pitch": min(pitches),
        "max_pitch": max(pitches),
    }


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
        low, high = (
            int(notes.min()) - tokenizer.note_offset,
            int(notes.max()) - tokenizer.note_offset,
        )
        for span in (overall, per_style.setdefault(piece.style, [127, 0])):
            span[0], span[1] = min(span[0], low), max(span[1], high)
    per_style.pop(None, None)
    return overall, dict(sorted(per_style.items()))


def _meter_order(meter: str) -> tuple[int, int]:
    numerator, denominator = meter.split("/")
    return int(denominator), int(numerator)


class _FileCache:
    """Per-file results keyed by content hash, one file per tokenizer setting."""

    def __init__(self, cache_dir: Path | None, settings: str):
        key = hashlib.sha256(f"{CACHE_VERSION}|{settings}".encode()).hexdigest()[:16]
        self.path = None if cache_dir is None else cache_dir / f"midi-tokens-{key}.pt"
        self.entries: dict[str, dict[str, Any]] = {}
        self.dirty = False
        if self.path is not None and self.path.exists():
            try:
                self.entries = torch.load(self.path, weights_only=True)
            except Exception:
                self.entries = {}  # a damaged cache is rebuilt, never trusted

    def get(self, digest: str) -> dict[str, Any] | None:
        return self.entries.get(digest)

    def put(self, digest: str, entry: dict[str, Any]) -> None:
        self.entries[digest] = entry
        self.dirty = True

    def save(self) -> None:
        if self.path is None or not self.dirty:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, suffix=".tmp")
        with os.fdopen(fd, "wb") as handle:
            torch.save(self.entries, handle)
        os.replace(tmp, self.path)


def load_midi_corpus(
    folder: str | Path,
    *,
    tokenizer: MidiEventTokenizer | None = None,
    valid_fraction: float = 0.1,
    limits: ReadLimits | None = None,
    cache_dir: Path | None | str = "default",
    progress: bool = True,
) -> TokenCorpus:
    """Read, tokenize (with cache) and split a MIDI folder. The style list comes from the data
    unless ``tokenizer`` already has one (e.g. when fine-tuning a model); meters, pitch ranges
    and voices come from the data only for a new tokenizer (``tokenizer`` None)."""
    new_tokenizer = tokenizer is None
    started = time.perf_counter()
    folder = Path(folder).expanduser()
    limits = limits or ReadLimits()
    tokenizer = tokenizer or MidiEventTokenizer()
    cache = _FileCache(
        default_cache_dir() if cache_dir == "default" else (Path(cache_dir) if cache_dir else None),
        tokenizer.settings_key() + repr(sorted(vars(limits).items())),
    )
    files = find_midi_files(folder)
    root = folder if folder.is_dir() else folder.parent
    report = CorpusReport(folder=str(folder), files_found=len(files))
    pieces: list[Piece] = []
    file_meters: list[str] = []  # per piece, "" for none
    voices: dict[str, list[int]] = {}
    for path in tqdm(files, desc="reading MIDI", unit="file", disable=not progress, leave=False):
        relative = path.relative_to(root)
        try:
            size = path.stat().st_size
            if size > limits.max_file_bytes:
                entry = {"skip": f"too large: {size:,} bytes > cap {limits.max_file_bytes:,}"}
                digest = None
            else:
                data = path.read_bytes()
                digest = hashlib.sha256(data).hexdigest()
                entry = cache.get(digest)
                if entry is None:
                    entry = read_midi_file(data, tokenizer, limits)
                    cache.put(digest, entry)
                else:
                    report.cached_files += 1
        except OSError as error:
            entry = {"skip": f"cannot read file: {error.strerror or error}"}
        if "skip" in entry:
            report.skipped.append((str(relative), entry["skip"]))
            continue
        style = style_of(relative)
        pieces.append(Piece(str(relative), entry["tokens"].numpy().astype(np.int32), style))
        file_meters.append(entry["meter"])
        if entry["meter"]:
            report.meters[entry["meter"]] += 1
        report.files_read += 1
        report.notes += entry["notes"]
        report.seconds += entry["seconds"]
        report.tokens += len(entry["tokens"])
        report.min_pitch = min(report.min_pitch, entry["min_pitch"])
        report.max_pitch = max(report.max_pitch, entry["max_pitch"])
        if style:
            report.styles[style] += 1
            low, high = report.style_ranges.get(style, (127, 0))
            report.style_ranges[style] = [
                min(low, entry["min_pitch"]),
                max(high, entry["max_pitch"]),
            ]
            voices.setdefault(style, []).append(entry["voices"])
    cache.save()
    report.style_voices = {k: int(np.median(v)) for k, v in sorted(voices.items())}
    if not tokenizer.styles:
        tokenizer.styles = sorted(report.styles)
    train, valid = split_pieces(pieces, valid_fraction)
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
                piece.tokens = np.concatenate([[tokenizer.meter_id(meter)], piece.tokens])
                piece.tokens = piece.tokens.astype(np.int32)
                report.tokens += 1
    report.train_pieces, report.valid_pieces = len(train), len(valid)
    report.read_seconds = time.perf_counter() - started
    return TokenCorpus(tokenizer=tokenizer, train=train, valid=valid, report=report)
