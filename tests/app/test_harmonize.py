"""The Harmonize tab's handler: the shipped harmonizer on a bundled example, and bad uploads."""

from __future__ import annotations

import wave

import numpy as np
import pytest

import generator.app as h
from generator.app.settings import SHIPPED_DIR
from generator.midi.parts import read_parts

HARMONIZER = SHIPPED_DIR / "harmonizer.pt"

pytestmark = pytest.mark.skipif(not HARMONIZER.is_file(), reason="no shipped harmonizer")


@pytest.fixture
def settings(tmp_path) -> h.AppSettings:
    """App settings writing under tmp_path, offering only the shipped harmonizer."""
    return h.AppSettings(
        app_dir=tmp_path / "app", checkpoint_dirs=(), extra_checkpoints=(HARMONIZER,)
    )


def test_harmonizer_is_listed_and_picked_by_default(settings):
    choices, default = h.harmony_choices(settings)
    assert choices == [("harmonizer (added)", "added:harmonizer")]
    assert default == "added:harmonizer"
    assert "Alto + Tenor + Bass" in h.harmony_model_text(settings, default)
    assert h.model_choices(settings) == ([], "")  # not offered as a music model


def test_example_is_harmonized_in_four_parts_with_audio_and_pictures(settings):
    example = h.example_choices()[0]  # a tune made in code: present without the corpus
    key = h.harmony_choices(settings)[1]
    result = h.harmonize_melody(settings, key, None, example, bpm=100, temperature=0.7, seed="3")
    assert "seed 3" in result.status
    for path in (result.midi, result.audio, result.pianoroll, result.attention):
        assert path.is_file() and settings.outputs_dir in path.parents

    given = h.check_melody(settings.app_dir / "examples" / f"{h.safe_name(example)}.mid")
    parts = read_parts(result.midi)
    assert [p.name for p in parts] == [given.name, "Alto", "Tenor", "Bass"]
    melody = parts[0].notes
    assert [(n.pitch, n.velocity) for n in melody] == [(n.pitch, n.velocity) for n in given.notes]
    np.testing.assert_allclose(
        [(n.start, n.duration) for n in melody],
        [(n.start, n.duration) for n in given.notes],
        atol=1e-3,
    )
    assert all(p.notes for p in parts[1:])

    with wave.open(str(result.audio)) as audio:
        samples = np.frombuffer(audio.readframes(audio.getnframes()), dtype="<i2")
    assert samples.size > 0 and np.abs(samples).max() > 1000
    for picture in (result.pianoroll, result.attention):
        assert picture.read_bytes().startswith(b"\x89PNG")


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("corrupt.mid", b"MThd\x00\x00\x00\x06garbage", "corrupt"),
        ("empty.mid", b"", "empty"),
        ("notes.txt", b"hello", "must be a MIDI file"),
        ("not-midi.mid", b"RIFF....WAVE", "not a MIDI file"),
    ],
)
def test_bad_upload_is_a_clear_error(settings, tmp_path, name, data, message):
    upload = tmp_path / name
    upload.write_bytes(data)
    key = h.harmony_choices(settings)[1]
    with pytest.raises(h.AppError, match=message):
        h.harmonize_melody(settings, key, str(upload), h.example_choices()[0])
    assert not settings.outputs_dir.exists() or not any(settings.outputs_dir.iterdir())


def test_no_melody_and_unknown_example_are_clear_errors(settings):
    key = h.harmony_choices(settings)[1]
    with pytest.raises(h.AppError, match="Upload a melody"):
        h.harmonize_melody(settings, key, None, None)
    with pytest.raises(h.AppError, match="Unknown example"):
        h.harmonize_melody(settings, key, None, "../../etc/passwd")


def test_held_out_chorales_come_from_music21_when_the_corpus_is_not_built(settings, monkeypatch):
    """A fresh clone has no datasets/music: the default example (a chorale the harmonizer never
    saw) is converted from music21's bundled corpus once, then read from the app's folder."""
    import generator.app.harmonize as harmonize_module

    monkeypatch.setattr(harmonize_module, "CHORALE_DIR", settings.app_dir / "not-built")
    name = h.default_example()
    assert name in h.example_choices() and name.startswith("Chorale bwv245.22")
    path = harmonize_module.example_path(settings, name)
    converted = settings.app_dir / "examples" / "chorales" / "bach-bwv245.22.mid"
    assert converted.is_file()
    parts = read_parts(converted)
    assert [p.name for p in parts] == ["Soprano", "Alto", "Tenor", "Bass"]
    melody = read_parts(path)
    assert len(melody) == 1 and melody[0].notes == parts[0].notes  # the soprano, as written
    stamp = converted.stat().st_mtime_ns
    harmonize_module.example_path(
        settings, h.example_choices()[-1]
    )  # another chorale: converted too
    assert converted.stat().st_mtime_ns == stamp  # the first one is not converted again


def test_a_harmonization_comes_with_its_score_on_four_staves(settings):
    from generator.notation import read_musicxml

    key = h.harmony_choices(settings)[1]
    example = h.example_choices()[0]
    result = h.harmonize_melody(settings, key, None, example, bpm=80, temperature=0.7, seed="1")
    import base64

    data = result.score.split("base64,", 1)[1].split('"', 1)[0]
    svg = base64.b64decode(data).decode("utf-8")
    assert svg.count('class="staff"') >= 4 and 'class="note"' in svg
    staves = read_musicxml(result.musicxml)
    assert len(staves) == 4 and all(staves.values())  # melody, alto, tenor, bass


def _six_eight_melody(path, bpm: float = 100.0):
    """A short 6/8 melody in D major (key signature and tempo set), built with pretty_midi."""
    import pretty_midi

    midi = pretty_midi.PrettyMIDI(initial_tempo=bpm)
    midi.time_signature_changes.append(pretty_midi.TimeSignature(6, 8, 0.0))
    midi.key_signature_changes.append(pretty_midi.KeySignature(2, 0.0))  # D major
    melody = pretty_midi.Instrument(0, name="Melody")
    eighth = 30.0 / bpm
    pitches = [74, 73, 71, 69, 71, 73, 74, 76, 78, 76, 74, 73] * 2
    for index, pitch in enumerate(pitches):
        start = index * eighth
        melody.notes.append(pretty_midi.Note(90, pitch, start, start + eighth * 0.95))
    midi.instruments.append(melody)
    midi.write(str(path))
    return path


def test_an_uploaded_6_8_melody_comes_back_in_6_8_with_its_key_and_tempo(settings, tmp_path):
    from generator.midi.notes import read_midi

    melody = _six_eight_melody(tmp_path / "jig.mid", bpm=100.0)
    key = h.harmony_choices(settings)[1]
    kept = h.harmonize_melody(settings, key, str(melody), None, seed="2")  # slider untouched
    midi = read_midi(kept.midi)
    assert [(s.numerator, s.denominator) for s in midi.time_signature_changes] == [(6, 8)]
    assert [k.key_number for k in midi.key_signature_changes] == [2]
    assert midi.get_tempo_changes()[1] == pytest.approx([100.0], abs=0.01)

    faster = h.harmonize_melody(settings, key, str(melody), None, bpm=150, seed="2")
    midi = read_midi(faster.midi)
    assert [(s.numerator, s.denominator) for s in midi.time_signature_changes] == [(6, 8)]
    assert midi.get_tempo_changes()[1] == pytest.approx([150.0], abs=0.01)
