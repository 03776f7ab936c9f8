"""The copy check on sequences whose copied runs can be read off by eye."""

from __future__ import annotations

import numpy as np
import pytest

from generator.evaluation.copying import copy_check, pitch_sequence, verbatim_runs
from generator.midi.notes import Note


def seq(*values):
    return np.array(values, dtype=np.int64)


def test_windows_and_longest_runs_by_hand():
    pieces = [seq(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), seq(5, 5, 5, 5)]
    training = [seq(0, 1, 2, 3, 4, 5, 6, 7, 0), seq(3, 4, 5, 6, 7, 8, 9, 10, 11)]
    found = verbatim_runs(pieces, training, 3)
    assert found.windows == 8 + 2
    assert found.copied == 8  # every 3-window of the first piece, none of the second
    assert found.share == pytest.approx(0.8)
    # 3..10 lies in the second training piece; 1..7 in the first: the longest is 8 items
    assert found.longest == [8, 0]


def test_a_run_never_spans_two_training_pieces():
    found = verbatim_runs([seq(1, 2, 3, 4)], [seq(1, 2, 3), seq(2, 3, 4)], 3)
    assert found.copied == 2 and found.longest == [3]
    assert verbatim_runs([seq(1, 2, 3, 4)], [seq(1, 2), seq(3, 4)], 3).copied == 0


def test_short_pieces_have_no_windows():
    found = verbatim_runs([seq(1, 2)], [seq(1, 2)], 3)
    assert found.windows == 0 and found.longest == [0]


def test_pitch_sequence_reads_chords_low_to_high():
    notes = [Note(1, 1, 64, 80), Note(0, 1, 67, 80), Note(0, 2, 60, 80)]
    assert pitch_sequence(notes).tolist() == [60, 67, 64]


def test_copy_check_exact_and_in_another_key():
    tune = [Note(i * 0.5, 0.5, p, 80) for i, p in enumerate([62, 64, 66, 67, 69, 71, 73, 74, 76])]
    up_a_tone = [Note(n.start, n.duration, n.pitch + 2, 80) for n in tune]
    report = copy_check([tune, up_a_tone], [tune], run_length=8).to_dict()
    assert report["windows"] == 4  # two 8-note windows in each 9-note piece
    assert report["copied_share"] == 0.5  # the tune itself, not its transposition
    assert report["longest_copied_run"] == 9
    assert report["copied_share_any_key"] == 1.0
    assert report["longest_copied_run_any_key"] == 9
    with pytest.raises(ValueError, match="run length"):
        copy_check([tune], [tune], run_length=1)
