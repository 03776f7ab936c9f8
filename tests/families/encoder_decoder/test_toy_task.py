"""The encoder-decoder learns to reverse short sequences within seconds, through the trainer."""

from __future__ import annotations

import numpy as np
import torch

from generator.config import TrainConfig
from generator.data.pairs import Pair, PairCorpus
from generator.sampling.seq2seq import decode
from generator.tokenizers import CharTokenizer
from generator.training import train
from generator.training.seq2seq_task import SEQ2SEQ_TASK, score_pairs

TOKENIZER = CharTokenizer("abcdefgh")


def _reversals(count: int, seed: int) -> list[Pair]:
    rng = np.random.default_rng(seed)
    pairs = []
    for i in range(count):
        source = rng.integers(4, TOKENIZER.vocab_size, int(rng.integers(3, 9))).astype(np.int32)
        pairs.append(Pair(f"pair {i}", source, source[::-1].copy()))
    return pairs


def test_copy_and_reverse_is_learned_to_high_accuracy(tmp_path, tiny_config):
    corpus = PairCorpus(TOKENIZER, _reversals(2000, 0), _reversals(100, 1))
    config = TrainConfig(
        batch_size=32,
        lr=1e-2,
        warmup_steps=0,
        max_steps=150,
        eval_every=150,
        log_every=50,
        device="cpu",
    )
    torch.manual_seed(0)
    result = train(
        tiny_config(TOKENIZER.vocab_size, attention="additive"),
        config,
        corpus,
        tmp_path / "reverse.pt",
        progress=False,
        task=SEQ2SEQ_TASK,
        log=lambda message: None,
    )
    model = SEQ2SEQ_TASK.build_model(tiny_config(TOKENIZER.vocab_size, attention="additive"))
    model.load_state_dict(torch.load(result.best_path, weights_only=True)["model_state"])
    score = score_pairs(model, corpus.valid, TOKENIZER)
    assert score.accuracy > 0.95, score
    assert score.nll < result.history[0]["train_nll"] / 5
    decoded = decode(model, [p.source for p in corpus.valid], TOKENIZER, beam=3)
    exact = np.mean(
        [d.tokens == p.target.tolist() for d, p in zip(decoded, corpus.valid, strict=True)]
    )
    assert exact > 0.8
