"""Compose: sample pieces from a music model and write MIDI, audio and a piano roll for each.

Two families of music model: token models (MIDI events, with styles, a seed note or the null
input) and piano-roll models (frames of keys, which start from an opening chord or a primer and
have no styles). Both end in the same MIDI, audio and picture."""

from __future__ import annotations

import base64
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pretty_midi

from generator import MusicRequest, SamplingOptions, api, write_pieces
from generator.app.models import NO_STYLE, is_frames, resolve_model
from generator.app.settings import (
    AppError,
    AppSettings,
    Notice,
    UserErrors,
    parse_seed,
    safe_name,
    user_error,
)
from generator.data.midi_corpus import MIDI_SUFFIXES, ReadLimits, read_midi_file
from generator.loader import load_cached
from generator.midi import Note
from generator.midi.notes import note_number, read_notes
from generator.render import RenderError, draw_pianoroll, write_audio
from generator.sampling.music import AUTO_KEY, SCALES, marks_text, music_limits
from generator.sampling.pianoroll import (
    DEFAULT_FIRST_FRAME,
    PianoRollRequest,
    write_rolls,
)
from generator.tokenizers import MidiEventTokenizer
from generator.validation import check_range

# Caps the app adds to generator.validation's: a page must answer in seconds.
MAX_UI_VARIATIONS = 4
MAX_UI_BARS = 64
PRIMER_LIMITS = ReadLimits(max_file_bytes=1_000_000, max_notes=5_000, max_beats=1_024.0)
KEEP_OUTPUTS_SECONDS = 6 * 3600  # generated files older than this are deleted

START_SEED_NOTE = "Seed note"
START_NULL = "Null input"
START_PRIMER = "Primer MIDI"
START_CHORD = "Opening chord"  # piano-roll models: the first frame is a given chord
START_CHOICES = (START_SEED_NOTE, START_NULL, START_PRIMER)  # token models
PIANOROLL_START_CHOICES = (START_CHORD, START_PRIMER)
OPENING_CHORD = " ".join(DEFAULT_FIRST_FRAME)
BEATS_PER_BAR = 4
SEED_NOTE_CHOICES = tuple(pretty_midi.note_number_to_name(p) for p in range(48, 85))  # C3-C6
INSTRUMENTS = tuple((f"{p:3d} {pretty_midi.program_to_instrument_name(p)}", p) for p in range(128))


