"""Notes → a music21 score → MusicXML, and MusicXML → notes (for checking a round trip).

``notate`` does the whole job: it quantises the notes, lays out staves, voices and bars
(``layout.py``), picks the meter and key (given, from the MIDI file, or by key analysis,
``generator.midi.keys``), spells every pitch in that key, decides which accidentals print and
builds the music21 score. music21 then groups beams by the meter, brackets triplets and writes
MusicXML.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import pretty_midi

from generator.atomic import write_bytes_atomic
from generator.midi.keys import Key, analyze_key, shown_accidentals
from generator.midi.notes import Note, read_midi
from generator.midi.parts import parts_from_pretty_midi
from generator.notation.layout import (
    Event,
    Meter,
    Staff,
    bar_count,
    make_staves,
    quantize,
    voice_bars,
)

# What ``notate`` reads: notes (one stream), {part name: notes}, a parsed MIDI file or its path.
Music = Sequence[Note] | Mapping[str, Sequence[Note]] | pretty_midi.PrettyMIDI | str | Path

DEFAULT_STEPS_PER_BEAT = 12  # sixteenths and eighth-note triplets: any MIDI file
DEFAULT_METER = "4/4"
MUSICXML_SUFFIXES = (".musicxml", ".xml", ".mxl")


@dataclass
class Notation:
    """A built score and what was decided on the way; ``musicxml()`` is made once."""

    score: object  # the music21.stream.Score
    meter: Meter  # given, from the MIDI file, or 4/4
    key: Key  # given, from the MIDI file, or found by key analysis
    staves: list[Staff]  # what each staff shows (layout.make_staves)
    bars: int  # bars in the score
    _xml: str | None = field(default=None, repr=False)  # MusicXML, once made

    def musicxml(self) -> str:
        """The score as a MusicXML document (text)."""
        if self._xml is None:
            from music21.musicxml.m21ToXml import GeneralObjectExporter

            exporter = GeneralObjectExporter(self.score)
            exporter.makeNotation = False  # notate() made the notation already
            xml = exporter.parse().decode("utf-8")
            # music21 names itself the composer of a score that names none
            self._xml = xml.replace('<creator type="composer">Music21</creator>', "", 1)
        return self._xml


def notate(
    music: Music | Notation,
    *,
    steps_per_beat: int = DEFAULT_STEPS_PER_BEAT,
    meter: str | None = None,
    key: str | None = None,
    layout: str = "auto",
    bpm: float | None = None,
    title: str = "",
) -> Notation:
    """Build the score of ``music`` (notes in beats, {part: notes}, a PrettyMIDI or a MIDI path).

    steps_per_beat: the model's grid (12 for the music model, 2 for the piano roll and the
    harmonizer); meter: "6/8" etc. (default: the MIDI file's, else 4/4); key: "D major",
    "Eb minor", or "auto" for key analysis (default: the MIDI file's key signature,
    else key analysis); layout: "auto",
    "staff", "grand" or "parts" (see layout.make_staves); bpm: a metronome mark (default:
    the MIDI file's first tempo, else none); title: printed above the music when given."""
    if isinstance(music, Notation):
        return music
    where = f"{music}: " if isinstance(music, (str, Path)) else ""
    parts, found = _parts_and_marks(music)
    meter_ = Meter.parse(meter or found.get("meter") or DEFAULT_METER)
    grid = {name: quantize(notes, steps_per_beat) for name, notes in parts.items()}
    if not any(grid.values()):
        raise ValueError(f"{where}no notes to notate")
    if key and key != "auto":
        key_ = Key.parse(key)
    elif "key" in found and key != "auto":
        key_ = found["key"]
    else:
        key_ = analyze_key((n.pitch, n.duration) for notes in grid.values() for n in notes)
    staves, group = make_staves(grid, layout)
    bars = bar_count(staves, meter_)
    tempo = bpm if bpm is not None else found.get("bpm")
    score = _music21_score(staves, group, meter_, key_, bars, tempo, title)
    return Notation(score, meter_, key_, staves, bars)


def built(music: Music | Notation, options: dict) -> Notation:
    """``music`` as a Notation: built with ``options``, or given built (and then no options,
    which would otherwise be silently ignored)."""
    if isinstance(music, Notation):
        if options:
            raise TypeError(f"the score is built already: give {', '.join(options)} to notate()")
        return music
    return notate(music, **options)


def _parts_and_marks(music: Music) -> tuple[dict[str, list[Note]], dict]:
    """{name: notes} and what a MIDI file says about meter, key and tempo."""
    if isinstance(music, (str, Path)):
        music = read_midi(music)
    if isinstance(music, pretty_midi.PrettyMIDI):
        return midi_parts(music), midi_marks(music)
    if isinstance(music, Mapping):
        return {str(name): list(notes) for name, notes in music.items()}, {}
    return {"": list(music)}, {}


def midi_parts(midi: pretty_midi.PrettyMIDI) -> dict[str, list[Note]]:
    """A MIDI file's non-drum tracks with notes by name, made unique ("Track N" for a track
    with none); a file of one track gives one nameless part."""
    tracks = parts_from_pretty_midi(midi)
    if len(tracks) == 1:
        return {"": tracks[0].notes}
    parts: dict[str, list[Note]] = {}
    for index, track in enumerate(tracks):
        name = track.name or f"Track {index + 1}"
        unique, k = name, 1
        while unique in parts:
            k += 1
            unique = f"{name} {k}"
        parts[unique] = track.notes
    return parts


def midi_marks(midi: pretty_midi.PrettyMIDI) -> dict:
    """The time signature, key signature and tempo a MIDI file starts with, where it has them
    ("meter" as text, "key" as a Key, "bpm"); of several at the same first time, the last."""
    marks: dict = {}
    if midi.time_signature_changes:
        first = _opening(midi.time_signature_changes)
        try:
            marks["meter"] = str(Meter.parse(f"{first.numerator}/{first.denominator}"))
        except ValueError:
            pass  # an odd time signature: the default meter instead
    if midi.key_signature_changes:
        marks["key"] = Key.from_midi_key_number(_opening(midi.key_signature_changes).key_number)
    _, tempi = midi.get_tempo_changes()
    if len(tempi):
        marks["bpm"] = float(tempi[0])
    return marks


def file_marks(path: str | Path) -> dict:
    """``notate`` options from a MIDI file's opening marks: {"meter", "key", "bpm"} (None
    where the file has none), e.g. to notate a harmonization in its melody's meter and key:
    ``notate(parts, steps_per_beat=12, **file_marks(melody_path))``."""
    marks = midi_marks(read_midi(path))
    key = marks.get("key")
    return {"meter": marks.get("meter"), "key": str(key) if key else None, "bpm": marks.get("bpm")}


def _opening(changes):
    """The change in force from the first change's time on: the last one made at that time."""
    first = min(change.time for change in changes)
    return [change for change in changes if change.time == first][-1]


# -- music21 --------------------------------------------------------------------------------------
def _music21_score(
    staves: list[Staff],
    group: str,
    meter: Meter,
    key: Key,
    bars: int,
    bpm: float | None,
    title: str,
):
    from music21 import layout, metadata, stream

    score = stream.Score()
    score.metadata = metadata.Metadata()
    score.metadata.title = title
    parts = []
    for index, staff in enumerate(staves):
        part = stream.PartStaff() if group == "brace" else stream.Part()
        part.partName = staff.name
        part.partAbbreviation = staff.name[:1] + "." if staff.name else ""
        for measure in _measures(staff, meter, key, bars, bpm if index == 0 else None):
            part.append(measure)
        parts.append(part)
        score.insert(0, part)
    if group:
        score.insert(0, layout.StaffGroup(parts, symbol=group, barTogether=True))
    return score


def _key_signature(key: Key):
    from music21 import key as m21key

    return m21key.Key(key.tonic_name, key.mode)


def _measures(staff: Staff, meter: Meter, key: Key, bars: int, bpm: float | None):
    from music21 import bar, clef, stream
    from music21 import meter as m21meter
    from music21.stream.makeNotation import makeTupletBrackets

    per_voice = [voice_bars(voice, meter, bars) for voice in staff.voices] or [
        voice_bars([], meter, bars)
    ]
    measures = []
    time_signature = m21meter.TimeSignature(str(meter))
    for index in range(bars):
        measure = stream.Measure(number=index + 1)
        if index == 0:
            measure.insert(0, _clef(staff.clef, clef))
            measure.insert(0, _key_signature(key))
            measure.insert(0, time_signature)
            if bpm:
                measure.insert(0, _metronome(bpm, meter))
        events = [voice[index] for voice in per_voice]
        sounding = [k for k, ev in enumerate(events) if any(not e.is_rest for e in ev)]
        shown = [0] + [k for k in sounding if k > 0]  # an all-rest second voice is left out
        accidentals = _accidentals(events, shown, key)
        for k in shown:
            hide = k == 0 and 0 not in sounding and len(shown) > 1
            stem = ("up" if k == 0 else "down" if k == 1 else None) if len(shown) > 1 else None
            elements = [
                _element(e, key, stem, hide, accidentals[k, i]) for i, e in enumerate(events[k])
            ]
            container = stream.Voice(id=str(k + 1)) if len(shown) > 1 else measure
            for event, element in zip(events[k], elements, strict=True):
                container.insert(event.offset, element)
            makeTupletBrackets(container, inPlace=True)
            _beam(container, time_signature)
            if container is not measure:
                measure.insert(0, container)
        measures.append(measure)
    measures[-1].rightBarline = bar.Barline("final")
    return measures


def _beam(container, time_signature) -> None:
    """Beams for one voice of one bar, grouped by the meter (music21's ``makeBeams`` looks
    the time signature up for every bar, which grows with the length of the piece)."""
    from music21 import beam

    notes = list(container.notesAndRests)
    if len(notes) < 2:
        return
    for element, beams in zip(notes, time_signature.getBeams(notes), strict=True):
        element.beams = beams if beams is not None else beam.Beams()


def _accidentals(events: list[list[Event]], voices: list[int], key: Key) -> dict:
    """(voice, event index) → the shown flag of each of its pitches, for one bar of a staff:
    the voices' notes taken together in time order (keys.shown_accidentals)."""
    order = sorted(
        (event.offset, k, i, pitch)
        for k in voices
        for i, event in enumerate(events[k])
        for pitch in event.pitches
    )
    flags = shown_accidentals(((pitch, events[k][i].tie_in) for _, k, i, pitch in order), key)
    shown: dict = {(k, i): {} for k in voices for i in range(len(events[k]))}
    for (_, k, i, pitch), flag in zip(order, flags, strict=True):
        shown[k, i][pitch] = flag
    return shown


def _metronome(bpm: float, meter: Meter):
    """The tempo per beat of the meter (a dotted quarter in 6/8), rounded to a whole number."""
    from music21 import duration, tempo

    beat = duration.Duration(meter.beat)
    return tempo.MetronomeMark(number=round(bpm / float(meter.beat)), referent=beat)


def _clef(name: str, clef):
    return {"treble": clef.TrebleClef, "bass": clef.BassClef, "treble8vb": clef.Treble8vbClef}[
        name
    ]()


def _element(event: Event, key: Key, stem: str | None, hide_rest: bool, shown: dict):
    from music21 import chord, note, tie

    length = Fraction(event.duration)
    if event.is_rest:
        element = note.Rest(quarterLength=length)
        if event.full_bar:
            element.fullMeasure = True
        if hide_rest:
            element.style.hideObjectOnPrint = True
        return element
    pitches = [_pitch(p, key, shown[p]) for p in event.pitches]
    if len(pitches) == 1:
        element = note.Note(pitches[0], quarterLength=length)
    else:
        element = chord.Chord(pitches, quarterLength=length)
    if event.tie_in or event.tie_out:
        kind = "continue" if event.tie_in and event.tie_out else "stop" if event.tie_in else "start"
        element.tie = tie.Tie(kind)
    if stem:
        element.stemDirection = stem
    return element


def _pitch(midi: int, key: Key, shown: bool):
    """A music21 pitch spelled in the key, its accidental printed or not as ``shown`` says."""
    from music21 import pitch

    letter, alter, octave = key.spell(midi)
    accidental = None
    if alter or shown:
        accidental = pitch.Accidental(alter)
        accidental.displayStatus = shown
    return pitch.Pitch(letter, octave=octave, accidental=accidental)


# -- files ---------------------------------------------------------------------------------------
def write_musicxml(music: Music | Notation, path: str | Path, **options) -> Path:
    """Write the score of ``music`` (options as for ``notate``) as MusicXML; a ``.mxl`` path
    gets the compressed form. The file appears whole or not at all."""
    path = Path(path)
    if path.suffix.lower() not in MUSICXML_SUFFIXES:
        raise ValueError(f"{path}: a MusicXML file ends in {', '.join(MUSICXML_SUFFIXES)}")
    notation = built(music, options)
    data = notation.musicxml().encode("utf-8")
    if path.suffix.lower() == ".mxl":
        data = _compressed(data, path.stem)
    write_bytes_atomic(path, data)
    return path


def _compressed(xml: bytes, stem: str) -> bytes:
    """A compressed MusicXML (.mxl) archive holding one score."""
    import zipfile

    container = (
        '<?xml version="1.0" encoding="UTF-8"?>\n<container><rootfiles>'
        f'<rootfile full-path="{stem}.musicxml" '
        'media-type="application/vnd.recordare.musicxml+xml"/>'
        "</rootfiles></container>\n"
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(zipfile.ZipInfo("mimetype"), "application/vnd.recordare.musicxml")
        archive.writestr("META-INF/container.xml", container)
        archive.writestr(f"{stem}.musicxml", xml)
    return buffer.getvalue()


def read_musicxml(source: str | Path) -> dict[str, list[Note]]:
    """The notes of a MusicXML file (or document text) by staff, tied notes joined, times in
    quarter notes; velocity is not in a score, so every note gets 64. Staff names are the
    part names, made unique ("Piano", "Piano 2") or "Staff N" when a part has none."""
    from music21 import converter

    text = isinstance(source, str) and source.lstrip().startswith("<")
    score = converter.parse(source, format="musicxml") if text else converter.parse(str(source))
    result: dict[str, list[Note]] = {}
    for index, part in enumerate(score.parts):
        name = part.partName or f"Staff {index + 1}"
        unique, k = name, 1
        while unique in result:
            k += 1
            unique = f"{name} {k}"
        result[unique] = _join_ties(_written_notes(part))
    return result


def _written_notes(part) -> list[tuple[Fraction, Fraction, int, str, str | None]]:
    """(onset, length, MIDI pitch, voice, tie type) of every notehead of a music21 part."""
    from music21 import stream

    found = []
    for element in part.recurse().notes:
        site = element.activeSite
        voice = str(site.id) if isinstance(site, stream.Voice) else ""
        start = Fraction(element.getOffsetInHierarchy(part))
        length = Fraction(element.quarterLength)
        for single in getattr(element, "notes", None) or [element]:
            tied = single.tie or element.tie
            found.append((start, length, single.pitch.midi, voice, tied.type if tied else None))
    return sorted(found, key=lambda f: (f[0], f[2]))


def _join_ties(found) -> list[Note]:
    """Noteheads joined into notes along their ties: a tie continues a held note of the same
    pitch that ends where the notehead starts, in the same voice if there is one (a bar
    with one voice has no voice number when read back)."""
    notes: list[Note] = []
    held: dict[int, list[list]] = {}  # pitch → [start, end, voice] of notes tied onwards
    for start, length, midi, voice, tie_type in found:
        chain = None
        if tie_type in ("stop", "continue"):
            ending = [c for c in held.get(midi, []) if c[1] == start]
            chain = next((c for c in ending if c[2] == voice), ending[0] if ending else None)
        if chain is not None:
            chain[1], chain[2] = start + length, voice
            if tie_type == "stop":
                held[midi].remove(chain)
                notes.append(Note(float(chain[0]), float(chain[1] - chain[0]), midi, 64))
        elif tie_type in ("start", "continue"):
            held.setdefault(midi, []).append([start, start + length, voice])
        else:
            notes.append(Note(float(start), float(length), midi, 64))
    for midi, chains in held.items():  # a tie that never stops ends where its last note does
        notes.extend(Note(float(a), float(b - a), midi, 64) for a, b, _ in chains)
    return sorted(notes)
