"""SentencePiece tokenizer: trained in-process (BPE and unigram), exact round trips, storage."""

from __future__ import annotations

import io

import numpy as np
import pytest
import sentencepiece as spm
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from generator.tokenizers import SentencePieceTokenizer, tokenizer_from_dict
from generator.tokenizers import sentencepiece as sp_module

CORPUS = [
    "The quick brown fox jumps over the lazy dog.\n" * 20,
    "    def indent(self):\n        return  'two  spaces'\n\n" * 10,
    "Ünïcödé: naïve café, 世界, emoji 😀.\n" * 5,
]
TEXTS = st.text(alphabet=st.characters(blacklist_characters="\u2581", blacklist_categories=["Cs"]))


@pytest.fixture(scope="module", params=["bpe", "unigram"])
def tokenizer(request: pytest.FixtureRequest) -> SentencePieceTokenizer:
    return SentencePieceTokenizer.train(CORPUS, vocab_size=320, model_type=request.param)


def test_special_ids_are_the_shared_ones(tokenizer: SentencePieceTokenizer) -> None:
    assert (tokenizer.pad_id, tokenizer.bos_id, tokenizer.eos_id, tokenizer.unk_id) == (0, 1, 2, 3)
    assert [tokenizer.token_name(i) for i in range(4)] == ["PAD", "BOS", "EOS", "UNK"]
    assert tokenizer.decode([0, 1, 2]) == ""
    assert 260 < tokenizer.vocab_size <= 320  # 256 byte pieces, then learned pieces


def test_round_trip_of_the_training_text(tokenizer: SentencePieceTokenizer) -> None:
    for text in CORPUS:
        ids = tokenizer.encode(text)
        assert ids.dtype == np.int32
        assert len(ids) < len(text)  # subwords: fewer tokens than characters
        assert tokenizer.decode(ids) == text  # spaces, indentation and newlines kept


@settings(deadline=None)
@given(TEXTS)
def test_round_trip_of_any_unicode_text_through_byte_fallback(
    tokenizer: SentencePieceTokenizer, text: str
) -> None:
    ids = tokenizer.encode(text)
    assert tokenizer.unk_id not in ids.tolist()
    assert tokenizer.decode(ids) == text


@settings(deadline=None)
@given(TEXTS)
def test_decode_agrees_with_sentencepiece(tokenizer: SentencePieceTokenizer, text: str) -> None:
    processor = spm.SentencePieceProcessor(model_proto=tokenizer.model)
    ids = tokenizer.encode(text).tolist()
    assert ids == processor.encode(text)
    assert tokenizer.decode(ids) == processor.decode(ids)


@settings(deadline=None)
@given(st.data())
def test_streaming_decode_equals_decode_for_any_ids(
    tokenizer: SentencePieceTokenizer, data: st.DataObject
) -> None:
    """Any ids, broken UTF-8 from byte pieces included; a final ASCII piece completes the text."""
    ids = data.draw(st.lists(st.integers(0, tokenizer.vocab_size - 1), max_size=40))
    ids += tokenizer.encode("a").tolist()
    feed = tokenizer.stream()
    assert "".join(feed(i) for i in ids) == tokenizer.decode(ids)


def test_chunked_encoding_matches_whole_encoding(
    tokenizer: SentencePieceTokenizer, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = "".join(CORPUS)
    processor = spm.SentencePieceProcessor(model_proto=tokenizer.model)
    monkeypatch.setattr(sp_module, "ENCODE_CHUNK", 37)
    assert tokenizer.encode(text).tolist() == processor.encode(text)
    # a "word" longer than a chunk has to be cut anywhere: the ids may differ, the text may not
    long_word = "averyveryverylongwordwithoutanyspace" * 3
    assert tokenizer.decode(tokenizer.encode(long_word)) == long_word


def test_length_in_characters(tokenizer: SentencePieceTokenizer) -> None:
    cost = tokenizer.length_cost("characters")
    for token_id in range(4, tokenizer.vocab_size):
        if not tokenizer.token_name(token_id).startswith("<0x"):
            assert cost[token_id] == len(tokenizer.decode([token_id]))
    for text in [*CORPUS, "€ and 😀 spelled in bytes: ʬʭ"]:
        assert cost[tokenizer.encode(text)].sum() == len(text)
    assert tokenizer.length_cost("tokens")[4:].sum() == tokenizer.vocab_size - 4


def test_model_bytes_rebuild_it_from_a_weights_only_checkpoint(
    tokenizer: SentencePieceTokenizer,
) -> None:
    buffer = io.BytesIO()
    torch.save({"tokenizer": tokenizer.to_dict()}, buffer)
    buffer.seek(0)
    rebuilt = tokenizer_from_dict(torch.load(buffer, weights_only=True)["tokenizer"])
    assert isinstance(rebuilt, SentencePieceTokenizer)
    assert rebuilt.model == tokenizer.model
    assert rebuilt.encode(CORPUS[0]).tolist() == tokenizer.encode(CORPUS[0]).tolist()


def test_without_byte_fallback_unknown_characters_are_unk() -> None:
    tokenizer = SentencePieceTokenizer.train(CORPUS[:1], vocab_size=60, byte_fallback=False)
    ids = tokenizer.encode("the fox ☃").tolist()
    assert ids[-1] == tokenizer.unk_id
    assert tokenizer.decode(ids) == "the fox \ufffd"


def test_training_errors_are_clear() -> None:
    with pytest.raises(ValueError, match="no text"):
        SentencePieceTokenizer.train(["", "\n\n"])
    with pytest.raises(ValueError, match="vocabulary size 100"):
        SentencePieceTokenizer.train(CORPUS, vocab_size=100)  # byte fallback needs 256+
    with pytest.raises(ValueError, match="model type"):
        SentencePieceTokenizer.train(CORPUS, model_type="word")
