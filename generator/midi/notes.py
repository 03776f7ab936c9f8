"""Notes in musical time (beats), and the rules for turning MIDI files into notes and back.

Reading rule (documented in README "Data"): every non-drum track is merged into one polyphonic
stream; drum tracks (MIDI channel 10) are dropped, since a pitch there names a drum, not a note.
Times are converted from seconds to beats through the file's own tempo map, so a piece keeps its
rhythm whatever tempo it was recorded at; the tempo is chosen again when a piece is written.

Every MIDI file is read through ``parse_midi``: mido parses the bytes, a few checks that
pretty_midi lacks refuse what would crash it or make it build huge tables (no tracks, 0 ticks
per beat, SMPTE timing, a tempo of 0, more notes or beats than the caller's caps), then
pretty_midi reads the parsed file. Whatever goes wrong is a MidiReadError naming the file.

Corpora are read through ``notes_from_bytes``: symusic (C++, the parser MidiTok uses) reads the
notes in ticks, 50-100 times faster than mido and pretty_midi, by the same rule (every 3,300
files of the built corpus give identical notes; tests/midi checks it). A file symusic refuses
goes through ``parse_midi`` for the reason in words, so every skip is explained the same way.
"""

from __future__ import annotations

import io
import math
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import mido
import numpy as np
import pretty_midi
import symusic

from generator.validation import MAX_MIDI_BYTES, read_bounded

_NOTE_NAME = re.compile(r"^([A-Ga-g])([#b♯♭]?)(-?\d+)$")
_PITCH_CLASS = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}


@dataclass(frozen=True, order=True)
class Note:
    """One note: onset and duration in beats (quarter notes), MIDI pitch and velocity."""

    start: float  # beats from the start of the piece
    duration: float  # beats
    pitch: int  # MIDI note number 0-127 (60 = C4)
    velocity: int  # 1-127

    @property
    def end(self) -> float:
        return self.start + self.duration


def note_number(name: str | int) -> int:
    """Parse a note given by name ("C4", "F#3", "Bb2"; C4 = 60) or by number ("60")."""
    text = str(name).strip()
    if text.lstrip("-").isdigit():
        number = int(text)
    else:
        match = _NOTE_NAME.match(text)
        if not match:
            raise ValueError(
                f"invalid note {name!r}: use a name such as C4, F#3 or Bb2, or a number 0-127"
            )
        letter, accidental, octave = match.groups()
        shift = {"#": 1, "♯": 1, "b": -1, "♭": -1}.get(accidental, 0)
        number = 12 * (int(octave) + 1) + _PITCH_CLASS[letter.upper()] + shift
    if not 0 <= number <= 127:
        raise ValueError(f"invalid note {name!r}: MIDI note numbers run from 0 to 127")
    return number


class MidiReadError(ValueError):
    """A MIDI file that cannot be read; ``reason`` says why, the message also names the file."""

    def __init__(self, name: str, reason: str):
        super().__init__(f"{name}: {reason}")
        self.reason = reason


def parse_midi(
    data: bytes,
    name: str = "MIDI data",
    *,
    max_notes: int | None = None,
    max_beats: float | None = None,
) -> pretty_midi.PrettyMIDI:
    """Parse a MIDI file's bytes, or raise MidiReadError naming ``name`` and the problem.

    ``max_notes`` and ``max_beats`` are checked on the raw events (non-drum note-ons, the last
    event's time), before pretty_midi builds its tick tables, whose size grows with the length."""
    try:
        parsed = mido.MidiFile(file=io.BytesIO(data), charset="latin1")
    except Exception as error:  # mido raises many kinds on bad bytes
        raise MidiReadError(name, f"not a readable MIDI file: {_why(error)}") from None
    problem = _check_events(parsed, max_notes, max_beats)
    if problem:
        raise MidiReadError(name, problem)
    try:
        return pretty_midi.PrettyMIDI(mido_object=parsed)
    except Exception as error:
        raise MidiReadError(name, f"not a readable MIDI file: {_why(error)}") from None


def _why(error: Exception) -> str:
    if isinstance(error, EOFError):
        return "the file ends early (truncated)"
    text = str(error).splitlines()[0][:200] if str(error).strip() else type(error).__name__
    return f"a malformed event ({text})" if isinstance(error, IndexError) else text


def _check_events(parsed: mido.MidiFile, max_notes: int | None, max_beats: float | None) -> str:
    """What makes a parsed file unreadable or too long, or "" when it looks fine."""
    if parsed.ticks_per_beat < 0:
        return "not a readable MIDI file: SMPTE (frames per second) timing is not supported"
    if parsed.ticks_per_beat == 0:
        return "not a readable MIDI file: the header says 0 ticks per beat"
    if not parsed.tracks:
        return "not a readable MIDI file: it has no tracks"
    notes, last_tick = 0, 0
    for track in parsed.tracks:
        tick = 0
        for message in track:
            tick += message.time
            if message.type == "note_on" and message.velocity > 0 and message.channel != 9:
                notes += 1
            elif message.type == "set_tempo" and message.tempo == 0:
                return "not a readable MIDI file: a tempo of 0 microseconds per beat"
        last_tick = max(last_tick, tick)
    if max_notes is not None and notes > max_notes:
        return f"too long: {notes:,} notes > cap {max_notes:,}"
    beats = last_tick / parsed.ticks_per_beat
    if max_beats is not None and beats > max_beats:
        return f"too long: {beats:,.0f} beats > cap {max_beats:,.0f}"
    return ""


