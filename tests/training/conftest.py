"""Tiny corpora and models of every family, for the trainer's tests."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from generator.config import ModelConfig, PianoRollConfig, Seq2SeqConfig
from generator.data.pairs import Pair, PairCorpus
from generator.data.piano_roll import FrameCorpus, RollPiece
from generator.data.pieces import Piece, TokenCorpus
from generator.midi import Note
from generator.tokenizers import CharTokenizer, MidiEventTokenizer
from generator.tokenizers.piano_roll import PianoRollTokenizer
from generator.training.frame_task import FRAME_TASK
from generator.training.seq2seq_task import SEQ2SEQ_TASK
from generator.training.tasks import TEXT_TASK, TOKEN_TASK


def _token_run():
    tokenizer = MidiEventTokenizer(styles=["a", "b"])
    figure = [60, 64, 67, 72, 71]
    pieces = []
    for i in range(6):
        notes = [Note(k * 0.5, 0.5, figure[(k + i) % 5], 80) for k in range(10 + 3 * i)]
        pieces.append(Piece(f"toy{i}", tokenizer.encode(notes), "ab"[i % 2]))
    corpus = TokenCorpus(tokenizer=tokenizer, train=pieces[:4], valid=pieces[4:])
    model = ModelConfig(
        vocab_size=tokenizer.vocab_size, cell="lstm", embedding_size=12, hidden_size=16,
        num_layers=2, dropout=0.2, num_styles=2, num_seed_tokens=128,
    )  # fmt: skip
    options = dict(transpose=2, style_dropout=0.3, schedule="cosine", warmup_steps=2)
    return corpus, model, TOKEN_TASK, options


def _text_run():
    text = "the cat sat on the mat. a dog ran to the log. " * 6
    tokenizer = CharTokenizer(text)
    ids = np.asarray(tokenizer.encode(text), dtype=np.int32)
    pieces = [Piece(f"text{i}", ids[i * 40 : (i + 1) * 40], ends=False) for i in range(6)]
    corpus = TokenCorpus(tokenizer=tokenizer, train=pieces[:5], valid=pieces[5:])
    model = ModelConfig(
        vocab_size=tokenizer.vocab_size, cell="gru", embedding_size=12, hidden_size=16,
        num_layers=1, dropout=0.1,
    )  # fmt: skip
    return corpus, model, TEXT_TASK, dict(schedule="plateau")


def _frame_run():
    tokenizer = PianoRollTokenizer(num_keys=12, lowest_pitch=60)
    rng = np.random.default_rng(3)
    pieces = [
        RollPiece(f"roll{i}", (rng.random((12 + 4 * i, 12)) < 0.25).astype(np.uint8))
        for i in range(6)
    ]
    corpus = FrameCorpus(tokenizer=tokenizer, train=pieces[:4], valid=pieces[4:])
    model = PianoRollConfig(
        num_keys=12, cell="gru", hidden_size=16, num_layers=1, dropout=0.1, input_dropout=0.1,
        head="nade", nade_hidden=8,
    )  # fmt: skip
    return corpus, model, FRAME_TASK, dict(transpose=1)


def _seq2seq_run():
    tokenizer = CharTokenizer("abcdefgh")
    rng = np.random.default_rng(5)
    pairs = []
    for i in range(40):
        source = rng.integers(4, tokenizer.vocab_size, int(rng.integers(3, 8))).astype(np.int32)
        pairs.append(Pair(f"pair {i}", source, source[::-1].copy()))
    corpus = PairCorpus(tokenizer, pairs[:32], pairs[32:])
    model = Seq2SeqConfig(
        vocab_size=tokenizer.vocab_size, cell="gru", embedding_size=12, hidden_size=16,
        num_layers=1, dropout=0.1, attention="additive", teacher_forcing=0.8,
    )  # fmt: skip
    return corpus, model, SEQ2SEQ_TASK, {}


FAMILIES = {"token": _token_run, "text": _text_run, "frame": _frame_run, "seq2seq": _seq2seq_run}


@pytest.fixture
def tiny_families() -> dict[str, tuple[Any, Any, Any, dict[str, Any]]]:
    """family → (corpus, model config, task, training options that family uses)."""
    return {name: make() for name, make in FAMILIES.items()}
