"""Build a folder of MIDI files, one style per subfolder, from the corpus bundled with music21.

Nothing is downloaded: the scores are read from the ``corpus`` folder inside the installed
``music21`` package. Rules (also in datasets/README.md):

- Bach chorales (``bach/*.mxl``): a score whose part list holds exactly one each of Soprano,
  Alto, Tenor and Bass. Instrumental parts (obbligato horns, continuo...) are dropped; a score
  whose voices all rest for more than a 4/4 bar (an instrumental interlude) is skipped. Each
  voice is its own MIDI track, named after the part. Style ``chorale``.
- ABC folk tunes (O'Neill's 1850, Ryan's Mammoth Collection, the Nottingham sample, and the
  Essen folksongs on request): each tune (``X:``) of a multi-tune file is one MIDI file. The
  style is the tune's ``R:`` (rhythm) header, normalised by `normalise_rhythm`; tunes without
  one, styles with fewer than ``MIN_TUNES_PER_STYLE`` tunes, and all Essen songs are ``folk``.
  O'Neill's overlapping files hold second transcriptions of the same tune number: one is kept.
- Tempo: the score's first metronome mark; otherwise ``BEATS_PER_MINUTE[style]`` beats of the
  time signature's beat (a dotted quarter in 6/8, a half in 2/2), so a jig in 6/8 and a reel
  in 2/4 or 2/2 each get a playing speed, not a quarter-note speed. One tempo per file.
- Velocity: ``VELOCITY`` for every note, unless the score has dynamics (then the latest one).
- Repeats are not expanded; first and second endings are played once each, as written.
  Grace notes and chord symbols are dropped; tied notes of the same pitch are merged.
"""

from __future__ import annotations

import csv
import json
import multiprocessing
import re
import time
import zipfile
from collections import Counter
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from xml.etree import ElementTree

import music21
import pretty_midi
from music21 import chord, common, converter, dynamics, harmony, key, meter, stream, tempo
from music21.corpus import chorales
from tqdm import tqdm

from generator.atomic import atomic_write, write_text_atomic

BUILD_VERSION = 1  # bump when the output for the same music21 version changes
STAMP_NAME = ".build.json"  # written last: its presence means the build finished
MANIFEST_NAME = "manifest.csv"

DEFAULT_SOURCES = ("bach", "oneills1850", "ryansMammoth", "nottingham-dataset")
ALL_SOURCES = (*DEFAULT_SOURCES, "essenFolksong")
STYLE_SOURCES = ("oneills1850", "ryansMammoth", "nottingham-dataset")  # whose R: headers count
GLOBALLY_NUMBERED = {"oneills1850"}  # X: is the tune's number in the book, across files

CHORALE_STYLE = "chorale"
FALLBACK_STYLE = "folk"
MIN_TUNES_PER_STYLE = 20  # rarer R: styles are folded into FALLBACK_STYLE
VOICES = ("Soprano", "Alto", "Tenor", "Bass")
MAX_VOICES_REST = 4.0  # quarter notes all voices may rest before we call it an interlude

VELOCITY = 80  # every note's velocity when the score has no dynamics
PROGRAM = 0  # General MIDI program of every track (acoustic grand piano)
RESOLUTION = 480  # ticks per quarter note: divisible by 3 and 16, so triplets land on ticks
BEATS_PER_MINUTE = {"chorale": 80, "reel": 110, "hornpipe": 90, "jig": 120, "slip-jig": 120}
DEFAULT_BEATS_PER_MINUTE = 100  # other styles
TEMPO_RANGE = (20.0, 400.0)  # quarter notes per minute; marks outside it are ignored

_RHYTHM_ALIASES = {
    "slipjig": "slip-jig",
    "slip jig": "slip-jig",
    "hop jig": "slip-jig",
    "double jig": "jig",
    "single jig": "jig",
    "jigs": "jig",
    "reels": "reel",
    "hornpipes": "hornpipe",
    "highland fling": "fling",
    "flings": "fling",
}


