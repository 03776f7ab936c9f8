"""Copy check: how much of a set of pieces appears verbatim in the training files.

A piece's *pitch sequence* is its notes' pitches in time order (notes that start together from
low to high, as the event tokens write them). For a run length n (8 by default):
- **copied share**: of all n-note windows of the pieces, the share whose pitch sequence occurs
  somewhere in a training file;
- **longest copied run**: per piece, the most consecutive notes whose pitch sequence occurs in
  one training file (0 when no n-note window does).
The same figures over *intervals* (n notes = n − 1 intervals) catch copies in another key.

Sequences are compared through polynomial hashes mod 2^64 of each window, all in numpy; runs
are grown one note at a time from the windows that matched, so a long copy costs one pass per
note of its length over the matching windows only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from generator.evaluation.features import TOLERANCE
from generator.midi.notes import Note

RUN_LENGTH = 8  # notes
_BASE = np.uint64(0x9E3779B97F4A7C15)  # an odd multiplier, invertible mod 2^64
_SEPARATOR = 1 << 40  # between pieces; never a pitch or an interval


def pitch_sequence(notes: Sequence[Note]) -> np.ndarray:
    """The pitches of a piece in time order, chords from low to high."""
    order = sorted(notes, key=lambda n: (round(n.start / TOLERANCE), n.pitch))
    return np.array([n.pitch for n in order], dtype=np.int64)


@dataclass
class RunMatches:
    """Verbatim matches of one set of sequences in another, for windows of ``length`` items."""

    length: int  # items per window
    windows: int  # windows in all the sequences
    copied: int  # windows found in the other set
    longest: list[int]  # per sequence, the longest run found (0: no window found)

    @property
    def share(self) -> float:
        return self.copied / self.windows if self.windows else float("nan")


class _Hashed:
    """Sequences joined with separators, with what it takes to hash any window in O(1)."""

    def __init__(self, sequences: Sequence[np.ndarray]):
        parts, owner = [], []
        for index, seq in enumerate(sequences):
            parts += [np.asarray(seq, dtype=np.int64), np.array([_SEPARATOR])]
            owner += [np.full(len(seq) + 1, index)]
        self.values = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
        self.owner = np.concatenate(owner) if owner else np.zeros(0, dtype=np.int64)
        size = len(self.values)
        with np.errstate(over="ignore"):
            # prefix[i] = Σ_{j<i} v[j]·B^(−j); a window's hash is its prefix difference × B^(end−1)
            power = np.cumprod(np.full(size + 1, _BASE, dtype=np.uint64))
            self.power = np.r_[np.uint64(1), power[:-1]]  # B^k
            inverse = np.cumprod(np.full(size, _inverse(_BASE), dtype=np.uint64))
            inverse = np.r_[np.uint64(1), inverse[:-1]]  # B^(−k)
            terms = self.values.astype(np.uint64) * inverse
            self.prefix = np.r_[np.uint64(0), np.cumsum(terms, dtype=np.uint64)]
        separators = np.r_[0, np.cumsum(self.values == _SEPARATOR)]
        self.separators_before = separators  # separators among the first i values

    def hashes(self, starts: np.ndarray, length: int) -> np.ndarray:
        ends = starts + length
        with np.errstate(over="ignore"):
            return (self.prefix[ends] - self.prefix[starts]) * self.power[ends - 1]

    def clean_starts(self, length: int) -> np.ndarray:
        """Starts of the windows of ``length`` that lie inside one sequence."""
        starts = np.arange(max(0, len(self.values) - length + 1))
        inside = self.separators_before[starts + length] == self.separators_before[starts]
        return starts[inside]


def _inverse(odd: np.uint64) -> np.uint64:
    return np.uint64(pow(int(odd), -1, 1 << 64))


def verbatim_runs(
    sequences: Sequence[np.ndarray], training: Sequence[np.ndarray], length: int
) -> RunMatches:
    """Windows of ``length`` items of ``sequences`` found in ``training``, and per sequence the
    longest run of items found there in one piece."""
    mine, theirs = _Hashed(sequences), _Hashed(training)
    starts = mine.clean_starts(length)
    their_starts = theirs.clean_starts(length)
    longest = np.zeros(len(sequences), dtype=np.int64)
    found = np.isin(mine.hashes(starts, length), theirs.hashes(their_starts, length))
    copied = int(found.sum())
    size, run = len(theirs.values), length
    # Grow the matched windows one item at a time; only training windows that matched one
    # length shorter can match a longer one.
    starts = starts[found]
    matched = np.isin(theirs.hashes(their_starts, length), mine.hashes(starts, length))
    their_starts = their_starts[matched]
    while len(starts):
        np.maximum.at(longest, mine.owner[starts], run)
        run += 1
        starts = starts[mine.separators_before[starts + run] == mine.separators_before[starts]]
        their_starts = their_starts[their_starts + run <= size]
        mine_hashes = mine.hashes(starts, run)
        their_hashes = theirs.hashes(their_starts, run)
        starts = starts[np.isin(mine_hashes, their_hashes)]
        their_starts = their_starts[np.isin(their_hashes, mine_hashes)]
    return RunMatches(length, len(mine.clean_starts(length)), copied, longest.tolist())


@dataclass
class CopyReport:
    """The copy check of one set of pieces against the training files."""

    run_length: int  # n: notes per window
    pitches: RunMatches  # exact pitch windows of n notes
    intervals: RunMatches  # interval windows of n − 1 intervals (any transposition)

    def to_dict(self) -> dict:
        longest = self.pitches.longest
        return {
            "run_length": self.run_length,
            "windows": self.pitches.windows,
            "copied_share": self.pitches.share,
            "longest_copied_run": max(longest, default=0),
            "median_longest_copied_run": float(np.median(longest)) if longest else 0.0,
            "copied_share_any_key": self.intervals.share,
            "longest_copied_run_any_key": max(
                (n + 1 if n else 0 for n in self.intervals.longest), default=0
            ),
        }


def copy_check(
    pieces: Sequence[Sequence[Note]],
    training: Sequence[Sequence[Note]],
    run_length: int = RUN_LENGTH,
) -> CopyReport:
    """Copied ``run_length``-note pitch sequences of ``pieces`` in ``training`` (both exactly
    and in any key)."""
    if run_length < 2:
        raise ValueError(f"run length {run_length}: copies are checked over 2 or more notes")
    mine = [pitch_sequence(p) for p in pieces]
    theirs = [pitch_sequence(p) for p in training]
    return CopyReport(
        run_length,
        verbatim_runs(mine, theirs, run_length),
        verbatim_runs([np.diff(s) for s in mine], [np.diff(s) for s in theirs], run_length - 1),
    )
