"""Pairs from MIDI folders (melody rule, voices, split by melody) and from TSV files."""

from __future__ import annotations

import numpy as np

from generator.data.harmony import choose_voices, load_harmony_corpus, melody_key
from generator.data.pairs import PairPlan, load_tsv_pairs
from generator.midi.notes import Note
from generator.midi.parts import Part, split_melody
from generator.tokenizers.voice_grid import VoiceGridTokenizer


def _part(name: str, pitch: int) -> Part:
    return Part(name, 0, [Note(0, 1, pitch, 80), Note(1, 1, pitch + 2, 80)])


def test_melody_is_the_soprano_or_melody_track_else_the_highest():
    parts = [_part("Alto", 64), _part("soprano", 60), _part("Bass", 40)]
    melody, others = split_melody(parts)
    assert melody.name == "soprano" and [p.name for p in others] == ["Alto", "Bass"]
    melody, others = split_melody([_part("Piano left", 40), _part("Flute", 76), _part("x", 60)])
    assert melody.name == "Flute" and [p.name for p in others] == ["x", "Piano left"]
    melody, _ = split_melody([_part("Flute", 76), _part("Cello", 40)], melody_track="cello")
    assert melody.name == "Cello"


def test_voices_by_name_else_by_pitch_with_the_lowest_as_bass():
    others = [_part("Violin", 70), _part("Viola", 60), _part("Cello", 48), _part("Bass", 36)]
    assert [p.name for p in choose_voices(others, ["Bass"])] == ["Bass"]
    unnamed = [_part("a", 70), _part("b", 60), _part("c", 48), _part("d", 36)]
    assert [p.name for p in choose_voices(unnamed, ["Alto", "Tenor", "Bass"])] == ["a", "b", "d"]


def test_folder_to_aligned_pairs_split_by_melody(chorale_folder):
    tokenizer = VoiceGridTokenizer(steps_per_beat=2, voices=["Alto", "Tenor", "Bass"])
    corpus = load_harmony_corpus(chorale_folder, tokenizer, valid_fraction=0.3)
    report = corpus.report
    assert report.files_read == 6
    assert [name for name, _ in report.skipped] == ["solo.mid"]
    assert corpus.train and corpus.valid
    for pair in corpus.train + corpus.valid:
        assert len(pair.target) == 3 * len(pair.source)  # every step: alto, tenor, bass
    # The split key ignores the key: the same tune transposed lands on the same side.
    tune = [Note(i, 1, p, 80) for i, p in enumerate([60, 62, 64])]
    moved = [Note(n.start, n.duration, n.pitch + 5, 80) for n in tune]
    other = [Note(i, 1, p, 80) for i, p in enumerate([64, 62, 60])]
    assert melody_key(moved) == melody_key(tune) != melody_key(other)


def test_windows_overlap_in_train_and_tile_in_valid(chorale_folder):
    tokenizer = VoiceGridTokenizer(steps_per_beat=2, voices=["Bass"], segment_beats=4)
    corpus = load_harmony_corpus(chorale_folder, tokenizer, valid_fraction=0.3, hop_beats=2)
    per_train_file = len(corpus.train) / corpus.report.train_files
    per_valid_file = len(corpus.valid) / corpus.report.valid_files
    assert per_train_file == 3 and per_valid_file == 2  # 8 beats: starts 0, 2, 4 vs 0, 4


def test_tsv_pairs_skip_lines_without_a_tab(pairs_tsv):
    corpus = load_tsv_pairs(pairs_tsv, valid_fraction=0.2)
    assert corpus.report.no_tab == [7]
    assert len(corpus.train) + len(corpus.valid) == 120 and corpus.valid
    pair = corpus.train[0]
    assert corpus.tokenizer.decode(pair.target) == corpus.tokenizer.decode(pair.source)[::-1]


def test_plan_pads_sources_with_eos_and_targets_with_bos_eos(pairs_tsv):
    corpus = load_tsv_pairs(pairs_tsv)
    tokenizer = corpus.tokenizer
    plan = PairPlan(corpus.train, tokenizer, 8, seed=1)
    again = PairPlan(corpus.train, tokenizer, 8, seed=1)
    assert len(plan) == -(-len(corpus.train) // 8)
    batch = plan.batch(0)
    assert np.array_equal(batch.sources.numpy(), again.batch(0).sources.numpy())  # resumable
    for row in range(batch.sources.shape[0]):
        length = int(batch.lengths[row])
        assert batch.sources[row, length - 1] == tokenizer.eos_id
        assert (batch.sources[row, length:] == tokenizer.pad_id).all()
        real = int((batch.target_outputs[row] != 0).sum())
        assert batch.target_inputs[row, 0] == tokenizer.bos_id
        assert batch.target_outputs[row, real - 1] == tokenizer.eos_id
        assert (batch.target_inputs[row, 1:real] == batch.target_outputs[row, : real - 1]).all()
