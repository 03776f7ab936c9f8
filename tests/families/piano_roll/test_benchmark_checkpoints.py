"""The four piano-roll benchmark models shipped in generator/checkpoints/benchmarks/: each
loads, has the head its name says, is small, and has a card giving its exact command and
the valid figure it records (which ``evaluate pianoroll`` reproduces on the JSON split;
BENCHMARKS.md)."""

from __future__ import annotations

import pytest

from generator.checkpoint import load_checkpoint
from generator.config import SHIPPED_DIR

BENCHMARKS = SHIPPED_DIR / "benchmarks"
MODELS = {
    "jsb-sigmoid": ("sigmoid", "jsb_chorales_quarter.json"),
    "jsb-nade": ("nade", "jsb_chorales_quarter.json"),
    "nottingham-sigmoid": ("sigmoid", "nottingham.json"),
    "nottingham-nade": ("nade", "nottingham.json"),
}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_benchmark_model_loads_with_its_head_card_and_figure(name: str) -> None:
    head, data = MODELS[name]
    path = BENCHMARKS / f"{name}.pt"
    assert path.stat().st_size < 8_000_000, f"{path} is not small"
    loaded = load_checkpoint(path)
    assert loaded.family == "pianoroll" and loaded.model.config.head == head
    assert data in loaded.info["command"] and f"--head {head}" in loaded.info["command"]
    card = (BENCHMARKS / f"{name}.md").read_text(encoding="utf-8")
    assert f"--checkpoint generator/checkpoints/benchmarks/{name}.pt" in card
    assert f"{loaded.info['best_valid_nll']:.4f}" in card  # the figure the card states
    assert loaded.info["best_valid_nll"] < loaded.info["unigram_valid_nll"] - 2.0
