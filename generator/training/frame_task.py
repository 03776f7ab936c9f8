"""The piano-roll Task: predict each frame from the frames before it (see tasks.py).

Loss: the NLL in nats of each predicted frame, summed over its keys (binary units), summed over
the batch's real predictions; the count is the number of predicted frames, so the trainer's
validation figure is the field's "NLL per frame" (the first frame of each piece not predicted,
frames pooled across pieces).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from generator.config import TrainConfig
from generator.data.frame_windows import FrameBatch, FramePlan
from generator.data.piano_roll import FrameCorpus, RollPiece, predicted_frames
from generator.models.pianoroll import PianoRollRNN
from generator.models.rnn import detach_state
from generator.tokenizers.piano_roll import PianoRollTokenizer
from generator.training.tasks import Carry
from generator.training.validate import evaluate


class FrameTask:
    """Next-frame prediction with PianoRollRNN over truncated-BPTT windows of frames."""

    family = "pianoroll"
    units = "frame"

    def build_model(self, config) -> nn.Module:
        return PianoRollRNN(config)

    def plan(
        self,
        pieces: list[RollPiece],
        tokenizer: PianoRollTokenizer | None,
        batch_size: int,
        seq_len: int,
        *,
        seed: int = 0,
        epoch: int = 0,
        shuffle: bool = True,
        transpose: int = 0,
    ) -> FramePlan:
        return FramePlan(
            pieces,
            tokenizer,
            batch_size,
            seq_len,
            seed=seed,
            epoch=epoch,
            shuffle=shuffle,
            transpose=transpose,
        )

    def train_plan(self, corpus: FrameCorpus, config: TrainConfig, epoch: int) -> FramePlan:
        return self.plan(
            corpus.train,
            corpus.tokenizer,
            config.batch_size,
            config.seq_len,
            seed=config.seed,
            epoch=epoch,
            transpose=config.transpose,
        )

    def valid_plan(self, corpus: FrameCorpus, config: TrainConfig) -> FramePlan:
        lanes = max(1, min(config.batch_size, len(corpus.valid)))  # more would only pad
        return self.plan(corpus.valid, corpus.tokenizer, lanes, config.seq_len, shuffle=False)

    def loss(
        self, model: PianoRollRNN, batch: FrameBatch, state: Carry
    ) -> tuple[torch.Tensor, Any, Carry]:
        """Summed NLL (nats) over the predicted frames, their count, and the carried state."""
        features, state = model(batch.inputs, state, starts=batch.starts)  # (batch, time, hid)
        nll = model.frame_nll(features[batch.mask], batch.targets[batch.mask])  # (frames,)
        return nll.sum(), batch.mask.sum(), state

    def detach_state(self, state: Carry) -> Carry:
        return detach_state(state)

    def baseline(self, corpus: FrameCorpus) -> float | None:
        """Independent keys at their train frequencies: valid NLL in nats per frame."""
        return key_frequency_nll(corpus)

    def describe(self, corpus: FrameCorpus) -> str:
        return (
            f"train {corpus.num_train_frames:,} predicted frames in {len(corpus.train)} pieces, "
            f"valid {corpus.num_valid_frames:,} in {len(corpus.valid)} pieces, "
            f"{corpus.tokenizer.num_keys} keys"
        )


def key_frequency_nll(corpus: FrameCorpus) -> float | None:
    """Baseline: each key on with its train frequency (add-one), NLL per predicted valid frame."""
    pieces = corpus.valid or corpus.train
    if not predicted_frames(pieces):
        return None
    train = np.concatenate([p.frames for p in corpus.train]).astype(np.float64)
    p_on = (train.sum(0) + 1) / (len(train) + 2)  # (keys,)
    targets = np.concatenate([p.frames[1:] for p in pieces]).astype(np.float64)
    nll = -(targets * np.log(p_on) + (1 - targets) * np.log1p(-p_on)).sum()
    return float(nll / len(targets))


FRAME_TASK = FrameTask()


def frame_nll(
    model: PianoRollRNN, pieces: list[RollPiece], *, batch_size: int = 32, seq_len: int = 256
) -> float:
    """NLL in nats per predicted frame of ``pieces``, pooled (the field's evaluation figure)."""
    if not predicted_frames(pieces):
        raise ValueError("no pieces of two or more frames to evaluate")
    plan = FRAME_TASK.plan(pieces, None, min(batch_size, len(pieces)), seq_len, shuffle=False)
    return evaluate(model, plan, next(model.parameters()).device, task=FRAME_TASK)
