"""SentencePiece subword tokenizer (BPE or unigram), trained in-process on the corpus.

The trained model's bytes are the tokenizer's whole state (``to_dict()["model"]``), so a
checkpoint carries it and samples without the corpus or any file beside it.

Training settings chosen for generating text, not for translation:

- ids 0-3 are PAD, BOS, EOS, UNK, as every tokenizer here requires;
- no normalization, no dummy prefix, runs of spaces kept (whitespace-only pieces allowed, so
  indentation is cheap), and "\\n" is a piece of its own: decoding gives back the text exactly;
- byte fallback (on by default): a character the model lacks is spelled as its UTF-8 bytes, so
  nothing is unknown. Without it, unknown characters encode to UNK, which decodes to U+FFFD.
- ``vocab_size`` is an upper bound: a small corpus may yield fewer pieces (the report says).

One exception to exact round trips: U+2581 ("▁"), SentencePiece's own mark for a space, comes
back as a space.
"""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np
import sentencepiece as spm

from generator.tokenizers.text import REPLACEMENT, TextTokenizer

MODEL_TYPES = ("unigram", "bpe")
MAX_SENTENCE_CHARS = 1000  # training lines are cut to this (SentencePiece skips longer ones)
ENCODE_CHUNK = 1 << 16  # characters encoded at a time (cut at a newline or before a space)


class SentencePieceTokenizer(TextTokenizer):
    """Text ↔ subword ids of a SentencePiece model held as bytes."""

    kind = "sentencepiece"

    def __init__(self, model: bytes, model_type: str = ""):
        self.model = bytes(model)
        self.model_type = model_type  # for reports only; the model bytes say it too
        self._processor = spm.SentencePieceProcessor(model_proto=self.model)
        expected = (self.pad_id, self.bos_id, self.eos_id, self.unk_id)
        actual = tuple(
            getattr(self._processor, name)() for name in ("pad_id", "bos_id", "eos_id", "unk_id")
        )
        if actual != expected:
            raise ValueError(
                f"SentencePiece model has PAD/BOS/EOS/UNK ids {actual}, not {expected}"
            )

    @classmethod
    def train(
        cls,
        texts: Iterable[str],
        *,
        vocab_size: int = 4000,
        model_type: str = "unigram",
        byte_fallback: bool = True,
        character_coverage: float = 0.9995,
        max_sentences: int = 1_000_000,
        seed: int = 0,
    ) -> SentencePieceTokenizer:
        """Train on ``texts`` (consumed once, one at a time), cut into lines.

        Beyond ``max_sentences`` lines, SentencePiece trains on a random sample of that many.
        """
        if model_type not in MODEL_TYPES:
            raise ValueError(f"model type must be one of {', '.join(MODEL_TYPES)}: {model_type!r}")
        sentences = _sentences(texts)
        try:
            first = next(sentences)
        except StopIteration:
            raise ValueError("no text to train SentencePiece on") from None
        spm.set_random_generator_seed(seed)
        model = io.BytesIO()
        try:
            spm.SentencePieceTrainer.train(
                sentence_iterator=_chain(first, sentences),
                model_writer=model,
                vocab_size=vocab_size,
                model_type=model_type,
                pad_id=0,
                bos_id=1,
                eos_id=2,
                unk_id=3,
                unk_surface=REPLACEMENT,
                byte_fallback=byte_fallback,
                character_coverage=character_coverage,
                normalization_rule_name="identity",
                remove_extra_whitespaces=False,
                add_dummy_prefix=False,
                allow_whitespace_only_pieces=True,
                user_defined_symbols=["\n"],
                hard_vocab_limit=False,
                input_sentence_size=max_sentences,
                shuffle_input_sentence=True,
                max_sentence_length=4 * MAX_SENTENCE_CHARS + 16,
                num_threads=min(4, os.cpu_count() or 1),
                minloglevel=2,
            )
        except RuntimeError as error:
            raise ValueError(
                f"SentencePiece could not train a {model_type} model with vocabulary size "
                f"{vocab_size}: {str(error).splitlines()[0]}"
            ) from None
        return cls(model.getvalue(), model_type)

    # -- the interface -------------------------------------------------------------------------
    @property
    def vocab_size(self) -> int:
        return self._processor.get_piece_size()

    def encode(self, text: str, dtype: np.dtype | type = np.int32) -> np.ndarray:
        """Text → ids (int32, or ``dtype`` where the vocabulary fits it), a chunk at a time
        (chunks end where no piece can cross)."""
        parts = [
            np.asarray(self._processor.encode(chunk), dtype=dtype)
            for chunk in _chunks(text, ENCODE_CHUNK)
        ]
        return np.concatenate(parts) if parts else np.zeros(0, dtype=dtype)

    def token_bytes(self) -> list[bytes]:
        table = []
        for token_id in range(self.vocab_size):
            piece = self._processor.id_to_piece(token_id)
            if self._processor.is_control(token_id):
                table.append(b"")
            elif self._processor.is_unknown(token_id):
                table.append(REPLACEMENT.encode())
            elif self._processor.is_byte(token_id):
                table.append(bytes([int(piece[1:-1], 16)]))  # "<0xE2>"
            else:
                table.append(piece.replace("▁", " ").encode())
        return table

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "model": self.model, "model_type": self.model_type}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SentencePieceTokenizer:
        return cls(data["model"], data.get("model_type", ""))

    def settings_key(self) -> str:
        return f"{self.kind}:{hashlib.sha256(self.model).hexdigest()}"

    def token_name(self, token_id: int) -> str:
        special = self._special_name(token_id)
        if special:
            return special
        if not 0 <= token_id < self.vocab_size:
            raise ValueError(f"token id {token_id} is outside the vocabulary ({self.vocab_size})")
        return self._processor.id_to_piece(token_id)


def _chain(first: str, rest: Iterator[str]) -> Iterator[str]:
    yield first
    yield from rest


def _sentences(texts: Iterable[str]) -> Iterator[str]:
    """Non-empty lines of every text, cut to MAX_SENTENCE_CHARS, without building a list."""
    for text in texts:
        start = 0
        while start < len(text):
            end = text.find("\n", start)
            end = len(text) if end < 0 else end
            for cut in range(start, end, MAX_SENTENCE_CHARS):
                yield text[cut : min(cut + MAX_SENTENCE_CHARS, end)]
            start = end + 1


def _chunks(text: str, size: int) -> Iterator[str]:
    """Consecutive pieces of ``text`` of about ``size`` characters that join back to ``text``.

    A chunk ends after a newline or before a space that follows a non-space: no SentencePiece
    piece crosses either point ("\\n" is a piece of its own; pieces start at a word's space), so
    encoding chunk by chunk gives the same ids as encoding the whole text.
    """
    start = 0
    while len(text) - start > size:
        end = text.rfind("\n", start, start + size) + 1
        if end <= start:
            end = start + size
            while end > start + 1 and not (text[end] == " " and text[end - 1] != " "):
                end -= 1
            if end == start + 1:
                end = start + size  # no safe point: an arbitrary cut (a very long "word")
        yield text[start:end]
        start = end
    if start < len(text):
        yield text[start:]
