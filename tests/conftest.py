"""Shared tiny fixtures: a synthetic MIDI folder and a briefly trained checkpoint."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from generator.config import ModelConfig, TrainConfig
from generator.data.midi_corpus import load_midi_corpus
from generator.midi import Note, write_midi
from generator.models import RNNGenerator
from generator.tokenizers import MidiEventTokenizer
from generator.training import train

# Two styles, three small tunes each: enough for a split and for style conditioning.
STYLE_TUNES = {
    "reel": [[62, 64, 66, 67, 69, 71, 73, 74], [74, 73, 71, 69, 67, 66, 64, 62], [62, 66, 69, 74]],
    "chorale": [[60, 64, 67, 72], [65, 69, 72, 77], [67, 71, 74, 79]],
}
CORRUPT_NAME = "broken.mid"
EMPTY_NAME = "empty.midi"
GOOD_FILES = sum(len(tunes) for tunes in STYLE_TUNES.values())

# Tiny models run fastest on one thread; on a shared 2-core machine two threads mostly wait.
torch.set_num_threads(1)


def tune_notes(pitches: list[int], style: str, repeats: int = 2) -> list[Note]:
    """A short tune: reels run in eighth notes, chorales in held four-note chords."""
    notes = []
    if style == "chorale":
        for bar in range(repeats * 2):
            for pitch in pitches:
                notes.append(Note(bar * 2.0, 2.0, pitch + (bar % 2) * 2, 70))
    else:
        for i in range(repeats * len(pitches)):
            notes.append(Note(i * 0.5, 0.5, pitches[i % len(pitches)], 90 if i % 4 == 0 else 72))
    return notes


@dataclass(frozen=True)
class MidiFolder:
    """A synthetic MIDI folder and what a reader should find in it."""

    path: Path
    corrupt: str = CORRUPT_NAME  # top-level file that does not parse
    empty: str = EMPTY_NAME  # top-level 0-byte file
    good_files: int = GOOD_FILES  # three tunes in each style subfolder
    notes: int = 0  # notes in the good files


def write_midi_folder(root: Path) -> MidiFolder:
    """Write ``root/reel/*.mid``, ``root/chorale/*.mid``, a corrupt and an empty file."""
    root.mkdir(parents=True, exist_ok=True)
    notes = 0
    for style, tunes in STYLE_TUNES.items():
        for i, pitches in enumerate(tunes):
            tune = tune_notes(pitches, style)
            write_midi(tune, root / style / f"{style}{i}.mid", bpm=100 + i)
            notes += len(tune)
    (root / CORRUPT_NAME).write_bytes(b"MThd\x00\x00\x00\x06 this is not really MIDI" * 3)
    (root / EMPTY_NAME).write_bytes(b"")
    return MidiFolder(root, notes=notes)


def tiny_model_config(tokenizer: MidiEventTokenizer, cell: str = "gru") -> ModelConfig:
    """A model small enough to train for a few steps in well under a second."""
    return ModelConfig(
        vocab_size=tokenizer.vocab_size,
        cell=cell,
        embedding_size=16,
        hidden_size=32,
        num_layers=1,
        dropout=0.0,
        num_styles=len(tokenizer.styles),
        num_seed_tokens=128,
    )


@pytest.fixture
def midi_folder(tmp_path: Path) -> MidiFolder:
    """A fresh synthetic MIDI folder for one test."""
    return write_midi_folder(tmp_path / "midi")


@pytest.fixture(scope="session")
def trained_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny GRU trained for a few dozen steps on the synthetic folder (built once)."""
    base = tmp_path_factory.mktemp("trained")
    corpus = load_midi_corpus(
        write_midi_folder(base / "midi").path, cache_dir=None, progress=False, valid_fraction=0.3
    )
    config = TrainConfig(
        batch_size=4,
        seq_len=32,
        lr=1e-2,
        warmup_steps=0,
        max_steps=40,
        eval_every=20,
        save_every=20,
        log_every=10,
        device="cpu",
    )
    torch.manual_seed(0)
    model_config = tiny_model_config(corpus.tokenizer)
    result = train(model_config, config, corpus, base / "model.pt", progress=False, log=_quiet)
    assert result.best_path.exists()
    return result.best_path


def _quiet(message: str) -> None:
    pass


@pytest.fixture
def tiny_model() -> tuple[RNNGenerator, MidiEventTokenizer]:
    """An untrained tiny model with a two-style MIDI tokenizer."""
    tokenizer = MidiEventTokenizer(styles=["chorale", "reel"])
    torch.manual_seed(0)
    return RNNGenerator(tiny_model_config(tokenizer)).eval(), tokenizer


# -- the app in a subprocess ------------------------------------------------------------------
ROOT = Path(__file__).resolve().parents[1]
APP_START_SECONDS = 120  # a busy 2-core machine may take a while to import gradio and torch


def _free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def _tail(path: Path, lines: int = 30) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


@pytest.fixture(scope="module")
def serve_app():
    """A factory: ``serve_app(folder, *args, env={...})`` runs ``python app.py ARGS`` on a free
    loopback port (its log in ``folder/app.log``; ``host="::1"`` for IPv6), waits until it
    answers and returns its URL; every server it started is stopped when the module's tests
    end."""
    started: list[subprocess.Popen] = []

    def start(
        folder: Path, *args: str, env: dict[str, str] | None = None, host: str = "127.0.0.1"
    ) -> str:
        port = _free_port(host)
        log_path = folder / "app.log"
        with log_path.open("w") as log:
            process = subprocess.Popen(
                [sys.executable, "app.py", "--host", host, "--port", str(port), *args],
                cwd=ROOT,
                env={**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", **(env or {})},
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        started.append(process)
        url = f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"
        deadline = time.monotonic() + APP_START_SECONDS
        while True:
            if process.poll() is not None:
                pytest.fail(f"app.py exited ({process.returncode}):\n{_tail(log_path)}")
            try:
                with urllib.request.urlopen(url, timeout=2):
                    return url
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(
                        f"app.py did not answer in {APP_START_SECONDS} s:\n{_tail(log_path)}"
                    )
                time.sleep(0.25)  # polling a starting server; no test logic waits on this

    yield start
    for process in started:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
