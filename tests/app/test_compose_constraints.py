"""Compose's "Stay inside" settings: key and scale, note range, voices, meter and pitch
temperature reach the sampler; bad values are clear errors; piano-roll models hide them."""

from __future__ import annotations

import shutil
from collections import Counter

import pytest

import generator.app as h
from generator.midi import read_notes
from generator.midi.keys import analyze_key
from generator.midi.notes import read_midi

D_MAJOR = {2, 4, 6, 7, 9, 11, 1}  # pitch classes of D E F# G A B C#


def compose(settings, **overrides) -> h.ComposeResult:
    """The compose handler on the tiny music model: null start, fixed seed, short pieces."""
    values = dict(
        model_key="added:music", start=h.START_NULL, bars=4, variations=4, seed="11"
    )  # fmt: skip
    return h.compose(settings, **{**values, **overrides})


def pieces(result: h.ComposeResult) -> list[list]:
    notes = [read_notes(v.midi) for v in result.variations]
    assert all(notes), "every variation has notes"
    return notes


def test_key_and_scale_keep_every_note_in_the_scale(settings):
    free = [n.pitch % 12 for p in pieces(compose(settings)) for n in p]
    assert set(free) - D_MAJOR, "without a key the tiny model plays notes outside D major"

    result = compose(settings, key="D", scale="major")
    for piece in pieces(result):
        assert {n.pitch % 12 for n in piece} <= D_MAJOR
    assert "D major" in result.status

    minor = compose(settings, key="A", scale="minor-pentatonic", seed="12")
    a_minor_pentatonic = {9, 0, 2, 4, 7}
    assert {n.pitch % 12 for p in pieces(minor) for n in p} <= a_minor_pentatonic


def test_lowest_and_highest_note_bound_every_note(settings):
    result = compose(settings, lowest="E4", highest="C5")
    pitches = [n.pitch for p in pieces(result) for n in p]
    assert min(pitches) >= 64 and max(pitches) <= 72
    assert "notes E4–C5" in result.status
    only_low = compose(settings, lowest=" G4 ")  # the other end stays the model's
    assert min(n.pitch for p in pieces(only_low) for n in p) >= 67


def test_one_line_has_no_two_notes_starting_together(settings):
    chords = compose(settings, voices=0)  # as the style has: the tiny data has chords
    assert any(max(Counter(round(n.start, 3) for n in p).values()) > 1 for p in pieces(chords)), (
        "the unconstrained model writes chords, so the test below can fail"
    )
    result = compose(settings, voices=1)
    for piece in pieces(result):
        assert max(Counter(round(n.start, 3) for n in piece).values()) == 1
    assert "one line" in result.status


def test_meter_the_model_learned_is_written_into_the_file(settings):
    limits = h.compose_limits(settings, "added:music")
    assert limits.meters == ["4/4"]  # the only meter in the synthetic training data
    assert limits.range_text  # e.g. "C3–C6": the placeholder of the note boxes
    result = compose(settings, meter="4/4", variations=1)
    signatures = read_midi(result.variations[0].midi).time_signature_changes
    assert [(s.numerator, s.denominator) for s in signatures[:1]] == [(4, 4)]


def test_the_file_and_the_score_carry_the_pieces_key(settings):
    asked = compose(settings, key="Bb", scale="major", variations=2)
    for variation in asked.variations:
        signatures = read_midi(variation.midi).key_signature_changes
        assert [k.key_number for k in signatures] == [10]  # B flat major
        assert "<fifths>-2</fifths>" in variation.musicxml.read_text()
    modal = compose(settings, key="G", scale="mixolydian", variations=1).variations[0]
    assert [k.key_number for k in read_midi(modal.midi).key_signature_changes] == [0]  # C major
    for variation in compose(settings, variations=2).variations:  # no key: the notes' key
        notes = read_notes(variation.midi)
        key = analyze_key((n.pitch, n.duration) for n in notes)
        assert [k.key_number for k in read_midi(variation.midi).key_signature_changes] == [
            key.midi_key_number
        ]
        assert f"<fifths>{key.sharps}</fifths>" in variation.musicxml.read_text()


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (dict(lowest="H4"), "Lowest note"),
        (dict(highest="C#99"), "Highest note"),
        (dict(lowest="C5", highest="C4"), "lowest note .* is above the highest"),
        (dict(meter="6/8"), "unknown meter '6/8'; this model knows: 4/4"),
        (dict(meter="7/5"), "invalid meter"),
        (dict(key="H"), "invalid key 'H'"),
        (dict(key="D", scale="bebop"), "Unknown scale 'bebop'"),
        (dict(voices=20), "voices"),
        (dict(pitch_temperature=0), "pitch temperature"),
        (dict(key="C", lowest="C#4", highest="C#4"), "no note is left"),
    ],
)
def test_bad_constraints_are_clear_errors(settings, overrides, message):
    with pytest.raises(h.AppError, match=message):
        compose(settings, **overrides)


