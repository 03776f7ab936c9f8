"""Reading a MIDI folder: skips with reasons, styles, split, cache."""

from __future__ import annotations

import numpy as np
import pretty_midi
import pytest

from generator.data.midi_corpus import ReadLimits, load_midi_corpus, pitch_ranges
from generator.data.pieces import Piece, split_pieces
from generator.midi import Note, read_notes, write_midi
from generator.tokenizers import MidiEventTokenizer


def load(folder, cache_dir=None, **kwargs):
    return load_midi_corpus(folder, cache_dir=cache_dir, progress=False, **kwargs)


def test_corrupt_and_empty_files_are_skipped_with_reasons(midi_folder):
    corpus = load(midi_folder.path)
    report = corpus.report
    assert report.files_found == midi_folder.good_files + 2
    assert report.files_read == midi_folder.good_files
    reasons = dict(report.skipped)
    assert set(reasons) == {midi_folder.corrupt, midi_folder.empty}
    assert reasons[midi_folder.empty].startswith("empty file")
    assert reasons[midi_folder.corrupt].startswith("not a readable MIDI file")
    summary = report.summary()
    assert midi_folder.corrupt in summary and midi_folder.empty in summary
    assert "2 skipped" in summary and "empty file" in summary
    assert report.to_dict()["skipped"] == [list(s) for s in report.skipped]


def test_the_rest_is_read_with_styles_from_subfolders(midi_folder):
    corpus = load(midi_folder.path, valid_fraction=0.3)
    pieces = corpus.train + corpus.valid
    assert len(pieces) == midi_folder.good_files
    assert corpus.tokenizer.styles == ["chorale", "reel"]
    assert dict(corpus.report.styles) == {"chorale": 3, "reel": 3}
    for piece in pieces:
        assert piece.style == piece.name.split("/")[0]
        assert piece.tokens.dtype == np.int32 and len(piece.tokens) > 0
    reel0 = next(p for p in pieces if p.name == "reel/reel0.mid")
    notes = read_notes(midi_folder.path / "reel" / "reel0.mid")
    expected = corpus.tokenizer.encode(notes, meter="4/4")  # pretty_midi writes 4/4
    assert np.array_equal(reel0.tokens, expected)
    assert corpus.report.notes == midi_folder.notes
    assert corpus.report.tokens == sum(len(p.tokens) for p in pieces)
    assert (corpus.report.min_pitch, corpus.report.max_pitch) == (60, 81)


def test_a_new_tokenizer_learns_meters_ranges_and_voices(midi_folder):
    waltz = [Note(i * 1.0, 1.0, 55 + i % 5, 80) for i in range(12)]
    path = midi_folder.path / "waltz" / "w.mid"
    path.parent.mkdir()
    midi = write_midi(waltz, path)
    score = pretty_midi.PrettyMIDI(str(midi))
    score.time_signature_changes = [pretty_midi.TimeSignature(3, 4, 0.0)]
    score.write(str(path))
    corpus = load(midi_folder.path, valid_fraction=0.0)
    tok = corpus.tokenizer
    held_out = load(midi_folder.path, valid_fraction=0.3)  # ranges: the training split's
    assert list(held_out.tokenizer.pitch_range) == pitch_ranges(held_out.train, tok)[0]
    assert tok.meters == ["3/4", "4/4"]  # by denominator, then numerator
    assert dict(corpus.report.meters) == {"4/4": 6, "3/4": 1}
    assert tok.style_voices == {"chorale": 4, "reel": 1, "waltz": 1}
    assert tok.pitch_range == (55, 81)
    assert tok.style_ranges["waltz"] == (55, 59) and tok.style_ranges["reel"] == (62, 74)
    piece = next(p for p in corpus.train if p.name == "waltz/w.mid")
    assert tok.meter_of(piece.tokens[:1]) == "3/4"
    assert "meters: 4/4 6, 3/4 1" in corpus.report.summary()
    # an existing tokenizer (fine-tuning, evaluating an old model) keeps its vocabulary
    old = MidiEventTokenizer(styles=tok.styles)
    again = load(midi_folder.path, tokenizer=old, valid_fraction=0.0)
    assert again.tokenizer is old and old.meters == []
    assert all(p.tokens.max() < old.vocab_size for p in again.train)


def test_pitch_ranges_of_pieces():
    tok = MidiEventTokenizer()
    pieces = [
        Piece("a/1.mid", tok.encode([Note(0, 1, 60, 80), Note(1, 1, 72, 80)]), "a"),
        Piece("b/1.mid", tok.encode([Note(0, 1, 50, 80)]), "b"),
        Piece("2.mid", tok.encode([Note(0, 1, 90, 80)]), None),
    ]
    assert pitch_ranges(pieces, tok) == ([50, 90], {"a": [60, 72], "b": [50, 50]})