@dataclass
class FileNotes:
    """A file's notes by the reading rule, as columns (no Python object per note until
    ``notes`` is asked for), and what a corpus report says about the file."""

    start: np.ndarray  # beats, float64
    duration: np.ndarray  # beats, float64, > 0
    pitch: np.ndarray  # int64 MIDI pitches
    velocity: np.ndarray  # int64, 1-127
    seconds: float  # length at the file's own tempo map
    warnings: list[str]  # what the parser warned about (folded into reports, never printed)
    meter: str = ""  # the first time signature, "6/8" ("" when the file has none)

    def __len__(self) -> int:
        return len(self.start)

    @property
    def end(self) -> np.ndarray:
        """Ends in beats, computed as ``Note.end`` computes them."""
        return self.start + self.duration

    @property
    def notes(self) -> list[Note]:
        """The notes, sorted by onset, then duration, pitch and velocity."""
        columns = (self.start, self.duration, self.pitch, self.velocity)
        notes = [
            Note(float(b), float(d), int(p), int(v)) for b, d, p, v in zip(*columns, strict=True)
        ]
        notes.sort()
        return notes

    @classmethod
    def from_notes(
        cls, notes: list[Note], seconds: float, warnings: list[str], meter: str = ""
    ) -> FileNotes:
        start = np.array([n.start for n in notes], dtype=np.float64)
        duration = np.array([n.duration for n in notes], dtype=np.float64)
        pitch = np.array([n.pitch for n in notes], dtype=np.int64)
        velocity = np.array([n.velocity for n in notes], dtype=np.int64)
        return cls(start, duration, pitch, velocity, seconds, warnings, meter)


def notes_from_bytes(
    data: bytes,
    name: str = "MIDI data",
    *,
    max_notes: int | None = None,
    max_beats: float | None = None,
) -> FileNotes:
    """A MIDI file's non-drum notes in beats, read with symusic; MidiReadError when the file
    cannot be read or is over a cap (``parse_midi`` words the reason)."""
    try:
        score = symusic.Score.from_midi(data)
    except Exception:
        return _notes_by_pretty_midi(data, name, max_notes, max_beats)
    ticks = score.ticks_per_quarter
    if ticks <= 0:
        return _notes_by_pretty_midi(data, name, max_notes, max_beats)
    columns = [t.notes.numpy() for t in score.tracks if not t.is_drum and len(t.notes)]
    if not columns:
        return FileNotes.from_notes([], 0.0, [])
    if len(columns) == 1:  # most files: no copies to join
        start, length = columns[0]["time"], columns[0]["duration"]
        pitch, velocity = columns[0]["pitch"], columns[0]["velocity"]
    else:
        start = np.concatenate([c["time"] for c in columns])
        length = np.concatenate([c["duration"] for c in columns])
        pitch = np.concatenate([c["pitch"] for c in columns])
        velocity = np.concatenate([c["velocity"] for c in columns])
    if max_notes is not None and len(start) > max_notes:
        raise MidiReadError(name, f"too long: {len(start):,} notes > cap {max_notes:,}")
    end_tick = max(int((start.astype(np.int64) + length).max()), int(score.end()))
    if max_beats is not None and end_tick / ticks > max_beats:
        raise MidiReadError(name, f"too long: {end_tick / ticks:,.0f} beats > cap {max_beats:,.0f}")
    keep = length > 0  # notes that last no tick are dropped, as pretty_midi's reading does
    if not keep.all():
        start, length, pitch, velocity = start[keep], length[keep], pitch[keep], velocity[keep]
    begin = start / ticks  # beats, computed as pretty_midi computes them
    duration = (start + length.astype(np.int64)) / ticks - begin
    return FileNotes(
        begin,
        duration,
        pitch.astype(np.int64),
        np.maximum(velocity.astype(np.int64), 1),
        _seconds(score, end_tick),
        [],
        _first_meter(score.time_signatures),
    )


def _first_meter(signatures) -> str:
    """ "6/8" for the first of a file's time signatures (symusic's or pretty_midi's), or ""."""
    for signature in sorted(signatures, key=lambda s: s.time):
        return f"{signature.numerator}/{signature.denominator}"
    return ""


def _seconds(score: symusic.Score, end_tick: int) -> float:
    """The time of ``end_tick`` through the file's tempo map (120 bpm before any tempo)."""
    seconds, tick, per_tick = 0.0, 0, 0.5 / score.ticks_per_quarter
    for tempo in score.tempos:
        if tempo.time >= end_tick:
            break
        seconds += (tempo.time - tick) * per_tick
        tick, per_tick = tempo.time, tempo.mspq / 1e6 / score.ticks_per_quarter
    seconds += (end_tick - tick) * per_tick
    return seconds if math.isfinite(seconds) else 0.0


