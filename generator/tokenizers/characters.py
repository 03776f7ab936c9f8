"""Character-level tokenizer: one id per Unicode code point seen in the training text.

Vocabulary: PAD, BOS, EOS, UNK, then every distinct character of the corpus in code-point
order. No normalization: what goes in comes back exactly (``decode(encode(t)) == t`` for any
text made of known characters).

Unknown characters (not in the corpus, e.g. in a prime or held-out text) encode to UNK, which
decodes to U+FFFD. The text sampler drops UNK from a prime before the model reads it (and says
which characters it dropped) and never samples UNK. Lone surrogates, which no UTF-8 file can
hold, are never part of the vocabulary: they are always unknown.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from generator.tokenizers.text import REPLACEMENT, TextTokenizer

_CHUNK = 1 << 18  # characters converted to code points at a time (bounds the temporary array)


def code_points(text: str) -> np.ndarray:
    """The code points of ``text`` as uint32 (lone surrogates included)."""
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)


def _is_surrogate(codes: np.ndarray) -> np.ndarray:
    return (codes >= 0xD800) & (codes <= 0xDFFF)


class CharTokenizer(TextTokenizer):
    """Text ↔ one id per character, vocabulary built from the corpus."""

    kind = "characters"

    def __init__(self, alphabet: str):
        codes = np.unique(code_points(alphabet))
        self._codes = codes[~_is_surrogate(codes)]  # sorted: encode searches it
        self.alphabet = "".join(map(chr, self._codes.tolist()))

    @classmethod
    def from_texts(cls, texts: Iterable[str]) -> CharTokenizer:
        """Build the vocabulary from every character in ``texts`` (read one at a time)."""
        seen = np.zeros(0, dtype=np.uint32)
        for text in texts:
            for start in range(0, len(text), _CHUNK):
                seen = np.union1d(seen, code_points(text[start : start + _CHUNK]))
        return cls("".join(map(chr, seen.tolist())))

    # -- the interface -------------------------------------------------------------------------
    @property
    def vocab_size(self) -> int:
        return self.num_specials + len(self._codes)

    def encode(self, text: str, dtype: np.dtype | type = np.int32) -> np.ndarray:
        """Text → ids (int32, or ``dtype`` where the vocabulary fits it); unknown characters
        become UNK. Filled a chunk at a time: a huge text needs no int32 copy of its ids."""
        out = np.empty(len(text), dtype=dtype)
        for start in range(0, len(text), _CHUNK):
            codes = code_points(text[start : start + _CHUNK])
            index = np.searchsorted(self._codes, codes)
            known = index < len(self._codes)
            known[known] = self._codes[index[known]] == codes[known]
            out[start : start + len(codes)] = np.where(
                known, index + self.num_specials, self.unk_id
            )
        return out

    def token_bytes(self) -> list[bytes]:
        return [b"", b"", b"", REPLACEMENT.encode()] + [c.encode() for c in self.alphabet]

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "alphabet": self.alphabet}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CharTokenizer:
        return cls(data["alphabet"])

    def token_name(self, token_id: int) -> str:
        special = self._special_name(token_id)
        if special:
            return special
        if not 0 <= token_id < self.vocab_size:
            raise ValueError(f"token id {token_id} is outside the vocabulary ({self.vocab_size})")
        return repr(self.alphabet[token_id - self.num_specials])