@dataclass(frozen=True)
class WorkItem:
    """One score to convert: a MusicXML file, or the text of one ABC tune."""

    source: str  # music21 corpus folder, e.g. "oneills1850"
    item_id: str  # unique within the source, safe in a file name
    style: str  # output subfolder
    title: str
    path: str = ""  # MusicXML file (chorales)
    abc: str = ""  # the tune's ABC text, file header included

    @property
    def name(self) -> str:
        return f"{self.source}-{self.item_id}"

    @property
    def relative_path(self) -> str:
        return f"{self.style}/{self.name}.mid"


@dataclass(frozen=True)
class SkippedItem:
    """A score that was not written, and why."""

    name: str
    reason: str  # short and shared by similar cases, so reasons can be counted
    detail: str = ""  # the error message, if any


@dataclass
class BuildReport:
    """What a build wrote per style, what it skipped and why, and how long it took."""

    files_per_style: dict[str, int]
    skipped: list[SkippedItem]
    seconds: float  # wall time of the build that wrote the files
    workers: int
    cached: bool = False  # True when this call found a finished build and did nothing

    @property
    def total_files(self) -> int:
        return sum(self.files_per_style.values())

    @property
    def skipped_reasons(self) -> Counter:
        return Counter(item.reason for item in self.skipped)

    def summary(self) -> str:
        """A few lines for the terminal."""
        how = "cached build, made" if self.cached else "built"
        lines = [
            f"music corpus: {self.total_files} MIDI files in {len(self.files_per_style)} styles "
            f"({how} in {self.seconds:.1f} s with {self.workers} workers)"
        ]
        for style, count in sorted(self.files_per_style.items(), key=lambda kv: (-kv[1], kv[0])):
            lines.append(f"  {style:<12} {count:>5}")
        if self.skipped:
            lines.append(f"skipped {len(self.skipped)}:")
        for reason, count in self.skipped_reasons.most_common():
            examples = [item.name for item in self.skipped if item.reason == reason][:3]
            more = ", ..." if count > len(examples) else ""
            lines.append(f"  {count:>5} {reason} ({', '.join(examples)}{more})")
        return "\n".join(lines)

    @classmethod
    def from_dict(cls, data: dict) -> BuildReport:
        skipped = [SkippedItem(**item) for item in data["skipped"]]
        return cls(**{**data, "skipped": skipped})


def build_music_corpus(
    out_dir: Path,
    *,
    limit_per_source: int | None = None,
    workers: int = 2,
    progress: bool = True,
    force: bool = False,
    sources: tuple[str, ...] = DEFAULT_SOURCES,
) -> BuildReport:
    """Write music21's bundled scores as MIDI files to ``out_dir/<style>/<source>-<id>.mid``.

    A finished build is cached: the same settings return its report at once unless ``force``.
    ``out_dir`` belongs to the build: a rebuild deletes the ``.mid`` files in its subfolders.
    ``limit_per_source`` keeps the first N scores of each source (for tests); ``workers`` <= 1
    converts in this process.
    """
    unknown = set(sources) - set(ALL_SOURCES)
    if unknown:
        raise ValueError(f"unknown sources {sorted(unknown)}: choose from {list(ALL_SOURCES)}")
    if limit_per_source is not None and limit_per_source < 1:
        raise ValueError(f"limit_per_source must be at least 1, got {limit_per_source}")
    out_dir = Path(out_dir)
    sources = tuple(source for source in ALL_SOURCES if source in sources)  # canonical order
    settings = {
        "version": BUILD_VERSION,
        "music21": music21.__version__,
        "limit_per_source": limit_per_source,
        "sources": list(sources),
    }
    stamp_path = out_dir / STAMP_NAME
    if not force:
        cached = _read_stamp(stamp_path, settings)
        if cached is not None:
            return cached

    started = time.perf_counter()
    items, skipped = _work_items(sources, limit_per_source)
    _clear_previous_build(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)

    written: list[WorkItem] = []
    convert = partial(_convert, out_dir=str(out_dir))
    with tqdm(total=len(items), desc="music21 corpus", unit="score", disable=not progress) as bar:
        for item, skip in _map(convert, items, workers):
            if skip is None:
                written.append(item)
            else:
                skipped.append(skip)
            bar.update()

    _write_manifest(out_dir, written)
    report = BuildReport(
        files_per_style=dict(sorted(Counter(item.style for item in written).items())),
        skipped=sorted(skipped, key=lambda s: (s.reason, s.name)),
        seconds=round(time.perf_counter() - started, 1),
        workers=max(1, workers),
    )
    _write_json_atomic(stamp_path, {**settings, "report": asdict(report)})
    return report


