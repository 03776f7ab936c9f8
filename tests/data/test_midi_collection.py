"""A personal collection: versions of a tune, duplicates, style rules, excludes, shared cache."""

from __future__ import annotations

import threading
from pathlib import Path

import pretty_midi
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from generator.data.midi_corpus import load_midi_corpus
from generator.midi import Note, write_midi
from generator.midi.notes import notes_from_bytes, notes_from_pretty_midi, parse_midi


def tune(seed: int, voices: int = 1) -> list[Note]:
    """A short tune whose notes depend on ``seed`` (distinct bytes for distinct seeds)."""
    notes = []
    for step in range(8):
        pitch = 60 + (seed * 7 + step * 5) % 12
        notes += [Note(step * 0.5, 0.5, pitch - 12 * v, 40 + seed) for v in range(voices)]
    return notes


def collection(root: Path, tunes: int = 30) -> Path:
    """Each tune three times: the arrangement at the top, then melody/ and chords/ versions
    (their names in another case), plus one exact copy of a file under another name."""
    for i in range(tunes):
        write_midi(tune(i, voices=2), root / f"tune{i:02d}.mid")
        write_midi(tune(i), root / "melody" / f"Tune{i:02d}.mid")
        write_midi(tune(i, voices=3), root / "chords" / f"TUNE{i:02d}.MID")
    (root / "copy-of-tune00.mid").write_bytes((root / "tune00.mid").read_bytes())
    return root


def load(folder: Path, **options):
    options.setdefault("cache_dir", None)
    return load_midi_corpus(folder, progress=False, **options)


def test_versions_of_a_tune_never_straddle_the_split_and_duplicates_are_reported(tmp_path):
    corpus = load(collection(tmp_path), valid_fraction=0.3)
    report = corpus.report

    def tune_of(name: str) -> str:
        return Path(name).stem.lower()

    train = {tune_of(p.name) for p in corpus.train}
    valid = {tune_of(p.name) for p in corpus.valid}
    assert train and valid and not train & valid  # no tune on both sides
    assert len(corpus.train) + len(corpus.valid) == 90  # the copy is read once
    assert report.duplicates == [("tune00.mid", "copy-of-tune00.mid")]
    # sorted order reads copy-of-tune00.mid first; it travels with tune00's other versions
    assert report.groups == 30 and report.grouped_files == 90
    side = {p.name: "train" for p in corpus.train} | {p.name: "valid" for p in corpus.valid}
    assert side["copy-of-tune00.mid"] == side["melody/Tune00.mid"] == side["chords/TUNE00.MID"]
    summary = report.summary()
    assert "1 duplicate" in summary and "same bytes as copy-of-tune00.mid" in summary
    assert "30 groups of 2+ files (90 files)" in summary
    again = load(tmp_path, valid_fraction=0.3)  # deterministic
    assert [p.name for p in again.valid] == [p.name for p in corpus.valid]


def test_group_by_none_splits_file_by_file(tmp_path):
    corpus = load(collection(tmp_path), valid_fraction=0.3, group_by="none")
    train = {Path(p.name).stem.lower() for p in corpus.train}
    valid = {Path(p.name).stem.lower() for p in corpus.valid}
    assert train & valid  # without grouping, versions land on both sides
    assert corpus.report.groups == 0


def test_styles_by_choice_and_the_report_counts_files_without_one(tmp_path):
    root = collection(tmp_path, tunes=4)
    folders = load(root).report
    assert dict(folders.styles) == {"melody": 4, "chords": 4}
    assert folders.unstyled == 4 and "4 files without a style (top-level files)" in (
        folders.summary()
    )

    none = load(root, styles="none")
    assert none.tokenizer.styles == [] and none.report.unstyled == 12
    assert "styles: none (--styles none)" in none.report.summary()

    table = tmp_path / "styles.csv"
    table.write_text("path,style\ntune01.mid,reel\nmelody/Tune02.mid,jig\n", encoding="utf-8")
    listed = load(root, styles=table)
    styles = {p.name: p.style for p in listed.train + listed.valid}
    assert styles["tune01.mid"] == "reel" and styles["melody/Tune02.mid"] == "jig"
    assert listed.tokenizer.styles == ["jig", "reel"] and listed.report.unstyled == 10
    assert "10 files without a style (not listed)" in listed.report.summary()


