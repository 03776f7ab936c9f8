"""The interface every tokenizer implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import numpy as np


class Tokenizer(ABC):
    """Turns data (notes, text) into integer ids and back; knows nothing of models."""

    kind: str = ""  # name stored in checkpoints
    pad_id = 0
    bos_id = 1
    eos_id = 2

    @property
    @abstractmethod
    def vocab_size(self) -> int:
        """Number of distinct ids, specials included."""

    @abstractmethod
    def encode(self, data: Any) -> np.ndarray:
        """Data → int32 ids, without BOS/EOS (the data pipeline adds those)."""

    @abstractmethod
    def decode(self, ids: Any) -> Any:
        """Ids → data. Accepts any id sequence a model may produce, specials included."""

    @abstractmethod
    def to_dict(self) -> dict[str, Any]:
        """Plain types (str, int, float, list, dict, bytes) that rebuild this tokenizer."""

    @classmethod
    @abstractmethod
    def from_dict(cls, data: dict[str, Any]) -> Tokenizer:
        """Inverse of ``to_dict``."""

    @abstractmethod
    def token_name(self, token_id: int) -> str:
        """A readable name for one id, for debugging and reports."""

    def settings_key(self) -> str:
        """A string that changes whenever encoding would change (used to key caches)."""
        return repr(sorted(self.to_dict().items()))

    def condition_ids(self, ids: np.ndarray, style: str | None) -> tuple[int, int]:
        """(style id, first-token id) a piece is conditioned on at its first step; 0 = none."""
        return 0, 0

    def transpose(self, ids: np.ndarray, semitones: int) -> np.ndarray | None:
        """Transposed copy for augmentation, or None where that makes no sense."""
        return ids if semitones == 0 else None

    def length_cost(self, unit: str) -> np.ndarray:
        """Per-id cost (float32, one per id) that sampling sums to measure length in ``unit``."""
        if unit == "tokens":
            cost = np.ones(self.vocab_size, dtype=np.float32)
            cost[[self.pad_id, self.bos_id, self.eos_id]] = 0
            return cost
        raise ValueError(f"{self.kind} tokenizer cannot measure length in {unit!r}")


def shift_notes(ids: np.ndarray, is_note: np.ndarray, note_offset: int, semitones: int):
    """``ids`` with the note ids under ``is_note`` moved ``semitones`` up (a copy), or None if
    a pitch would leave MIDI's 0-127; the same array when there is nothing to move."""
    if semitones == 0 or not is_note.any():
        return ids
    pitches = ids[is_note] - note_offset + semitones
    if pitches.min() < 0 or pitches.max() >= 128:
        return None
    out = ids.copy()
    out[is_note] += semitones
    return out