def write_chorale(stem: str, out: str | Path) -> Path:
    """One Bach chorale of music21's corpus (``stem`` like "bwv245.22") as the four-track MIDI
    file the corpus build writes for it (datasets/music/chorale/bach-<stem>.mid)."""
    folder = _corpus_dir() / "bach"
    path = next(
        (
            folder / f"{stem}{ext}"
            for ext in (".mxl", ".xml")
            if (folder / f"{stem}{ext}").is_file()
        ),
        None,
    )
    if path is None:
        raise FileNotFoundError(f"music21's corpus has no chorale {stem!r} (looked in {folder})")
    item = WorkItem("bach", _safe_name(stem), CHORALE_STYLE, stem, path=str(path))
    _write_midi_atomic(_score_to_midi(_parse(item), CHORALE_STYLE), Path(out))
    return Path(out)


def normalise_rhythm(raw: str | None) -> str | None:
    """An ABC ``R:`` value as a folder-safe style name ("Slip Jig" -> "slip-jig"); None if empty."""
    text = re.sub(r"[^a-z0-9 -]+", " ", (raw or "").lower())
    text = re.sub(r"[\s_-]+", " ", text).strip()
    if not text:
        return None
    return _RHYTHM_ALIASES.get(text, text).replace(" ", "-")


# ---------------------------------------------------------------------------------------------
# Finding the work: cheap scans of the corpus files, no music21 parsing.


@dataclass(frozen=True)
class _AbcTune:
    source: str
    file_stem: str
    number: int  # the X: field
    title: str
    rhythm: str | None  # normalised R:
    text: str


def _corpus_dir() -> Path:
    path = Path(common.getCorpusFilePath())
    if not (path / "bach").is_dir():
        raise FileNotFoundError(f"music21's corpus is not installed (looked in {path})")
    return path


def _work_items(
    sources: tuple[str, ...], limit: int | None
) -> tuple[list[WorkItem], list[SkippedItem]]:
    """Every score to convert, in a stable order, and the scores rejected without parsing."""
    corpus = _corpus_dir()
    needed = (set(STYLE_SOURCES) | set(sources)) - {"bach"}
    tunes = {source: _identify(source, _read_abc_tunes(corpus / source)) for source in needed}
    style_counts = Counter(t.rhythm for s in STYLE_SOURCES for _, t in tunes[s] if t.rhythm)
    items: list[WorkItem] = []
    skipped: list[SkippedItem] = []
    for source in sources:
        if source == "bach":
            found, rejected = _chorale_items(corpus / "bach")
            items += found[:limit]
            skipped += rejected
        else:
            items += _abc_items(source, tunes[source], style_counts)[:limit]
    return items, skipped


def _chorale_items(folder: Path) -> tuple[list[WorkItem], list[SkippedItem]]:
    titles = {f"bwv{bwv}": entry["title"] for bwv, entry in _chorale_titles().items()}
    items, rejected = [], []
    for path in sorted([*folder.glob("*.mxl"), *folder.glob("*.xml")]):
        parts = _musicxml_part_names(path)
        stem = _safe_name(path.stem)
        if not all(parts.count(voice) == 1 for voice in VOICES):
            reason = "not SATB: parts are not one each of S, A, T, B"
            rejected.append(SkippedItem(f"bach-{stem}", reason, str(parts)))
            continue
        title = titles.get(path.stem, f"BWV {path.stem.removeprefix('bwv')}")
        items.append(WorkItem("bach", stem, CHORALE_STYLE, title, path=str(path)))
    return items, rejected


def _chorale_titles() -> dict:
    return chorales.ChoraleListRKBWV().byBWV


