"""Harmony metrics: how voices added under a melody sound with it, measured at every beat.

All figures are taken on the *sounding* notes at each beat (a note sounds at time t when
start ≤ t < end; where a part holds several, the one that started last, then the highest):

- **consonance** (per voice): beats where the melody and the voice both sound and their
  interval, mod 12, is a unison/octave, third, fifth or sixth; a fourth also counts, except
  against the lowest voice (the bass);
- **chords**: beats whose sounding pitches form a complete triad or seventh chord by music21's
  chord analysis (``Chord.isTriad`` / ``Chord.isSeventh``);
- **parallels**: beat-to-beat transitions where two parts both move and stay a fifth apart, or
  an octave/unison apart (mod 12), per 100 transitions; a voice's count covers the pairs it is
  in, the total counts each pair once;
- **crossings**: beats where a voice sounds above the part written above it (the melody, for
  the first voice); **overlaps**: transitions where a voice moves above the previous note of the
  part above it, or that part moves below the voice's previous note;
- **melody doubled / crossed**: beats where a voice sounds the melody's pitch / above it;
- **out of range**: notes outside the voice's SATB range (generator.midi.voicing).

``pitch_agreement`` compares a harmonizer's free-running voices with reference pairs, grid step
by grid step.

Beats: quarter notes from 0, or dotted quarters in a compound meter (6/8, 9/8, 12/8), or
1/denominator whole notes in other meters (``beat_length``). Voices are given highest first;
ranges and consonance as in generator.midi.voicing.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from generator.midi.notes import Note, read_midi
from generator.midi.parts import parts_from_pretty_midi, split_melody
from generator.midi.voicing import (
    PERFECT,
    SATB_RANGES,
    beat_length,
    consonant_intervals,
    range_names,
)

if TYPE_CHECKING:
    from generator.data.pairs import Pair
    from generator.models.seq2seq import Seq2Seq
    from generator.tokenizers.voice_grid import VoiceGridTokenizer


@dataclass
class VoiceHarmony:
    """One added voice's counts (shares are properties, so that pieces add up)."""

    name: str
    range_name: str  # the SATB voice whose range applies
    notes: int = 0
    out_of_range: int = 0  # notes outside the range
    beats: int = 0  # beats where the melody and this voice both sound
    consonant: int = 0
    doubled: int = 0  # beats at the melody's pitch
    above_melody: int = 0  # beats above the melody
    crossings: int = 0  # beats above the part written above it
    overlaps: int = 0
    transitions: int = 0  # beat-to-beat transitions where this voice sounds at both beats
    parallels: int = 0  # parallel fifths and octaves with any other part

    def add(self, other: VoiceHarmony) -> None:
        for name, value in vars(other).items():
            if isinstance(value, int):
                setattr(self, name, getattr(self, name) + value)

    def shares(self) -> dict[str, float]:
        beats, moves = max(self.beats, 1), max(self.transitions, 1)
        return {
            "consonance": self.consonant / beats,
            "melody_doubled": self.doubled / beats,
            "melody_crossed": self.above_melody / beats,
            "crossings_per_100_beats": 100 * self.crossings / beats,
            "overlaps_per_100_transitions": 100 * self.overlaps / moves,
            "parallels_per_100_transitions": 100 * self.parallels / moves,
            "out_of_range_share": self.out_of_range / max(self.notes, 1),
        }


