"""Piano-roll models in the Compose tab: listed with the music models, sampled frame by frame,
written as the same audio, picture and MIDI per variation; controls that do not apply ignored."""

from __future__ import annotations

import shutil
import wave
from pathlib import Path

import pytest

import generator.app as h
from generator.midi import Note, read_notes, write_midi


@pytest.fixture
def settings(tmp_path, music_checkpoint, pianoroll_checkpoint) -> h.AppSettings:
    """The tiny music model named at start-up, the tiny piano-roll model as if shipped."""
    shipped = tmp_path / "shipped"
    shipped.mkdir()
    shutil.copyfile(pianoroll_checkpoint, shipped / "pianoroll.pt")
    return h.AppSettings(
        app_dir=tmp_path / "app", checkpoint_dirs=(shipped,), extra_checkpoints=(music_checkpoint,)
    )


KEY = "shipped:pianoroll"


def test_shipped_pianoroll_checkpoint_is_offered_beside_the_music_models(settings):
    choices, default = h.model_choices(settings)
    assert choices == [("music (added)", "added:music"), ("pianoroll (shipped, piano roll)", KEY)]
    assert default == "added:music"  # music.pt stays the default
    assert h.model_family(settings, KEY) == h.PIANOROLL
    assert h.model_family(settings, "added:music") == "rnn"
    assert h.model_choices(settings, "text") == ([], "")

    styles, default_style, text = h.model_styles(settings, KEY)
    assert styles == [h.NO_STYLE] and default_style == h.NO_STYLE
    assert "GRU 1×16 · piano roll, sigmoid head, 2 frames per beat" in text
    assert "nats/frame" in text


def test_pianoroll_compose_writes_audio_picture_and_midi(settings):
    result = h.compose(settings, KEY, start=h.START_CHORD, bars=2, bpm=120, variations=2, seed="5")
    assert len(result.variations) == 2
    assert "from the opening chord C3 G3 E4 C5" in result.status
    assert "16 new frames (2 per beat)" in result.status and "seed 5" in result.status
    for variation in result.variations:
        for path in (variation.audio, variation.picture, variation.midi):
            assert path.is_file() and settings.outputs_dir in path.parents
        notes = read_notes(variation.midi)
        first = {n.pitch for n in notes if n.start == 0.0}
        assert first >= {48, 55, 64, 72}  # the opening chord C3 G3 E4 C5
        assert variation.picture.read_bytes().startswith(b"\x89PNG")
        with wave.open(str(variation.audio)) as audio:
            assert audio.getnframes() > 0
    again = h.compose(settings, KEY, start=h.START_CHORD, bars=2, variations=2, seed="5")
    assert [v.midi.read_bytes() for v in again.variations] == [
        v.midi.read_bytes() for v in result.variations
    ]


def test_pianoroll_ignores_style_seed_note_null_and_top_k(settings):
    ignored = h.compose(
        settings, KEY, style="reel", start=h.START_SEED_NOTE, seed_note="F#4", top_k=5,
        top_p=0.5, bars=1, variations=1, seed="5",
    )  # fmt: skip
    plain = h.compose(settings, KEY, start=h.START_CHORD, bars=1, variations=1, seed="5")
    assert ignored.variations[0].midi.read_bytes() == plain.variations[0].midi.read_bytes()
    null = h.compose(settings, KEY, start=h.START_NULL, bars=1, variations=1, seed="5")
    assert "opening chord" in null.status