def _musicxml_part_names(path: Path) -> list[str]:
    """Names in a MusicXML file's part list, read without music21 and without the notes."""
    if path.suffix != ".mxl":
        with open(path, "rb") as file:
            return _part_list_names(file)
    with zipfile.ZipFile(path) as archive:
        container = ElementTree.fromstring(archive.read("META-INF/container.xml"))
        with archive.open(container.find(".//{*}rootfile").get("full-path")) as file:
            return _part_list_names(file)


def _part_list_names(file) -> list[str]:
    names = []
    for _, element in ElementTree.iterparse(file, events=("end",)):
        if element.tag == "score-part":
            names.append((element.findtext("part-name") or "").strip())
        elif element.tag == "part-list":
            break  # the notes come after it
    return names


def _read_abc_tunes(folder: Path) -> list[_AbcTune]:
    """Split every ABC file of a folder into tunes, each with the file's header prepended."""
    tunes = []
    for path in sorted(folder.glob("*.abc")):
        raw = path.read_bytes()
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = raw.decode("latin-1")
        header, *blocks = re.split(r"^(?=X:)", text.replace("\r\n", "\n"), flags=re.MULTILINE)
        for block in blocks:
            number = re.match(r"X:\s*(\d+)", block)
            if number is None:
                continue
            tunes.append(
                _AbcTune(
                    source=folder.name,
                    file_stem=path.stem,
                    number=int(number.group(1)),
                    title=_abc_field(block, "T") or f"{path.stem} {number.group(1)}",
                    rhythm=normalise_rhythm(_abc_field(block, "R")),
                    text=header + block,
                )
            )
    return tunes


def _abc_field(block: str, letter: str) -> str | None:
    match = re.search(rf"^{letter}:[ \t]*(.*?)\s*$", block, flags=re.MULTILINE)
    return match.group(1) if match and match.group(1) else None


def _identify(source: str, tunes: list[_AbcTune]) -> list[tuple[str, _AbcTune]]:
    """Each tune with its id in the source: the book number, the file name, or both."""
    if source in GLOBALLY_NUMBERED:
        return _deduplicate_book(tunes)
    per_file = Counter(t.file_stem for t in tunes)
    return [
        (t.file_stem if per_file[t.file_stem] == 1 else f"{t.file_stem}-{t.number:04d}", t)
        for t in tunes
    ]


def _abc_items(
    source: str, keyed: list[tuple[str, _AbcTune]], style_counts: Counter
) -> list[WorkItem]:
    items = []
    for item_id, tune in keyed:
        style = FALLBACK_STYLE
        if source in STYLE_SOURCES and style_counts[tune.rhythm] >= MIN_TUNES_PER_STYLE:
            style = tune.rhythm
        items.append(WorkItem(source, _safe_name(item_id), style, tune.title, abc=tune.text))
    names = Counter(item.item_id for item in items)
    assert max(names.values(), default=1) == 1, f"duplicate ids in {source}: {names}"
    return items


def _deduplicate_book(tunes: list[_AbcTune]) -> list[tuple[str, _AbcTune]]:
    """One tune per book number; second transcriptions of a number are dropped.

    O'Neill's files overlap (0732-0758_bs / _mh, 1556-1624 / 1577-1624 ...). The number is
    the one in the B: field ("O'Neill's 1646"), which fixes a few mistyped X: fields, else X:.
    Of two versions of a number the one with an R: header wins. Two tunes whose titles share
    no word are different tunes: both are kept, the second as "<number>b".
    """
    by_number: dict[int, list[_AbcTune]] = {}
    for tune in tunes:
        book = re.search(r"^B:.*?(\d+)\W*$", tune.text, flags=re.MULTILINE)
        number = int(book.group(1)) if book else tune.number
        by_number.setdefault(number, []).append(tune)
    keyed = []
    for number, versions in sorted(by_number.items()):
        kept: list[_AbcTune] = []
        for tune in versions:
            same = next((k for k in kept if _title_words(k) & _title_words(tune)), None)
            if same is None:
                kept.append(tune)
            elif same.rhythm is None and tune.rhythm is not None:
                kept[kept.index(same)] = tune
        for index, tune in enumerate(kept):
            keyed.append((f"{number:04d}{'b' * index}", tune))
    return keyed


