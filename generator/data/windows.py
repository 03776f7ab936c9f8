"""Truncated-BPTT batches: pieces laid end to end in parallel lanes, cut into windows.

    lane 0: [piece 4 ········|········|····pp][piece 1 ········|··pppp][piece 7 ...
    lane 1: [piece 2 ········|········|········|·ppppp][piece 5 ·········|····ppp] ...
             └ window 0 ┘└ window 1 ┘ ...                 (p = padding, no loss)

Every piece starts at a window boundary and is padded to a whole number of windows, so one
batch is (batch, seq_len) and needs no per-token resets. A window that starts a piece is
flagged: the trainer zeroes that lane's state and feeds the conditioning vector at its first
step; otherwise the lane's state is carried over (detached) from the previous window.
Each epoch the pieces are shuffled, transposed and have their conditioning dropped out from a
generator seeded by (seed, epoch), so any epoch can be rebuilt exactly when a run resumes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from generator.data.pieces import Piece
from generator.tokenizers import Tokenizer


@dataclass
class Batch:
    """One window per lane."""

    inputs: torch.Tensor  # (batch, seq_len) int64 ids; BOS at a piece's first step
    targets: torch.Tensor  # (batch, seq_len) int64 ids; PAD where there is no loss
    starts: torch.Tensor  # (batch,) bool: this window begins a new piece
    style_ids: torch.Tensor  # (batch,) int64 conditioning style id (0 = none)
    seed_ids: torch.Tensor  # (batch,) int64 conditioning first-token id (0 = none)

    def to(self, device: torch.device) -> Batch:
        return Batch(*(t.to(device, non_blocking=True) for t in vars(self).values()))

    @property
    def num_tokens(self) -> int:
        return int((self.targets != 0).sum())


class EpochPlan:
    """All windows of one epoch as (windows, lanes, seq_len) arrays."""

    def __init__(
        self,
        pieces: list[Piece],
        tokenizer: Tokenizer,
        batch_size: int,
        seq_len: int,
        *,
        seed: int = 0,
        epoch: int = 0,
        shuffle: bool = True,
        transpose: int = 0,
        cond_dropout: float = 0.0,
    ):
        if not pieces:
            raise ValueError("no pieces to train on")
        rng = np.random.default_rng([seed, epoch])
        order = rng.permutation(len(pieces)) if shuffle else np.arange(len(pieces))
        pad, bos, eos = tokenizer.pad_id, tokenizer.bos_id, tokenizer.eos_id

        lanes: list[list[tuple[np.ndarray, int, int, bool]]] = [[] for _ in range(batch_size)]
        lane_windows = np.zeros(batch_size, dtype=np.int64)
        for index in order:
            piece = pieces[index]
            tokens = piece.tokens
            if transpose:
                shifted = tokenizer.transpose(tokens, int(rng.integers(-transpose, transpose + 1)))
                tokens = tokens if shifted is None else shifted
            style_id, seed_id = tokenizer.condition_ids(tokens, piece.style)
            if cond_dropout:
                style_id *= int(rng.random() >= cond_dropout)
                seed_id *= int(rng.random() >= cond_dropout)
            lane = int(np.argmin(lane_windows))  # the lane that is shortest so far
            lanes[lane].append((tokens, style_id, seed_id, piece.ends))
            lane_windows[lane] += -(-(len(tokens) + 1) // seq_len)

        self.num_windows = int(lane_windows.max())
        shape = (self.num_windows, batch_size, seq_len)
        inputs = np.full(shape, pad, dtype=np.int32)
        targets = np.full(shape, pad, dtype=np.int32)
        starts = np.ones(shape[:2], dtype=bool)  # unused tail windows reset too: harmless
        style_ids = np.zeros(shape[:2], dtype=np.int64)
        seed_ids = np.zeros(shape[:2], dtype=np.int64)
        for lane, entries in enumerate(lanes):
            window = 0
            for tokens, style_id, seed_id, ends in entries:
                n = len(tokens) + 1
                count = -(-n // seq_len)
                flat_in = np.full(count * seq_len, pad, dtype=np.int32)
                flat_out = np.full(count * seq_len, pad, dtype=np.int32)
                flat_in[0] = bos
                flat_in[1:n] = tokens
                flat_out[: n - 1] = tokens
                flat_out[n - 1] = eos if ends else pad  # a cut segment has no end to predict
                inputs[window : window + count, lane] = flat_in.reshape(count, seq_len)
                targets[window : window + count, lane] = flat_out.reshape(count, seq_len)
                starts[window + 1 : window + count, lane] = False
                style_ids[window : window + count, lane] = style_id
                seed_ids[window : window + count, lane] = seed_id
                window += count
        self._inputs, self._targets = inputs, targets
        self._starts, self._style_ids, self._seed_ids = starts, style_ids, seed_ids

    def __len__(self) -> int:
        return self.num_windows

    def batch(self, index: int) -> Batch:
        return Batch(
            inputs=torch.from_numpy(self._inputs[index]).long(),
            targets=torch.from_numpy(self._targets[index]).long(),
            starts=torch.from_numpy(self._starts[index]),
            style_ids=torch.from_numpy(self._style_ids[index]),
            seed_ids=torch.from_numpy(self._seed_ids[index]),
        )

    def __iter__(self):
        for index in range(self.num_windows):
            yield self.batch(index)
