"""Read a text file, or a folder of .txt/.md files, into a token corpus.

Rules (also in README "Text"):
- PATH is one file (any name) or a folder: every ``.txt`` / ``.md`` file under it, recursively,
  in sorted order; names starting with "." (``.git/``, ``.notes.txt``) are left out.
- Files are decoded with ``encoding`` (UTF-8 by default, where a leading byte-order mark is
  dropped); "\\r\\n" becomes "\\n". A file that does not decode stops the run with an error
  naming the file, the byte offset and the line, or with ``skip_bad_files`` is skipped and
  listed in the report. Empty files are skipped; no text at all is an error.
- The tokenizer is either given (evaluating, resuming) or trained here on the corpus: then
  every file is read twice, once to train it and once to encode, one file at a time. No more
  than one file's text is held at once; ids are kept as one uint16 array per file (int32 for
  vocabularies over 65,535 ids).
- Each file's ids are cut into segments of at most ``segment_len`` tokens, so the trainer's
  lanes can be balanced whatever the file sizes. A segment starts from a fresh state, and only
  a file's last segment ends with EOS (a cut is not an end of text).
- Train/valid split, deterministic: with at least ``MIN_FILES_TO_SPLIT_BY_FILE`` files, whole
  files by a hash of their relative path (stable when files are added, like MIDI); with fewer
  files (where one file could be far more than the valid share), the last ``valid_fraction`` of
  each file's tokens.
- Reads are bounded: a file over ``MAX_TEXT_FILE_BYTES`` (or a device such as /dev/zero that
  never ends) stops the run with an error naming it, or with ``skip_bad_files`` is skipped; no
  more than the cap + 1 bytes are ever read.
- Validation is bounded: of a held-out part over ``MAX_VALID_TOKENS`` tokens, only the first
  same share of every held-out file is kept (contiguous, so the state still carries through
  it), and the report says what share that is. Train is never cut.
"""

from __future__ import annotations

import codecs
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from generator.data.pieces import Piece, TokenCorpus, split_pieces
from generator.data.report import ReadReport
from generator.tokenizers import CharTokenizer, SentencePieceTokenizer, TextTokenizer
from generator.validation import read_bounded

TEXT_SUFFIXES = {".txt", ".md"}
MIN_FILES_TO_SPLIT_BY_FILE = 10
TEXT_TOKENIZERS = ("char", "sentencepiece")
MAX_TEXT_FILE_BYTES = 200 * 2**20  # one text file at most (train text peaks near 4x this)
MAX_VALID_TOKENS = 200_000  # held-out tokens validated at most per evaluation


class TextCorpusError(ValueError):
    """The corpus cannot be used as it is (bad encoding, no text); the message says why."""


class TextDecodeError(TextCorpusError):
    """A file that does not decode; ``reason`` says where (byte offset and line)."""

    def __init__(self, name: str, reason: str):
        super().__init__(
            f"{name}: {reason}; name the file's encoding with --encoding, or skip such files "
            f"with --skip-bad-files"
        )
        self.reason = reason