def _title_words(tune: _AbcTune) -> set[str]:
    return set(re.findall(r"[a-z0-9]+", tune.title.lower())) - {"the", "a", "an", "of", "to"}


def _safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "untitled"


# ---------------------------------------------------------------------------------------------
# Converting one score (runs in a worker process).


class _Rejected(Exception):
    """A score that parses but breaks a data rule (no notes, not a chorale...)."""


def _convert(item: WorkItem, out_dir: str) -> tuple[WorkItem, SkippedItem | None]:
    """Parse, convert and write one score; any failure becomes a SkippedItem, never a crash."""
    stage = "parse"
    try:
        score = _parse(item)
        stage = "convert"
        midi = _score_to_midi(score, item.style)
        stage = "write"
        _write_midi_atomic(midi, Path(out_dir) / item.relative_path)
    except _Rejected as rejected:
        return item, SkippedItem(item.name, str(rejected))
    except Exception as error:  # noqa: BLE001 - one bad score must not stop the build
        detail = f"{type(error).__name__}: {error}"[:300]
        return item, SkippedItem(item.name, f"{stage} failed ({type(error).__name__})", detail)
    return item, None


def _parse(item: WorkItem) -> stream.Score:
    if item.abc:
        score = converter.parseData(item.abc, format="abc")
    else:
        score = converter.parse(item.path, forceSource=True)  # no pickle cache files
    if not isinstance(score, stream.Score):
        raise _Rejected(f"not a single score ({type(score).__name__})")
    return score


def _score_to_midi(score: stream.Score, style: str) -> pretty_midi.PrettyMIDI:
    """One track per part (the chorale voices only, for chorales), at one tempo."""
    parts = _voice_parts(score) if style == CHORALE_STYLE else list(score.parts)
    events_per_part = [_note_events(part.flatten()) for part in parts]
    end = float(score.highestTime)
    if style == CHORALE_STYLE and _longest_common_rest(events_per_part, end) > MAX_VOICES_REST:
        raise _Rejected("not SATB: all voices rest over a bar (instrumental interlude)")

    quarter_bpm = _quarter_bpm(score, style)
    seconds_per_quarter = 60.0 / quarter_bpm
    # A pickup bar is preceded by a rest, so that bar lines fall on whole bars from time 0.
    first_bar = parts[0].getElementsByClass(stream.Measure).first()
    lead = float(first_bar.paddingLeft) if first_bar is not None else 0.0
    midi = pretty_midi.PrettyMIDI(resolution=RESOLUTION, initial_tempo=quarter_bpm)
    for index, (part, events) in enumerate(zip(parts, events_per_part, strict=True)):
        name = part.partName or ("Melody" if len(parts) == 1 else f"Voice {index + 1}")
        instrument = pretty_midi.Instrument(program=PROGRAM, name=name)
        for start, length, pitch, velocity in events:
            start_s = (lead + start) * seconds_per_quarter
            end_s = (lead + start + length) * seconds_per_quarter
            instrument.notes.append(pretty_midi.Note(velocity, pitch, start_s, end_s))
        midi.instruments.append(instrument)
    if not any(instrument.notes for instrument in midi.instruments):
        raise _Rejected("no notes")
    midi.time_signature_changes = _time_signatures(parts[0], lead, seconds_per_quarter)
    midi.key_signature_changes = _key_signatures(parts[0], lead, seconds_per_quarter)
    return midi


def _voice_parts(score: stream.Score) -> list[stream.Part]:
    """The Soprano, Alto, Tenor and Bass parts of a chorale, in that order."""
    by_name = {part.partName: part for part in score.parts}
    missing = [voice for voice in VOICES if voice not in by_name]
    if missing:
        raise _Rejected(f"not SATB: no {', '.join(missing)} part")
    return [by_name[voice] for voice in VOICES]