@dataclass
class HarmonyMetrics:
    """Counts for one piece, or for several added together (``combine``)."""

    voices: list[VoiceHarmony]
    pieces: int = 1
    beats: int = 0  # beats where the melody sounds
    chord_beats: int = 0  # of those, beats forming a complete triad or seventh chord
    transitions: int = 0  # beat-to-beat transitions where the melody sounds at both beats
    parallels: int = 0  # parallel fifths and octaves, each pair of parts counted once
    crossings: int = 0  # crossings of all voices

    @property
    def consonance(self) -> float:
        """Consonant voice-beats over all voice-beats (every voice pooled)."""
        return sum(v.consonant for v in self.voices) / max(sum(v.beats for v in self.voices), 1)

    @property
    def parallels_per_100(self) -> float:
        return 100 * self.parallels / max(self.transitions, 1)

    @property
    def crossings_per_100(self) -> float:
        return 100 * self.crossings / max(self.beats, 1)

    @property
    def chord_share(self) -> float:
        return self.chord_beats / max(self.beats, 1)

    @property
    def out_of_range(self) -> int:
        return sum(v.out_of_range for v in self.voices)

    def to_dict(self) -> dict[str, Any]:
        return {
            "pieces": self.pieces,
            "beats": self.beats,
            "consonance": self.consonance,
            "chord_share": self.chord_share,
            "parallels_per_100_transitions": self.parallels_per_100,
            "crossings_per_100_beats": self.crossings_per_100,
            "out_of_range_notes": self.out_of_range,
            "voices": {v.name: {**asdict(v), **v.shares()} for v in self.voices},
        }

    def summary(self, label: str = "") -> str:
        head = f"{label}: " if label else ""
        lines = [
            f"{head}{self.pieces} pieces, {self.beats} beats: consonance {self.consonance:.3f}, "
            f"triad/seventh beats {self.chord_share:.3f}, parallel 5ths/8ves "
            f"{self.parallels_per_100:.2f} per 100 transitions, crossings "
            f"{self.crossings_per_100:.2f} per 100 beats, {self.out_of_range} notes out of range"
        ]
        for voice in self.voices:
            s = voice.shares()
            lines.append(
                f"  {voice.name}: consonance {s['consonance']:.3f}, parallels "
                f"{s['parallels_per_100_transitions']:.2f}/100, crossings "
                f"{s['crossings_per_100_beats']:.2f}/100, overlaps "
                f"{s['overlaps_per_100_transitions']:.2f}/100, melody doubled "
                f"{s['melody_doubled']:.3f} crossed {s['melody_crossed']:.3f}, out of range "
                f"{voice.out_of_range}/{voice.notes} notes ({voice.range_name})"
            )
        return "\n".join(lines)


def sounding(notes: Sequence[Note], times: np.ndarray) -> np.ndarray:
    """The pitch each part sounds at each time (-1 = silence): the latest onset, then the
    highest pitch, among the notes with start ≤ t < end."""
    out = np.full(len(times), -1, dtype=np.int64)
    chosen = np.full(len(times), -np.inf)
    eps = 1e-6
    for note in sorted(notes, key=lambda n: (n.start, n.pitch)):
        on = (times >= note.start - eps) & (times < note.end - eps)
        later = on & (note.start >= chosen - eps)
        out[later] = note.pitch
        chosen[later] = note.start
    return out


@functools.lru_cache(maxsize=8192)
def is_chord(pitch_classes: frozenset[int]) -> bool:
    """A complete triad or seventh chord, by music21's chord analysis."""
    if len(pitch_classes) < 3:
        return False
    from music21 import chord

    found = chord.Chord([60 + pc for pc in sorted(pitch_classes)])
    return bool(found.isTriad() or found.isSeventh())


