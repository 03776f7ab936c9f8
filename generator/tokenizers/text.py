"""What the character and SentencePiece tokenizers share: ids that stand for UTF-8 bytes.

Every text id stands for a fixed run of UTF-8 bytes (a character, a subword, or one raw byte of a
SentencePiece byte-fallback piece). Decoding joins the bytes and decodes them as UTF-8, so

- ``decode`` and the streaming decoder (``stream``) give exactly the same text, whatever ids a
  model produces: a broken byte sequence decodes to U+FFFD, never raises;
- length in characters is exact: an id's cost is the number of characters its bytes start
  (bytes that are not UTF-8 continuation bytes), so three byte pieces of "€" count once.

Ids 0-3 are PAD, BOS, EOS and UNK. PAD/BOS/EOS decode to nothing, UNK to U+FFFD.
"""

from __future__ import annotations

import codecs
from abc import abstractmethod
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from generator.tokenizers.base import Tokenizer

REPLACEMENT = "\ufffd"  # what UNK and undecodable bytes come back as


class TextTokenizer(Tokenizer):
    """A tokenizer of str; subclasses say which bytes each id stands for."""

    unk_id = 3
    num_specials = 4  # PAD, BOS, EOS, UNK

    @abstractmethod
    def token_bytes(self) -> list[bytes]:
        """The UTF-8 bytes each id stands for, indexed by id (specials: b"", UNK: U+FFFD)."""

    def decode(self, ids: Iterable[int]) -> str:
        """Ids → text; any id sequence works (specials vanish, broken UTF-8 becomes U+FFFD)."""
        table = self._bytes_table()
        return b"".join(table[int(i)] for i in ids).decode("utf-8", "replace")

    def stream(self) -> Callable[[int], str]:
        """An incremental decoder: feed one id, get the text it completes ("" while a multi-byte
        character is still incomplete). Fed a whole sequence, it returns ``decode``'s text,
        except an incomplete character at the very end, which never comes out."""
        table = self._bytes_table()
        decoder = codecs.getincrementaldecoder("utf-8")("replace")
        return lambda token_id: decoder.decode(table[token_id])

    def length_cost(self, unit: str) -> np.ndarray:
        """``characters``: characters each id adds to the text; ``tokens``: 1 per non-special."""
        if unit == "characters":
            cost = np.zeros(self.vocab_size, dtype=np.float32)
            for token_id, data in enumerate(self._bytes_table()):
                cost[token_id] = sum(1 for b in data if b & 0xC0 != 0x80)  # not a continuation
            return cost
        return super().length_cost(unit)

    def _bytes_table(self) -> list[bytes]:
        table = getattr(self, "_table", None)
        if table is None:
            table = self._table = self.token_bytes()
        return table

    def _special_name(self, token_id: int) -> str | None:
        names = {self.pad_id: "PAD", self.bos_id: "BOS", self.eos_id: "EOS", self.unk_id: "UNK"}
        return names.get(token_id)

    @classmethod
    @abstractmethod
    def from_dict(cls, data: dict[str, Any]) -> TextTokenizer:
        """Inverse of ``to_dict``."""
