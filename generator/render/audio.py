"""MIDI → audio through a General MIDI SoundFont.

The SoundFont is pretty_midi's bundled TimGM6mb.sf2 (General MIDI, about 6 MB), or the file
named by $RNN_GENERATOR_SOUNDFONT. Rendering is done by ``midirenderer`` (a Rust synthesizer):
WAV is 48 kHz stereo 16-bit PCM and fast to make; OGG is Opus in an Ogg container, about six
times smaller and slower to encode. A short silent tail is added so the last notes ring out
instead of being cut at the file's final note-off.
"""

from __future__ import annotations

import io
import os
import wave
from functools import cache
from pathlib import Path

import midirenderer
import mido
import numpy as np
import pretty_midi

SOUNDFONT_ENV = "RNN_GENERATOR_SOUNDFONT"
FORMATS = ("wav", "ogg")
MAX_MIDI_BYTES = 4_000_000  # larger inputs are refused before rendering


class RenderError(ValueError):
    """MIDI that cannot be rendered; the message says why in words a user understands."""


def default_soundfont() -> Path:
    """$RNN_GENERATOR_SOUNDFONT if set, else the General MIDI SoundFont bundled with pretty_midi."""
    env = os.environ.get(SOUNDFONT_ENV)
    path = Path(env) if env else Path(pretty_midi.__file__).parent / "TimGM6mb.sf2"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: SoundFont not found (set ${SOUNDFONT_ENV})")
    return path


def soundfont_bytes(path: str | Path | None = None) -> bytes:
    """The SoundFont's bytes (the default one unless ``path``), read once per process."""
    return _read_once(Path(path) if path else default_soundfont())


@cache
def _read_once(path: Path) -> bytes:
    return path.read_bytes()


def _with_tail(data: bytes, seconds: float) -> bytes:
    """Parse the MIDI (a clear error if it is not MIDI) and lengthen it by ``seconds``."""
    try:
        midi = mido.MidiFile(file=io.BytesIO(data))
    except Exception as error:  # mido raises OSError, EOFError, ValueError, KeyError ...
        message = str(error).splitlines()[0][:200] if str(error) else type(error).__name__
        raise RenderError(f"not a readable MIDI file: {message}") from None
    if midi.type == 2:
        raise RenderError("MIDI type 2 (independent sequences) cannot be rendered")
    if not midi.tracks or seconds <= 0:
        return data
    tempo = 500_000  # microseconds per beat until a set_tempo says otherwise
    for track in midi.tracks:
        for message in track:
            if message.type == "set_tempo":
                tempo = message.tempo
    longest = max(midi.tracks, key=lambda track: sum(m.time for m in track))
    tail = round(mido.second2tick(seconds, midi.ticks_per_beat, tempo))
    if longest and longest[-1].type == "end_of_track":
        longest[-1] = longest[-1].copy(time=longest[-1].time + tail)
    else:
        longest.append(mido.MetaMessage("end_of_track", time=tail))
    out = io.BytesIO()
    midi.save(file=out)
    return out.getvalue()


def render_audio(
    midi: bytes | str | Path,
    fmt: str = "wav",
    *,
    soundfont: str | Path | None = None,
    tail_seconds: float = 1.0,
) -> bytes:
    """Render MIDI (bytes or a file path) to WAV or OGG (Opus) bytes; RenderError on bad MIDI."""
    if fmt not in FORMATS:
        raise ValueError(f"audio format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    if isinstance(midi, (str, Path)):
        try:
            size = Path(midi).stat().st_size
            if size > MAX_MIDI_BYTES:
                raise RenderError(f"MIDI too large: {size:,} bytes > cap {MAX_MIDI_BYTES:,}")
            midi = Path(midi).read_bytes()
        except OSError as error:
            raise RenderError(f"cannot read MIDI file: {error.strerror or error}") from None
    if not midi:
        raise RenderError("empty MIDI file: 0 bytes")
    if len(midi) > MAX_MIDI_BYTES:
        raise RenderError(f"MIDI too large: {len(midi):,} bytes > cap {MAX_MIDI_BYTES:,}")
    if not midi.startswith(b"MThd"):
        raise RenderError("not a MIDI file: it does not start with the MIDI header 'MThd'")
    data = _with_tail(midi, tail_seconds)
    font = soundfont_bytes(soundfont)
    try:
        if fmt == "wav":
            return normalize_wav(midirenderer.render_wave_from(font, data))
        return midirenderer.render_opus_from(font, data, stereo=True)
    except (RuntimeError, ValueError) as error:
        raise RenderError(f"cannot render this MIDI: {error}") from None


def normalize_wav(data: bytes, peak: float = 0.89) -> bytes:
    """Scale 16-bit WAV so its loudest sample sits at ``peak`` (-1 dBFS): the SoundFont
    renders about 25 dB below full scale, too quiet next to other audio. Silence stays silent."""
    with wave.open(io.BytesIO(data)) as reader:
        params = reader.getparams()
        samples = np.frombuffer(reader.readframes(params.nframes), dtype="<i2")
    loudest = int(np.abs(samples.astype(np.int32)).max()) if samples.size else 0
    if params.sampwidth != 2 or loudest == 0:
        return data
    gain = peak * 32767 / loudest
    scaled = np.clip(np.round(samples * gain), -32768, 32767).astype("<i2")
    out = io.BytesIO()
    with wave.open(out, "wb") as writer:
        writer.setparams(params)
        writer.writeframes(scaled.tobytes())
    return out.getvalue()


def write_audio(
    midi: bytes | str | Path, out: str | Path, *, soundfont: str | Path | None = None
) -> Path:
    """Render MIDI to ``out``; the format follows the suffix (.wav or .ogg)."""
    out = Path(out)
    fmt = out.suffix.lower().lstrip(".")
    audio = render_audio(midi, fmt, soundfont=soundfont)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(audio)
    return out