def _note_events(flat: stream.Stream) -> list[tuple[float, float, int, int]]:
    """(start, length) in quarter notes, MIDI pitch and velocity of every sounding note.

    Tied notes are merged here rather than by music21's ``stripTies``, which also merges
    "ties" between different pitches; O'Neill's transcriptions write slurs that way (f-g).
    """
    events: list[list] = []  # [start, length, pitch, velocity]
    tied_from: dict[int, int] = {}  # pitch -> index of the event a tie from it extends
    velocity = VELOCITY
    for element in flat.getElementsByClass(["Dynamic", "Note", "Chord"]):
        if isinstance(element, dynamics.Dynamic):
            if element.volumeScalar is not None:
                velocity = max(1, min(127, round(element.volumeScalar * 127)))
            continue
        if isinstance(element, harmony.Harmony) or element.duration.isGrace:
            continue  # chord symbols are annotations; grace notes have no length
        start, length = float(element.offset), float(element.quarterLength)
        if length <= 0:
            continue
        members = element.notes if isinstance(element, chord.Chord) else (element,)
        for member in members:
            pitch = member.pitch.midi
            if not 0 <= pitch <= 127:
                continue
            index = tied_from.pop(pitch, None)
            if index is not None and abs(sum(events[index][:2]) - start) < 1e-6:
                events[index][1] += length
            else:
                events.append([start, length, pitch, velocity])
                index = len(events) - 1
            tie = member.tie or element.tie
            if tie is not None and tie.type in ("start", "continue"):
                tied_from[pitch] = index
    return [tuple(event) for event in events]


def _longest_common_rest(events_per_part: list[list[tuple]], end: float) -> float:
    """Longest stretch, in quarter notes, during which no part sounds (start and end included)."""
    spans = sorted((e[0], e[0] + e[1]) for events in events_per_part for e in events)
    longest, sounding_until = 0.0, 0.0
    for start, stop in [*spans, (end, end)]:
        longest = max(longest, start - sounding_until)
        sounding_until = max(sounding_until, stop)
    return longest


def _quarter_bpm(score: stream.Score, style: str) -> float:
    """The first usable metronome mark, else the style's default beat rate (see module doc)."""
    for mark in score.recurse().getElementsByClass(tempo.MetronomeMark):
        bpm = mark.getQuarterBPM()
        if bpm is not None and TEMPO_RANGE[0] <= bpm <= TEMPO_RANGE[1]:
            return round(bpm, 2)
    beats = BEATS_PER_MINUTE.get(style, DEFAULT_BEATS_PER_MINUTE)
    signature = score.recurse().getElementsByClass(meter.TimeSignature).first()
    beat = float(signature.beatDuration.quarterLength) if signature is not None else 1.0
    return beats * beat


def _signatures(part: stream.Part, kind: type) -> list[tuple[float, music21.base.Music21Object]]:
    """(offset in quarter notes, object) of each time or key signature, walking the measures.

    Not ``part.flatten()``: the ABC parser reuses one TimeSignature object for several
    measures, and a flat stream can hold an object at one offset only.
    """
    measures = part.getElementsByClass(stream.Measure)
    if not measures:
        return [(float(s.offset), s) for s in part.flatten().getElementsByClass(kind)]
    return [
        (float(measure.offset + s.offset), s)
        for measure in measures
        for s in measure.getElementsByClass(kind)
    ]


def _signature_time(offset: float, lead: float, seconds_per_quarter: float) -> float:
    """Seconds of a signature: the one at the start stays at 0, before the pickup's rest."""
    return 0.0 if offset == 0 else (lead + offset) * seconds_per_quarter