def _notes_by_pretty_midi(
    data: bytes, name: str, max_notes: int | None, max_beats: float | None
) -> FileNotes:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        midi = parse_midi(data, name, max_notes=max_notes, max_beats=max_beats)
        notes = notes_from_pretty_midi(midi)
        seconds = float(midi.get_end_time())
    messages = [str(w.message).splitlines()[0][:120] for w in caught]
    return FileNotes.from_notes(notes, seconds, messages, _first_meter(midi.time_signature_changes))


def read_midi(path: str | Path) -> pretty_midi.PrettyMIDI:
    """Read a MIDI file; MidiReadError (a ValueError) naming the file when it cannot be read."""
    try:
        data = read_bounded(path, MAX_MIDI_BYTES, "MIDI file")  # bounded: /dev/zero is refused
    except OSError as error:
        raise MidiReadError(str(path), f"cannot read file: {error.strerror or error}") from None
    except ValueError:
        raise MidiReadError(str(path), f"too large: more than {MAX_MIDI_BYTES:,} bytes") from None
    return parse_midi(data, str(path))


def notes_from_pretty_midi(midi: pretty_midi.PrettyMIDI) -> list[Note]:
    """All non-drum notes of a parsed file, in beats, sorted by onset then pitch."""
    to_beats = beats_converter(midi)
    notes = []
    for instrument in midi.instruments:
        if not instrument.is_drum:
            notes += instrument_notes(instrument, to_beats)
    notes.sort()
    return notes


def beats_converter(midi: pretty_midi.PrettyMIDI):
    """seconds → beats through the file's tempo map (to the nearest tick), each distinct time
    converted once: chords and legato lines share most of their times."""
    cache: dict[float, float] = {}

    def to_beats(seconds: float) -> float:
        beats = cache.get(seconds)
        if beats is None:
            beats = cache[seconds] = midi.time_to_tick(seconds) / midi.resolution
        return beats

    return to_beats


def instrument_notes(instrument: pretty_midi.Instrument, to_beats) -> list[Note]:
    """An instrument's notes in beats, in file order; notes that last no tick are dropped."""
    notes = []
    for n in instrument.notes:
        start, end = to_beats(n.start), to_beats(n.end)
        if end > start:
            notes.append(Note(start, end - start, int(n.pitch), max(1, int(n.velocity))))
    return notes


def read_notes(path: str | Path, max_bytes: int = MAX_MIDI_BYTES) -> list[Note]:
    """Read a MIDI file's notes by the reading rule above, as the corpus reader does;
    MidiReadError naming the file if it cannot be read. At most ``max_bytes`` are read, so a
    huge file or a device such as /dev/zero is refused, never read whole."""
    return read_file_notes(path, max_bytes).notes


def read_file_notes(path: str | Path, max_bytes: int = MAX_MIDI_BYTES) -> FileNotes:
    """``read_notes``, with what else the reader learns of the file (its first meter)."""
    try:
        data = read_bounded(path, max_bytes, "MIDI file")
    except OSError as error:
        raise MidiReadError(str(path), f"cannot read file: {error.strerror or error}") from None
    except ValueError:
        raise MidiReadError(str(path), f"too large: more than {max_bytes:,} bytes") from None
    return notes_from_bytes(data, str(path))


def to_pretty_midi(
    notes: list[Note], *, bpm: float = 120.0, program: int = 0, name: str = ""
) -> pretty_midi.PrettyMIDI:
    """Build a one-track PrettyMIDI at a fixed tempo from notes in beats."""
    seconds_per_beat = 60.0 / bpm
    midi = pretty_midi.PrettyMIDI(initial_tempo=bpm)
    instrument = pretty_midi.Instrument(program=program, name=name)
    for pitch_notes in _by_pitch(notes).values():
        for i, note in enumerate(pitch_notes):
            end = note.end
            # A MIDI file cannot hold two overlapping notes of one pitch on one channel:
            # the earlier note ends where the later one starts.
            if i + 1 < len(pitch_notes):
                end = min(end, pitch_notes[i + 1].start)
            if end <= note.start:
                continue
            instrument.notes.append(
                pretty_midi.Note(
                    velocity=int(note.velocity),
                    pitch=int(note.pitch),
                    start=note.start * seconds_per_beat,
                    end=end * seconds_per_beat,
                )
            )
    instrument.notes.sort(key=lambda n: (n.start, n.pitch))
    midi.instruments.append(instrument)
    return midi


def write_midi(
    notes: list[Note], path: str | Path, *, bpm: float = 120.0, program: int = 0, name: str = ""
) -> Path:
    """Write notes as a standard MIDI file (type 1, one track) at a fixed tempo and GM program."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    to_pretty_midi(notes, bpm=bpm, program=program, name=name).write(str(path))
    return path


def _by_pitch(notes: list[Note]) -> dict[int, list[Note]]:
    groups: dict[int, list[Note]] = {}
    for note in sorted(notes):
        groups.setdefault(note.pitch, []).append(note)
    return groups
