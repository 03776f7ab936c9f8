"""Token sequences ready for training, split into train and valid, whatever the source."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import numpy as np

from generator.tokenizers import Tokenizer


@dataclass
class Piece:
    """One training sequence: a MIDI file, a text file or a segment of one."""

    name: str  # where it came from (relative path)
    tokens: np.ndarray  # int32 ids, no BOS/EOS
    style: str | None = None  # style label, if the source has one
    ends: bool = True  # its last target is EOS; False for a segment cut from a longer text


@dataclass
class TokenCorpus:
    """Tokenized pieces split into train and valid, with the report of how they were read."""

    tokenizer: Tokenizer
    train: list[Piece]
    valid: list[Piece]
    report: Any = None  # an object with .summary() and .to_dict()

    @property
    def num_train_tokens(self) -> int:
        return int(sum(len(p.tokens) + p.ends for p in self.train))

    @property
    def num_valid_tokens(self) -> int:
        return int(sum(len(p.tokens) + p.ends for p in self.valid))


def is_valid_split(name: str, valid_fraction: float) -> bool:
    """Deterministic split by name: the same file always lands on the same side."""
    digest = hashlib.sha1(name.encode("utf-8")).digest()
    return int.from_bytes(digest[:4], "big") / 2**32 < valid_fraction


def split_pieces(pieces: list[Piece], valid_fraction: float) -> tuple[list[Piece], list[Piece]]:
    """Split by name hash; with 2+ pieces both sides get at least one."""
    train = [p for p in pieces if not is_valid_split(p.name, valid_fraction)]
    valid = [p for p in pieces if is_valid_split(p.name, valid_fraction)]
    if valid_fraction > 0 and len(pieces) >= 2:
        if not valid:
            valid, train = train[-1:], train[:-1]
        elif not train:
            train, valid = valid[:1], valid[1:]
    return train, valid
