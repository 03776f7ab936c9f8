"""Training and sampling on a CUDA device, with and without mixed precision.

Skipped where no CUDA device exists (as in CI); run on a GPU machine with
``python -m pytest tests/training/test_cuda.py``.
"""

import math

import numpy as np
import pytest
import torch

from generator.checkpoint import load_checkpoint
from generator.config import ModelConfig, TrainConfig
from generator.data.pieces import Piece, TokenCorpus
from generator.midi.notes import Note
from generator.sampling import SamplingOptions
from generator.sampling.music import MusicRequest, generate_music
from generator.tokenizers import MidiEventTokenizer
from generator.training import train

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def _scale_corpus() -> TokenCorpus:
    tokenizer = MidiEventTokenizer(styles=["up"])
    pieces = []
    for k in range(12):
        notes = [Note(i * 0.5, 0.5, 60 + (i + k) % 12, 80) for i in range(64)]
        pieces.append(Piece(f"p{k}", tokenizer.encode(notes), "up"))
    return TokenCorpus(tokenizer, pieces[:10], pieces[10:])


@pytest.mark.parametrize("amp", ["off", "bf16", "fp16"])
def test_training_on_cuda_learns_and_samples(tmp_path, amp):
    corpus = _scale_corpus()
    model_config = ModelConfig(
        vocab_size=corpus.tokenizer.vocab_size,
        cell="lstm",
        hidden_size=128,
        num_layers=2,
        num_styles=1,
        num_seed_tokens=128,
    )
    config = TrainConfig(
        batch_size=8,
        seq_len=64,
        max_steps=300,
        eval_every=100,
        warmup_steps=20,
        device="cuda",
        amp=amp,
        log_every=100,
    )
    result = train(model_config, config, corpus, tmp_path / "m.pt", progress=False)
    assert result.best_valid_nll is not None and math.isfinite(result.best_valid_nll)
    from generator.training import unigram_nll

    baseline = unigram_nll(corpus)
    assert result.best_valid_nll < 0.5 * baseline, (result.best_valid_nll, baseline)

    loaded = load_checkpoint(tmp_path / "m.pt", device="cuda")
    assert next(loaded.model.parameters()).is_cuda
    music = generate_music(
        loaded, MusicRequest(num=4, style="up", bars=2, options=SamplingOptions(seed=0))
    )
    assert len(music.pieces) == 4 and all(len(p) > 0 for p in music.pieces)
    assert all(max(n.end for n in p) <= 8.0 + 1e-6 for p in music.pieces)


def test_resume_on_cuda_matches_uninterrupted(tmp_path):
    corpus = _scale_corpus()
    model_config = ModelConfig(
        vocab_size=corpus.tokenizer.vocab_size,
        hidden_size=64,
        num_layers=1,
        num_styles=1,
        num_seed_tokens=128,
    )

    def config(steps):
        return TrainConfig(
            batch_size=4,
            seq_len=32,
            max_steps=steps,
            eval_every=10,
            save_every=10,
            device="cuda",
            log_every=10,
        )

    train(model_config, config(40), corpus, tmp_path / "a.pt", progress=False)
    train(model_config, config(20), corpus, tmp_path / "b.pt", progress=False)
    train(model_config, config(40), corpus, tmp_path / "b.pt", progress=False, resume=True)
    a = load_checkpoint(tmp_path / "a.last.pt").model.state_dict()
    b = load_checkpoint(tmp_path / "b.last.pt").model.state_dict()
    for key in a:
        # cuDNN kernels need not be bit-deterministic; the CPU test asserts bit-exactness
        np.testing.assert_allclose(a[key].numpy(), b[key].numpy(), rtol=1e-4, atol=1e-5)
