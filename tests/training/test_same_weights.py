"""A short seeded run of every family gives the same weights as the trainer before its split.

The reference (tests/training/same_weights.json) was recorded with the trainer as it was before
``trainer._train`` was split into parts (issue 15): a SHA-256 of the best and last checkpoints'
weights, the validation figures and the carried data position. Float results of CPU kernels can
differ between builds and CPU instruction sets, so the hash is compared exactly on the platform
that recorded it (same torch version and CPU capability) and elsewhere the weights' sums must
agree to 1e-5.

Record again (only when a change is *meant* to alter training):
    RECORD_SAME_WEIGHTS=1 python3 -m pytest tests/training/test_same_weights.py
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from generator.checkpoint import read_checkpoint
from generator.config import ModelConfig, PianoRollConfig, Seq2SeqConfig, TrainConfig
from generator.data.pairs import Pair, PairCorpus
from generator.data.piano_roll import FrameCorpus, RollPiece
from generator.data.pieces import Piece, TokenCorpus
from generator.midi import Note
from generator.tokenizers import CharTokenizer, MidiEventTokenizer
from generator.tokenizers.piano_roll import PianoRollTokenizer
from generator.training import train
from generator.training.frame_task import FRAME_TASK
from generator.training.seq2seq_task import SEQ2SEQ_TASK
from generator.training.tasks import TEXT_TASK, TOKEN_TASK

REFERENCE = Path(__file__).with_name("same_weights.json")
RECORD = os.environ.get("RECORD_SAME_WEIGHTS") == "1"

torch.set_num_threads(1)


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


RUNS = {"token": _token_run, "text": _text_run, "frame": _frame_run, "seq2seq": _seq2seq_run}


def _config(max_steps: int, **options) -> TrainConfig:
    fields = dict(
        batch_size=3, seq_len=8, lr=1e-2, warmup_steps=0, max_steps=max_steps, eval_every=3,
        save_every=2, log_every=2, clip_norm=0.5, seed=7, device="cpu",
    )  # fmt: skip
    return TrainConfig(**{**fields, **options})


def _fingerprint(result) -> dict:
    """SHA-256 of what a run leaves behind (weights, optimizer moments, validation figures, data
    position) and the sum of the last weights (the portable check)."""
    digest = hashlib.sha256()
    best, last = read_checkpoint(result.best_path), read_checkpoint(result.last_path)
    for payload in (best, last):
        for name, tensor in sorted(payload["model_state"].items()):
            digest.update(name.encode())
            digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    state = last["train_state"]
    for moments in state["optimizer"]["state"].values():
        for key, value in sorted(moments.items()):
            digest.update(key.encode() + torch.as_tensor(value).numpy().tobytes())
    figures = [
        (h["step"], h.get("train_nll"), h.get("valid_nll"), h.get("grad_norm"))
        for h in result.history
    ]
    position = (state["step"], state["epoch"], state["batch_index"], state["tokens_seen"])
    digest.update(repr((figures, position, state["best_valid_nll"])).encode())
    weight_sum = sum(float(t.double().abs().sum()) for t in last["model_state"].values())
    return {"sha256": digest.hexdigest(), "weight_sum": weight_sum, "steps": result.steps}


def _platform() -> str:
    return f"torch {torch.__version__}, cpu {torch.backends.cpu.get_cpu_capability()}"


@pytest.mark.parametrize("family", sorted(RUNS))
def test_a_short_seeded_run_gives_the_recorded_weights(family, tmp_path):
    corpus, model_config, task, options = RUNS[family]()
    torch.manual_seed(0)
    whole = train(
        model_config, _config(9, **options), corpus, tmp_path / "whole.pt", progress=False,
        log=len, task=task,
    )  # fmt: skip
    # stopped on request after step 5, resumed to 9: the same run
    stopped = train(
        model_config, _config(9, **options), corpus, tmp_path / "split.pt", progress=False,
        log=len, task=task, on_step=lambda report: report["step"] == 5,
    )  # fmt: skip
    assert stopped.steps == 5 and stopped.stop_reason == "stopped on request"
    resumed = train(
        model_config, _config(9, **options), corpus, tmp_path / "split.pt", progress=False,
        log=len, task=task, resume=True,
    )  # fmt: skip
    got = _fingerprint(whole)
    recorded = json.loads(REFERENCE.read_text()) if REFERENCE.exists() else {}
    if RECORD:
        recorded["platform"] = _platform()
        recorded[family] = got
        REFERENCE.write_text(json.dumps(recorded, indent=2, sort_keys=True) + "\n")
    reference = recorded[family]
    assert got["steps"] == reference["steps"] == 9
    resumed_weights = read_checkpoint(resumed.last_path)["model_state"]
    whole_weights = read_checkpoint(whole.last_path)["model_state"]
    assert all(torch.equal(resumed_weights[k], v) for k, v in whole_weights.items())
    if recorded["platform"] == _platform():
        assert got["sha256"] == reference["sha256"]
    else:
        assert got["weight_sum"] == pytest.approx(reference["weight_sum"], rel=1e-5)
