"""MIDI → audio through the SoundFont: real sound for a generated piece, clear errors otherwise."""

from __future__ import annotations

import io
import wave

import numpy as np
import pytest

from generator import MusicRequest, SamplingOptions, generate_music, load_checkpoint, write_pieces
from generator.midi import Note, write_midi
from generator.render import RenderError, render_audio, write_audio


def _samples(wav: bytes) -> tuple[np.ndarray, int]:
    """(samples in [-1, 1] as (frames, channels), frame rate) of 16-bit PCM WAV bytes."""
    with wave.open(io.BytesIO(wav)) as audio:
        assert audio.getsampwidth() == 2
        frames = audio.readframes(audio.getnframes())
        data = np.frombuffer(frames, dtype="<i2").reshape(-1, audio.getnchannels())
        return data.astype(np.float32) / 32768.0, audio.getframerate()


def test_generated_piece_sounds(trained_checkpoint, tmp_path):
    loaded = load_checkpoint(trained_checkpoint)
    request = MusicRequest(num=1, bars=4, bpm=120, options=SamplingOptions(seed=3))
    notes = generate_music(loaded, request).pieces[0]
    (midi,) = write_pieces([notes], tmp_path, stem="piece", bpm=120, program=0)

    samples, rate = _samples(write_audio(midi, tmp_path / "piece.wav").read_bytes())

    assert rate == 48_000 and samples.shape[1] == 2
    end_seconds = max(n.end for n in notes) * 0.5  # 120 BPM: half a second per beat
    assert samples.shape[0] / rate == pytest.approx(end_seconds + 1.0, abs=0.25)  # + the tail
    rms = float(np.sqrt(np.mean(samples**2)))
    assert 0.003 < rms < 0.5  # audible, not clipping noise
    assert float(np.abs(samples).max()) < 1.0
    loud = np.sqrt(np.mean(samples[: rate // 2] ** 2))  # the first half second has notes
    assert loud > 0.001 or notes[0].start > 0.5


def test_silence_and_tail(tmp_path):
    midi = write_midi([Note(0.0, 1.0, 69, 100)], tmp_path / "a4.mid", bpm=60)
    samples, rate = _samples(render_audio(midi, tail_seconds=2.0))
    assert samples.shape[0] / rate == pytest.approx(3.0, abs=0.1)  # one 1-s beat + 2 s tail
    sounding = np.sqrt(np.mean(samples[: rate // 2] ** 2))
    last = np.sqrt(np.mean(samples[-rate // 4 :] ** 2))
    assert sounding > 0.01 and last < sounding / 10  # the note rings, then dies away


def test_ogg_opus(tmp_path):
    midi = write_midi([Note(0.0, 1.0, 60, 90)], tmp_path / "c4.mid")
    ogg = write_audio(midi, tmp_path / "c4.ogg").read_bytes()
    assert ogg.startswith(b"OggS") and b"OpusHead" in ogg[:200]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty MIDI file"),
        (b"RIFF....WAVEfmt ", "not a MIDI file"),
        (b"MThd\x00\x00\x00\x06\x00\x01\x00\x01\x01\xe0MTrk\xff\xff\xff\xff", "not a readable"),
        (b"MThd\x00\x00", "not a readable MIDI file"),
    ],
    ids=["empty", "wav", "truncated-track", "truncated-header"],
)
def test_bad_midi_is_a_clear_error(data, message):
    with pytest.raises(RenderError, match=message):
        render_audio(data)


def test_missing_file_and_unknown_format(tmp_path):
    with pytest.raises(RenderError, match="cannot read MIDI file"):
        render_audio(tmp_path / "nowhere.mid")
    with pytest.raises(ValueError, match="audio format"):
        render_audio(b"MThd", fmt="mp3")
