"""Corrupt text never crashes a run: a file is read exactly, skipped with a reason, or refused
with an error naming the file and the byte; a huge one-line file is read in bounded memory."""

from __future__ import annotations

import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from reliability_files import EXAMPLES

from generator.data.text_corpus import TextCorpusError, TextDecodeError, load_text_corpus

TEXT = "Der Bär — naïve 東京 🎵\r\nsecond line\twith a tab\n\x00NUL\x00 inside\n"
SEED = ("\ufeff" + TEXT * 3).encode("utf-8")
BAD_UTF8 = [b"\xff", b"\xc3", b"\xe2\x82", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xc0\xaf"]

edit = st.one_of(
    st.tuples(st.just("set"), st.integers(0, 1 << 12), st.integers(0, 255)),
    st.tuples(st.just("cut"), st.integers(0, 1 << 12)),
    st.tuples(st.just("insert"), st.integers(0, 1 << 12), st.binary(min_size=1, max_size=4)),
    st.tuples(st.just("insert"), st.integers(0, 1 << 12), st.sampled_from(BAD_UTF8)),
)


def mutate(data: bytes, edits: list[tuple]) -> bytes:
    out = bytearray(data)
    for kind, position, *value in edits:
        position %= len(out) + 1
        if kind == "set" and position < len(out):
            out[position] = value[0]
        elif kind == "cut":
            del out[position:]
        elif kind == "insert":
            out[position:position] = value[0]
    return bytes(out)


def read_back(corpus) -> str:
    """The corpus's text, decoded from its ids (one file: train head, then valid tail)."""
    pieces = corpus.train + corpus.valid
    ids = np.concatenate([p.tokens for p in pieces]) if pieces else np.zeros(0, np.int32)
    return corpus.tokenizer.decode(ids)


def check_one_file(path: Path, data: bytes, skip_bad_files: bool) -> str:
    """Load a one-file corpus; the outcome must be what Python's own decoder says of the bytes.
    Returns "read", "refused" or "empty"."""
    path.write_bytes(data)
    try:
        expected: str | UnicodeDecodeError = data.decode("utf-8-sig").replace("\r\n", "\n")
    except UnicodeDecodeError as error:
        expected = error
    try:
        corpus = load_text_corpus(path, skip_bad_files=skip_bad_files, segment_len=64)
    except TextDecodeError as error:
        assert not skip_bad_files and isinstance(expected, UnicodeDecodeError)
        offset = expected.start + len(data) - len(expected.object)  # from the file's first byte
        assert str(error).startswith(f"{path.name}: not valid utf-8 at byte {offset} ")
        return "refused"
    except TextCorpusError as error:  # no text left: empty, or its only file skipped
        assert f"{path}: no text to use" in str(error)
        assert expected == "" or skip_bad_files and isinstance(expected, UnicodeDecodeError)
        return "empty"
    assert isinstance(expected, str) and expected
    assert read_back(corpus) == expected  # every character kept, NUL included
    assert corpus.report.characters == len(expected) and corpus.report.unknown_tokens == 0
    return "read"


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(edits=st.lists(edit, min_size=1, max_size=6), skip_bad_files=st.booleans())
def test_mutated_text_is_read_exactly_or_refused_naming_file_and_byte(
    tmp_path, edits, skip_bad_files
):
    event(check_one_file(tmp_path / "mutated.txt", mutate(SEED, edits), skip_bad_files))


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=st.binary(max_size=400), skip_bad_files=st.booleans())
def test_random_bytes_as_text(tmp_path, data, skip_bad_files):
    event(check_one_file(tmp_path / "random.txt", data, skip_bad_files))


TEXT_CASES = {
    "invalid UTF-8 after a byte-order mark": (b"\xef\xbb\xbfok\n\xff", "refused"),
    "a lone continuation byte": (b"abc\x80def", "refused"),
    "a UTF-16 surrogate in UTF-8": (b"x\xed\xa0\x80y", "refused"),
    "a cut multi-byte character at the end": ("naïve €".encode()[:-1], "refused"),
    "NUL bytes": (b"\x00a\x00\x00b\x00" * 50, "read"),
    "only NUL bytes": (b"\x00" * 1000, "read"),
    "0 bytes": (b"", "empty"),
    "only a byte-order mark": (b"\xef\xbb\xbf", "empty"),
}


@pytest.mark.parametrize("case", list(TEXT_CASES))
def test_named_text_cases(tmp_path, case):
    data, outcome = TEXT_CASES[case]
    assert check_one_file(tmp_path / "case.txt", data, skip_bad_files=False) == outcome
    if outcome == "refused":  # with --skip-bad-files the same file is skipped, with the reason
        (tmp_path / "good.txt").write_text("some good text\n", encoding="utf-8")
        corpus = load_text_corpus(tmp_path, skip_bad_files=True, segment_len=64)
        assert [name for name, _ in corpus.report.skipped] == ["case.txt"]
        assert corpus.report.skipped[0][1].startswith("not valid utf-8 at byte")
        assert read_back(corpus) == "some good text\n"


def test_a_large_single_line_file_is_read_without_several_copies_in_memory(tmp_path):
    """16 MB on one line: the bytes, the text and the uint16 ids are each held once at most
    (3 bytes per ASCII character); before the ids were encoded straight to uint16 and counted
    in chunks, the peak was 7x the file."""
    path = tmp_path / "one-line.txt"
    size = 16_000_000
    unit = b"the quick brown fox jumps over the lazy dog; "
    path.write_bytes((unit * (size // len(unit) + 1))[:size])
    tracemalloc.start()
    started = time.perf_counter()
    try:
        corpus = load_text_corpus(path, segment_len=2047)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    seconds = time.perf_counter() - started
    assert corpus.report.characters == size and corpus.report.tokens == size
    assert all(p.tokens.dtype == np.uint16 for p in corpus.train)
    assert peak < 4 * size, f"peak {peak / size:.2f}x the file size"
    assert seconds < 30, f"reading a 16 MB line took {seconds:.1f} s"


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="needs /dev/zero")
def test_a_device_or_a_file_over_the_cap_is_a_one_line_error(tmp_path: Path, monkeypatch, capsys):
    import generator.data.text_corpus as text_corpus
    from generator.cli import main

    monkeypatch.setattr(text_corpus, "MAX_TEXT_FILE_BYTES", 1 << 20)
    tracemalloc.start()
    code = main(["train", "text", "--data", "/dev/zero", "--out", str(tmp_path / "m.pt")])
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    err = capsys.readouterr().err
    assert code != 0 and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert "/dev/zero: the text file holds more than 1,048,576 bytes (the cap)" in err
    assert peak < 4 << 20  # read no more than the cap + 1 bytes

    big = tmp_path / "corpus" / "big.txt"
    big.parent.mkdir()
    big.write_text("x" * ((1 << 20) + 1))
    (tmp_path / "corpus" / "small.txt").write_text("small text\n")
    with pytest.raises(TextCorpusError, match="big.txt: the text file holds more than"):
        load_text_corpus(tmp_path / "corpus")
    corpus = load_text_corpus(tmp_path / "corpus", skip_bad_files=True, valid_fraction=0)
    assert corpus.report.skipped == [("big.txt", "larger than the 1,048,576-byte cap")]
    assert corpus.report.files_read == 1