def test_old_api_calls_without_the_new_inputs_behave_as_before(settings):
    old = h.compose(settings, "added:music", None, h.START_NULL, None, None, 0.9, 0, 0.95, 2, 120,
                    0, 1, "5")  # fmt: skip
    new = compose(settings, bars=2, variations=1, seed="5", key=h.KEY_NONE, voices=0,
                  meter=h.METER_MODEL, lowest="", highest="", pitch_temperature=1.0)  # fmt: skip
    assert old.variations[0].midi.read_bytes() == new.variations[0].midi.read_bytes()


def test_pianoroll_models_hide_the_settings_and_ignore_them(
    tmp_path, music_checkpoint, pianoroll_checkpoint
):
    from generator.app import ui as app

    shipped = tmp_path / "shipped"
    shipped.mkdir()
    shutil.copyfile(pianoroll_checkpoint, shipped / "pianoroll.pt")
    settings = h.AppSettings(tmp_path / "app", (shipped,), (music_checkpoint,))
    assert h.compose_limits(settings, "shipped:pianoroll") == h.ComposeLimits([], "")
    updates = app._model_changed(settings, "shipped:pianoroll", h.START_SEED_NOTE, "4/4")
    inside, meter = updates[7], updates[8]
    assert inside["visible"] is False and meter["visible"] is False
    result = h.compose(settings, "shipped:pianoroll", bars=1, variations=1, seed="1", key="D",
                       lowest="H4", meter="6/8")  # fmt: skip
    assert len(result.variations) == 1

    updates = app._model_changed(settings, "added:music", h.START_SEED_NOTE, "4/4")
    inside, meter = updates[7], updates[8]
    assert inside["visible"] is True and meter["visible"] is True
    assert meter["choices"] == [h.METER_MODEL, "4/4"]
    assert meter["value"] == "4/4"


@pytest.mark.slow
def test_the_compose_endpoint_takes_old_calls_and_the_new_settings(
    serve_app, music_checkpoint, tmp_path
):
    """/compose over HTTP: a call with only the 13 inputs it had before still works (the client
    fills in the new ones' defaults), and the new ones at the end reach the sampler."""
    from gradio_client import Client

    env = {"GRADIO_TEMP_DIR": str(tmp_path / "gradio"), "RNN_GENERATOR_CHECKPOINTS": ""}
    url = serve_app(
        tmp_path, "--checkpoint", str(music_checkpoint), "--app-dir", str(tmp_path / "app"),
        env={**env, "OMP_NUM_THREADS": "1"},
    )  # fmt: skip
    client = Client(url, verbose=False, download_files=False, analytics_enabled=False)
    old = ["added:music", "reel", h.START_NULL, "D4", None, 0.9, 0, 0.95, 2, 120, 0, 1, "4"]
    status = client.predict(*old, api_name="/compose")[0]
    assert status.startswith("1 variation from the null input · seed 4")

    new = client.predict(*old, "D", "major", "", "", 1, "4/4", 1.0, api_name="/compose")
    assert "D major · one line · 4/4 · seed 4" in new[0]
    midi = next(a for a in new if isinstance(a, dict) and str(a.get("path")).endswith(".mid"))
    notes = read_notes(midi["path"])
    assert notes and {n.pitch % 12 for n in notes} <= D_MAJOR

    bad = client.predict(*old[:-1], "4", "No key", "major", "H4", "", 0, h.METER_MODEL, 1.0,
                         api_name="/compose")[0]  # fmt: skip
    assert bad.startswith("⚠ Lowest note")
