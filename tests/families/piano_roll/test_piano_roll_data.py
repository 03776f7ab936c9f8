"""Piano-roll frames: the tokenizer, the JSON and MIDI-folder readers, and the frame windows."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from generator.data.frame_windows import FramePlan
from generator.data.piano_roll import (
    load_piano_roll,
    load_piano_roll_json,
    load_piano_roll_midi,
    predicted_frames,
)
from generator.midi import Note, write_midi
from generator.tokenizers import tokenizer_from_dict
from generator.tokenizers.piano_roll import PianoRollTokenizer

frames_strategy = st.lists(
    st.lists(st.integers(21, 108), max_size=6, unique=True).map(sorted), max_size=20
)


@given(frames_strategy)
@settings(max_examples=50, deadline=None)
def test_encode_decode_round_trip(frames: list[list[int]]) -> None:
    tokenizer = PianoRollTokenizer()
    roll = tokenizer.encode(frames)
    assert roll.shape == (len(frames), 88) and roll.dtype == np.uint8
    assert tokenizer.decode(roll) == frames


def test_key_layout_and_range() -> None:
    tokenizer = PianoRollTokenizer()
    roll = tokenizer.encode([[21, 60, 108]])
    assert np.flatnonzero(roll[0]).tolist() == [0, 39, 87]
    assert tokenizer.token_name(39) == "C4"
    with pytest.raises(ValueError, match="outside the keyboard"):
        tokenizer.encode([[20]])
    with pytest.raises(ValueError, match="outside the keyboard"):
        tokenizer.encode([[109]])


def test_tokenizer_rebuilds_from_plain_types() -> None:
    tokenizer = PianoRollTokenizer(num_keys=4, lowest_pitch=60, frames_per_beat=2)
    again = tokenizer_from_dict(tokenizer.to_dict())
    assert isinstance(again, PianoRollTokenizer)
    assert again.to_dict() == tokenizer.to_dict()


def test_transpose_refuses_to_leave_the_keyboard() -> None:
    tokenizer = PianoRollTokenizer()
    roll = tokenizer.encode([[60], [105]])
    assert tokenizer.decode(tokenizer.transpose(roll, 3)) == [[63], [108]]
    assert tokenizer.transpose(roll, 4) is None
    assert tokenizer.decode(tokenizer.transpose(roll, -5)) == [[55], [100]]


def test_notes_to_frames_and_back() -> None:
    tokenizer = PianoRollTokenizer(frames_per_beat=2)
    notes = [Note(0.0, 1.0, 60, 80), Note(0.5, 0.5, 64, 80), Note(2.0, 0.1, 67, 80)]
    roll, dropped = tokenizer.from_notes([*notes, Note(0.0, 1.0, 10, 80)])
    assert dropped == 1
    assert tokenizer.decode(roll) == [[60], [60, 64], [], [], [67]]  # short notes last a frame
    merged = tokenizer.to_notes(roll)
    assert [(n.start, n.duration, n.pitch) for n in merged] == [
        (0.0, 1.0, 60),
        (0.5, 0.5, 64),
        (2.0, 0.5, 67),
    ]
    restruck = tokenizer.to_notes(roll, restrike=True)
    assert [(n.start, n.pitch) for n in restruck] == [(0.0, 60), (0.5, 60), (0.5, 64), (2.0, 67)]


def test_json_reader_keeps_the_splits(tiny_json) -> None:
    corpus = load_piano_roll_json(tiny_json)
    assert [len(p.frames) for p in corpus.train] == [5, 4, 1]
    assert [len(p.frames) for p in corpus.valid] == [3, 2]
    assert corpus.num_train_frames == 4 + 3 + 0
    assert corpus.num_valid_frames == 2 + 1
    test = load_piano_roll(tiny_json, splits=("test", ""))
    assert len(test.train) == 1 and not test.valid
    with pytest.raises(ValueError, match="no 'nope' split"):
        load_piano_roll_json(tiny_json, splits=("nope", ""))


def test_json_reader_skips_bad_pieces(tmp_path) -> None:
    path = tmp_path / "bad.json"
    path.write_text('{"train": [[[60], [61]], [[200]], "junk"], "valid": []}')
    corpus = load_piano_roll_json(path)
    assert len(corpus.train) == 1
    assert [name for name, _ in corpus.report.skipped] == ["train[1]", "train[2]"]
    assert "skipped 2: bad piece" in corpus.report.summary()


def test_midi_folder_is_quantized_and_bad_files_skipped(tmp_path) -> None:
    folder = tmp_path / "midi"
    chord = [Note(beat, 2.0, pitch, 70) for beat in (0.0, 2.0) for pitch in (48, 60, 64, 67)]
    write_midi(chord, folder / "chorale" / "a.mid", bpm=90)
    write_midi([Note(0.0, 0.5, 62, 80), Note(0.5, 1.0, 10, 80)], folder / "b.mid", bpm=140)
    (folder / "broken.mid").write_bytes(b"MThd\x00\x00\x00\x06 this is not really MIDI" * 3)
    (folder / "empty.midi").write_bytes(b"")
    corpus = load_piano_roll_midi(folder, PianoRollTokenizer(frames_per_beat=2))
    report = corpus.report
    assert report.pieces_found == 4
    reasons = dict(report.skipped)
    assert reasons["broken.mid"].startswith("not a readable MIDI file")
    assert reasons["empty.midi"].startswith("empty file")
    assert report.dropped_notes == 1  # pitch 10 lies below the piano
    rolls = {p.name: p.frames for p in corpus.train + corpus.valid}
    assert sorted(rolls) == ["b.mid", "chorale/a.mid"]
    # two held four-note chords of two beats each: 8 frames at 2 frames per beat, tempo aside
    assert rolls["chorale/a.mid"].sum(axis=1).tolist() == [4] * 8
    assert PianoRollTokenizer().decode(rolls["b.mid"]) == [[62]]


def test_windows_hold_every_prediction_once() -> None:
    tokenizer = PianoRollTokenizer(num_keys=8, lowest_pitch=60)
    rng = np.random.default_rng(0)
    lengths = [1, 2, 5, 9, 13]
    pieces = [
        type("P", (), {"name": str(n), "frames": (rng.random((n, 8)) < 0.3).astype(np.uint8)})()
        for n in lengths
    ]
    plan = FramePlan(pieces, tokenizer, batch_size=2, seq_len=4, shuffle=False)
    pairs = []
    for batch in plan:
        assert batch.inputs.shape == (2, 4, 8) and batch.targets.shape == (2, 4, 8)
        for lane in range(2):
            for t in np.flatnonzero(batch.mask[lane].numpy()):
                pairs.append((batch.inputs[lane, t].numpy().tobytes(), batch.targets[lane, t]))
    assert len(pairs) == predicted_frames(pieces) == sum(n - 1 for n in lengths)
    expected = sorted(
        (p.frames[t].tobytes(), p.frames[t + 1].tobytes())
        for p in pieces
        for t in range(len(p.frames) - 1)
    )
    assert sorted((i, t.numpy().tobytes()) for i, t in pairs) == expected
