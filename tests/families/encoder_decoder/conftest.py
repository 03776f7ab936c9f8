"""Tiny fixtures for the encoder-decoder: configs, a four-part MIDI folder, a TSV of pairs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from generator.config import Seq2SeqConfig
from generator.midi.notes import Note
from generator.midi.parts import write_parts

torch.set_num_threads(1)

VOICE_NAMES = ("Soprano", "Alto", "Tenor", "Bass")
# Each tune: soprano pitches, one per beat; the other voices follow by fixed intervals below.
TUNES = [
    [67, 69, 71, 72, 71, 69, 67, 67],
    [72, 71, 69, 67, 69, 71, 72, 72],
    [64, 65, 67, 69, 67, 65, 64, 64],
    [69, 67, 65, 64, 65, 67, 69, 69],
    [60, 62, 64, 65, 67, 65, 64, 62],
    [71, 72, 74, 72, 71, 69, 71, 71],
]
BELOW = {"Alto": 4, "Tenor": 9, "Bass": 19}


def _tiny_config(vocab_size: int, **overrides) -> Seq2SeqConfig:
    settings = dict(
        vocab_size=vocab_size,
        cell="gru",
        embedding_size=16,
        hidden_size=32,
        num_layers=1,
        dropout=0.0,
    )
    return Seq2SeqConfig(**{**settings, **overrides})


@pytest.fixture
def tiny_config():
    """tiny_config(vocab_size, **overrides): a model that trains dozens of steps a second."""
    return _tiny_config


def chorale_parts(soprano: list[int]) -> dict[str, list[Note]]:
    """Four voices in quarter notes, each a fixed interval under the soprano."""
    parts = {}
    for name in VOICE_NAMES:
        pitches = [p - BELOW.get(name, 0) for p in soprano]
        parts[name] = [Note(float(i), 1.0, p, 80) for i, p in enumerate(pitches)]
    return parts


@pytest.fixture(scope="session")
def chorale_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Six four-track MIDI files with named voices, and one with a single track (skipped)."""
    root = tmp_path_factory.mktemp("chorales")
    for i, tune in enumerate(TUNES):
        write_parts(chorale_parts(tune), root / f"tune{i}.mid", bpm=90)
    write_parts({"Soprano": [Note(0.0, 1.0, 60, 80)]}, root / "solo.mid")
    return root


@pytest.fixture(scope="session")
def pairs_tsv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Words and their reversals, with a blank line and a line without a tab."""
    rng = np.random.default_rng(0)
    lines = []
    for _ in range(120):
        word = "".join(rng.choice(list("abcdef"), size=int(rng.integers(2, 6))))
        lines.append(f"{word}\t{word[::-1]}")
    lines[5:5] = ["", "no tab on this line"]
    path = tmp_path_factory.mktemp("pairs") / "pairs.tsv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
