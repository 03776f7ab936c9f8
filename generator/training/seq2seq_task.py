"""The encoder-decoder Task: padded source → target pairs, no state carried (see tasks.py).

Loss: the NLL in nats of every target token and of the EOS after it, given the source and the
true previous tokens (teacher forcing; in training a share ``teacher_forcing`` of them), summed
over the batch; the count is those predictions, so the trainer reports nats per target token.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from generator.config import TrainConfig
from generator.data.pairs import Pair, PairBatch, PairCorpus, PairPlan
from generator.models.seq2seq import Seq2Seq
from generator.tokenizers import Tokenizer
from generator.training.tasks import Carry, sequence_unigram_nll


class Seq2SeqTask:
    """Sequence-to-sequence prediction with Seq2Seq over padded pairs."""

    family = "seq2seq"
    units = "token"

    def build_model(self, config) -> nn.Module:
        return Seq2Seq(config)

    def plan(
        self,
        pieces: list[Pair],
        tokenizer: Tokenizer,
        batch_size: int,
        *,
        seed: int = 0,
        epoch: int = 0,
        shuffle: bool = True,
        transpose: int = 0,
    ) -> PairPlan:
        return PairPlan(
            pieces,
            tokenizer,
            batch_size,
            seed=seed,
            epoch=epoch,
            shuffle=shuffle,
            transpose=transpose,
        )

    def train_plan(self, corpus: PairCorpus, config: TrainConfig, epoch: int) -> PairPlan:
        """Whole pairs (no --seq-len windows), transposed by up to --transpose for music."""
        return self.plan(
            corpus.train,
            corpus.tokenizer,
            config.batch_size,
            seed=config.seed,
            epoch=epoch,
            transpose=config.transpose,
        )

    def valid_plan(self, corpus: PairCorpus, config: TrainConfig) -> PairPlan:
        lanes = max(1, min(config.batch_size, len(corpus.valid)))  # more would only pad
        return self.plan(corpus.valid, corpus.tokenizer, lanes, shuffle=False)

    def loss(
        self, model: Seq2Seq, batch: PairBatch, state: Carry
    ) -> tuple[torch.Tensor, Any, None]:
        """Summed NLL (nats) over target tokens + EOS, their count; no carried state."""
        loss_sum, count, _ = model.loss(
            batch.sources, batch.lengths, batch.target_inputs, batch.target_outputs
        )
        return loss_sum, count, None

    def detach_state(self, state: Carry) -> None:
        """Pairs are independent: no state is carried from one batch to the next."""
        return None

    def baseline(self, corpus: PairCorpus) -> float | None:
        """Target tokens at their train frequencies (add-one): valid NLL in nats per token."""
        return target_unigram_nll(corpus)

    def describe(self, corpus: PairCorpus) -> str:
        return (
            f"train {len(corpus.train):,} pairs ({corpus.num_train_tokens:,} target tokens), "
            f"valid {len(corpus.valid):,} pairs ({corpus.num_valid_tokens:,} target tokens)"
        )


SEQ2SEQ_TASK = Seq2SeqTask()


def target_unigram_nll(corpus: PairCorpus) -> float:
    """Baseline: NLL (nats/token) on valid targets (+EOS) of train target frequencies."""
    return sequence_unigram_nll(
        [(p.target, True) for p in corpus.train],
        [(p.target, True) for p in corpus.valid],
        corpus.tokenizer.vocab_size,
        corpus.tokenizer.eos_id,
    )


@dataclass
class PairScore:
    """Teacher-forced scores of a model on pairs."""

    nll: float  # nats per target token (EOS included)
    accuracy: float  # share of target tokens (EOS included) where the most likely token is right
    tokens: int  # predictions scored
    pairs: int
    # per voice of an interleaved target (music): name → {"nll", "accuracy", "onset_accuracy"}
    voices: dict[str, dict[str, float]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "nll": self.nll,
            "accuracy": self.accuracy,
            "tokens": self.tokens,
            "pairs": self.pairs,
            "voices": self.voices,
        }


@torch.no_grad()
def score_pairs(
    model: Seq2Seq, pairs: list[Pair], tokenizer: Tokenizer, *, batch_size: int = 64
) -> PairScore:
    """NLL and token accuracy on ``pairs`` with teacher forcing; per voice for voice grids.

    A voice's ``onset_accuracy`` counts only the steps where the reference starts a note
    (NOTE tokens): the harder part, since a held note is easy to continue."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    voice_names = list(getattr(tokenizer, "voices", []))
    note_offset = getattr(tokenizer, "note_offset", None)
    slots = max(len(voice_names), 1)
    nll_sum = np.zeros(slots + 1)  # per voice; last slot: EOS
    hits = np.zeros(slots + 1)
    counts = np.zeros(slots + 1)
    onset_hits, onset_counts = np.zeros(slots), np.zeros(slots)
    plan = PairPlan(pairs, tokenizer, batch_size, shuffle=False)
    for batch in plan:
        batch = batch.to(device)
        logits, _ = model(batch.sources, batch.lengths, batch.target_inputs)
        targets = batch.target_outputs
        nll = torch.nn.functional.cross_entropy(
            logits.float().transpose(1, 2), targets, ignore_index=0, reduction="none"
        )  # (batch, tgt)
        right = logits.argmax(-1) == targets
        real = targets != 0
        is_eos = targets == tokenizer.eos_id
        position = torch.arange(targets.shape[1], device=device).expand_as(targets)
        slot = torch.where(is_eos, torch.full_like(position, slots), position % slots)
        for k in range(slots + 1):
            chosen = real & (slot == k)
            nll_sum[k] += float(nll[chosen].sum())
            hits[k] += float(right[chosen].sum())
            counts[k] += float(chosen.sum())
            if k < slots and note_offset is not None:
                onsets = chosen & (targets >= note_offset)
                onset_hits[k] += float(right[onsets].sum())
                onset_counts[k] += float(onsets.sum())
    model.train(was_training)
    total = max(counts.sum(), 1)
    voices = {
        name: {
            "nll": float(nll_sum[k] / max(counts[k], 1)),
            "accuracy": float(hits[k] / max(counts[k], 1)),
            "onset_accuracy": float(onset_hits[k] / max(onset_counts[k], 1)),
        }
        for k, name in enumerate(voice_names)
    }
    return PairScore(
        nll=float(nll_sum.sum() / total),
        accuracy=float(hits.sum() / total),
        tokens=int(counts.sum()),
        pairs=len(pairs),
        voices=voices,
    )
