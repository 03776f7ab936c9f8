"""Per-piece musical features (Yang & Lerch 2020, "On the evaluation of generative models in
music"; MusPy's metrics), computed with numpy over the project's note lists.

Every piece (a list of ``Note``, times in beats) gives one value per feature: a number
(``scalar``) or a normalised histogram (``histogram``). A piece with too few notes for a
feature gives NaN there, and set comparisons leave it out.

Conventions:
- An *onset* is a distinct start time (notes starting within 1/48 beat of each other share one).
- The *top voice* is the highest note starting at each onset (the skyline).
- Times are in quarter notes (a MIDI beat), whatever the meter.
- The *grid* is ``grid_per_beat`` positions per quarter note (2: the eighth-note grid, which is
  also the pulse of 6/8); an onset is on it when it lies within 1/48 beat of a grid line.
- A *bar* is the piece's time signature's length, counted from 0: 4 quarter notes in 4/4 and
  2/2, 3 in 3/4 and in 6/8 (six eighths); ``beats_per_bar`` quarter notes for a piece with no
  time signature (``meter`` None).
- A *beat* (empty beats) is the meter's beat, ``generator.midi.voicing.beat_length``: a dotted
  quarter in 6/8, 9/8 and 12/8 (so a 6/8 bar counts two beats), else the denominator's note
  (a quarter in 4/4 and 3/4, a half in 2/2); a quarter note without a time signature.
- Lengths (note durations and inter-onset intervals) fall into the nearest of ``LENGTH_CLASSES``
  (in beats) on a log scale; anything shorter or longer goes to the first or last class.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from generator.midi.notes import Note
from generator.midi.voicing import beat_length

TOLERANCE = 1 / 48  # beats: onsets this close are one onset, and count as on a grid line
GROOVE_STEPS_PER_BEAT = 12  # onset positions per beat in groove patterns (the token grid)
MAJOR = np.array([1, 0, 1, 0, 1, 1, 0, 1, 0, 1, 0, 1], dtype=bool)  # C major, by pitch class
MINOR = np.array([1, 0, 1, 1, 0, 1, 0, 1, 1, 0, 1, 0], dtype=bool)  # C natural minor
LARGEST_INTERVAL = 12  # top-voice interval bins run -12..+12; wider leaps share an end bin
LENGTH_CLASSES = np.array(
    [1 / 8, 1 / 6, 1 / 4, 1 / 3, 1 / 2, 2 / 3, 3 / 4, 1, 4 / 3, 3 / 2, 2, 3, 4, 6, 8]
)  # beats: 32nd, 16th triplet, 16th, eighth triplet, eighth, ..., whole, dotted whole, breve


@dataclass(frozen=True)
class Feature:
    """One feature: its name in tables and JSON, what it means, its kind, and its resolution
    (the smallest difference that matters; overlap kernels are never narrower)."""

    name: str
    description: str
    kind: str  # "scalar" or "histogram"
    resolution: float


FEATURES = (
    Feature("pitch_range", "highest minus lowest pitch, semitones", "scalar", 1.0),
    Feature("pitch_classes", "pitch classes used (0-12)", "scalar", 0.5),
    Feature("pitch_class_entropy", "entropy of the pitch-class histogram, bits", "scalar", 0.05),
    Feature("scale_consistency", "share of notes in the best major/minor scale", "scalar", 0.02),
    Feature("polyphony", "notes per onset", "scalar", 0.05),
    Feature("on_grid", "share of onsets on the grid", "scalar", 0.02),
    Feature("empty_beats", "share of the meter's beats where nothing sounds", "scalar", 0.02),
    Feature(
        "groove_consistency",
        "1 - mean Hamming distance of neighbouring bars' onsets (bars of the piece's meter)",
        "scalar",
        0.01,
    ),
    Feature(
        "interval_histogram", "top-voice melodic intervals, -12..+12 semitones", "histogram", 0.02
    ),
    Feature("note_length_histogram", "note durations by length class", "histogram", 0.02),
    Feature("ioi_histogram", "inter-onset intervals by length class", "histogram", 0.02),
)
FEATURE_NAMES = tuple(f.name for f in FEATURES)


def meter_lengths(meter: str | None, beats_per_bar: int = 4) -> tuple[float, float]:
    """(bar, beat) in quarter notes of a time signature such as "6/8" ((3.0, 1.5)); with no
    meter, a bar of ``beats_per_bar`` quarter notes and a quarter-note beat."""
    if not meter:
        return float(beats_per_bar), 1.0
    numerator, denominator = (int(part) for part in meter.split("/"))
    return numerator * 4 / denominator, beat_length(numerator, denominator)


def piece_features(
    notes: Sequence[Note],
    *,
    grid_per_beat: int = 2,
    beats_per_bar: int = 4,
    meter: str | None = None,
) -> dict[str, float | np.ndarray]:
    """Every feature of ``FEATURES`` for one piece (NaN where the piece is too short for it);
    bars and beats in ``meter`` (the piece's time signature, "6/8"), else ``beats_per_bar``
    quarter notes a bar."""
    if not notes:
        return {f.name: math.nan for f in FEATURES}
    bar, beat = meter_lengths(meter, beats_per_bar)
    pitches = np.array([n.pitch for n in notes])
    starts = np.array([n.start for n in notes], dtype=float)
    onsets, top_voice = _onsets_and_top_voice(starts, pitches)
    return {
        "pitch_range": float(pitches.max() - pitches.min()),
        "pitch_classes": float(len(np.unique(pitches % 12))),
        "pitch_class_entropy": pitch_class_entropy(pitches),
        "scale_consistency": scale_consistency(pitches),
        "polyphony": len(notes) / len(onsets),
        "on_grid": on_grid_share(onsets, grid_per_beat),
        "empty_beats": empty_beat_rate(notes, beat),
        "groove_consistency": groove_consistency(onsets, bar),
        "interval_histogram": interval_histogram(top_voice),
        "note_length_histogram": length_histogram([n.duration for n in notes]),
        "ioi_histogram": length_histogram(np.diff(onsets)),
    }


def _onsets_and_top_voice(starts: np.ndarray, pitches: np.ndarray):
    """Distinct onsets (sorted) and the highest pitch starting at each."""
    slots = np.round(starts / TOLERANCE).astype(np.int64)
    order = np.lexsort((pitches, slots))
    slots, pitches = slots[order], pitches[order]
    last_of_slot = np.r_[slots[1:] != slots[:-1], True]
    return slots[last_of_slot] * TOLERANCE, pitches[last_of_slot]


def pitch_class_entropy(pitches: np.ndarray) -> float:
    """Shannon entropy (bits) of the notes' pitch-class histogram: 0 for one pitch class,
    log2(12) ≈ 3.585 when all twelve are equally common."""
    counts = np.bincount(np.asarray(pitches) % 12, minlength=12).astype(float)
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log2(p)).sum())


def scale_consistency(pitches: np.ndarray) -> float:
    """Largest share of notes inside one major or natural-minor scale (any of 12 roots)."""
    counts = np.bincount(np.asarray(pitches) % 12, minlength=12)
    best = 0
    for scale in (MAJOR, MINOR):
        for root in range(12):
            best = max(best, int(counts[np.roll(scale, root)].sum()))
    return best / counts.sum()


def on_grid_share(onsets: np.ndarray, grid_per_beat: int) -> float:
    """Share of onsets within ``TOLERANCE`` beats of a line of a ``grid_per_beat`` grid."""
    position = np.asarray(onsets) * grid_per_beat
    off = np.abs(position - np.round(position)) / grid_per_beat
    return float(np.mean(off <= TOLERANCE + 1e-9))


def empty_beat_rate(notes: Sequence[Note], beat: float = 1.0) -> float:
    """Share of the beats (``beat`` quarter notes long) from 0 to the end of the last note in
    which no note sounds (with quarter-note beats, a note from 1.5 to 2.25 sounds in beats 1
    and 2)."""
    length = math.ceil(max(n.end for n in notes) / beat - 1e-9)
    if length < 1:
        return math.nan
    sounding = np.zeros(length, dtype=bool)
    for n in notes:
        first = math.floor(n.start / beat + 1e-9)
        last = math.ceil(n.end / beat - 1e-9)  # exclusive
        sounding[first : max(last, first + 1)] = True
    return float(1 - sounding.mean())


def groove_consistency(onsets: np.ndarray, bar: float) -> float:
    """1 − mean Hamming distance between neighbouring bars' onset patterns (each a 0/1 vector
    of ``GROOVE_STEPS_PER_BEAT`` positions per quarter note of a ``bar`` quarter notes long:
    48 in 4/4, 36 in 6/8), as a share of positions. NaN when the onsets span fewer than two
    bars."""
    steps = np.round(np.asarray(onsets) * GROOVE_STEPS_PER_BEAT).astype(np.int64)
    bar_steps = max(1, round(GROOVE_STEPS_PER_BEAT * bar))
    bars = int(steps.max()) // bar_steps + 1
    if bars < 2:
        return math.nan
    patterns = np.zeros((bars, bar_steps), dtype=bool)
    patterns[steps // bar_steps, steps % bar_steps] = True
    distance = np.count_nonzero(patterns[1:] != patterns[:-1])
    return float(1 - distance / (bar_steps * (bars - 1)))


def interval_histogram(top_voice: np.ndarray) -> np.ndarray | float:
    """Normalised histogram of the top voice's intervals, bins −12..+12 semitones (wider leaps
    in the end bins); NaN for fewer than two onsets."""
    intervals = np.diff(np.asarray(top_voice))
    if not len(intervals):
        return math.nan
    clipped = np.clip(intervals, -LARGEST_INTERVAL, LARGEST_INTERVAL) + LARGEST_INTERVAL
    counts = np.bincount(clipped, minlength=2 * LARGEST_INTERVAL + 1)
    return counts / counts.sum()


def length_class(lengths: Sequence[float] | np.ndarray) -> np.ndarray:
    """Index into ``LENGTH_CLASSES`` of the nearest class (log scale) for each length."""
    lengths = np.maximum(np.asarray(lengths, dtype=float), 1e-6)
    distance = np.abs(np.log2(lengths)[:, None] - np.log2(LENGTH_CLASSES)[None, :])
    return distance.argmin(axis=1)


def length_histogram(lengths: Sequence[float] | np.ndarray) -> np.ndarray | float:
    """Normalised histogram of lengths (beats) over ``LENGTH_CLASSES``; NaN if none."""
    if not len(lengths):
        return math.nan
    counts = np.bincount(length_class(lengths), minlength=len(LENGTH_CLASSES))
    return counts / counts.sum()


def clip_notes(notes: Sequence[Note], max_beats: float | None) -> list[Note]:
    """The first ``max_beats`` beats of a piece (notes that start later dropped, notes that
    ring past it cut there); the piece unchanged when ``max_beats`` is None."""
    if max_beats is None:
        return list(notes)
    return [
        Note(n.start, min(n.duration, max_beats - n.start), n.pitch, n.velocity)
        for n in notes
        if n.start < max_beats
    ]


def outside_range(notes: Sequence[Note], lowest: int, highest: int) -> int:
    """How many notes lie outside ``lowest``..``highest`` (MIDI pitches, inclusive)."""
    return sum(1 for n in notes if not lowest <= n.pitch <= highest)