def harmony_metrics(
    melody: Sequence[Note], voices: Mapping[str, Sequence[Note]], *, beat: float = 1.0
) -> HarmonyMetrics:
    """The harmony counts of ``voices`` (name → notes, highest voice first) under ``melody``,
    sampled every ``beat`` quarter notes from 0."""
    names = list(voices)
    ranges = range_names(names)
    end = max((n.end for part in [melody, *voices.values()] for n in part), default=0.0)
    times = np.arange(0.0, end - 1e-6, beat)
    grid = np.stack([sounding(part, times) for part in [melody, *voices.values()]])  # (parts, T)
    tune, on = grid[0], grid[0] >= 0
    parts = len(grid)
    metrics = HarmonyMetrics(voices=[], beats=int(on.sum()))
    metrics.transitions = int((on[1:] & on[:-1]).sum())
    # Parallels of every pair of parts, each pair once.
    pair_parallels = np.zeros((parts, parts), dtype=np.int64)
    for upper in range(parts):
        for lower in range(upper + 1, parts):
            pair_parallels[upper, lower] = _parallels(grid[upper], grid[lower])
    for k, (name, notes) in enumerate(voices.items(), start=1):
        low, high = SATB_RANGES[ranges[k - 1]]
        voice, above = grid[k], grid[k - 1]
        both = on & (voice >= 0)
        interval = np.abs(tune - voice) % 12
        good = np.isin(interval, list(consonant_intervals(lowest=k == parts - 1)))
        both_above = (voice >= 0) & (above >= 0)
        moves = (voice[1:] >= 0) & (voice[:-1] >= 0)
        overlap = (
            both_above[1:] & both_above[:-1] & ((voice[1:] > above[:-1]) | (above[1:] < voice[:-1]))
        )
        stats = VoiceHarmony(
            name=name,
            range_name=ranges[k - 1],
            notes=len(notes),
            out_of_range=sum(not low <= n.pitch <= high for n in notes),
            beats=int(both.sum()),
            consonant=int((both & good).sum()),
            doubled=int((both & (voice == tune)).sum()),
            above_melody=int((both & (voice > tune)).sum()),
            crossings=int((both_above & (voice > above)).sum()),
            overlaps=int(overlap.sum()),
            transitions=int(moves.sum()),
            parallels=int(pair_parallels[:k, k].sum() + pair_parallels[k, k + 1 :].sum()),
        )
        metrics.voices.append(stats)
        metrics.crossings += stats.crossings
    metrics.parallels = int(pair_parallels.sum())
    for t in np.flatnonzero(on):
        sounding_now = grid[:, t][grid[:, t] >= 0]
        metrics.chord_beats += is_chord(frozenset(int(p) % 12 for p in sounding_now))
    return metrics


def _parallels(upper: np.ndarray, lower: np.ndarray) -> int:
    """Transitions where both parts move and stay a fifth, or an octave/unison, apart."""
    sound = (upper >= 0) & (lower >= 0)
    both = sound[1:] & sound[:-1]
    moved = (upper[1:] != upper[:-1]) & (lower[1:] != lower[:-1])
    before, after = (upper[:-1] - lower[:-1]) % 12, (upper[1:] - lower[1:]) % 12
    same = (before == after) & np.isin(after, PERFECT)
    return int((both & moved & same).sum())


def combine(pieces: Sequence[HarmonyMetrics]) -> HarmonyMetrics:
    """Several pieces' counts added up, voice by voice (matched by position)."""
    if not pieces:
        raise ValueError("no pieces to combine")
    total = HarmonyMetrics(
        voices=[VoiceHarmony(v.name, v.range_name) for v in pieces[0].voices], pieces=0
    )
    for piece in pieces:
        total.pieces += piece.pieces
        for name in ("beats", "chord_beats", "transitions", "parallels", "crossings"):
            setattr(total, name, getattr(total, name) + getattr(piece, name))
        for mine, theirs in zip(total.voices, piece.voices, strict=False):
            mine.add(theirs)
    return total


@dataclass
class FileHarmony:
    """A harmonized MIDI file's metrics, and which tracks were read as what."""

    path: str
    melody: str
    voices: list[str] = field(default_factory=list)
    metrics: HarmonyMetrics | None = None


def file_harmony(path: str | Path, melody_track: str | None = None) -> FileHarmony:
    """Metrics of a multi-track MIDI file: the melody by the melody rule (generator.midi.parts)
    or ``melody_track``; every other track is a voice, highest first; the beat from the first
    time signature. ValueError (naming the file) when it has no track besides the melody."""
    midi = read_midi(path)
    melody, others = split_melody(parts_from_pretty_midi(midi), melody_track)
    if not others:
        raise ValueError(f"{path}: only one track with notes, no voices to measure")
    beat = 1.0
    if midi.time_signature_changes:
        first = midi.time_signature_changes[0]
        beat = beat_length(first.numerator, first.denominator)
    voices = {(p.name or f"Voice {k + 1}"): p.notes for k, p in enumerate(others)}
    if len(voices) < len(others):  # repeated track names: number them
        voices = {f"{p.name or 'Voice'} {k + 1}": p.notes for k, p in enumerate(others)}
    metrics = harmony_metrics(melody.notes, voices, beat=beat)
    return FileHarmony(str(path), melody.name or "(unnamed)", list(voices), metrics)


