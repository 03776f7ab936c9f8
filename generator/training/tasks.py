"""What the trainer needs to know about a model family, and nothing more.

The trainer (generator/training/trainer.py) owns the loop: optimizer, schedule, clipping,
NaN handling, validation, checkpoints, resume. A Task supplies the family-specific parts:

    build_model(config)            the family's nn.Module
    plan(pieces, ..., epoch)       an epoch of batches: ``len(plan)``, ``plan.batch(i)``
    loss(model, batch, state)      (summed NLL in nats, number of predictions, carried state)
    valid_lanes(batch_size, n)     lanes of the validation plan over n validation pieces
    baseline(corpus)               a simple model's valid NLL in the same units, or None
    units                          what one prediction is ("token", "frame", ...)

``TokenTask`` is next-token prediction with RNNGenerator over truncated-BPTT windows, a piece
per lane slot (MIDI files); ``TextTask`` reads text as contiguous streams with the state
carried through whole files. Other families (piano-roll frames, encoder-decoder pairs) add
their own Task.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from generator.data.pieces import TokenCorpus
from generator.data.streams import VALID_LANE_WINDOWS, StreamPlan
from generator.data.windows import Batch, EpochPlan
from generator.models import RNNGenerator


class TokenTask:
    """Next-token prediction with the one-to-many RNN generator."""

    family = "rnn"
    units = "token"

    def build_model(self, config) -> nn.Module:
        return RNNGenerator(config)

    def plan(
        self,
        pieces,
        tokenizer,
        batch_size: int,
        seq_len: int,
        *,
        seed: int = 0,
        epoch: int = 0,
        shuffle: bool = True,
        transpose: int = 0,
        cond_dropout: float = 0.0,
    ) -> EpochPlan:
        return EpochPlan(
            pieces,
            tokenizer,
            batch_size,
            seq_len,
            seed=seed,
            epoch=epoch,
            shuffle=shuffle,
            transpose=transpose,
            cond_dropout=cond_dropout,
        )

    def valid_lanes(self, batch_size: int, num_pieces: int) -> int:
        """A piece per lane at most: more lanes than pieces would only pad."""
        return max(1, min(batch_size, num_pieces))

    def loss(self, model: RNNGenerator, batch: Batch, state) -> tuple[torch.Tensor, Any, Any]:
        """Summed NLL (nats) over non-padding targets, their count, and the new carried state."""
        cond = model.condition(batch.style_ids, batch.seed_ids)
        logits, state = model(batch.inputs, state, cond=cond, starts=batch.starts)
        loss_sum = F.cross_entropy(
            logits.reshape(-1, logits.shape[-1]).float(),
            batch.targets.reshape(-1),
            ignore_index=0,
            reduction="sum",
        )
        return loss_sum, (batch.targets != 0).sum(), state

    def baseline(self, corpus: TokenCorpus) -> float:
        """Unigram model: valid NLL (nats/token) of token frequencies counted on train."""
        return unigram_nll(corpus)

    def describe(self, corpus: TokenCorpus) -> str:
        return (
            f"train {corpus.num_train_tokens:,} tokens in {len(corpus.train)} pieces, "
            f"valid {corpus.num_valid_tokens:,} tokens in {len(corpus.valid)} pieces"
        )


class TextTask(TokenTask):
    """Next-token prediction on text read as contiguous streams (generator/data/streams.py):
    the state is carried across every window of a file, in training and in validation."""

    def plan(self, pieces, tokenizer, batch_size: int, seq_len: int, **options) -> StreamPlan:
        if not options.get("shuffle", True):  # validation: lanes with 16+ windows of context
            options.setdefault("min_lane_windows", VALID_LANE_WINDOWS)
        return StreamPlan(pieces, tokenizer, batch_size, seq_len, **options)

    def valid_lanes(self, batch_size: int, num_pieces: int) -> int:
        """The stream is cut into lanes whatever the number of files."""
        return batch_size


def unigram_nll(corpus: TokenCorpus) -> float:
    """Baseline: NLL (nats/token) on valid of token frequencies counted on train (add-one)."""
    return sequence_unigram_nll(
        [(p.tokens, p.ends) for p in corpus.train],
        [(p.tokens, p.ends) for p in corpus.valid],
        corpus.tokenizer.vocab_size,
        corpus.tokenizer.eos_id,
    )


def sequence_unigram_nll(train, valid, vocab: int, eos: int) -> float:
    """NLL (nats/token) on ``valid`` (train when empty) of add-one token frequencies counted on
    ``train``; both are lists of (ids, ends) with ``ends`` true where an EOS follows the ids."""
    counts = np.ones(vocab, dtype=np.float64)
    for ids, ends in train:
        counts += np.bincount(ids, minlength=vocab)[:vocab]
        counts[eos] += ends
    log_p = np.log(counts / counts.sum())
    evaluated = valid or train
    total = sum(-log_p[ids].sum() - ends * log_p[eos] for ids, ends in evaluated)
    return float(total / sum(len(ids) + ends for ids, ends in evaluated))


TOKEN_TASK = TokenTask()
TEXT_TASK = TextTask()
