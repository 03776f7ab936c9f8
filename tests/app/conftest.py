"""Fixtures for the app's tests: settings that point at tiny trained models and a temp folder."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

import generator.app
from generator.config import ModelConfig, PianoRollConfig, TrainConfig
from generator.data.piano_roll import load_piano_roll_midi
from generator.data.text_corpus import load_text_corpus
from generator.tokenizers.piano_roll import PianoRollTokenizer
from generator.training import train
from generator.training.frame_task import FRAME_TASK
from tests.conftest import write_midi_folder

PHRASE = "the cat sat on the mat. "


@pytest.fixture(scope="session")
def music_checkpoint(trained_checkpoint: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The session's tiny trained model, named music.pt so the app picks it by default."""
    path = tmp_path_factory.mktemp("app-model") / "music.pt"
    shutil.copyfile(trained_checkpoint, path)
    return path


@pytest.fixture(scope="session")
def text_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny character GRU that has seen one phrase many times (a second or two to train)."""
    base = tmp_path_factory.mktemp("app-text")
    (base / "text").mkdir()
    (base / "text" / "phrase.txt").write_text(PHRASE * 40, encoding="utf-8")
    corpus = load_text_corpus(base / "text", segment_len=63)
    model_config = ModelConfig(
        vocab_size=corpus.tokenizer.vocab_size,
        cell="gru",
        embedding_size=16,
        hidden_size=48,
        num_layers=1,
        dropout=0.0,
    )
    config = TrainConfig(
        batch_size=4, seq_len=32, lr=1e-2, warmup_steps=0, max_steps=120, eval_every=60,
        save_every=1000, log_every=20, device="cpu",
    )  # fmt: skip
    torch.manual_seed(0)
    result = train(model_config, config, corpus, base / "text.pt", progress=False, log=len)
    return result.best_path


@pytest.fixture(scope="session")
def pianoroll_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny piano-roll GRU (sigmoid head, 2 frames per beat) trained a few steps on the
    synthetic MIDI folder; named pianoroll.pt like the checkpoint the project ships."""
    base = tmp_path_factory.mktemp("app-pianoroll")
    folder = write_midi_folder(base / "midi").path
    corpus = load_piano_roll_midi(folder, PianoRollTokenizer(frames_per_beat=2), valid_fraction=0.3)
    model_config = PianoRollConfig(
        num_keys=corpus.tokenizer.num_keys, cell="gru", hidden_size=16, num_layers=1, dropout=0.0
    )
    config = TrainConfig(
        batch_size=4, seq_len=16, lr=1e-2, warmup_steps=0, max_steps=20, eval_every=10,
        save_every=1000, log_every=10, device="cpu",
    )  # fmt: skip
    torch.manual_seed(0)
    result = train(
        model_config, config, corpus, base / "pianoroll.pt", progress=False, log=len,
        task=FRAME_TASK,
    )  # fmt: skip
    return result.best_path


@pytest.fixture
def settings(
    tmp_path: Path, music_checkpoint: Path, text_checkpoint: Path
) -> generator.app.AppSettings:
    """App settings writing under tmp_path, offering only the tiny models (not checkpoints/)."""
    return generator.app.AppSettings(
        app_dir=tmp_path / "app",
        checkpoint_dirs=(tmp_path / "shipped",),
        extra_checkpoints=(music_checkpoint, text_checkpoint),
    )