def test_split_is_deterministic_and_uses_both_sides(midi_folder):
    first = load(midi_folder.path, valid_fraction=0.3)
    second = load(midi_folder.path, valid_fraction=0.3)
    assert [p.name for p in first.train] == [p.name for p in second.train]
    assert [p.name for p in first.valid] == [p.name for p in second.valid]
    assert first.train and first.valid
    assert first.report.train_pieces + first.report.valid_pieces == midi_folder.good_files


def test_split_by_name_is_stable_when_files_are_added():
    pieces = [Piece(f"tune{i}.mid", np.zeros(1, np.int32)) for i in range(200)]
    train, valid = split_pieces(pieces, 0.1)
    more_train, more_valid = split_pieces(pieces + [Piece("new.mid", np.zeros(1, np.int32))], 0.1)
    assert {p.name for p in valid} <= {p.name for p in more_valid}
    assert {p.name for p in train} <= {p.name for p in more_train}
    assert 5 < len(valid) < 40
    assert split_pieces(pieces, 0.0) == (pieces, [])


def test_second_load_comes_from_the_cache_and_a_changed_file_is_reread(midi_folder, tmp_path):
    cache = tmp_path / "cache"
    first = load(midi_folder.path, cache)
    assert first.report.cached_files == 0
    assert list(cache.glob("midi-corpus-*.npz"))

    second = load(midi_folder.path, cache)
    assert second.report.cached_files == midi_folder.good_files + 2  # skips are remembered too
    assert second.report.skipped == first.report.skipped
    assert {p.name: p.tokens.tolist() for p in second.train + second.valid} == {
        p.name: p.tokens.tolist() for p in first.train + first.valid
    }

    changed = midi_folder.path / "reel" / "reel1.mid"
    write_midi([Note(0.0, 1.0, 40, 100), Note(1.0, 1.0, 41, 100)], changed)
    third = load(midi_folder.path, cache)
    assert third.report.cached_files == midi_folder.good_files + 1
    piece = next(p for p in third.train + third.valid if p.name == "reel/reel1.mid")
    assert [n.pitch for n in third.tokenizer.decode(piece.tokens)] == [40, 41]
    assert third.report.min_pitch == 40


def test_cache_is_keyed_by_tokenizer_settings(midi_folder, tmp_path):
    from generator.tokenizers import MidiEventTokenizer

    cache = tmp_path / "cache"
    load(midi_folder.path, cache)
    coarse = load(midi_folder.path, cache, tokenizer=MidiEventTokenizer(steps_per_beat=4))
    assert coarse.report.cached_files == 0
    assert load(midi_folder.path, cache).report.cached_files == midi_folder.good_files + 2


def test_a_damaged_cache_is_rebuilt(midi_folder, tmp_path):
    cache = tmp_path / "cache"
    load(midi_folder.path, cache)
    for path in cache.glob("midi-corpus-*.npz"):
        path.write_bytes(b"garbage")
    again = load(midi_folder.path, cache)
    assert again.report.cached_files == 0
    assert again.report.files_read == midi_folder.good_files


def test_drum_only_file_is_skipped_as_having_no_notes(tmp_path):
    midi = pretty_midi.PrettyMIDI()
    drums = pretty_midi.Instrument(program=0, is_drum=True)
    drums.notes.append(pretty_midi.Note(velocity=100, pitch=36, start=0.0, end=0.2))
    midi.instruments.append(drums)
    midi.write(str(tmp_path / "drums.mid"))
    write_midi([Note(0, 1, 60, 80)], tmp_path / "piano.MID")
    (tmp_path / "notes.txt").write_text("not MIDI, not looked at")

    corpus = load(tmp_path, valid_fraction=0.0)
    assert corpus.report.files_found == 2
    assert corpus.report.skipped == [("drums.mid", "no notes: the file has no non-drum notes")]
    assert [p.name for p in corpus.train] == ["piano.MID"]
    assert corpus.train[0].style is None
    assert "none (files are not in style subfolders)" in corpus.report.summary()


def test_caps_skip_large_and_long_files(midi_folder):
    too_big = load(midi_folder.path, limits=ReadLimits(max_file_bytes=20))
    assert too_big.report.files_read == 0
    assert all(r.startswith(("too large", "empty file")) for _, r in too_big.report.skipped)

    few_notes = load(midi_folder.path, limits=ReadLimits(max_notes=12))
    reasons = dict(few_notes.report.skipped)
    assert reasons["chorale/chorale0.mid"] == "too long: 16 notes > cap 12"
    assert reasons["reel/reel1.mid"] == "too long: 16 notes > cap 12"
    assert "reel/reel2.mid" not in reasons  # 8 notes
    assert few_notes.report.files_read == 1
    short = load(midi_folder.path, limits=ReadLimits(max_beats=5.0))
    assert any(r.startswith("too long") and "beats > cap 5" in r for _, r in short.report.skipped)


def test_a_single_file_and_a_missing_folder(midi_folder, tmp_path):
    single = load(midi_folder.path / "reel" / "reel0.mid", valid_fraction=0.0)
    assert [p.name for p in single.train] == ["reel0.mid"]
    with pytest.raises(FileNotFoundError, match="no such folder"):
        load(tmp_path / "nowhere")
