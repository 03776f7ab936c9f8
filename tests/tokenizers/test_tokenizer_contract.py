"""The contract every tokenizer keeps (generator/tokenizers/base.py), checked on each of them.

Round trips, vocabulary size and ids in range, the three shared specials, decode that takes
any ids a model may produce, state as plain types that survives a checkpoint, a name for every
id, and input the tokenizer cannot represent: either UNK (text) or a ValueError, never an id
of another kind. A new tokenizer fails ``test_every_tokenizer_has_a_case`` until it is added.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
import pytest
import torch

import generator.tokenizers as tokenizers
from generator.midi import Note
from generator.tokenizers import (
    CharTokenizer,
    MidiEventTokenizer,
    SentencePieceTokenizer,
    Tokenizer,
    tokenizer_from_dict,
)
from generator.tokenizers.piano_roll import PianoRollTokenizer
from generator.tokenizers.voice_grid import VoiceGridTokenizer

TEXT = "the quick brown fox jumps over the lazy dog.\n" * 8 + "naïve café, 世界.\n" * 4


@cache
def _sentencepiece() -> SentencePieceTokenizer:
    return SentencePieceTokenizer.train([TEXT], vocab_size=300, model_type="unigram")


def _notes(notes: list[Note]) -> list[tuple[float, float, int]]:
    return sorted((n.start, n.duration, n.pitch) for n in notes)


@dataclass(frozen=True)
class Case:
    """A tokenizer, data it represents exactly, and input it cannot represent."""

    make: Callable[[], Tokenizer]
    sample: Any
    unknown: Any
    unknown_gives: str  # "unk": encoded as UNK; "error": ValueError; "bytes": exact anyway
    key: Callable[[Any], Any] = lambda data: data  # what a round trip keeps of the data
    multi_hot: bool = False  # encode gives (frames, vocab_size) 0/1 rows, not a row of ids


CASES = {
    "characters": Case(
        make=lambda: CharTokenizer("abc .\n"),
        sample="a cab.\n bac ",
        unknown="abz",
        unknown_gives="unk",
    ),
    "sentencepiece": Case(
        make=_sentencepiece,
        sample=TEXT,
        unknown="Zürich ☃ 😀",  # unseen characters: byte pieces (byte fallback)
        unknown_gives="bytes",
    ),
    "midi_events": Case(
        make=lambda: MidiEventTokenizer(styles=["reel", "jig"], meters=["4/4"]),
        sample=[Note(0.0, 0.5, 60, 80), Note(0.0, 1.0, 64, 80), Note(2.25, 3.0, 127, 40)],
        unknown=[Note(0.0, 1.0, 128, 80)],
        unknown_gives="error",
        key=_notes,
    ),
    "piano_roll": Case(
        make=lambda: PianoRollTokenizer(num_keys=24, lowest_pitch=48),
        sample=[[48, 60], [], [71], [50, 55, 59]],
        unknown=[[60], [47]],
        unknown_gives="error",
        multi_hot=True,
    ),
    "voice_grid": Case(
        make=lambda: VoiceGridTokenizer(steps_per_beat=2, voices=("Alto", "Bass")),
        sample=[
            [Note(0.0, 1.0, 64, 80), Note(1.0, 0.5, 65, 80), Note(2.0, 1.0, 65, 80)],
            [Note(0.0, 2.0, 48, 80), Note(2.5, 0.5, 43, 80)],
        ],
        unknown=[[Note(0.0, 1.0, 128, 80)], [Note(0.0, 1.0, 48, 80)]],
        unknown_gives="error",
        key=lambda parts: [_notes(part) for part in parts],
    ),
}


@pytest.fixture(params=sorted(CASES))
def case(request: pytest.FixtureRequest) -> tuple[Case, Tokenizer]:
    case = CASES[request.param]
    return case, case.make()


def _concrete_tokenizers(cls: type = Tokenizer) -> set[str]:
    kinds = set()
    for sub in cls.__subclasses__():
        if sub.__module__.startswith("generator.") and sub.kind:
            kinds.add(sub.kind)
        kinds |= _concrete_tokenizers(sub)
    return kinds


def test_every_tokenizer_has_a_case():
    assert _concrete_tokenizers() == set(CASES)
    for kind in CASES:
        assert CASES[kind].make().kind == kind


def test_vocabulary_and_the_shared_specials(case):
    _, tokenizer = case
    assert isinstance(tokenizer.vocab_size, int) and tokenizer.vocab_size > 3
    specials = (tokenizer.pad_id, tokenizer.bos_id, tokenizer.eos_id)
    assert specials == (0, 1, 2)  # the data pipeline and the sampler rely on these


def test_encode_gives_ids_in_range_without_specials(case):
    spec, tokenizer = case
    ids = tokenizer.encode(spec.sample)
    assert isinstance(ids, np.ndarray) and np.issubdtype(ids.dtype, np.integer)
    if spec.multi_hot:
        assert ids.shape == (len(spec.sample), tokenizer.vocab_size)
        assert set(np.unique(ids).tolist()) <= {0, 1}
    else:
        assert ids.ndim == 1 and len(ids) > 0
        assert ids.min() > tokenizer.eos_id and ids.max() < tokenizer.vocab_size


def test_round_trip(case):
    spec, tokenizer = case
    ids = tokenizer.encode(spec.sample)
    decoded = tokenizer.decode(ids)
    assert spec.key(decoded) == spec.key(spec.sample)
    assert np.array_equal(tokenizer.encode(decoded), ids)


def test_decode_takes_any_ids_a_model_may_produce(case):
    spec, tokenizer = case
    rng = np.random.default_rng(0)
    if spec.multi_hot:
        ids = (rng.random((20, tokenizer.vocab_size)) < 0.2).astype(np.uint8)
    else:
        ids = rng.integers(0, tokenizer.vocab_size, 300)  # specials included
    decoded = tokenizer.decode(ids)
    again = tokenizer.encode(decoded)  # what comes out is data the tokenizer can encode
    assert again.size == 0 or int(again.max()) < tokenizer.vocab_size


def _plain(value: Any) -> bool:
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_plain(v) for v in value)
    return value is None or isinstance(value, (str, int, float, bool, bytes))


def test_state_is_plain_types_and_survives_a_checkpoint(case):
    spec, tokenizer = case
    state = tokenizer.to_dict()
    assert state["kind"] == tokenizer.kind and _plain(state)
    buffer = io.BytesIO()
    torch.save({"tokenizer": state}, buffer)
    buffer.seek(0)
    loaded = torch.load(buffer, weights_only=True)["tokenizer"]
    rebuilt = tokenizer_from_dict(loaded)
    assert type(rebuilt) is type(tokenizer)
    assert rebuilt.to_dict() == state and rebuilt.settings_key() == tokenizer.settings_key()
    assert rebuilt.vocab_size == tokenizer.vocab_size
    assert np.array_equal(rebuilt.encode(spec.sample), tokenizer.encode(spec.sample))


def test_every_id_has_a_name_and_ids_outside_the_vocabulary_are_refused(case):
    _, tokenizer = case
    names = [tokenizer.token_name(i) for i in range(tokenizer.vocab_size)]
    assert all(isinstance(name, str) and name for name in names)
    with pytest.raises(ValueError, match="outside"):
        tokenizer.token_name(tokenizer.vocab_size)


def test_input_it_cannot_represent_is_unk_or_an_error_never_another_token(case):
    spec, tokenizer = case
    if spec.unknown_gives == "error":
        with pytest.raises(ValueError, match="outside"):
            tokenizer.encode(spec.unknown)
        return
    ids = tokenizer.encode(spec.unknown)
    assert ids.min() > tokenizer.eos_id and ids.max() < tokenizer.vocab_size
    if spec.unknown_gives == "unk":
        lost = [tokenizer.decode(tokenizer.encode(c)) != c for c in spec.unknown]
        assert [i == tokenizer.unk_id for i in ids.tolist()] == lost and any(lost)
    else:  # "bytes": the text comes back exactly
        assert tokenizer.decode(ids) == spec.unknown


def test_tokenizer_kinds_are_registered_for_checkpoints():
    for spec in CASES.values():
        tokenizer = spec.make()
        assert type(tokenizer_from_dict(tokenizer.to_dict())) is type(tokenizer)
    with pytest.raises(ValueError, match="unknown tokenizer kind"):
        tokenizers.tokenizer_from_dict({"kind": "no such kind"})
