"""The trainer takes exactly the steps of a 30-line PyTorch loop (benchmarks/text_vs_plain.py).

Given the same initial weights and the same batches, ``train`` with the text task must give
the plain loop's per-step losses to the last bit: same loss averaging (per token), same Adam,
same clipping (one norm over all parameters), same cosine schedule. Any difference between
the two in BENCHMARKS.md's text comparison is then data order and seed, not arithmetic.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from generator.config import ModelConfig, TrainConfig
from generator.data.streams import token_stream
from generator.data.text_corpus import load_text_corpus
from generator.data.windows import Batch
from generator.models import RNNGenerator
from generator.training import train
from generator.training.tasks import TextTask

LANES, WINDOW, STEPS, LR = 4, 16, 12, 2e-2


class PlainLSTM(nn.Module):
    """The reference model: embedding, nn.LSTM, linear head (names match RNNGenerator's)."""

    def __init__(self, vocab: int):
        super().__init__()
        self.embed = nn.Embedding(vocab, 8)
        self.rnn = nn.LSTM(8, 24, 2, batch_first=True, dropout=0.0)
        self.head = nn.Linear(24, vocab)

    def forward(self, x, state=None):
        output, state = self.rnn(self.embed(x), state)
        return self.head(output), state


def text_file(folder: Path) -> Path:
    rng = np.random.default_rng(0)
    words = ["the", "cat", "sat", "on", "a", "mat", "dog", "ran", "far", "away"]
    path = folder / "words.txt"
    path.write_text(" ".join(rng.choice(words, 600)) + "\n", encoding="utf-8")
    return path


def test_trainer_steps_equal_the_plain_loop_steps(tmp_path: Path) -> None:
    corpus = load_text_corpus(text_file(tmp_path), valid_fraction=0.1, segment_len=255)
    vocab = corpus.tokenizer.vocab_size
    stream = torch.from_numpy(token_stream(corpus.train, corpus.tokenizer).astype(np.int64))
    per_lane = (len(stream) - 1) // LANES
    inputs = stream[: per_lane * LANES].view(LANES, per_lane)
    targets = stream[1 : per_lane * LANES + 1].view(LANES, per_lane)
    no = torch.zeros(LANES, dtype=torch.int64)

    def batch(step: int) -> Batch:
        window = slice(step * WINDOW, (step + 1) * WINDOW)
        starts = torch.zeros(LANES, dtype=torch.bool)
        return Batch(inputs[:, window].clone(), targets[:, window].clone(), starts, no, no)

    torch.manual_seed(0)
    plain = PlainLSTM(vocab)
    initial = {name: value.clone() for name, value in plain.state_dict().items()}
    optimizer = torch.optim.Adam(plain.parameters(), lr=LR)
    expected, state = [], None
    for step in range(STEPS):
        for group in optimizer.param_groups:
            group["lr"] = LR * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * step / STEPS)))
        logits, state = plain(batch(step).inputs, state)
        state = tuple(s.detach() for s in state)
        loss = F.cross_entropy(logits.reshape(-1, vocab), batch(step).targets.reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(plain.parameters(), 0.5)
        optimizer.step()
        expected.append(loss.item())

    class SameBatches:
        def __len__(self) -> int:
            return STEPS

        def batch(self, index: int) -> Batch:
            return batch(index)

    class SameStart(TextTask):
        def build_model(self, config) -> nn.Module:
            model = RNNGenerator(config)
            missing, unexpected = model.load_state_dict(initial, strict=False)
            assert not unexpected and set(missing) == {"style_embed.weight", "seed_embed.weight"}
            return model

        def plan(self, *args, **options):
            return SameBatches() if options.get("shuffle", True) else super().plan(*args, **options)

    model_config = ModelConfig(
        vocab_size=vocab, embedding_size=8, hidden_size=24, num_layers=2, dropout=0.0
    )
    config = TrainConfig(
        batch_size=LANES,
        seq_len=WINDOW,
        lr=LR,
        warmup_steps=0,
        clip_norm=0.5,
        max_steps=STEPS,
        eval_every=STEPS,
        save_every=STEPS,
        log_every=STEPS,
        style_dropout=0.0,
        device="cpu",
    )
    losses: list[float] = []
    train(
        model_config,
        config,
        corpus,
        tmp_path / "model.pt",
        progress=False,
        log=lambda message: None,
        task=SameStart(),
        on_step=lambda event: losses.append(event["loss"]),
    )
    assert losses == expected
    assert expected[-1] < expected[0] - 0.3  # it learnt: the comparison is not of flat curves
