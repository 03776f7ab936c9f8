"""Tiny piano-roll fixtures: a hand-made JSON corpus and tiny models of both heads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from generator.config import PianoRollConfig

# Three train pieces and two valid pieces; one train piece is a single frame (predicts nothing).
TINY_ROLLS = {
    "train": [
        [[60, 64, 67], [60, 64, 67], [62, 65, 69], [], [59, 62, 67]],
        [[48], [50, 62], [52, 64], [53, 65]],
        [[72]],
    ],
    "valid": [[[60, 64], [62, 65], [64, 67]], [[55], [57]]],
    "test": [[[21, 108], [22]]],
}


def tiny_config(
    head: str = "sigmoid", cell: str = "gru", num_keys: int = 88, pitch_span: int = 0
) -> PianoRollConfig:
    """A model small enough to train for a few steps in well under a second."""
    return PianoRollConfig(
        num_keys=num_keys,
        cell=cell,
        hidden_size=16,
        num_layers=1,
        dropout=0.0,
        head=head,
        nade_hidden=8,
        pitch_span=pitch_span,
        pitch_channels=3 if pitch_span > 1 else 0,
    )


@pytest.fixture
def tiny_json(tmp_path: Path) -> Path:
    """The tiny corpus as a benchmark-style JSON file."""
    path = tmp_path / "tiny.json"
    path.write_text(json.dumps(TINY_ROLLS))
    return path


@pytest.fixture
def config():
    """``tiny_config`` as a fixture: call it with (head, cell, num_keys)."""
    return tiny_config


@pytest.fixture(autouse=True)
def _seeded() -> None:
    torch.manual_seed(0)
