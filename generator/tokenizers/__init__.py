"""Tokenizers: one interface for MIDI events, characters and SentencePiece subwords.

Every tokenizer reserves three ids the data pipeline and the sampler rely on:

    pad_id  fills windows past the end of a piece; never a target
    bos_id  the input at a piece's first step, where the model's conditioning vector goes in
    eos_id  the last target of every piece; sampling stops on it

and turns itself into plain types (``to_dict``) so a checkpoint can carry it.
"""

from __future__ import annotations

from typing import Any

from generator.tokenizers.base import Tokenizer
from generator.tokenizers.characters import CharTokenizer
from generator.tokenizers.midi_events import MidiEventTokenizer
from generator.tokenizers.sentencepiece import SentencePieceTokenizer
from generator.tokenizers.text import TextTokenizer

_KINDS: dict[str, type[Tokenizer]] = {
    cls.kind: cls for cls in (MidiEventTokenizer, CharTokenizer, SentencePieceTokenizer)
}


def register(cls: type[Tokenizer]) -> type[Tokenizer]:
    """Make a tokenizer class loadable from checkpoints by its ``kind``."""
    _KINDS[cls.kind] = cls
    return cls


def tokenizer_from_dict(data: dict[str, Any]) -> Tokenizer:
    """Rebuild a tokenizer from ``Tokenizer.to_dict()`` output."""
    kind = data.get("kind")
    if kind not in _KINDS:
        raise ValueError(f"unknown tokenizer kind {kind!r}; known: {sorted(_KINDS)}")
    return _KINDS[kind].from_dict(data)


__all__ = [
    "CharTokenizer",
    "MidiEventTokenizer",
    "SentencePieceTokenizer",
    "TextTokenizer",
    "Tokenizer",
    "register",
    "tokenizer_from_dict",
]
