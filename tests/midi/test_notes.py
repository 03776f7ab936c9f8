"""Note names and the MIDI reading/writing rules."""

from __future__ import annotations

import mido
import pretty_midi
import pytest

from generator.midi import Note, note_number, read_notes, write_midi


@pytest.mark.parametrize(
    ("name", "number"),
    [
        ("C4", 60),
        ("F#3", 54),
        ("Bb2", 46),
        ("60", 60),
        (60, 60),
        ("A4", 69),
        ("c-1", 0),
        ("G9", 127),
        ("D♯4", 63),
        (" E5 ", 76),
    ],
)
def test_note_number_parses_names_and_numbers(name, number):
    assert note_number(name) == number


@pytest.mark.parametrize("bad", ["H4", "C#", "middle C", "", "C4.5", "Cb-1", "G#9", "128", "-1"])
def test_note_number_rejects_bad_names_helpfully(bad):
    with pytest.raises(ValueError) as error:
        note_number(bad)
    message = str(error.value)
    assert repr(bad) in message
    assert "C4" in message or "0 to 127" in message


def test_write_then_read_keeps_notes_in_beats_whatever_the_tempo(tmp_path):
    notes = [Note(0.0, 1.0, 60, 100), Note(0.5, 0.25, 64, 50), Note(2.0, 1.5, 67, 1)]
    for bpm in (60.0, 133.0):
        path = write_midi(notes, tmp_path / f"t{bpm}.mid", bpm=bpm, program=40)
        back = read_notes(path)
        assert [(n.pitch, n.velocity) for n in back] == [(n.pitch, n.velocity) for n in notes]
        for a, b in zip(notes, back, strict=True):
            assert b.start == pytest.approx(a.start, abs=1 / 200)
            assert b.duration == pytest.approx(a.duration, abs=1 / 200)
        midi = pretty_midi.PrettyMIDI(str(path))
        assert [i.program for i in midi.instruments] == [40]
        assert mido.MidiFile(str(path)).type == 1


def test_same_pitch_overlap_is_cut_at_the_next_onset(tmp_path):
    notes = [Note(0.0, 2.0, 60, 80), Note(1.0, 1.0, 60, 80)]
    back = read_notes(write_midi(notes, tmp_path / "overlap.mid"))
    assert len(back) == 2
    assert back[0].end == pytest.approx(1.0, abs=1 / 200)
    assert back[1].start == pytest.approx(1.0, abs=1 / 200)


def test_reading_rule_merges_tracks_and_drops_drums(tmp_path):
    midi = pretty_midi.PrettyMIDI(initial_tempo=120)
    piano = pretty_midi.Instrument(program=0)
    piano.notes.append(pretty_midi.Note(velocity=90, pitch=60, start=0.0, end=0.5))
    bass = pretty_midi.Instrument(program=33)
    bass.notes.append(pretty_midi.Note(velocity=70, pitch=36, start=0.5, end=1.0))
    drums = pretty_midi.Instrument(program=0, is_drum=True)
    drums.notes.append(pretty_midi.Note(velocity=100, pitch=38, start=0.0, end=0.1))
    midi.instruments.extend([piano, bass, drums])
    path = tmp_path / "band.mid"
    midi.write(str(path))

    back = read_notes(path)
    assert [n.pitch for n in back] == [60, 36]
    assert back[1].start == pytest.approx(1.0, abs=1 / 200)  # 0.5 s at 120 BPM = 1 beat
