"""Character tokenizer: exact round trips over arbitrary Unicode, the unknown policy, storage."""

from __future__ import annotations

import io

import numpy as np
import torch
from hypothesis import given
from hypothesis import strategies as st

from generator.tokenizers import CharTokenizer, tokenizer_from_dict
from generator.tokenizers.text import REPLACEMENT


@given(st.text())
def test_round_trip_of_any_unicode_text(text: str) -> None:
    tokenizer = CharTokenizer.from_texts([text])
    ids = tokenizer.encode(text)
    assert ids.dtype == np.int32
    assert len(ids) == len(text)
    assert ids.min(initial=4) >= 4  # no specials, no UNK: every character is known
    assert tokenizer.decode(ids) == text


@given(st.lists(st.text(), max_size=4))
def test_vocabulary_is_every_distinct_character_in_code_point_order(texts: list[str]) -> None:
    tokenizer = CharTokenizer.from_texts(texts)
    assert tokenizer.alphabet == "".join(sorted(set("".join(texts))))
    assert tokenizer.vocab_size == 4 + len(tokenizer.alphabet)


@given(st.text(), st.text())
def test_unknown_characters_become_unk_and_decode_to_replacement(known: str, text: str) -> None:
    tokenizer = CharTokenizer.from_texts([known])
    ids = tokenizer.encode(text)
    unknown = [c not in known for c in text]
    assert ((ids == tokenizer.unk_id) == np.array(unknown, dtype=bool)).all()
    expected = "".join(REPLACEMENT if u else c for c, u in zip(text, unknown, strict=True))
    assert tokenizer.decode(ids) == expected


def test_lone_surrogates_are_never_in_the_vocabulary() -> None:
    tokenizer = CharTokenizer.from_texts(["ab\ud800"])
    assert tokenizer.alphabet == "ab"
    assert tokenizer.encode("\ud800a").tolist() == [tokenizer.unk_id, 4]


@given(st.text(min_size=1), st.data())
def test_streaming_decode_equals_decode_for_any_ids(text: str, data: st.DataObject) -> None:
    tokenizer = CharTokenizer.from_texts([text])
    ids = data.draw(st.lists(st.integers(0, tokenizer.vocab_size - 1), max_size=50))
    feed = tokenizer.stream()
    assert "".join(feed(i) for i in ids) == tokenizer.decode(ids)


def test_specials_decode_to_nothing_and_unk_to_replacement() -> None:
    tokenizer = CharTokenizer.from_texts(["ab"])
    pad, bos, eos, unk = 0, 1, 2, 3
    assert tokenizer.decode([bos, 4, pad, 5, eos, unk]) == "ab" + REPLACEMENT
    assert [tokenizer.token_name(i) for i in range(6)] == ["PAD", "BOS", "EOS", "UNK", "'a'", "'b'"]


def test_length_cost_counts_characters_and_tokens() -> None:
    tokenizer = CharTokenizer.from_texts(["héllo 😀\n"])
    for unit in ("characters", "tokens"):
        cost = tokenizer.length_cost(unit)
        assert cost.dtype == np.float32 and len(cost) == tokenizer.vocab_size
        assert cost[:3].tolist() == [0, 0, 0]
        assert (cost[3:] == 1).all()
    text = "hé😀 hé😀\n"
    assert tokenizer.length_cost("characters")[tokenizer.encode(text)].sum() == len(text)


def test_rebuilds_from_a_checkpoint_loaded_with_weights_only() -> None:
    tokenizer = CharTokenizer.from_texts(["Grüße, 世界! \t\n"])
    buffer = io.BytesIO()
    torch.save({"tokenizer": tokenizer.to_dict()}, buffer)
    buffer.seek(0)
    data = torch.load(buffer, weights_only=True)["tokenizer"]
    rebuilt = tokenizer_from_dict(data)
    assert isinstance(rebuilt, CharTokenizer)
    assert rebuilt.alphabet == tokenizer.alphabet
    text = "世界, Grüße!\n"
    assert rebuilt.encode(text).tolist() == tokenizer.encode(text).tolist()
    assert rebuilt.settings_key() == tokenizer.settings_key()
