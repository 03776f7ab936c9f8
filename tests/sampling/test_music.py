"""Music from a checkpoint: length, conditioning, primers, requests and writing files."""

from __future__ import annotations

import mido
import pretty_midi
import pytest

from generator.checkpoint import load_checkpoint
from generator.midi import Note, read_notes, write_midi
from generator.midi.keys import Key
from generator.sampling import SamplingOptions
from generator.sampling.music import (
    MusicRequest,
    generate_music,
    marks_text,
    piece_key,
    write_pieces,
)

EPS = 1e-9


@pytest.fixture(scope="module")
def loaded(trained_checkpoint):
    return load_checkpoint(trained_checkpoint)


@pytest.mark.parametrize("bars", [2, 0.5])
def test_pieces_end_by_the_requested_length(loaded, bars):
    request = MusicRequest(num=3, bars=bars, meter="4/4", options=SamplingOptions(seed=0))
    result = generate_music(loaded, request)
    assert result.meters == ["4/4"] * 3
    assert len(result.pieces) == 3
    assert request.beats == bars * 4
    for notes in result.pieces:
        assert notes, "a piece with no notes"
        assert max(n.end for n in notes) <= request.beats + EPS
        assert all(n.duration > 0 for n in notes)
    assert result.sampling_seconds >= 0 and result.tokens > 0


def test_bars_count_in_the_meter_or_in_beats_per_bar():
    assert MusicRequest(bars=3, meter="6/8").beats == 9
    assert MusicRequest(bars=3, meter="3/4").beats == 9
    assert MusicRequest(bars=2, meter=" 9 / 8 ").beats == 9
    assert MusicRequest(bars=2, meter=" 9 / 8 ").meter == "9/8"
    assert MusicRequest(bars=3, beats_per_bar=3).beats == 9


def test_length_in_seconds_uses_the_tempo(loaded):
    request = MusicRequest(num=2, seconds=3.0, bpm=80, options=SamplingOptions(seed=1))
    assert request.beats == pytest.approx(4.0)
    for notes in generate_music(loaded, request).pieces:
        assert max(n.end for n in notes) <= 4.0 + EPS


def test_pieces_fill_their_length(loaded):
    # sampling stops once the clock reaches the length: the last onsets lie near the end
    result = generate_music(loaded, MusicRequest(num=4, bars=4, options=SamplingOptions(seed=2)))
    for notes in result.pieces:
        assert max(n.start for n in notes) >= 16 - 4  # within the longest single shift


def test_same_seed_same_music_other_seed_other_music(loaded):
    def pieces(seed):
        return generate_music(
            loaded, MusicRequest(num=2, bars=2, options=SamplingOptions(seed=seed))
        ).pieces

    assert pieces(5) == pieces(5)
    assert pieces(5) != pieces(6)


@pytest.mark.parametrize(("seed_note", "style"), [("D4", "reel"), (70, None), ("F#4", "chorale")])
def test_a_seed_note_opens_every_piece(loaded, seed_note, style):
    request = MusicRequest(
        num=4, bars=2, seed_note=seed_note, style=style, options=SamplingOptions(seed=0)
    )
    pitch = request.seed_note
    for notes in generate_music(loaded, request).pieces:
        assert pitch in {n.pitch for n in notes if n.start == 0.0}


def test_a_primer_is_kept_at_the_start_of_each_piece(loaded, tmp_path):
    primer_notes = [Note(0.0, 1.0, 62, 90), Note(0.0, 1.0, 66, 90), Note(1.0, 0.5, 69, 70)]
    primer = write_midi(primer_notes, tmp_path / "primer.mid")
    from_file = read_notes(primer)
    request = MusicRequest(num=3, bars=1, primer=primer, options=SamplingOptions(seed=0))
    result = generate_music(loaded, request)
    assert len(result.pieces) == 3
    for notes in result.pieces:
        assert notes[: len(from_file)] == from_file
        continuation = notes[len(from_file) :]
        assert all(1.0 - EPS <= n.start and n.end <= 1.0 + 4 + EPS for n in continuation)


def test_an_empty_primer_is_refused(loaded, tmp_path):
    empty = tmp_path / "silence.mid"
    pretty_midi.PrettyMIDI().write(str(empty))
    with pytest.raises(ValueError, match="the primer has no notes"):
        generate_music(loaded, MusicRequest(primer=empty))


def test_unknown_style_names_the_known_ones(loaded):
    with pytest.raises(ValueError) as error:
        generate_music(loaded, MusicRequest(style="polka"))
    assert "'polka'" in str(error.value) and "chorale, reel" in str(error.value)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"num": 0}, "number of variations must be a whole number in [1, 16]"),
        ({"num": 17}, "number of variations"),
        ({"bars": 0}, "bars must be a number in (0, 256]"),
        ({"bars": None, "seconds": None}, "give a length in bars or in seconds"),
        ({"seconds": 601}, "seconds must be a number in (0, 600]"),
        ({"bpm": 10}, "tempo (BPM) must be a number in [20, 400]"),
        ({"program": 128}, "program must be a whole number in [0, 127]"),
        ({"beats_per_bar": 0}, "beats per bar must be a whole number in [1, 16]"),
        ({"seed_note": "H2"}, "invalid note 'H2'"),
    ],
)
def test_bad_requests_are_refused_before_sampling(kwargs, message):
    with pytest.raises(ValueError) as error:
        MusicRequest(**kwargs)
    assert message in str(error.value)


