"""The MIDI corpus built from music21's bundled scores: layout, contents, caching, failures."""

from __future__ import annotations

import csv
import time
from collections import Counter
from pathlib import Path

import mido
import pretty_midi
import pytest
from music21 import converter, dynamics, meter, note, stream

from generator.data import music21_corpus
from generator.data.music21_corpus import (
    MANIFEST_NAME,
    STAMP_NAME,
    VELOCITY,
    WorkItem,
    build_music_corpus,
    normalise_rhythm,
)

LIMIT = 2  # scores per source: 8 files, a few seconds on two workers


@pytest.fixture(scope="module")
def small_build(tmp_path_factory: pytest.TempPathFactory):
    """The first two scores of every default source, built once for this module."""
    out_dir = tmp_path_factory.mktemp("music")
    report = build_music_corpus(out_dir, limit_per_source=LIMIT, workers=2, progress=False)
    return out_dir, report


def read_manifest(out_dir: Path) -> list[dict[str, str]]:
    with open(out_dir / MANIFEST_NAME, newline="", encoding="utf-8") as file:
        return list(csv.DictReader(file))


def midi_files(out_dir: Path) -> list[Path]:
    return sorted(out_dir.glob("*/*.mid"))


def test_manifest_lists_exactly_the_files_written(small_build):
    out_dir, report = small_build
    rows = read_manifest(out_dir)
    assert list(rows[0]) == ["path", "style", "source", "title"]
    on_disk = {path.relative_to(out_dir).as_posix() for path in midi_files(out_dir)}
    assert {row["path"] for row in rows} == on_disk
    assert len(rows) == 4 * LIMIT  # nothing in the first scores of each source fails
    for row in rows:
        style, file_name = row["path"].split("/")
        assert row["style"] == style  # the folder is the style
        assert file_name.startswith(row["source"] + "-")
        assert file_name.isascii() and row["title"]
    assert report.files_per_style == dict(Counter(row["style"] for row in rows))
    assert not report.cached and report.total_files == len(rows)


def test_every_file_reads_back_with_notes(small_build):
    out_dir, _ = small_build
    for path in midi_files(out_dir):
        midi = pretty_midi.PrettyMIDI(str(path))
        assert sum(len(instrument.notes) for instrument in midi.instruments) > 10, path
        assert mido.MidiFile(str(path)).length > 5.0, path  # seconds


def test_chorales_have_one_named_track_per_voice(small_build):
    out_dir, _ = small_build
    chorales = sorted((out_dir / "chorale").glob("*.mid"))
    assert [path.name for path in chorales] == ["bach-bwv1.6.mid", "bach-bwv10.7.mid"]
    for path in chorales:  # bwv1.6 also has a horn part in the score: it is dropped
        instruments = pretty_midi.PrettyMIDI(str(path)).instruments
        assert [i.name for i in instruments] == ["Soprano", "Alto", "Tenor", "Bass"]
        assert all(instrument.notes for instrument in instruments)
        soprano, bass = (instruments[0].notes, instruments[3].notes)
        assert max(n.pitch for n in soprano) > max(n.pitch for n in bass)


def test_style_comes_from_the_rhythm_header(small_build):
    out_dir, _ = small_build
    assert (out_dir / "strathspey" / "ryansMammoth-42dHighlandRegimentStrathspey.mid").exists()
    assert (out_dir / "reel" / "ryansMammoth-7thRegimentReel.mid").exists()
    assert (out_dir / "folk" / "oneills1850-0001.mid").exists()  # no R: header


@pytest.mark.parametrize(
    "relative_path, quarter_bpm",
    [
        ("chorale/bach-bwv1.6.mid", 76.0),  # the score's metronome mark
        ("chorale/bach-bwv10.7.mid", 80.0),  # chorale default, 80 quarter notes
        ("reel/ryansMammoth-7thRegimentReel.mid", 110.0),  # reel default, 2/4: 110 quarters
        ("folk/oneills1850-0001.mid", 100.0),  # other styles, 2/4: 100 quarters
    ],
)
def test_tempo_is_the_metronome_mark_or_the_style_default(small_build, relative_path, quarter_bpm):
    out_dir, _ = small_build
    _, tempi = pretty_midi.PrettyMIDI(str(out_dir / relative_path)).get_tempo_changes()
    assert list(tempi) == pytest.approx([quarter_bpm], abs=0.01)


def test_second_call_returns_the_cached_report_without_writing(small_build):
    out_dir, first = small_build
    written = [*midi_files(out_dir), out_dir / MANIFEST_NAME, out_dir / STAMP_NAME]
    before = {path: path.stat().st_mtime_ns for path in written}
    started = time.perf_counter()
    again = build_music_corpus(out_dir, limit_per_source=LIMIT, workers=2, progress=False)
    assert time.perf_counter() - started < 1.0
    assert again.cached
    assert again.files_per_style == first.files_per_style
    assert {path: path.stat().st_mtime_ns for path in written} == before
    assert "cached" in again.summary()


# A unit note length of 0/0 makes music21's ABC parser divide by zero; a tune may have no notes.
BROKEN = WorkItem("test", "broken", "folk", "Broken", abc="X:1\nM:4/4\nL:0/0\nK:C\nCDE|\n")
EMPTY = WorkItem("test", "empty", "folk", "Empty", abc="X:1\nM:4/4\nL:1/8\nK:C\n")


