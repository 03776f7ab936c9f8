"""Harmonize: a melody in, the melody with new voices out (MIDI, audio, piano roll, attention).

The melody is an uploaded MIDI file (checked, then read by the app; its name is never used as a
path) or a bundled example. Examples are written into the app's folder on first use: a few short
tunes made here in code and, when the chorale corpus is present, the Soprano line of a few
chorales the shipped harmonizer never saw in training (held out by its melody split).
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pretty_midi

from generator import api
from generator.app.compose import new_output_dir, sheet_music
from generator.app.models import HARMONIZE, describe_model, list_models, resolve_model
from generator.app.settings import (
    PROJECT_DIR,
    AppError,
    AppSettings,
    UserErrors,
    parse_seed,
    safe_name,
    user_error,
)
from generator.atomic import write_bytes_atomic
from generator.data.midi_corpus import MIDI_SUFFIXES
from generator.families.encoder_decoder import HarmonizeRequest
from generator.loader import load_cached
from generator.midi import Note
from generator.midi.parts import Part, write_parts
from generator.notation import file_marks
from generator.render import RenderError, draw_pianoroll, write_audio
from generator.render.attention import attention_by_step, attention_labels, draw_attention
from generator.sampling import SamplingOptions
from generator.sampling.harmonize import (
    harmony_tokenizer,
    melody_beat,
    read_melody,
    read_timing,
    write_harmony,
)
from generator.validation import check_range

DEFAULT_BPM = 80  # the page's tempo slider starts here: at it, the melody keeps its own tempo
DEFAULT_HARMONIZER = "harmonizer"  # generator/checkpoints/harmonizer.pt, picked by default
MAX_MELODY_BYTES = 1_000_000
MAX_MELODY_NOTES = 2_000
MAX_MELODY_BEATS = 512.0  # 32 windows of 16 beats: a few seconds on a small CPU
CHORALE_DIR = PROJECT_DIR / "datasets" / "music" / "chorale"  # when built; else from music21
# Held out by the shipped harmonizer's split by melody (generator.data.harmony.melody_key).
HELD_OUT_CHORALES = ("bach-bwv245.22.mid", "bach-bwv144.3.mid", "bach-bwv113.8.mid")

# Tunes written for this app: (pitch, beats) pairs, pitch None for a rest; 4/4.
_TUNES: dict[str, list[tuple[int | None, float]]] = {
    "Rising scale (C major)": [
        (60, 1), (62, 1), (64, 1), (65, 1), (67, 1), (69, 1), (71, 1), (72, 1),
        (72, 1), (71, 1), (69, 1), (67, 1), (65, 1), (64, 1), (62, 1), (60, 1),
    ],
    "Arpeggio song (G major)": [
        (67, 1), (71, 1), (74, 2), (72, 1), (69, 1), (66, 2),
        (67, 1), (71, 1), (74, 1), (76, 1), (74, 2), (71, 2),
        (72, 1), (71, 1), (69, 1), (67, 1), (69, 2), (66, 2),
        (67, 1), (69, 1), (71, 1), (69, 1), (67, 4),
    ],
    "Evening hymn (F major)": [
        (65, 2), (67, 1), (69, 1), (70, 2), (69, 2),
        (67, 1), (65, 1), (67, 1), (69, 1), (67, 4),
        (69, 2), (70, 1), (72, 1), (74, 2), (72, 2),
        (70, 1), (69, 1), (67, 2), (65, 4),
    ],
}  # fmt: skip


@dataclass
class HarmonizeResult:
    """What the page shows after one harmonization."""

    midi: Path
    audio: Path
    pianoroll: Path
    attention: Path | None  # None when the model has no attention
    status: str
    score: str = ""  # the four parts engraved as one <svg> on bracketed staves
    musicxml: Path | None = None


def example_choices() -> list[str]:
    """The bundled examples' names: tunes made here, then chorales the harmonizer never saw."""
    return list(_TUNES) + [_chorale_label(f) for f in HELD_OUT_CHORALES]


def default_example() -> str:
    """The example the page starts with: a held-out chorale (a melody like those the
    harmonizer learned from)."""
    return _chorale_label(HELD_OUT_CHORALES[0])


def _chorale_label(file_name: str) -> str:
    return f"Chorale {file_name.removeprefix('bach-').removesuffix('.mid')} (soprano, held out)"


