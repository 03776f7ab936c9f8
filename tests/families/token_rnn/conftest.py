"""Text fixtures: a repeated phrase, and a tiny character GRU trained on it (built once)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from generator.checkpoint import Loaded, load_checkpoint
from generator.config import ModelConfig, TrainConfig
from generator.data.text_corpus import load_text_corpus
from generator.training import TrainResult, train

PHRASE = "the cat sat on the mat. "  # "the " is followed by "cat" or "mat": needs context

torch.set_num_threads(1)  # tiny models: one thread beats two busy ones


def write_phrase_file(folder: Path, repeats: int = 40) -> Path:
    """``folder/phrase.txt``: the phrase repeated."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "phrase.txt"
    path.write_text(PHRASE * repeats, encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def phrase_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[TrainResult, Loaded]:
    """A 1-layer 48-unit character GRU trained for 150 steps on the repeated phrase (~2 s)."""
    base = tmp_path_factory.mktemp("phrase")
    corpus = load_text_corpus(write_phrase_file(base / "text"), segment_len=63)
    model_config = ModelConfig(
        vocab_size=corpus.tokenizer.vocab_size,
        cell="gru",
        embedding_size=16,
        hidden_size=48,
        num_layers=1,
        dropout=0.0,
    )
    config = TrainConfig(
        batch_size=4,
        seq_len=32,
        lr=1e-2,
        warmup_steps=0,
        max_steps=150,
        eval_every=50,
        save_every=1000,
        log_every=10,
        device="cpu",
    )
    torch.manual_seed(0)
    result = train(model_config, config, corpus, base / "phrase.pt", progress=False, log=_quiet)
    return result, load_checkpoint(result.best_path)


@pytest.fixture
def phrase() -> str:
    """The phrase the session model was trained on."""
    return PHRASE


def _quiet(message: str) -> None:
    pass