def _time_signatures(
    part: stream.Part, lead: float, seconds_per_quarter: float
) -> list[pretty_midi.TimeSignature]:
    """Meter changes, without the short one-bar "meters" the ABC parser gives to pickups.

    A section that starts with a pickup, ends on an incomplete bar or has a missing bar line
    gets a TimeSignature of that bar's length (1/16, 1/4, 25/6...). A change that lasts at
    most one of its bars is dropped when its bar is shorter than the meter before it, or when
    the meter before it comes back right after. MIDI cannot hold denominators like 6.
    """
    changes: list[tuple[float, tuple[int, int], float]] = []  # offset, fraction, bar length
    for offset, signature in _signatures(part, meter.TimeSignature):
        fraction = (signature.numerator, signature.denominator)
        if signature.denominator & (signature.denominator - 1):
            continue  # not a power of two
        if not changes or changes[-1][1] != fraction:
            changes.append((offset, fraction, float(signature.barDuration.quarterLength)))
    if not changes:
        return []  # free meter (Essen's "M: none")
    ends = [offset for offset, _, _ in changes[1:]] + [float(part.highestTime)]
    following = [fraction for _, fraction, _ in changes[1:]] + [None]
    kept: list[tuple[float, tuple[int, int], float]] = []
    for (offset, fraction, bar), end, after in zip(changes, ends, following, strict=True):
        one_bar = end - offset <= bar
        if kept and one_bar and (bar < kept[-1][2] or after == kept[-1][1]):
            continue
        if not kept or kept[-1][1] != fraction:
            kept.append((offset, fraction, bar))
    return [
        pretty_midi.TimeSignature(*fraction, _signature_time(offset, lead, seconds_per_quarter))
        for offset, fraction, _ in kept
    ]


def _key_signatures(
    part: stream.Part, lead: float, seconds_per_quarter: float
) -> list[pretty_midi.KeySignature]:
    """Major/minor keys as such; modes (A dorian) as the major key of their signature."""
    changes = []
    for offset, signature in _signatures(part, key.KeySignature):
        mode = getattr(signature, "mode", None)
        tonality = signature if mode in ("major", "minor") else signature.asKey("major")
        name = f"{tonality.tonic.name.replace('-', 'b')} {tonality.mode}"
        try:
            number = pretty_midi.key_name_to_key_number(name)
        except ValueError:
            continue  # double flats and the like: leave the key out
        if not changes or changes[-1].key_number != number:
            start = _signature_time(offset, lead, seconds_per_quarter)
            changes.append(pretty_midi.KeySignature(number, start))
    return changes


# ---------------------------------------------------------------------------------------------
# Running the work and writing the results.


def _map(convert, items: list[WorkItem], workers: int):
    if workers <= 1:
        yield from map(convert, items)
        return
    with multiprocessing.get_context().Pool(workers) as pool:
        yield from pool.imap_unordered(convert, items, chunksize=4)


def _write_midi_atomic(midi: pretty_midi.PrettyMIDI, path: Path) -> None:
    with atomic_write(path, "wb") as handle:
        midi.write(handle)


def _write_manifest(out_dir: Path, written: list[WorkItem]) -> None:
    with atomic_write(out_dir / MANIFEST_NAME, "w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(["path", "style", "source", "title"])
        for item in sorted(written, key=lambda i: i.relative_path):
            writer.writerow([item.relative_path, item.style, item.source, item.title])


def _write_json_atomic(path: Path, data: dict) -> None:
    write_text_atomic(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def _read_stamp(path: Path, settings: dict) -> BuildReport | None:
    """The finished build's report if it was made with these settings, else None."""
    try:
        stamp = json.loads(path.read_text(encoding="utf-8"))
        if {name: stamp.get(name) for name in settings} != settings:
            return None
        if not (path.parent / MANIFEST_NAME).is_file():
            return None
        report = BuildReport.from_dict(stamp["report"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    report.cached = True
    return report


def _clear_previous_build(out_dir: Path) -> None:
    """Remove the stamp first (so nothing looks finished), then the old outputs."""
    (out_dir / STAMP_NAME).unlink(missing_ok=True)
    (out_dir / MANIFEST_NAME).unlink(missing_ok=True)
    if not out_dir.is_dir():
        return
    for folder in out_dir.iterdir():
        if not folder.is_dir() or folder.name.startswith("."):
            continue
        for path in [*folder.glob("*.mid"), *folder.glob(".*.mid.*.tmp")]:  # and temporaries
            path.unlink()
        if not any(folder.iterdir()):
            folder.rmdir()