def example_path(settings: AppSettings, name: str) -> Path:
    """The example's MIDI file in the app's folder, written on first use."""
    out = settings.app_dir / "examples" / f"{safe_name(name)}.mid"
    if out.is_file():
        return out
    if name in _TUNES:
        notes, beat = [], 0.0
        for pitch, beats in _TUNES[name]:
            if pitch is not None:
                notes.append(Note(beat, beats * 0.95, pitch, 84))
            beat += beats
        parts = {"Melody": notes}
    else:
        chorale = next((f for f in HELD_OUT_CHORALES if _chorale_label(f) == name), None)
        if chorale is None:
            raise AppError(f"Unknown example {name!r}; pick one from the list.")
        melody, _ = read_melody(_chorale_file(settings, chorale))
        parts = {melody.name or "Soprano": melody.notes}
    with tempfile.TemporaryDirectory() as scratch:  # pretty_midi writes to a path
        data = write_parts(parts, Path(scratch) / out.name, bpm=90).read_bytes()
    return write_bytes_atomic(out, data)  # two first requests never read a half-written file


def _chorale_file(settings: AppSettings, file_name: str) -> Path:
    """A held-out chorale's MIDI file: from datasets/music when it is built, else converted
    once from music21's corpus (the same conversion) into the app's folder."""
    if (CHORALE_DIR / file_name).is_file():
        return CHORALE_DIR / file_name
    cached = settings.app_dir / "examples" / "chorales" / file_name
    if not cached.is_file():
        from generator.data.music21_corpus import write_chorale  # imports music21: only here

        stem = file_name.removeprefix("bach-").removesuffix(".mid")
        try:
            write_chorale(stem, cached)
        except (OSError, ValueError) as error:
            raise user_error(f"This example is not available here: {error}") from None
    return cached


def harmony_choices(settings: AppSettings) -> tuple[list[tuple[str, str]], str]:
    """(label, key) pairs of harmonizer checkpoints, and the default (the shipped one)."""
    entries = list_models(settings, HARMONIZE)
    default = next((e.key for e in entries if e.path.stem == DEFAULT_HARMONIZER), None)
    return [(e.label, e.key) for e in entries], default or (entries[0].key if entries else "")


def harmony_model_text(settings: AppSettings, key: str) -> str:
    if not key:
        return "No harmonizer: start the app with `--checkpoint HARMONIZER.pt`."
    with UserErrors("Cannot load the harmonizer"):
        loaded = load_cached(resolve_model(settings, key, HARMONIZE))
        tokenizer = harmony_tokenizer(loaded)
    return f"{describe_model(loaded)} · melody → {' + '.join(tokenizer.voices)}"


def check_melody(path: str | Path) -> Part:
    """Read an uploaded melody; an AppError saying what is wrong with a bad one."""
    path = Path(path)
    if path.suffix.lower() not in MIDI_SUFFIXES:
        raise AppError(f"The melody must be a MIDI file (.mid or .midi), not {path.suffix!r}.")
    try:
        size = path.stat().st_size
        with path.open("rb") as file:
            header = file.read(4)
    except OSError as error:
        raise user_error(f"The melody could not be read: {error.strerror or error}") from None
    if size == 0:
        raise AppError("The melody file is empty (0 bytes).")
    if size > MAX_MELODY_BYTES:
        raise AppError(
            f"The melody file is too large: {size:,} bytes (at most {MAX_MELODY_BYTES:,})."
        )
    if header != b"MThd":
        raise AppError("This is not a MIDI file: it does not start with the MIDI header.")
    try:
        melody, _ = read_melody(path)
    except ValueError as error:
        raise user_error(f"The melody cannot be used: {error}.") from None
    except Exception as error:  # pretty_midi and mido raise many kinds on bad bytes
        raise AppError(f"This MIDI file is corrupt ({type(error).__name__}).") from None
    if not melody.notes:
        raise AppError("The MIDI file has no melody notes.")
    if len(melody.notes) > MAX_MELODY_NOTES:
        raise AppError(
            f"The melody is too long: {len(melody.notes):,} notes (at most {MAX_MELODY_NOTES:,})."
        )
    end = max(n.end for n in melody.notes)
    if end > MAX_MELODY_BEATS:
        raise AppError(f"The melody is too long: {end:.0f} beats (at most {MAX_MELODY_BEATS:.0f}).")
    return melody