# "Stay inside": the user's constraints on a token model's notes (generator.sampling.music).
KEY_NONE = "No key"  # notes from any scale
KEY_AUTO = "Auto (the first notes choose)"  # one major scale or mode of it, picked as it goes
KEY_CHOICES = (KEY_NONE, KEY_AUTO, "C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
SCALE_CHOICES = tuple(SCALES)
METER_MODEL = "Model picks"  # the model draws a meter (from its style)
MAX_UI_VOICES = 8


@dataclass
class ComposeLimits:
    """What the "Stay inside" controls offer for a model: its meters and its note range."""

    meters: list[str]  # empty: the model learned no meter (the control is hidden)
    range_text: str  # e.g. "C3–A5", or "" when the checkpoint does not record it


def compose_limits(settings: AppSettings, model_key: str) -> ComposeLimits:
    """The meters and the training range of a token music model (none for piano-roll
    models or when no model is picked)."""
    if not model_key:
        return ComposeLimits([], "")
    path = resolve_model(settings, model_key)
    with UserErrors("Cannot load the model"):
        loaded = load_cached(path)
    if is_frames(loaded):
        return ComposeLimits([], "")
    limits = music_limits(loaded)
    low_high = limits.pitch_range
    text = ""
    if low_high:
        text = "–".join(pretty_midi.note_number_to_name(int(p)) for p in low_high)
    return ComposeLimits(list(limits.meters), text)


def _constraints(
    key: str | None,
    scale: str | None,
    lowest: str | None,
    highest: str | None,
    voices: int | float | None,
    meter: str | None,
    pitch_temperature: float | None,
) -> dict:
    """The page's "Stay inside" values as MusicRequest fields; an AppError for bad ones (the
    request checks the notes, the scale and the meter's spelling itself)."""
    key = (key or "").strip()
    if key in ("", KEY_NONE, "none"):
        key, scale = None, None
    elif key in (KEY_AUTO, AUTO_KEY, "Auto"):
        key, scale = AUTO_KEY, None
    else:
        scale = (scale or "").strip() or "major"
        if scale not in SCALES:
            raise AppError(f"Unknown scale {scale!r}; choose one of {', '.join(SCALES)}.")
    with UserErrors("Invalid setting"):
        voices = check_range(
            "voices", voices if voices not in (None, "") else 0, 0, MAX_UI_VOICES, integer=True
        )
        pitch_temperature = check_range(
            "pitch temperature", 1.0 if pitch_temperature is None else pitch_temperature, 0.05, 10
        )
    meter = (meter or "").strip()
    notes = {}
    for what, value in (("lowest", lowest), ("highest", highest)):
        value = (value or "").strip() if isinstance(value, str) or value is None else value
        if value in ("", None):
            notes[what] = None
            continue
        with UserErrors(f"{what.capitalize()} note"):
            note_number(value)  # a clear message for a bad name, e.g. H4 or C#10
        notes[what] = value
    return {
        "key": key,
        "scale": scale,
        **notes,
        "voices": voices or None,
        "meter": None if meter in ("", METER_MODEL) else meter,
        "pitch_temperature": float(pitch_temperature),
    }


SCORE_WIDTH = 900  # SVG page width in pixels; the page scales it to the column


@dataclass
class Variation:
    """One generated piece as the page shows it."""

    title: str
    audio: Path
    picture: Path
    midi: Path
    score: str = ""  # the sheet music as one <svg> (Verovio), or a line saying why there is none
    musicxml: Path | None = None  # the score as MusicXML, for MuseScore, Finale or Dorico


@dataclass
class ComposeResult:
    variations: list[Variation]
    status: str


def check_primer(path: str | Path | None) -> list[Note] | None:
    """Read an uploaded primer; an AppError saying what is wrong with a bad one."""
    if path is None:
        return None
    path = Path(path)
    if path.suffix.lower() not in MIDI_SUFFIXES:
        raise AppError(f"The primer must be a MIDI file (.mid or .midi), not {path.suffix!r}.")
    try:
        size = path.stat().st_size
        if size > PRIMER_LIMITS.max_file_bytes:
            raise AppError(
                f"The primer is too large: {size:,} bytes (at most "
                f"{PRIMER_LIMITS.max_file_bytes:,})."
            )
        data = path.read_bytes()
    except OSError as error:
        raise user_error(f"The primer could not be read: {error.strerror or error}") from None
    entry = read_midi_file(data, MidiEventTokenizer(), PRIMER_LIMITS)
    if "skip" in entry:
        raise AppError(f"The primer cannot be used: {entry['skip']}.")
    return read_notes(path)


def primer_uploaded(path: str | None) -> tuple[str | None, str | None, Notice | None]:
    """On upload: (file to keep, start choice to switch to, a notice for the page). A bad file
    is dropped with a warning and the start choice is left as it is (None)."""
    if path is None:
        return None, None, None
    try:
        notes = check_primer(path)
    except AppError as error:
        removed = f"{error.message} It was removed; upload another file."
        return None, None, Notice("warning", removed)
    read = f"Primer read: {len(notes)} notes. The model continues it."
    return path, START_PRIMER, Notice("info", read)


def _clean_old_outputs(settings: AppSettings) -> None:
    cutoff = time.time() - KEEP_OUTPUTS_SECONDS
    if not settings.outputs_dir.is_dir():
        return
    for folder in settings.outputs_dir.iterdir():
        try:
            if folder.is_dir() and folder.stat().st_mtime < cutoff:
                shutil.rmtree(folder, ignore_errors=True)
        except OSError:
            pass


def compose(
    settings: AppSettings,
    model_key: str,
    style: str | None = None,
    start: str = START_SEED_NOTE,
    seed_note: str | None = "D4",
    primer: str | None = None,
    temperature: float = 0.9,
    top_k: int = 0,
    top_p: float = 0.95,
    bars: float = 8,
    bpm: float = 120,
    program: int = 0,
    variations: int = 2,
    seed: str | int | None = None,
    key: str | None = KEY_NONE,
    scale: str | None = "major",
    lowest: str | None = "",
    highest: str | None = "",
    voices: int | None = 0,
    meter: str | None = METER_MODEL,
    pitch_temperature: float | None = 1.0,
) -> ComposeResult:
    """Generate ``variations`` pieces; write MIDI, audio and a piano roll for each.

    The "Stay inside" settings (token models only; piano-roll models ignore them): ``key``
    (KEY_NONE, KEY_AUTO or a tonic such as D or Bb) with ``scale`` (one of SCALES), the
    ``lowest`` and ``highest`` note by name (empty: the model's range), ``voices`` (0: as
    the style has; 1: one line), ``meter`` (METER_MODEL or one the model learned) and
    ``pitch_temperature`` (among notes only)."""
    started = time.perf_counter()
    with UserErrors("Invalid setting"):
        variations = check_range(
            "number of variations", variations, 1, MAX_UI_VARIATIONS, integer=True
        )
        bars = check_range("bars", bars, 0, MAX_UI_BARS, low_open=True)
        top_k = check_range("top-k", top_k if top_k is not None else 0, 0, 100_000, integer=True)
    seed = parse_seed(seed)
    path = resolve_model(settings, model_key)
    with UserErrors("Cannot load the model"):
        loaded = load_cached(path)
    if is_frames(loaded):  # a piano roll: the "Stay inside" settings do not apply
        return _compose_pianoroll(
            settings, loaded, start, primer, temperature, bars, bpm, program, variations, seed
        )
    if start not in START_CHOICES:
        raise AppError(f"Start must be one of {', '.join(START_CHOICES)}.")
    styles = getattr(loaded.tokenizer, "styles", [])
    if style in (None, "", NO_STYLE) or start == START_NULL:
        style = None
    elif style not in styles:
        raise AppError(
            f"This model knows no style {style!r}; it knows {', '.join(styles) or 'none'}."
        )
    primer_path = _primer_path(start, primer)
    if start == START_SEED_NOTE and seed_note:
        with UserErrors("Seed note"):
            note_number(seed_note)  # checked; kept as typed (Bb2 stays Bb2)
            seed_note = seed_note.strip()
    else:
        seed_note = None
    constraints = _constraints(key, scale, lowest, highest, voices, meter, pitch_temperature)

    with UserErrors("Invalid setting"):
        request = MusicRequest(
            num=variations,
            style=style,
            seed_note=seed_note,
            primer=primer_path,
            bars=bars,
            bpm=bpm,
            program=program,
            options=SamplingOptions(temperature, top_k, top_p, seed=seed),
            **constraints,
        )
        result = api.generate(loaded, request)

    out_dir = new_output_dir(settings)
    how = safe_name(
        style or ("primer" if primer_path else "null" if start == START_NULL else "any")
    )
    note = safe_name(_file_spelling(seed_note or ""), "x") + "-" if seed_note else ""
    stem = f"{how}-{note}seed{seed}"
    midi_paths = write_pieces(
        result.pieces,
        out_dir,
        stem=stem,
        bpm=result.bpm,
        program=program,
        meters=result.meters,
        keys=result.keys,
        beats_per_bar=BEATS_PER_BAR,
    )
    primer_count = len(check_primer(primer_path)) if primer_path else 0
    shown = _variations(
        settings,
        midi_paths,
        result.pieces,
        result.bpm,
        primer_count,
        steps_per_beat=loaded.tokenizer.steps_per_beat,
        meters=result.meters,
        keys=result.keys,
    )
    start_text = (
        "the primer (each picture tells the primer and the new music apart)"
        if primer_path
        else "the null input"
        if start == START_NULL
        else " and ".join(
            x for x in (style and f"style {style}", seed_note and f"note {seed_note}") if x
        )
        or "no conditioning"
    )
    inside = _constraints_text(request)
    if result.primer_marks:
        inside = " · ".join(
            x for x in (inside, f"kept the primer's {marks_text(result.primer_marks)}") if x
        )
    status = (
        f"{len(shown)} variation{'s' if len(shown) > 1 else ''} from {start_text} · "
        + (f"{inside} · " if inside else "")
        + f"seed {seed} (enter it to get the same pieces again) · sampled in "
        f"{result.sampling_seconds:.1f} s, ready in {time.perf_counter() - started:.1f} s"
    )
    return ComposeResult(shown, status)


def _constraints_text(request: MusicRequest) -> str:
    """The constraints a request kept to, in words ("D major · notes C4–C6 · one line")."""
    parts = []
    if request.key == AUTO_KEY:
        parts.append("one key chosen by the first notes")
    elif request.key:
        parts.append(f"{request.key} {request.scale}")
    if request.lowest is not None or request.highest is not None:
        low, high = (
            pretty_midi.note_number_to_name(p) if p is not None else "…"
            for p in (request.lowest, request.highest)
        )
        parts.append(f"notes {low}–{high}")
    if request.voices:
        parts.append("one line" if request.voices == 1 else f"at most {request.voices} voices")
    if request.meter:
        parts.append(request.meter)
    if request.pitch_temperature != 1.0:
        parts.append(f"pitch temperature {request.pitch_temperature:g}")
    return " · ".join(parts)


def new_output_dir(settings: AppSettings) -> Path:
    """A fresh folder for one request's files, named by 128 random bits so that no one can
    guess another request's files (old folders are cleaned up first)."""
    _clean_old_outputs(settings)
    return settings.outputs_dir / uuid.uuid4().hex


def _file_spelling(note: str) -> str:
    """A note name for a file name: F#3 → Fsharp3, B♭2 → Bb2 (``#`` is no file-name letter)."""
    return note.replace("#", "sharp").replace("♯", "sharp").replace("♭", "b")


def _variations(
    settings: AppSettings,
    midi_paths: list[Path],
    pieces: list[list[Note]],
    bpm: float,
    primer_count: int = 0,
    *,
    steps_per_beat: int = 12,
    meters: list[str | None] | None = None,
    keys: list[str] | None = None,
) -> list[Variation]:
    """Audio, a piano-roll picture and the sheet music (SVG and MusicXML, quantised to the
    model's grid ``steps_per_beat``, in the piece's meter and key, as the MIDI file has them)
    beside each written MIDI file. A piece that continues a primer (its first ``primer_count``
    notes) is drawn in two parts, the primer and the new music, and its title says when the
    new music starts."""
    shown = []
    for index, (midi_path, notes) in enumerate(zip(midi_paths, pieces, strict=True)):
        audio = midi_path.with_suffix(f".{settings.audio_format}")
        try:
            write_audio(midi_path, audio)
        except RenderError as error:
            raise user_error(f"Could not render audio: {error}") from None
        parts = notes
        joined = ""
        if primer_count:
            primer, new = notes[:primer_count], notes[primer_count:]
            parts = {"primer": primer, "new music": new}
            start = min((n.start for n in new), default=max((n.end for n in primer), default=0))
            joined = f" · new music from {start * 60.0 / bpm:.1f} s (beat {start:g})"
        draw_pianoroll(parts, midi_path.with_suffix(".png"), beats_per_bar=BEATS_PER_BAR)
        seconds = (max((n.end for n in notes), default=0.0)) * 60.0 / bpm
        title = f"Variation {index + 1} · {len(notes)} notes · {seconds:.0f} s{joined}"
        meter = (meters or [None] * len(midi_paths))[index] or f"{BEATS_PER_BAR}/4"
        key = (keys or [None] * len(midi_paths))[index]  # None: key analysis, as the file has
        score, musicxml = sheet_music(
            notes, midi_path, steps_per_beat=steps_per_beat, meter=meter, key=key, bpm=bpm
        )
        picture = midi_path.with_suffix(".png")
        shown.append(Variation(title, audio, picture, midi_path, score, musicxml))
    return shown


def score_html(svg: str) -> str:
    """The page's score: the SVG as an image (the page's HTML sanitizer keeps an <img>, not
    inline SVG), scaled to the column, on white paper."""
    data = base64.b64encode(svg.encode("utf-8")).decode("ascii")
    return (
        '<div class="score-page"><img alt="Sheet music" '
        f'src="data:image/svg+xml;base64,{data}"></div>'
    )


def sheet_music(music, midi_path: Path, what: str = "piece", **options) -> tuple[str, Path | None]:
    """(the score as HTML, its MusicXML file beside ``midi_path``) for ``music`` (notes, or
    parts by name; ``options`` as for ``generator.notation.notate``). Music that cannot be
    notated gets a line saying so and no file: the audio, picture and MIDI file still stand."""
    from generator.notation import notate, score_svg, write_musicxml

    if not music:
        return "<p>No notes to engrave.</p>", None
    try:
        notation = notate(music, **options)
        svg = score_svg(notation, width=SCORE_WIDTH)
        musicxml = write_musicxml(notation, midi_path.with_suffix(".musicxml"))
    except Exception as error:  # notation is an extra: it never costs the music itself
        return f"<p>No score for this {what} ({type(error).__name__}).</p>", None
    return score_html(svg), musicxml


def _compose_pianoroll(
    settings: AppSettings,
    loaded,
    start: str,
    primer: str | None,
    temperature: float,
    bars: float,
    bpm: float,
    program: int,
    variations: int,
    seed: int,
) -> ComposeResult:
    """A piano-roll model: start from the opening chord or the primer, then sample frames.

    Style, seed note, the null input, top-k and top-p do not apply (every key is its own
    yes/no draw) and are ignored; any start but the primer means the opening chord."""
    started = time.perf_counter()
    primer_path = _primer_path(start, primer)
    if start not in (*START_CHOICES, START_CHORD):
        raise AppError(f"Start must be one of {', '.join(PIANOROLL_START_CHOICES)}.")
    tokenizer = loaded.tokenizer
    frames = max(1, round(bars * BEATS_PER_BAR * tokenizer.frames_per_beat))
    with UserErrors("Invalid setting"):
        request = PianoRollRequest(
            num=variations,
            frames=frames,
            primer=primer_path,
            bpm=bpm,
            program=program,
            options=SamplingOptions(temperature, seed=seed),
        )
        result = api.generate(loaded, request)
    out_dir = new_output_dir(settings)
    stem = f"pianoroll-{'primer' if primer_path else 'chord'}-seed{seed}"
    midi_paths = write_rolls(
        result.rolls, tokenizer, out_dir, stem=stem, bpm=request.bpm, program=program
    )
    pieces = [tokenizer.to_notes(roll) for roll in result.rolls]
    primer_count = 0
    if primer_path:  # the rolls start with the primer's frames: its notes come first
        primer_beats = (len(result.rolls[0]) - request.frames) / tokenizer.frames_per_beat
        primer_count = sum(n.start < primer_beats for n in pieces[0])
    shown = _variations(
        settings,
        midi_paths,
        pieces,
        request.bpm,
        primer_count,
        steps_per_beat=tokenizer.frames_per_beat,
    )
    start_text = "the primer" if primer_path else f"the opening chord {OPENING_CHORD}"
    per_beat = tokenizer.frames_per_beat
    status = (
        f"{len(shown)} variation{'s' if len(shown) > 1 else ''} from {start_text} · "
        f"{frames} new frames ({per_beat} per beat) · seed {seed} (enter it to get the same "
        f"pieces again) · sampled in {result.sampling_seconds:.1f} s, ready in "
        f"{time.perf_counter() - started:.1f} s"
    )
    return ComposeResult(shown, status)


def _primer_path(start: str, primer: str | None) -> Path | None:
    """The uploaded primer when the piece starts from one (checked), else None."""
    if start != START_PRIMER:
        return None
    if primer is None:
        raise AppError("Start is 'Primer MIDI' but no primer is uploaded; upload a MIDI file.")
    check_primer(primer)
    return Path(primer)
