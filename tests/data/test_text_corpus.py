"""Reading text corpora: files and folders, encodings, bad and empty input, segments, splits."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from generator.data.text_corpus import (
    MIN_FILES_TO_SPLIT_BY_FILE,
    TextCorpusError,
    load_text_corpus,
)
from generator.tokenizers import CharTokenizer, MidiEventTokenizer, SentencePieceTokenizer


def write(path: Path, data: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8")
    path.write_bytes(data)
    return path


def joined(pieces) -> list[int]:
    return [int(t) for p in pieces for t in p.tokens]


def test_a_folder_is_read_recursively_for_txt_and_md_only(tmp_path: Path) -> None:
    write(tmp_path / "a.txt", "alpha\n")
    write(tmp_path / "deep" / "er" / "b.MD", "# beta\n")
    write(tmp_path / "code.py", "print('not text')\n")
    write(tmp_path / ".git" / "notes.txt", "hidden\n")
    write(tmp_path / ".hidden.txt", "hidden\n")
    corpus = load_text_corpus(tmp_path, valid_fraction=0.0)
    report = corpus.report
    assert (report.files_found, report.files_read, report.skipped) == (2, 2, [])
    assert report.characters == len("alpha\n# beta\n") == report.tokens
    assert report.vocab_size == corpus.tokenizer.vocab_size == 4 + len(set("alpha\n# beta\n"))
    assert [p.name for p in corpus.train] == ["a.txt#0", "deep/er/b.MD#0"]
    assert "13 characters, 13 tokens" in report.summary()
    assert report.to_dict()["tokenizer"] == "characters"


def test_one_file_is_split_by_position_deterministically(tmp_path: Path) -> None:
    text = "".join(f"line {i}\n" for i in range(100))
    path = write(tmp_path / "one.txt", text)
    corpus = load_text_corpus(path, valid_fraction=0.1, segment_len=50)
    again = load_text_corpus(path, valid_fraction=0.1, segment_len=50)
    assert corpus.report.split == "by position"
    ids = corpus.tokenizer.encode(text).tolist()
    cut = len(ids) - len(ids) // 10
    assert joined(corpus.train) == ids[:cut]  # the head trains ...
    assert joined(corpus.valid) == ids[cut:]  # ... the last 10% validates
    assert joined(again.valid) == joined(corpus.valid)
    assert corpus.report.valid_characters == len(text) - cut


def test_many_files_are_split_by_file_deterministically(tmp_path: Path) -> None:
    for i in range(MIN_FILES_TO_SPLIT_BY_FILE + 5):
        write(tmp_path / f"f{i:02d}.txt", f"file number {i}\n" * 3)
    corpus = load_text_corpus(tmp_path, valid_fraction=0.2)
    again = load_text_corpus(tmp_path, valid_fraction=0.2)
    assert corpus.report.split == "by file"
    train_files = {p.name.split("#")[0] for p in corpus.train}
    valid_files = {p.name.split("#")[0] for p in corpus.valid}
    assert valid_files and train_files and not train_files & valid_files
    assert len(train_files | valid_files) == MIN_FILES_TO_SPLIT_BY_FILE + 5
    assert [p.name for p in again.valid] == [p.name for p in corpus.valid]


def test_segments_are_bounded_and_only_a_file_end_predicts_eos(tmp_path: Path) -> None:
    text = "abcdefghij" * 30  # 300 characters
    corpus = load_text_corpus(write(tmp_path / "t.txt", text), segment_len=64, valid_fraction=0)
    pieces = corpus.train
    assert [len(p.tokens) for p in pieces] == [64, 64, 64, 64, 44]
    assert [p.ends for p in pieces] == [False, False, False, False, True]
    assert corpus.tokenizer.decode(joined(pieces)) == text
    assert pieces[0].tokens.dtype == np.uint16  # compact storage for small vocabularies
    assert np.shares_memory(pieces[0].tokens, pieces[1].tokens.base)  # views, not copies


def test_bad_encoding_names_the_file_and_byte_offset(tmp_path: Path) -> None:
    write(tmp_path / "good.txt", "fine text\n")
    write(tmp_path / "sub" / "bad.txt", b"caf\xe9 au lait\nmore\n")
    with pytest.raises(TextCorpusError, match=r"sub/bad\.txt: not valid utf-8 at byte 3 \(line 1"):
        load_text_corpus(tmp_path)


def test_bad_files_can_be_skipped_and_are_reported(tmp_path: Path) -> None:
    write(tmp_path / "good.txt", "fine text\n")
    write(tmp_path / "bad.txt", b"ok\n\xff\xfe broken")
    corpus = load_text_corpus(
        tmp_path, skip_bad_files=True, tokenizer="sentencepiece", vocab_size=280
    )
    report = corpus.report
    assert report.files_read == 1
    assert report.skipped == [("bad.txt", report.skipped[0][1])]
    assert "byte 3 (line 2" in report.skipped[0][1]
    assert "    bad.txt: " in report.summary()  # the skipped files, by name


def test_encoding_flag_reads_other_encodings(tmp_path: Path) -> None:
    path = write(tmp_path / "latin.txt", "café crème\r\n".encode("latin-1"))
    corpus = load_text_corpus(path, encoding="latin-1", valid_fraction=0)
    assert corpus.tokenizer.decode(joined(corpus.train)) == "café crème\n"  # \r\n → \n
    with pytest.raises(ValueError, match="unknown encoding"):
        load_text_corpus(path, encoding="no-such-codec")


def test_utf8_byte_order_mark_is_dropped(tmp_path: Path) -> None:
    path = write(tmp_path / "bom.txt", b"\xef\xbb\xbfhello")
    corpus = load_text_corpus(path, valid_fraction=0)
    assert corpus.tokenizer.decode(joined(corpus.train)) == "hello"


@pytest.mark.parametrize("tokenizer", ["char", "sentencepiece"])
def test_empty_corpus_is_a_clear_error(tmp_path: Path, tokenizer: str) -> None:
    (tmp_path / "none").mkdir()
    with pytest.raises(TextCorpusError, match="no .txt or .md files"):
        load_text_corpus(tmp_path / "none", tokenizer=tokenizer)
    write(tmp_path / "empty" / "a.txt", "")
    write(tmp_path / "empty" / "b.md", "")
    with pytest.raises(TextCorpusError, match="none with text.*a.txt: empty file"):
        load_text_corpus(tmp_path / "empty", tokenizer=tokenizer)
    with pytest.raises(FileNotFoundError):
        load_text_corpus(tmp_path / "missing")


def test_a_given_tokenizer_counts_unknown_characters(tmp_path: Path) -> None:
    path = write(tmp_path / "t.txt", "abc xyz")
    corpus = load_text_corpus(path, tokenizer=CharTokenizer("abc "), valid_fraction=0)
    assert corpus.report.unknown_tokens == 3
    assert "3 characters outside the vocabulary" in corpus.report.summary()
    with pytest.raises(ValueError, match="not a text model"):
        load_text_corpus(path, tokenizer=MidiEventTokenizer())


def test_sentencepiece_corpus_reports_its_vocabulary(tmp_path: Path) -> None:
    path = write(tmp_path / "t.txt", "the cat sat on the mat.\n" * 50)
    corpus = load_text_corpus(path, tokenizer="sentencepiece", vocab_size=300)
    assert isinstance(corpus.tokenizer, SentencePieceTokenizer)
    assert corpus.report.vocab_size == corpus.tokenizer.vocab_size <= 300
    assert corpus.report.tokens < corpus.report.characters == 24 * 50


def test_validation_is_capped_to_the_first_share_of_each_held_out_file(tmp_path: Path) -> None:
    text = "".join(chr(ord("a") + i % 26) for i in range(10_000))
    write(tmp_path / "one.txt", text)
    whole = load_text_corpus(tmp_path / "one.txt", valid_fraction=0.1, segment_len=64)
    assert whole.report.valid_tokens == whole.report.held_out_tokens == 1000
    assert whole.valid[-1].ends and "validating on" not in whole.report.summary()

    capped = load_text_corpus(
        tmp_path / "one.txt", valid_fraction=0.1, segment_len=64, max_valid_tokens=250
    )
    report = capped.report
    assert (report.valid_tokens, report.held_out_tokens) == (250, 1000)
    assert joined(capped.valid) == joined(whole.valid)[:250]  # contiguous, from the tail's start
    assert not capped.valid[-1].ends  # the text goes on past the cut: no EOS
    assert report.valid_characters == 250
    assert joined(capped.train) == joined(whole.train)  # train is never cut
    assert "validating on 250 of 1,000 held-out tokens (25.0%" in report.summary()

    for k in range(2 * MIN_FILES_TO_SPLIT_BY_FILE):  # split by file: every held-out file shows
        write(tmp_path / "many" / f"f{k:02}.txt", text[: 400 + 10 * k])
    many = load_text_corpus(tmp_path / "many", valid_fraction=0.5, max_valid_tokens=200)
    held = load_text_corpus(tmp_path / "many", valid_fraction=0.5, max_valid_tokens=0)
    assert many.report.valid_tokens <= 200 < many.report.held_out_tokens
    assert {p.name.split("#")[0] for p in many.valid} == {p.name.split("#")[0] for p in held.valid}