def harmonize_melody(
    settings: AppSettings,
    model_key: str,
    melody_file: str | None = None,
    example: str | None = None,
    bpm: float | None = DEFAULT_BPM,
    temperature: float = 0.7,
    seed: str | int | None = None,
) -> HarmonizeResult:
    """Harmonize the uploaded melody (or else the example); write MIDI, audio and pictures.

    The written file keeps the melody's meters and key signatures, and its tempo changes
    unless ``bpm`` is moved away from DEFAULT_BPM (then one tempo, ``bpm``)."""
    started = time.perf_counter()
    if not model_key:
        raise AppError(harmony_model_text(settings, model_key))
    path = resolve_model(settings, model_key, HARMONIZE)
    with UserErrors("Invalid setting"):
        if bpm is not None:
            bpm = check_range("tempo", bpm, 20, 300)
        temperature = check_range("temperature", temperature, 0.05, 2.0)
    seed = parse_seed(seed)
    if melody_file:
        melody_path = Path(melody_file)
        melody, source = check_melody(melody_file), "your melody"
    elif example:
        melody_path = example_path(settings, example)
        melody, source = check_melody(melody_path), example
    else:
        raise AppError("Upload a melody MIDI file or pick an example.")
    try:
        timing = read_timing(melody_path)  # read once already by check_melody
    except Exception:  # pretty_midi and mido raise many kinds; the notes were readable
        timing = None
    own_tempo = bpm is None or bpm == DEFAULT_BPM
    with UserErrors("Cannot harmonize"):
        loaded = load_cached(path)
        request = HarmonizeRequest(
            melody,
            beat=melody_beat(timing),
            options=SamplingOptions(temperature=temperature, seed=seed),
        )
        result = api.generate(loaded, request)

    out_dir = new_output_dir(settings)
    stem = f"harmony-{safe_name(source if example and not melody_file else 'upload')}-seed{seed}"
    midi = write_harmony(
        result,
        out_dir / f"{stem}.mid",
        bpm=None if own_tempo and timing is not None else (bpm or DEFAULT_BPM),
        timing=timing,
    )
    if own_tempo:  # the file's first tempo, for the seconds shown and the score's mark
        bpm = _first_tempo(timing) if timing is not None else DEFAULT_BPM
    audio = midi.with_suffix(f".{settings.audio_format}")
    try:
        write_audio(midi, audio)
    except RenderError as error:
        raise user_error(f"Could not render audio: {error}") from None
    parts = {melody.name or "Melody": melody.notes, **result.voices}
    pianoroll = draw_pianoroll(parts, midi.with_suffix(".png"), size=(10.0, 3.8))
    attention = None
    first = result.decoded[0]
    if first.attention is not None:
        attention = _draw_attention(loaded.tokenizer, result, out_dir / f"{stem}-attention.png")
    seconds = _seconds(midi, max(n.end for n in melody.notes) * 60.0 / bpm)
    windows = result.settings["windows"]
    status = (
        f"{source}: {len(melody.notes)} melody notes, "
        + ", ".join(f"{name} {len(notes)}" for name, notes in result.voices.items())
        + f" notes · {seconds:.0f} s · seed {seed} (enter it to get the same harmony again) · "
        f"{windows} window{'s' if windows > 1 else ''} sampled in {result.sampling_seconds:.1f} s, "
        f"ready in {time.perf_counter() - started:.1f} s"
    )
    try:  # the melody's meter and key for the score (it was read above: this rarely fails)
        marks = {k: v for k, v in file_marks(melody_path).items() if k in ("meter", "key")}
    except Exception:
        marks = {}
    score, musicxml = sheet_music(
        parts, midi, "harmonization", steps_per_beat=12, bpm=bpm, layout="parts", **marks
    )
    return HarmonizeResult(midi, audio, pianoroll, attention, status, score, musicxml)


def _seconds(midi: Path, guess: float) -> float:
    """The written file's length in seconds (its tempo changes counted), else ``guess``."""
    try:
        return pretty_midi.PrettyMIDI(str(midi)).get_end_time()
    except Exception:  # a file this module just wrote; the guess is only for the status line
        return guess


def _first_tempo(timing) -> float:
    """A file's first tempo in BPM (120, MIDI's default, when it sets none)."""
    _, tempi = timing.get_tempo_changes()
    return float(tempi[0]) if len(tempi) else 120.0


def _draw_attention(tokenizer, result, out: Path) -> Path:
    """The first window's attention, one row per grid step (its voices' weights averaged)
    against the melody's steps, with labels large enough to read in the page."""
    first = result.decoded[0]
    source_labels, _ = attention_labels(tokenizer, result.sources[0], first.tokens)
    weights, step_labels = attention_by_step(tokenizer, first.attention, first.tokens)
    return draw_attention(
        weights,
        out,
        source_labels=source_labels,
        target_labels=step_labels,
        title=f"Attention, window 1 of {len(result.decoded)} ({tokenizer.segment_beats} beats): "
        f"which melody step each beat of the new voices ({' '.join(tokenizer.voices)}) looked at",
        fontsize=9,
    )
