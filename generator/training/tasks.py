"""What the trainer needs to know about a model family, and nothing more.

The trainer (generator/training/trainer.py) owns the loop: optimizer, schedule, clipping,
NaN handling, validation, checkpoints, resume. A ``Task`` supplies the family-specific parts;
each family reads the training options it uses (transposition, style dropout) from the
TrainConfig itself, so no family has to accept another's options.

``TokenTask`` is next-token prediction with RNNGenerator over truncated-BPTT windows, a piece
per lane slot (MIDI files); ``TextTask`` reads text as contiguous streams with the state
carried through whole files. Piano-roll frames (frame_task.py) and encoder-decoder pairs
(seq2seq_task.py) have their own Task.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from generator.config import TrainConfig
from generator.data.pieces import Piece, TokenCorpus
from generator.data.streams import VALID_LANE_WINDOWS, StreamPlan
from generator.data.windows import Batch, EpochPlan
from generator.families import Carry, Corpus, Plan, Task  # noqa: F401  (the Protocols, re-exported)
from generator.models import RNNGenerator
from generator.models.rnn import detach_state
from generator.tokenizers import Tokenizer


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

    def train_plan(self, corpus: TokenCorpus, config: TrainConfig, epoch: int) -> EpochPlan:
        return self.plan(
            corpus.train,
            corpus.tokenizer,
            config.batch_size,
            config.seq_len,
            seed=config.seed,
            epoch=epoch,
            transpose=config.transpose,
            cond_dropout=config.style_dropout,
        )

    def valid_plan(self, corpus: TokenCorpus, config: TrainConfig) -> EpochPlan:
        lanes = max(1, min(config.batch_size, len(corpus.valid)))  # more would only pad
        return self.plan(corpus.valid, corpus.tokenizer, lanes, config.seq_len, shuffle=False)

    def loss(
        self, model: RNNGenerator, batch: Batch, state: Carry
    ) -> tuple[torch.Tensor, Any, Carry]:
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

    def detach_state(self, state: Carry) -> Carry:
        return detach_state(state)

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

    def plan(
        self,
        pieces: list[Piece],
        tokenizer: Tokenizer,
        batch_size: int,
        seq_len: int,
        *,
        seed: int = 0,
        epoch: int = 0,
        shuffle: bool = True,
    ) -> StreamPlan:
        return StreamPlan(
            pieces,
            tokenizer,
            batch_size,
            seq_len,
            seed=seed,
            epoch=epoch,
            shuffle=shuffle,
            # validation: lanes with 16+ windows of context
            min_lane_windows=0 if shuffle else VALID_LANE_WINDOWS,
        )

    def train_plan(self, corpus: TokenCorpus, config: TrainConfig, epoch: int) -> StreamPlan:
        return self.plan(
            corpus.train,
            corpus.tokenizer,
            config.batch_size,
            config.seq_len,
            seed=config.seed,
            epoch=epoch,
        )

    def valid_plan(self, corpus: TokenCorpus, config: TrainConfig) -> StreamPlan:
        # the stream is cut into lanes whatever the number of files
        return self.plan(
            corpus.valid, corpus.tokenizer, config.batch_size, config.seq_len, shuffle=False
        )


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