@dataclass
class TextCorpusReport(ReadReport):
    """What was read, what was skipped (relative path, reason) and why, and what the data
    determined."""

    path: str
    tokenizer: str = ""
    vocab_size: int = 0
    files_found: int = 0
    files_read: int = 0
    characters: int = 0
    tokens: int = 0
    unknown_tokens: int = 0  # UNK ids in the encoded text (characters the vocabulary lacks)
    split: str = ""  # "by file" or "by position"
    train_segments: int = 0
    valid_segments: int = 0
    train_characters: int = 0
    valid_characters: int = 0
    held_out_tokens: int = 0  # tokens of the held-out part before MAX_VALID_TOKENS cut it
    valid_tokens: int = 0  # of those, the tokens kept to validate on

    def describe(self, split: bool) -> list[str]:
        lines = [
            f"corpus {self.path}: {self.files_found} text files found, {self.files_read} read, "
            f"{len(self.skipped)} skipped ({self.read_seconds:.1f} s)",
            f"  {self.characters:,} characters, {self.tokens:,} tokens "
            f"({self.characters / max(self.tokens, 1):.2f} characters/token), "
            f"vocabulary {self.vocab_size:,} ids ({self.tokenizer})",
        ]
        if split:
            lines.append(
                f"  split {self.split}: train {self.train_segments} segments "
                f"({self.train_characters:,} characters), valid {self.valid_segments} segments "
                f"({self.valid_characters:,} characters)"
            )
        if split and self.valid_tokens < self.held_out_tokens:
            lines.append(
                f"  validating on {self.valid_tokens:,} of {self.held_out_tokens:,} held-out "
                f"tokens ({100 * self.valid_tokens / self.held_out_tokens:.1f}%, the first part "
                f"of each held-out file; cap {MAX_VALID_TOKENS:,})"
            )
        if self.unknown_tokens:
            lines.append(f"  {self.unknown_tokens:,} characters outside the vocabulary (UNK)")
        return lines


def find_text_files(path: Path) -> list[Path]:
    """The file itself, or every .txt/.md file under a folder (recursive, sorted, no hidden)."""
    if path.is_file() or path.exists() and not path.is_dir():  # a device or pipe: read bounded
        return [path]
    if not path.is_dir():
        raise FileNotFoundError(f"{path}: no such file or folder")
    return sorted(
        p
        for p in path.rglob("*")
        if p.suffix.lower() in TEXT_SUFFIXES
        and p.is_file()
        and not any(part.startswith(".") for part in p.relative_to(path).parts)
    )


def decode_text(data: bytes, encoding: str, name: str) -> str:
    """Bytes → text with newlines as "\\n"; TextDecodeError naming the byte offset on failure."""
    codec = "utf-8-sig" if codecs.lookup(encoding).name == "utf-8" else encoding
    try:
        text = data.decode(codec)
    except UnicodeDecodeError as error:
        # utf-8-sig decodes what follows a byte-order mark: count from the file's first byte
        offset = error.start + len(data) - len(error.object)
        line = data.count(b"\n", 0, offset) + 1
        raise TextDecodeError(
            name,
            f"not valid {encoding} at byte {offset} (line {line}, byte "
            f"0x{data[offset]:02x}: {error.reason})",
        ) from None
    return text.replace("\r\n", "\n")


def read_text_file(path: Path) -> bytes:
    """A file's bytes, at most ``MAX_TEXT_FILE_BYTES`` (else a ValueError naming it). A regular
    file's size is checked first and only that much is asked for: read(n) sets aside n bytes
    up front, so asking for the whole cap would hold 200 MB for any file."""
    size = path.stat().st_size if path.is_file() else MAX_TEXT_FILE_BYTES
    if size > MAX_TEXT_FILE_BYTES:
        raise ValueError(
            f"{path}: the text file holds more than {MAX_TEXT_FILE_BYTES:,} bytes (the cap)"
        )
    return read_bounded(path, size, "text file")  # a device or pipe: no more than the cap


class _TextFiles:
    """The corpus's files as texts, one at a time; bad and empty files are noted once."""

    def __init__(self, files: list[Path], root: Path, encoding: str, skip_bad: bool, report):
        self.files, self.root, self.encoding = files, root, encoding
        self.skip_bad, self.report = skip_bad, report
        self.excluded: set[Path] = set()

    def __iter__(self) -> Iterator[tuple[str, str]]:
        for path in self.files:
            if path in self.excluded:
                continue
            name = str(path.relative_to(self.root))
            try:
                data = read_text_file(path)
            except OSError as error:
                data, reason = b"", f"cannot read file: {error.strerror or error}"
            except ValueError as error:  # over the cap
                if not self.skip_bad:
                    raise TextCorpusError(f"{error}; name a smaller file") from None
                data, reason = b"", f"larger than the {MAX_TEXT_FILE_BYTES:,}-byte cap"
            else:
                try:
                    text = decode_text(data, self.encoding, name)
                    reason = "" if text else "empty file"
                except TextDecodeError as error:
                    if not self.skip_bad:
                        raise
                    reason = error.reason
            del data  # the bytes go before the text is encoded
            if reason:
                self.excluded.add(path)
                self.report.skipped.append((name, reason))
                continue
            yield name, text