@dataclass
class HarmonizerReport:
    """A harmonizer's voices and, where the files have them, their own, on the same melodies."""

    model: HarmonyMetrics
    reference: HarmonyMetrics | None  # the files' own voices (e.g. Bach's); None: melodies only
    files: list[str]
    settings: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "files": self.files,
            "settings": self.settings,
            "model": self.model.to_dict(),
            "reference": self.reference.to_dict() if self.reference else None,
        }


def pitch_agreement(
    model: Seq2Seq,
    pairs: list[Pair],
    tokenizer: VoiceGridTokenizer,
    *,
    beam: int = 1,
    batch_size: int = 64,
) -> dict[str, float]:
    """Free-running check for voice grids: decode each source (greedy, or beam search) to its
    reference length; per voice, the share of grid steps where the reference sounds a note and
    the generated voice sounds the same pitch."""
    from generator.sampling.harmonize import window_start_rule
    from generator.sampling.seq2seq import decode

    voices = list(tokenizer.voices)
    hits, counts = np.zeros(len(voices)), np.zeros(len(voices))
    for start in range(0, len(pairs), batch_size):
        chunk = pairs[start : start + batch_size]
        results = decode(
            model,
            [p.source for p in chunk],
            tokenizer,
            beam=beam,
            lengths=[len(p.target) for p in chunk],
            processors=[window_start_rule(tokenizer)],
        )
        for pair, result in zip(chunk, results, strict=True):
            reference = tokenizer.sounding(pair.target, len(voices))
            generated = tokenizer.sounding(result.tokens, len(voices))
            sounding = reference >= 0
            hits += ((generated == reference) & sounding).sum(0)
            counts += sounding.sum(0)
    return {name: float(hits[k] / max(counts[k], 1)) for k, name in enumerate(voices)}


def evaluate_harmonizer(
    loaded,
    files: Sequence[str | Path],
    *,
    options=None,
    beam: int = 1,
    rules: bool = True,
    candidates: int = 1,
) -> HarmonizerReport:
    """Harmonize the melody of each file (whole, by the melody rule) and measure the voices;
    where a file also has enough other tracks, measure them (its own voices, chosen as in
    training: generator.data.harmony.choose_voices) as the reference."""
    from generator.data.harmony import choose_voices
    from generator.sampling.harmonize import harmonize, harmony_tokenizer

    tokenizer = harmony_tokenizer(loaded)
    made, reference = [], []
    for path in files:
        midi = read_midi(path)
        melody, others = split_melody(parts_from_pretty_midi(midi))
        beat = 1.0
        if midi.time_signature_changes:
            first = midi.time_signature_changes[0]
            beat = beat_length(first.numerator, first.denominator)
        result = harmonize(
            loaded,
            melody,
            options=options,
            beam=beam,
            rules=rules,
            candidates=candidates,
            beat=beat,
        )
        made.append(harmony_metrics(melody.notes, result.voices, beat=beat))
        try:
            theirs = choose_voices(others, tokenizer.voices)
        except ValueError:
            continue
        voices = {name: part.notes for name, part in zip(tokenizer.voices, theirs, strict=True)}
        reference.append(harmony_metrics(melody.notes, voices, beat=beat))
    if not made:
        raise ValueError("no files to harmonize")
    return HarmonizerReport(
        model=combine(made),
        reference=combine(reference) if reference else None,
        files=[str(f) for f in files],
        settings={"beam": beam, "rules": rules, "candidates": candidates},
    )