def test_pianoroll_continues_a_primer(settings, tmp_path):
    primer = write_midi(
        [Note(0.0, 1.0, 62, 80), Note(1.0, 1.0, 66, 80), Note(2.0, 2.0, 69, 80)],
        tmp_path / "primer.mid",
    )
    result = h.compose(settings, KEY, start=h.START_PRIMER, primer=str(primer), bars=1, seed="2")
    assert "from the primer" in result.status
    for variation in result.variations:
        notes = read_notes(variation.midi)
        assert {(0.0, 62), (1.0, 66), (2.0, 69)} <= {(n.start, n.pitch) for n in notes}
        # the title says where the new music starts: after the primer's 4 beats
        assert "new music from" in variation.title and "(beat 4)" in variation.title


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (dict(start=h.START_PRIMER), "no primer is uploaded"),
        (dict(start="sideways"), "Start must be one of Opening chord, Primer MIDI"),
        (dict(temperature=0), "temperature"),
        (dict(bars=0), "bars"),
        (dict(variations=9), "number of variations"),
        (dict(bpm=1), "tempo"),
        (dict(program=200), "program"),
    ],
)
def test_bad_pianoroll_input_is_a_clear_error(settings, overrides, message):
    with pytest.raises(h.AppError, match=message):
        h.compose(settings, KEY, **{"bars": 1, "variations": 1, **overrides})


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"MThd\x00\x00\x00\x06 this is not really MIDI", "not a readable MIDI"),
        (b"", "empty file"),
    ],
    ids=["corrupt", "empty"],
)
def test_bad_primer_is_refused_by_pianoroll_models(settings, tmp_path, data, message):
    primer = tmp_path / "bad.mid"
    primer.write_bytes(data)
    with pytest.raises(h.AppError, match=message):
        h.compose(settings, KEY, start=h.START_PRIMER, primer=str(primer), bars=1)


def test_primer_outside_the_keyboard_is_a_clear_error(settings, tmp_path):
    primer = write_midi([Note(0.0, 1.0, 10, 80)], tmp_path / "low.mid")  # below A0
    with pytest.raises(h.AppError, match="no notes on the keyboard"):
        h.compose(settings, KEY, start=h.START_PRIMER, primer=str(primer), bars=1)


def test_chord_start_is_refused_by_token_models(settings):
    with pytest.raises(h.AppError, match="Start must be one of Seed note"):
        h.compose(settings, "added:music", start=h.START_CHORD, bars=1)


def test_missing_shipped_pianoroll_is_simply_not_listed(tmp_path, music_checkpoint):
    settings = h.AppSettings(tmp_path / "app", (tmp_path / "none",), (Path(music_checkpoint),))
    assert [key for _, key in h.model_choices(settings)[0]] == ["added:music"]


def test_train_tab_trains_a_pianoroll_model_that_compose_offers(settings, tmp_path):
    """'Piano roll (MIDI, chords)' in the Train tab: the uploaded MIDI files become frames on a
    sixteenth-note grid, a NADE piano-roll model trains on them, and Compose lists it."""
    folder = tmp_path / "upload"
    for i in range(3):
        chords = [(48 + i, 52 + i, 55 + i), (50, 53, 57), (47, 50, 55), (48, 52, 55)]
        notes = [Note(b * 1.0, 1.0, p, 80) for b, chord in enumerate(chords * 4) for p in chord]
        write_midi(notes, folder / f"chords {i}.mid")
    (folder / "broken.mid").write_bytes(b"MThd\x00\x00\x00\x06 not MIDI")
    files = [str(p) for p in sorted(folder.iterdir())]
    kind = "Piano roll (MIDI, chords)"
    assert h.describe_upload(files, kind) == (
        h.PIANOROLL,
        "4 MIDI uploads: trains a **piano-roll** model (it appears in the Compose tab).",
        None,
    )

    updates = list(
        h.start_training(
            settings, h.TrainingJobs(), files, steps=20, name="chords", kind=kind, poll_seconds=0.2
        )
    )
    last = updates[-1]
    assert all(u.kind == "music" for u in updates)  # listed in Compose
    assert not last.running and last.new_model_key == "trained:chords"
    assert "nats/frame" in last.status and "selected in the Compose tab" in last.status
    assert "piano roll your uploads: 4 pieces found, 1 skipped" in last.report
    assert "broken.mid: not a readable MIDI file" in last.report
    assert ("chords (trained here, piano roll)", "trained:chords") in h.model_choices(settings)[0]
    assert h.model_family(settings, "trained:chords") == h.PIANOROLL
    _, _, text = h.model_styles(settings, "trained:chords")
    assert "piano roll, nade head, 4 frames per beat" in text
    result = h.compose(settings, "trained:chords", start=h.START_CHORD, bars=1, variations=1)
    assert len(result.variations) == 1 and result.variations[0].midi.is_file()
