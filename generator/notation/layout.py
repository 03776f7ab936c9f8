"""From notes in beats to what a score shows: quantised times, staves, voices and bars.

No music21 here: plain Python on exact fractions of a quarter note, so the rules can be read
and tested on their own. ``score.py`` turns the result into music21 objects.

Quantising. A model's grid of ``steps_per_beat`` steps per quarter note is notated on the
readable grids it contains: its binary part (eighths, sixteenths, thirty-seconds: at most 8
per quarter) and, when 3 divides it, eighth-note triplets. Each quarter note of the piece
picks the one grid that moves its onsets and ends least, so a beat is either straight or
in triplets, never both. Ends land on the grid too; a note that would vanish keeps one step.

Staves. One list of notes makes one staff when it is a melody (at most a quarter of its
notes overlap another: a held note under a tune is a second voice, not a reason for a second
staff), else a grand staff split at middle C (C4 and above on the treble staff). Named parts
(a harmonizer's Soprano, Alto, Tenor and Bass, or a MIDI file's tracks) make one staff each,
in order.

Voices. Within a staff, notes with the same onset and end form a chord; a chord that
overlaps the one before goes to a second voice (stems up in voice 1, down in voice 2).

Bars and beats. Notes are tied over barlines; a note that starts off the beat and runs past
it is tied at the beat; a length no single (dotted) note can show is split into tied notes
at beats; a triplet note never crosses a quarter-note line. Rests are split at beats and
joined into half-bar and whole-bar rests where the meter allows.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction

from generator.midi.notes import Note

MIDDLE_C = 60
MAX_BINARY_DIVISION = 8  # thirty-second notes; finer grids are notated at this resolution


@dataclass(frozen=True)
class Meter:
    """A time signature: ``numerator`` beats of 1/``denominator`` notes per bar."""

    numerator: int
    denominator: int

    @classmethod
    def parse(cls, text: str) -> Meter:
        """Meter.parse("6/8") == Meter(6, 8); ValueError for anything else."""
        parts = str(text).strip().split("/")
        try:
            numerator, denominator = (int(p) for p in parts)
        except ValueError:
            raise ValueError(f"invalid meter {text!r}: write it like 4/4, 3/4 or 6/8") from None
        if not 1 <= numerator <= 32 or denominator not in (1, 2, 4, 8, 16):
            raise ValueError(
                f"invalid meter {text!r}: 1-32 beats of 1, 2, 4, 8 or 16 (like 4/4 or 6/8)"
            )
        return cls(numerator, denominator)

    def __str__(self) -> str:
        return f"{self.numerator}/{self.denominator}"

    @property
    def bar(self) -> Fraction:
        """Length of a bar in quarter notes."""
        return Fraction(4 * self.numerator, self.denominator)

    @property
    def compound(self) -> bool:
        return self.denominator >= 8 and self.numerator % 3 == 0 and self.numerator > 3

    @property
    def beat(self) -> Fraction:
        """Length of a beat in quarter notes (a dotted quarter in 6/8, 9/8, 12/8)."""
        unit = Fraction(4, self.denominator)
        return 3 * unit if self.compound else unit

    @property
    def beats_per_bar(self) -> int:
        return self.numerator // 3 if self.compound else self.numerator


@dataclass(frozen=True, order=True)
class GridNote:
    """A note on the notation grid: onset and end in quarter notes, exact."""

    start: Fraction  # quarter notes from the start
    end: Fraction  # quarter notes from the start, > start
    pitch: int  # MIDI note number

    @property
    def duration(self) -> Fraction:
        return self.end - self.start


@dataclass
class Event:
    """One note, chord or rest of a voice within a bar (``pitches`` empty for a rest)."""

    offset: Fraction  # from the start of the bar, in quarter notes
    duration: Fraction
    pitches: tuple[int, ...] = ()
    tie_in: bool = False  # tied from the previous event of this voice
    tie_out: bool = False  # tied to the next event of this voice
    full_bar: bool = False  # a rest filling the whole bar

    @property
    def is_rest(self) -> bool:
        return not self.pitches


@dataclass
class Staff:
    """One staff: its name, clef ("treble", "treble8vb" or "bass") and notes."""

    name: str  # printed before the staff ("" for none)
    clef: str  # "treble", "treble8vb" or "bass"
    notes: list[GridNote]  # every note of the staff
    voices: list[list[tuple[Fraction, Fraction, tuple[int, ...]]]] = field(  # split_voices
        default_factory=list
    )


# -- quantising ----------------------------------------------------------------------------------
def readable_divisions(steps_per_beat: int) -> tuple[int, ...]:
    """The grids (divisions of a quarter note) a model grid is notated on, binary first:
    12 → (4, 3): sixteenths or eighth triplets; 2 → (2,); 8 → (8,); 6 → (2, 3)."""
    if steps_per_beat < 1:
        raise ValueError(f"steps per beat must be at least 1, got {steps_per_beat}")
    binary = 1
    while steps_per_beat % (binary * 2) == 0 and binary < MAX_BINARY_DIVISION:
        binary *= 2
    return (binary, 3) if steps_per_beat % 3 == 0 else (binary,)


def quantize(notes: Sequence[Note], steps_per_beat: int) -> list[GridNote]:
    """Notes in beats → GridNotes on the readable grids of ``steps_per_beat`` (module doc).
    Of two notes of one pitch starting together only the longer is kept."""
    kept: dict[tuple[Fraction, int], GridNote] = {}
    for note in snap_notes(notes, steps_per_beat):
        old = kept.get((note.start, note.pitch))
        if old is None or old.end < note.end:
            kept[note.start, note.pitch] = note
    return sorted(kept.values())


def snap_notes(notes: Sequence[Note], steps_per_beat: int) -> list[GridNote]:
    """Each note on the grid, one GridNote per note in the same order (``quantize`` without
    removing the doubled notes)."""
    divisions = readable_divisions(steps_per_beat)
    choice = _division_per_quarter([t for n in notes for t in (n.start, n.end)], divisions)

    def snap(time: float) -> Fraction:
        quarter = math.floor(time)
        division = choice.get(quarter, divisions[0])
        steps = math.floor((time - quarter) * division + 0.5)  # halves round up: later
        return Fraction(steps, division) + quarter

    snapped = []
    for n in notes:
        start = max(Fraction(0), snap(n.start))
        end = snap(n.end)
        if end <= start:  # a very short note keeps one step of its quarter's grid
            end = start + Fraction(1, choice.get(math.floor(start), divisions[0]))
        snapped.append(GridNote(start, end, int(n.pitch)))
    return snapped


def _division_per_quarter(times: Sequence[float], divisions: Sequence[int]) -> dict[int, int]:
    """For each quarter note holding a time, the division that moves its times least
    (the first, binary, one on ties)."""
    if len(divisions) == 1:
        return {}
    by_quarter: dict[int, list[float]] = {}
    for time in times:
        quarter = math.floor(time)
        by_quarter.setdefault(quarter, []).append(time - quarter)
    choice = {}
    for quarter, offsets in by_quarter.items():
        errors = [sum(abs(x * d - math.floor(x * d + 0.5)) / d for x in offsets) for d in divisions]
        choice[quarter] = divisions[errors.index(min(errors))]
    return choice


# -- staves and voices ---------------------------------------------------------------------------
MELODY_OVERLAP = 0.25  # a stream with at most this share of overlapping notes is a melody


def overlapping_share(notes: Sequence[GridNote]) -> float:
    """The share of notes that sound together with another note (0 for a plain melody)."""
    ordered = sorted(notes)
    overlapping = set()
    reach = -1  # index of the note reaching furthest so far
    for index, note in enumerate(ordered):
        if reach >= 0 and note.start < ordered[reach].end:
            overlapping.update((index, reach))
        if reach < 0 or note.end > ordered[reach].end:
            reach = index
    return len(overlapping) / max(len(ordered), 1)


def best_clef(notes: Sequence[GridNote]) -> str:
    """Treble or bass, whichever needs fewer ledger lines (treble on a tie, or no notes)."""

    def ledger(low: int, high: int) -> int:
        return sum(max(0, low - n.pitch) + max(0, n.pitch - high) for n in notes)

    return "bass" if ledger(43, 57) < ledger(64, 77) else "treble"


CLEF_BY_NAME = {"soprano": "treble", "alto": "treble", "tenor": "treble8vb", "bass": "bass"}


def make_staves(parts: dict[str, list[GridNote]], layout: str = "auto") -> tuple[list[Staff], str]:
    """Staves for the parts and how they are grouped: "" (one staff or separate parts),
    "brace" (a grand staff) or "bracket" (a choir's staves).

    layout: "auto" (one part: one staff or a grand staff, by polyphony; several: "parts"),
    "staff" (everything on one staff), "grand" (a grand staff split at middle C) or "parts"
    (one staff per part)."""
    if layout not in LAYOUTS:
        raise ValueError(f"invalid layout {layout!r}: choose one of {', '.join(LAYOUTS)}")
    everything = sorted(n for notes in parts.values() for n in notes)
    if layout == "auto":
        if len(parts) > 1:
            layout = "parts"
        else:
            upper = [n for n in everything if n.pitch >= MIDDLE_C]
            one_side = len(upper) in (0, len(everything))
            melody = overlapping_share(everything) <= MELODY_OVERLAP
            layout = "staff" if melody or one_side else "grand"
    if layout == "staff":
        name = next(iter(parts)) if len(parts) == 1 else ""
        staves = [Staff(name, best_clef(everything), everything)]
        group = ""
    elif layout == "grand":
        upper = [n for n in everything if n.pitch >= MIDDLE_C]
        lower = [n for n in everything if n.pitch < MIDDLE_C]
        staves = [Staff("", "treble", upper), Staff("", "bass", lower)]
        group = "brace"
    else:
        staves = [
            Staff(name, CLEF_BY_NAME.get(name.lower()) or best_clef(notes), sorted(notes))
            for name, notes in parts.items()
        ]
        choir = {name.lower() for name in parts} <= {*CLEF_BY_NAME, "melody"}
        group = "bracket" if choir and len(parts) > 1 else ""
    for staff in staves:
        staff.voices = split_voices(staff.notes)
    return staves, group


LAYOUTS = ("auto", "staff", "grand", "parts")


def split_voices(notes: Sequence[GridNote]) -> list[list[tuple[Fraction, Fraction, tuple]]]:
    """Chords (notes with one onset and end) spread over as few voices as needed so that
    the chords of a voice never overlap; at one onset the higher chord goes to the lower
    voice number. Each voice is a list of (start, end, pitches) in time order."""
    chords: dict[tuple[Fraction, Fraction], list[int]] = {}
    for n in notes:
        chords.setdefault((n.start, n.end), []).append(n.pitch)
    ordered = sorted(chords.items(), key=lambda item: (item[0][0], -max(item[1]), item[0][1]))
    voices: list[list[tuple[Fraction, Fraction, tuple]]] = []
    for (start, end), pitches in ordered:
        chord = (start, end, tuple(sorted(set(pitches))))
        for voice in voices:
            if voice[-1][1] <= start:
                voice.append(chord)
                break
        else:
            voices.append([chord])
    return voices


# -- bars ----------------------------------------------------------------------------------------
def bar_count(staves: Sequence[Staff], meter: Meter) -> int:
    """Bars needed to hold every note (at least one)."""
    end = max((n.end for s in staves for n in s.notes), default=Fraction(0))
    return max(1, math.ceil(end / meter.bar))


def voice_bars(
    voice: Sequence[tuple[Fraction, Fraction, tuple]], meter: Meter, bars: int
) -> list[list[Event]]:
    """A voice's chords as events bar by bar, rests filling the gaps (rules in module doc)."""
    out: list[list[Event]] = [[] for _ in range(bars)]
    clock = Fraction(0)
    for start, end, pitches in list(voice) + [(bars * meter.bar, bars * meter.bar, ())]:
        if start > clock:
            _add_rest(out, clock, start, meter)
        if end > start:
            _add_note(out, start, end, pitches, meter)
        clock = max(clock, end)
    return out


def _add_note(out, start: Fraction, end: Fraction, pitches: tuple, meter: Meter) -> None:
    pieces = []
    for bar, a, b in _within_bars(start, end, meter):
        for x, y in _note_pieces(a, b, meter):
            pieces.append((bar, x, y))
    for i, (bar, x, y) in enumerate(pieces):
        out[bar].append(Event(x, y - x, pitches, tie_in=i > 0, tie_out=i + 1 < len(pieces)))


def _add_rest(out, start: Fraction, end: Fraction, meter: Meter) -> None:
    for bar, a, b in _within_bars(start, end, meter):
        if a == 0 and b == meter.bar:
            out[bar].append(Event(a, b - a, full_bar=True))
            continue
        for x, y in _rest_pieces(a, b, meter):
            out[bar].append(Event(x, y - x))


def _within_bars(start: Fraction, end: Fraction, meter: Meter):
    """(bar index, start, end) of the parts of [start, end) in each bar, times within the bar."""
    bar = int(start // meter.bar)
    while start < end:
        bar_end = (bar + 1) * meter.bar
        stop = min(end, bar_end)
        yield bar, start - bar * meter.bar, stop - bar * meter.bar
        start, bar = stop, bar + 1


def _note_pieces(a: Fraction, b: Fraction, meter: Meter) -> list[tuple[Fraction, Fraction]]:
    """[a, b) within a bar, cut where notation needs a tie (module doc)."""
    beat = meter.beat
    cuts = set()
    if a % beat and b > _ceil_to(a, beat):  # starts off the beat and crosses it
        cuts.add(_ceil_to(a, beat))
    if _is_triplet(a) or _is_triplet(b):  # a triplet note stays within its quarter note
        cuts.update(Fraction(q) for q in range(math.floor(a) + 1, math.ceil(b)))
    pieces = []
    points = [a, *sorted(c for c in cuts if a < c < b), b]
    for x, y in zip(points, points[1:], strict=False):
        pieces.extend(_expressible_pieces(x, y, beat))
    return pieces


def _rest_pieces(a: Fraction, b: Fraction, meter: Meter) -> list[tuple[Fraction, Fraction]]:
    """[a, b) within a bar (not the whole bar) as rests: split at every beat, then whole
    beats joined in pairs from the bar's start or middle in a four-beat bar."""
    beat = meter.beat
    points = [a, *(t for t in _multiples(beat, a, b)), b]
    pieces = [(x, y) for x, y in zip(points, points[1:], strict=False) if y > x]
    if meter.beats_per_bar == 4:
        joined: list[tuple[Fraction, Fraction]] = []
        for x, y in pieces:
            if (
                joined
                and joined[-1][1] == x
                and y - x == beat
                and joined[-1][1] - joined[-1][0] == beat
                and joined[-1][0] % (2 * beat) == 0
            ):
                joined[-1] = (joined[-1][0], y)
            else:
                joined.append((x, y))
        pieces = joined
    return [p for x, y in pieces for p in _expressible_pieces(x, y, beat)]


def _expressible_pieces(a: Fraction, b: Fraction, beat: Fraction):
    """[a, b) as few pieces as possible, each one (dotted) note value; cuts prefer beats."""
    pieces = []
    while a < b:
        if is_expressible(b - a):
            pieces.append((a, b))
            break
        on_beats = [t for t in _multiples(beat, a, b) if is_expressible(t - a)]
        if on_beats:
            cut = on_beats[-1]
        else:  # the longest single value of the same kind (straight or triplet) that fits
            kind = _is_triplet(b - a)
            cut = a + max(v for v in _VALUES if v < b - a and _is_triplet(v) == kind)
        pieces.append((a, cut))
        a = cut
    return pieces


_BINARY = [Fraction(2) ** k for k in range(-3, 3)]  # 32nd ... whole note
_VALUES = sorted(
    {v * dots for v in _BINARY for dots in (1, Fraction(3, 2), Fraction(7, 4)) if v * dots <= 6}
    | {v * Fraction(2, 3) for v in _BINARY if v <= 1}
)


def is_expressible(length: Fraction) -> bool:
    """One note value shows this length: plain, dotted, double-dotted, or a triplet value."""
    return length in _VALUE_SET


_VALUE_SET = frozenset(_VALUES)


def _is_triplet(time: Fraction) -> bool:
    return Fraction(time).denominator % 3 == 0


def _ceil_to(time: Fraction, unit: Fraction) -> Fraction:
    return math.ceil(time / unit) * unit


def _multiples(unit: Fraction, a: Fraction, b: Fraction):
    """Multiples of ``unit`` strictly between a and b."""
    t = (a // unit + 1) * unit
    while t < b:
        yield t
        t += unit
