"""The per-corpus token cache: what a cached read gives, when it is rewritten, and two runs
using it at once (threads and processes)."""

from __future__ import annotations

import multiprocessing
import os
from pathlib import Path

import numpy as np
import pytest

from generator.data.midi_corpus import load_midi_corpus
from generator.midi import write_midi
from tests.data.test_midi_collection import collection, tune


def load(folder: Path, cache_dir: Path | None, **options):
    return load_midi_corpus(folder, cache_dir=cache_dir, progress=False, **options)


def contents(corpus) -> tuple:
    """Everything a trainer takes from a corpus, as plain values."""
    sides = [
        [(p.name, p.style, p.tokens.tolist()) for p in side]
        for side in (corpus.train, corpus.valid)
    ]
    return sides, corpus.tokenizer.to_dict(), corpus.report.to_dict()


def plain(value) -> bool:
    """Only the types a checkpoint may hold (the report is stored in it): no numpy scalars."""
    if isinstance(value, dict):
        return all(plain(k) and plain(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return all(plain(v) for v in value)
    return type(value) in (str, int, float, bool, type(None))


def cache_file(cache: Path) -> Path:
    (found,) = cache.glob("midi-corpus-*.npz")
    return found


def test_a_cached_read_gives_what_a_fresh_read_gives_and_writes_nothing(tmp_path):
    root = collection(tmp_path / "midi", tunes=6)
    (root / "broken.mid").write_bytes(b"MThd not really")  # a skip is remembered too
    cache = tmp_path / "cache"
    fresh = load(root, None, valid_fraction=0.3)
    first = load(root, cache, valid_fraction=0.3)
    written = cache_file(cache).stat()
    second = load(root, cache, valid_fraction=0.3)
    assert first.report.cached_files == 0 and second.report.cached_files == 19  # 18 tunes, broken
    # (the copy of tune00 is a duplicate: its content is counted once)
    assert contents(second) == contents(first) == contents(fresh)
    assert (
        second.report.duplicates
        == fresh.report.duplicates
        == [("tune00.mid", "copy-of-tune00.mid")]
    )
    assert second.report.skipped == [("broken.mid", fresh.report.skipped[0][1])]
    for read in (first, second):  # cold and cached
        assert plain(read.report.to_dict()) and plain(read.tokenizer.to_dict())
    again = cache_file(cache).stat()  # an unchanged folder: the cache is not rewritten
    assert (again.st_ino, again.st_mtime_ns) == (written.st_ino, written.st_mtime_ns)


def test_a_touched_file_is_found_by_its_content_and_a_new_one_is_read(tmp_path):
    root = collection(tmp_path / "midi", tunes=4)
    cache = tmp_path / "cache"
    load(root, cache)
    touched = root / "melody" / "Tune01.mid"
    os.utime(touched, ns=(1, 1))  # a new stamp, the same bytes: hashed, not parsed again
    write_midi(tune(40), root / "tune40.mid")  # a new file: parsed
    (root / "chords" / "TUNE03.MID").unlink()  # a removed file: left out of the cache
    corpus = load(root, cache)
    assert corpus.report.files_read == 12 and corpus.report.cached_files == 11
    assert contents(corpus) == contents(load(root, None))
    with np.load(cache_file(cache), allow_pickle=False) as data:
        assert "chords/TUNE03.MID" not in data["stamp_names"].tolist()
        assert len(data["digests"]) == 12  # one row per content: the copy shares a row
    assert load(root, cache).report.cached_files == 12


def test_a_cache_whose_columns_disagree_is_rebuilt(tmp_path):
    root = collection(tmp_path / "midi", tunes=3)
    cache = tmp_path / "cache"
    reference = contents(load(root, cache))
    path = cache_file(cache)
    with np.load(path, allow_pickle=False) as data:
        arrays = {name: data[name] for name in data.files}
    arrays["stamp_rows"] = arrays["stamp_rows"] + 100  # rows that are not there
    np.savez(path, **arrays)
    rebuilt = load(root, cache)
    assert rebuilt.report.cached_files == 0 and contents(rebuilt) == reference
    arrays = {**arrays, "stamp_rows": arrays["stamp_rows"] - 100, "lengths": arrays["lengths"] + 1}
    np.savez(path, **arrays)  # token lengths that do not add up to the tokens
    assert load(root, cache).report.cached_files == 0


def _read_repeatedly(root: str, cache: str, exclude: tuple[str, ...], rounds: int, queue) -> None:
    try:
        results = [
            contents(load(Path(root), Path(cache), exclude=exclude, valid_fraction=0.3))
            for _ in range(rounds)
        ]
        queue.put(results)
    except BaseException as error:  # reported by the test
        queue.put(repr(error))


@pytest.mark.skipif(
    "fork" not in multiprocessing.get_all_start_methods(), reason="needs fork (POSIX)"
)
def test_two_processes_reading_and_rewriting_the_cache_at_once_read_correctly(tmp_path):
    """Two runs with different --exclude rewrite the cache in turn while the other reads it:
    each read must still give exactly what a read without a cache gives."""
    root = collection(tmp_path / "midi", tunes=12)
    cache = tmp_path / "cache"
    rules = [(), ("melody",)]
    expected = [contents(load(root, None, exclude=e, valid_fraction=0.3)) for e in rules]
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    runs = [
        context.Process(target=_read_repeatedly, args=(str(root), str(cache), e, 8, queue))
        for e in rules
    ]
    for run in runs:
        run.start()
    results = [queue.get(timeout=120) for _ in runs]
    for run in runs:
        run.join(timeout=60)
    assert all(isinstance(r, list) for r in results), results
    for result in results:
        rule = 0 if result[0][2]["excluded"] == 0 else 1
        assert all(read == expected[rule] for read in result)
    assert not list(cache.glob("*.tmp*"))  # no temporary file left behind
    assert len(list(cache.glob("midi-corpus-*.npz"))) == 1
