"""The corpus reports share one base: summary with or without the split, to_dict as JSON."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from generator.data.harmony import HarmonyReport
from generator.data.midi_corpus import CorpusReport
from generator.data.pairs import PairReport
from generator.data.piano_roll import RollReport
from generator.data.report import ReadReport, skipped_lines
from generator.data.text_corpus import TextCorpusReport

SKIPPED = [("a.mid", "not MIDI: bad header"), ("b.mid", "empty"), ("c.mid", "empty")]
REPORTS = {
    "midi": lambda: CorpusReport(
        "in", files_read=1, min_pitch=40, max_pitch=80, meters=Counter(a=1)
    ),
    "text": lambda: TextCorpusReport("in", split="by file", train_segments=3),
    "roll": lambda: RollReport("in", min_pitch=30, max_pitch=90, train_pieces=2),
    "harmony": lambda: HarmonyReport("in", voices=["Bass"], train_files=2),
    "pairs": lambda: PairReport("in", no_tab=[4], train_pairs=2),
}


@pytest.mark.parametrize("name", REPORTS)
def test_every_report_shows_its_skipped_inputs_and_the_split_on_request(name):
    report = REPORTS[name]()
    assert isinstance(report, ReadReport)
    report.skipped = list(SKIPPED)
    report.read_seconds = 1.5
    summary = report.summary()
    assert "  skipped 2: empty" in summary and "    a.mid: not MIDI: bad header" in summary
    assert "train" in summary and "train" not in report.summary(split=False)
    stored = report.to_dict()
    assert "read_seconds" not in stored
    assert json.loads(json.dumps(stored)) == stored  # plain JSON types only
    if name != "pairs":  # a TSV file's skipped lines are stored as counts
        assert stored["skipped"] == [list(s) for s in SKIPPED]


def test_derived_values_replace_the_fields_they_come_from():
    stored = REPORTS["midi"]().to_dict()
    assert stored["pitch_range"] == [40, 80] and "min_pitch" not in stored
    assert stored["meters"] == {"a": 1}
    assert REPORTS["pairs"]().to_dict()["skipped_no_tab"] == 1


def test_skipped_lines_count_reasons_then_name_the_first_few():
    lines = skipped_lines([(f"f{i}", "empty") for i in range(12)], show=2)
    assert lines == ["  skipped 12: empty", "    f0: empty", "    f1: empty", "    ... and 10 more"]