def test_a_tune_that_fails_is_skipped_with_its_reason(tmp_path, monkeypatch):
    real_work_items = music21_corpus._work_items

    def with_bad_tunes(sources, limit):
        items, skipped = real_work_items(sources, limit)
        return [BROKEN, *items, EMPTY], skipped

    monkeypatch.setattr(music21_corpus, "_work_items", with_bad_tunes)
    report = build_music_corpus(
        tmp_path, limit_per_source=1, workers=1, progress=False, sources=("ryansMammoth",)
    )
    reasons = {item.name: item.reason for item in report.skipped}
    assert reasons == {"test-broken": "parse failed (ZeroDivisionError)", "test-empty": "no notes"}
    assert report.skipped_reasons["no notes"] == 1
    assert [row["path"] for row in read_manifest(tmp_path)] == [
        "strathspey/ryansMammoth-42dHighlandRegimentStrathspey.mid"
    ]
    assert (tmp_path / STAMP_NAME).exists()  # the build finished despite the failures
    assert "parse failed (ZeroDivisionError)" in report.summary()


def test_an_interrupted_build_does_not_look_finished(tmp_path, monkeypatch):
    settings = dict(limit_per_source=1, workers=1, progress=False, sources=("nottingham-dataset",))
    build_music_corpus(tmp_path, **settings)
    assert (tmp_path / STAMP_NAME).exists()

    def interrupted(*args):
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(music21_corpus, "_write_manifest", interrupted)
        with pytest.raises(KeyboardInterrupt):
            build_music_corpus(tmp_path, force=True, **settings)
    assert not (tmp_path / STAMP_NAME).exists()
    rebuilt = build_music_corpus(tmp_path, **settings)
    assert not rebuilt.cached and rebuilt.total_files == 1


def test_changed_settings_rebuild_without_leaving_old_files(tmp_path):
    settings = dict(workers=1, progress=False, sources=("nottingham-dataset",))
    assert build_music_corpus(tmp_path, limit_per_source=2, **settings).total_files == 2
    report = build_music_corpus(tmp_path, limit_per_source=1, **settings)
    assert not report.cached and report.total_files == 1
    assert len(midi_files(tmp_path)) == 1


@pytest.mark.parametrize(
    "raw, style",
    [
        ("reel", "reel"),
        (" Reel ", "reel"),
        ("Hornpipe.", "hornpipe"),
        ("slipjig", "slip-jig"),
        ("Slip Jig", "slip-jig"),
        ("double jig", "jig"),
        ("Highland Fling", "fling"),
        ("fling", "fling"),
        ("Set Dance", "set-dance"),
        ("", None),
        (None, None),
    ],
)
def test_normalise_rhythm(raw, style):
    assert normalise_rhythm(raw) == style


def test_oneills_second_transcriptions_are_dropped():
    folder = music21_corpus._corpus_dir() / "oneills1850"
    keyed = music21_corpus._identify("oneills1850", music21_corpus._read_abc_tunes(folder))
    ids = [item_id for item_id, _ in keyed]
    assert len(ids) == len(set(ids))
    tunes = dict(keyed)
    # 0732-0758_bs.abc and _mh.abc transcribe the same numbers; 1556-1576.abc lacks some R:
    assert tunes["1570"].rhythm == "hornpipe"
    assert "1646" in tunes and "0000" not in tunes  # X: 0, numbered 1646 in its B: field


def test_ties_merge_same_pitches_only():
    # O'Neill's transcriptions tie different pitches (f-g) to mean a slur: both notes stay.
    tune = converter.parseData("X:1\nM:2/4\nL:1/16\nK:D\nf-g a3-a | d8- | d8 |\n", format="abc")
    events = [
        (start, length, pitch)
        for start, length, pitch, _ in music21_corpus._note_events(tune.parts[0].flatten())
    ]
    assert events == [(0.0, 0.25, 78), (0.25, 0.25, 79), (0.5, 1.0, 81), (1.5, 4.0, 74)]


def test_velocity_follows_dynamics_when_the_score_has_them():
    part = stream.Part([note.Note("C4"), dynamics.Dynamic("ff"), note.Note("D4")])
    part.makeMeasures(inPlace=True)
    velocities = [velocity for *_, velocity in music21_corpus._note_events(part.flatten())]
    assert velocities == [VELOCITY, round(dynamics.Dynamic("ff").volumeScalar * 127)]


def test_short_pickup_bars_are_not_meter_changes():
    bars = [("2/4", 2.0), ("2/4", 2.0), ("1/16", 0.25), ("2/4", 2.0)]  # a pickup mid-tune
    bars += [("5/8", 2.5), ("2/4", 2.0)]  # one long bar (a missing bar line)
    bars += [("3/6", 2.0), ("3/6", 2.0), ("2/4", 2.0)]  # not writable in MIDI
    bars += [("3/4", 3.0), ("3/4", 3.0), ("1/4", 1.0)]  # a real change, an incomplete last bar
    part = stream.Part()
    for signature, length in bars:
        measure = stream.Measure([meter.TimeSignature(signature), note.Note(quarterLength=length)])
        part.append(measure)
    changes = music21_corpus._time_signatures(part, lead=0.0, seconds_per_quarter=1.0)
    assert [(c.numerator, c.denominator, c.time) for c in changes] == [(2, 4, 0.0), (3, 4, 16.75)]
    free_meter = stream.Part([stream.Measure([note.Note()])])
    assert music21_corpus._time_signatures(free_meter, 0.0, 1.0) == []


def test_unknown_source_is_refused(tmp_path):
    with pytest.raises(ValueError, match="unknown sources"):
        build_music_corpus(tmp_path, sources=("bach", "beatles"))