def test_a_style_table_without_the_columns_is_a_clear_error(tmp_path):
    root = collection(tmp_path, tunes=2)
    table = tmp_path / "styles.csv"
    table.write_text("file,genre\ntune00.mid,reel\n", encoding="utf-8")
    with pytest.raises(ValueError, match="'path' and 'style' columns"):
        load(root, styles=table)


def test_exclude_leaves_out_folders_and_patterns(tmp_path):
    root = collection(tmp_path, tunes=4)
    corpus = load(root, exclude=["melody", "chords/*"], valid_fraction=0)
    top = ["copy-of-tune00.mid"] + [f"tune{i:02d}.mid" for i in range(1, 4)]
    assert sorted(p.name for p in corpus.train) == top  # tune00.mid: a duplicate of the copy
    assert corpus.report.excluded == 8 and "8 excluded" in corpus.report.summary()
    assert corpus.report.files_found == 5  # 4 tunes and the copy; the copy is a duplicate
    assert load(root, exclude=["*copy*"]).report.duplicates == []


def test_two_readers_at_once_share_the_cache_safely(tmp_path):
    root = collection(tmp_path / "midi", tunes=10)
    cache = tmp_path / "cache"
    results, errors = [], []

    def read() -> None:
        try:
            results.append(load(root, cache_dir=cache, valid_fraction=0.2))
        except Exception as error:  # surfaced by the assertion below
            errors.append(error)

    threads = [threading.Thread(target=read) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors and len(results) == 2
    names = [[p.name for p in r.train] for r in results]
    assert names[0] == names[1]
    assert len(list(cache.glob("midi-corpus-*.npz"))) == 1 and not list(cache.glob("*.tmp*"))
    again = load(root, cache_dir=cache, valid_fraction=0.2)
    assert again.report.cached_files == 30  # 31 files, one a duplicate
    for a, b in zip(again.train, results[0].train, strict=True):
        assert (a.tokens == b.tokens).all()


@settings(max_examples=40, deadline=None)
@given(
    notes=st.lists(
        st.tuples(
            st.integers(0, 400), st.integers(1, 60), st.integers(0, 127), st.integers(1, 127)
        ),
        min_size=1,
        max_size=40,
    ),
    resolution=st.sampled_from([96, 220, 480, 960]),
    tempo=st.floats(40, 240),
)
def test_symusic_reads_the_notes_pretty_midi_reads(notes, resolution, tempo):
    """Same notes from both parsers (all 3,300 files of the built corpus agree too). Notes of
    one pitch that overlap on one channel are ambiguous in MIDI (which note-off ends which
    note?), and the parsers pair them differently, so the generated notes never do that."""
    busy: dict[int, list[tuple[int, int]]] = {}
    kept = []
    for start, length, pitch, velocity in notes:
        spans = busy.setdefault(pitch, [])
        if all(start + length <= a or start >= b for a, b in spans):
            spans.append((start, start + length))
            kept.append((start, length, pitch, velocity))
    notes = kept
    midi = pretty_midi.PrettyMIDI(resolution=resolution, initial_tempo=tempo)
    for track in range(2):
        instrument = pretty_midi.Instrument(program=0, is_drum=track == 1)
        for start, length, pitch, velocity in notes:
            begin = midi.tick_to_time(start * resolution // 24)
            end = midi.tick_to_time((start + length) * resolution // 24)
            instrument.notes.append(pretty_midi.Note(velocity, pitch, begin, end))
        midi.instruments.append(instrument)
    path_bytes = _bytes(midi)
    expected = notes_from_pretty_midi(parse_midi(path_bytes))
    assert notes_from_bytes(path_bytes).notes == expected


def _bytes(midi: pretty_midi.PrettyMIDI) -> bytes:
    import io

    buffer = io.BytesIO()
    midi.write(buffer)
    return buffer.getvalue()


def test_a_style_table_that_never_ends_is_refused_not_read_whole(tmp_path):
    root = collection(tmp_path / "midi", tunes=2)
    with pytest.raises(ValueError, match="style table holds more than"):
        load(root, styles="/dev/zero")  # a hostile or careless --styles: bounded read