def build_tokenizer(
    kind: str, texts, *, vocab_size: int = 4000, sp_model_type: str = "unigram"
) -> TextTokenizer:
    """Train a tokenizer of ``kind`` ("char" or "sentencepiece") on an iterable of texts."""
    if kind in ("char", "characters"):
        return CharTokenizer.from_texts(texts)
    if kind == "sentencepiece":
        return SentencePieceTokenizer.train(texts, vocab_size=vocab_size, model_type=sp_model_type)
    raise ValueError(f"tokenizer must be one of {', '.join(TEXT_TOKENIZERS)}, got {kind!r}")


def segments(name: str, ids: np.ndarray, segment_len: int, *, ends: bool) -> list[Piece]:
    """Cut one file's ids into Pieces of at most ``segment_len`` tokens (views, not copies)."""
    count = -(-len(ids) // segment_len)
    return [
        Piece(
            f"{name}#{k}",
            ids[k * segment_len : (k + 1) * segment_len],
            ends=ends and k == count - 1,
        )
        for k in range(count)
    ]


def load_text_corpus(
    path: str | Path,
    *,
    tokenizer: TextTokenizer | str = "char",
    vocab_size: int = 4000,
    sp_model_type: str = "unigram",
    encoding: str = "utf-8",
    skip_bad_files: bool = False,
    valid_fraction: float = 0.1,
    segment_len: int = 2047,
    max_valid_tokens: int = MAX_VALID_TOKENS,
    progress: bool = False,
) -> TokenCorpus:
    """Read, tokenize (training the tokenizer if given by name), segment and split a corpus."""
    started = time.perf_counter()
    path = Path(path).expanduser()
    if segment_len < 1:
        raise ValueError(f"segment length must be at least 1 token, got {segment_len}")
    if not 0.0 <= valid_fraction < 1.0:
        raise ValueError(f"valid fraction must be in [0, 1), got {valid_fraction}")
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise ValueError(f"unknown encoding {encoding!r}") from None
    if isinstance(tokenizer, str) and tokenizer not in (*TEXT_TOKENIZERS, "characters"):
        raise ValueError(f"tokenizer must be one of {', '.join(TEXT_TOKENIZERS)}: {tokenizer!r}")
    if not isinstance(tokenizer, (str, TextTokenizer)):
        raise ValueError(f"a {tokenizer.kind} tokenizer cannot read text: not a text model")
    files = find_text_files(path)
    report = TextCorpusReport(path=str(path), files_found=len(files))
    if not files:
        raise TextCorpusError(f"{path}: no .txt or .md files found (searched recursively)")
    root = path if path.is_dir() else path.parent
    source = _TextFiles(files, root, encoding, skip_bad_files, report)

    if isinstance(tokenizer, str):
        read = 0

        def texts() -> Iterator[str]:
            nonlocal read
            for _, text in source:
                read += 1
                yield text

        try:
            tokenizer = build_tokenizer(
                tokenizer, texts(), vocab_size=vocab_size, sp_model_type=sp_model_type
            )
        except TextCorpusError:
            raise
        except ValueError:  # e.g. SentencePiece found no text to train on
            if not read:
                raise _empty(path, report) from None
            raise
        if not read:
            raise _empty(path, report)
    report.tokenizer, report.vocab_size = tokenizer.kind, tokenizer.vocab_size
    dtype = np.uint16 if tokenizer.vocab_size <= np.iinfo(np.uint16).max + 1 else np.int32
    chars_of = tokenizer.length_cost("characters").astype(np.int64)

    whole: list[Piece] = []
    for name, text in tqdm(
        source, total=len(files), desc="reading text", unit="file", disable=not progress
    ):
        ids = tokenizer.encode(text, dtype=dtype)  # no int32 copy of a huge file's ids
        whole.append(Piece(name, ids))
        counts = id_counts(ids, tokenizer.vocab_size)
        report.files_read += 1
        report.characters += int(counts @ chars_of)
        report.tokens += len(ids)
        report.unknown_tokens += int(counts[tokenizer.unk_id])
    if not whole:
        raise _empty(path, report)

    train: list[Piece] = []
    held_out: list[Piece] = []  # whole held-out files or file tails, before the cap
    if len(whole) >= MIN_FILES_TO_SPLIT_BY_FILE or valid_fraction == 0:
        report.split = "by file" if valid_fraction else "none"
        train_files, held_out = split_pieces(whole, valid_fraction)
        for piece in train_files:
            train.extend(segments(piece.name, piece.tokens, segment_len, ends=True))
    else:
        report.split = "by position"
        for piece in whole:
            cut = len(piece.tokens) - math.floor(valid_fraction * len(piece.tokens))
            head, tail = piece.tokens[:cut], piece.tokens[cut:]
            train.extend(segments(piece.name, head, segment_len, ends=not len(tail)))
            if len(tail):
                held_out.append(Piece(piece.name + "@valid", tail))
    valid: list[Piece] = []
    for piece in cap_tokens(held_out, max_valid_tokens):
        valid.extend(segments(piece.name, piece.tokens, segment_len, ends=piece.ends))
    report.held_out_tokens = sum(len(p.tokens) for p in held_out)
    report.valid_tokens = sum(len(p.tokens) for p in valid)
    report.train_segments, report.valid_segments = len(train), len(valid)
    report.train_characters = int(sum(id_counts(p.tokens, len(chars_of)) @ chars_of for p in train))
    report.valid_characters = int(sum(id_counts(p.tokens, len(chars_of)) @ chars_of for p in valid))
    report.read_seconds = time.perf_counter() - started
    return TokenCorpus(tokenizer=tokenizer, train=train, valid=valid, report=report)


def cap_tokens(pieces: list[Piece], max_tokens: int) -> list[Piece]:
    """Whole pieces (ending with EOS) when they hold at most ``max_tokens`` tokens (0 = no cap);
    else the first same share of each piece (a view, no EOS: the text goes on), so every file
    is represented and each kept part stays contiguous."""
    total = sum(len(p.tokens) for p in pieces)
    if not max_tokens or total <= max_tokens:
        return [Piece(p.name, p.tokens, ends=True) for p in pieces]
    kept = []
    for piece in pieces:
        count = len(piece.tokens) * max_tokens // total  # floor: the sum stays under the cap
        if count:
            kept.append(Piece(piece.name, piece.tokens[:count], ends=count == len(piece.tokens)))
    return kept or [Piece(pieces[0].name, pieces[0].tokens[:max_tokens], ends=False)]


def id_counts(ids: np.ndarray, vocab_size: int, chunk: int = 1 << 20) -> np.ndarray:
    """How often each id occurs, counted a chunk at a time (bincount would copy all the ids
    to int64 at once: four times the memory of a huge file's uint16 ids)."""
    counts = np.zeros(vocab_size, dtype=np.int64)
    for start in range(0, len(ids), chunk):
        counts += np.bincount(ids[start : start + chunk], minlength=vocab_size)
    return counts


def _empty(path: Path, report: TextCorpusReport) -> TextCorpusError:
    why = "; ".join(f"{name}: {reason}" for name, reason in report.skipped[:5])
    return TextCorpusError(
        f"{path}: no text to use: {report.files_found} files found, none with text"
        + (f" ({why}{', ...' if len(report.skipped) > 5 else ''})" if why else "")
    )