def test_written_files_reread_with_mido_and_pretty_midi(loaded, tmp_path):
    request = MusicRequest(num=3, bars=2, bpm=90, program=24, options=SamplingOptions(seed=4))
    pieces = generate_music(loaded, request).pieces
    paths = write_pieces(pieces, tmp_path / "out", stem="tune", bpm=90, program=24)
    assert [p.name for p in paths] == ["tune-1.mid", "tune-2.mid", "tune-3.mid"]
    for path, notes in zip(paths, pieces, strict=True):
        assert mido.MidiFile(str(path)).length > 0
        midi = pretty_midi.PrettyMIDI(str(path))
        assert [i.program for i in midi.instruments] == [24]
        assert midi.get_tempo_changes()[1].tolist() == pytest.approx([90.0], rel=1e-4)
        back = read_notes(path)
        assert {n.pitch for n in back} == {n.pitch for n in notes}
        assert max(n.end for n in back) <= request.beats + 1 / 200


def _marks(path):
    """(time signatures, key signatures by name, tempi) a written file holds."""
    midi = pretty_midi.PrettyMIDI(str(path))
    meters = [f"{t.numerator}/{t.denominator}" for t in midi.time_signature_changes]
    keys = [pretty_midi.key_number_to_key_name(k.key_number) for k in midi.key_signature_changes]
    return meters, keys, [round(float(t), 3) for t in midi.get_tempo_changes()[1]]


def test_written_files_carry_time_signature_key_signature_and_tempo(tmp_path):
    d_major = [Note(i, 1, p, 80) for i, p in enumerate([62, 64, 66, 67, 69, 71, 73, 74, 69, 62])]
    paths = write_pieces(
        [d_major, d_major, d_major],
        tmp_path,
        stem="tune",
        bpm=90,
        program=0,
        meters=["6/8", None, None],
        keys=[None, "Bb minor", None],
        beats_per_bar=3,
    )
    assert _marks(paths[0]) == (["6/8"], ["D Major"], [90.0])  # key analysis of the notes
    assert _marks(paths[1]) == (["3/4"], ["Bb minor"], [90.0])  # the key given, beats_per_bar
    assert _marks(paths[2])[1] == ["D Major"]


@pytest.mark.parametrize(
    ("key", "scale", "signature"),
    [
        ("D", "major", "D major"),
        ("A", "minor", "A minor"),
        ("D", "dorian", "C major"),
        ("E", "phrygian", "C major"),
        ("F#", "harmonic-minor", "F# minor"),
    ],
)
def test_the_asked_key_is_the_key_signature(loaded, tmp_path, key, scale, signature):
    request = MusicRequest(num=2, bars=1, key=key, scale=scale, options=SamplingOptions(seed=0))
    result = generate_music(loaded, request)
    assert result.keys == [signature] * 2
    paths = write_pieces(result.pieces, tmp_path, stem="k", bpm=120, program=0, keys=result.keys)
    for path in paths:
        assert [k.key_number for k in pretty_midi.PrettyMIDI(str(path)).key_signature_changes] == [
            Key.parse(signature).midi_key_number
        ]


def test_without_a_key_the_notes_choose_the_key_signature(loaded):
    result = generate_music(loaded, MusicRequest(num=3, bars=2, options=SamplingOptions(seed=3)))
    assert result.keys == [str(piece_key(notes)) for notes in result.pieces]
    assert result.bpm == 120.0 and result.primer_marks == {}


def _primer(path, key_number=16, numerator=6, bpm=96.0):
    midi = pretty_midi.PrettyMIDI(initial_tempo=bpm)
    midi.time_signature_changes = [pretty_midi.TimeSignature(numerator, 8, 0.0)]
    midi.key_signature_changes = [pretty_midi.KeySignature(key_number, 0.0)]
    tune = pretty_midi.Instrument(0)
    for i, pitch in enumerate([64, 66, 67, 71, 67, 64]):
        start = i * 0.5 * 60 / bpm  # eighth notes
        tune.notes.append(pretty_midi.Note(90, pitch, start, start + 0.5 * 60 / bpm))
    midi.instruments.append(tune)
    midi.write(str(path))
    return path


def test_a_primer_keeps_its_key_signature_time_signature_and_tempo(loaded, tmp_path):
    primer = _primer(tmp_path / "jig.mid")
    result = generate_music(
        loaded, MusicRequest(num=2, bars=1, primer=primer, options=SamplingOptions(seed=0))
    )
    assert result.primer_marks == {"meter": "6/8", "key": "E minor", "bpm": 96.0}
    assert result.keys == ["E minor"] * 2 and result.meters == ["6/8"] * 2 and result.bpm == 96
    paths = write_pieces(
        result.pieces,
        tmp_path / "out",
        stem="p",
        bpm=result.bpm,
        program=0,
        meters=result.meters,
        keys=result.keys,
    )
    assert _marks(paths[0]) == (["6/8"], ["E minor"], [96.0])
    assert read_notes(paths[0])[:6] == read_notes(primer)  # the primer's notes, in beats


def test_the_request_overrides_what_the_primer_says(loaded, tmp_path):
    primer = _primer(tmp_path / "jig.mid")
    request = MusicRequest(
        num=1, bars=1, primer=primer, key="G", bpm=132, options=SamplingOptions(seed=0)
    )
    result = generate_music(loaded, request)
    assert result.primer_marks == {"meter": "6/8"}
    assert result.keys == ["G major"] and result.bpm == 132.0
    assert marks_text(result.primer_marks) == "time signature 6/8"


def test_a_length_in_seconds_counts_at_the_primers_tempo(loaded, tmp_path):
    primer = _primer(tmp_path / "slow.mid", bpm=60.0)  # six eighths: 3 beats
    result = generate_music(
        loaded, MusicRequest(num=2, seconds=2.0, primer=primer, options=SamplingOptions(seed=1))
    )
    for notes in result.pieces:  # 2 s at 60 bpm: 2 beats after the primer's last onset
        assert max(n.end for n in notes) <= 2.5 + 2.0 + EPS
