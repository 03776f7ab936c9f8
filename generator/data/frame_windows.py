"""Truncated-BPTT batches of piano-roll frames, laid out like the token windows.

A piece of n frames gives n − 1 predictions: input frame t, target frame t + 1 (the first
frame is read, never predicted). Pieces lie end to end in parallel lanes, each starting at a
window boundary and padded to whole windows (padding has mask 0 and no loss):

    lane 0: [piece 4 inputs v0..v(n-2) ·····|·····pp][piece 1 ········|··pppp] ...
            targets v1..v(n-1), one frame ahead
    lane 1: [piece 2 ··········|···········|·ppppp][piece 5 ·····|···ppp] ...

A window stores seq_len + 1 frames: inputs are frames [0, seq_len), targets [1, seq_len + 1).
A window that starts a piece is flagged so the model zeroes that lane's state; otherwise the
state carries over (detached) from the previous window. Each epoch the pieces are shuffled and
transposed (that needs the tokenizer) from a generator seeded by (seed, epoch), so any epoch
can be rebuilt exactly when a run resumes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from generator.data.piano_roll import RollPiece
from generator.tokenizers.piano_roll import PianoRollTokenizer


@dataclass
class FrameBatch:
    """One window per lane."""

    inputs: torch.Tensor  # (batch, seq_len, keys) uint8 frames read by the model
    targets: torch.Tensor  # (batch, seq_len, keys) uint8 frames to predict (one step ahead)
    mask: torch.Tensor  # (batch, seq_len) bool: a real prediction (False on padding)
    starts: torch.Tensor  # (batch,) bool: this window begins a new piece

    def to(self, device: torch.device) -> FrameBatch:
        return FrameBatch(*(t.to(device, non_blocking=True) for t in vars(self).values()))


class FramePlan:
    """All windows of one epoch as a (windows, lanes, seq_len + 1, keys) uint8 array."""

    def __init__(
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
    ):
        pieces = [p for p in pieces if len(p.frames) >= 2]  # one frame predicts nothing
        if not pieces:
            raise ValueError("no pieces of two or more frames")
        rng = np.random.default_rng([seed, epoch])
        order = rng.permutation(len(pieces)) if shuffle else np.arange(len(pieces))

        lanes: list[list[np.ndarray]] = [[] for _ in range(batch_size)]
        lane_windows = np.zeros(batch_size, dtype=np.int64)
        for index in order:
            frames = pieces[index].frames
            if transpose:
                shifted = tokenizer.transpose(frames, int(rng.integers(-transpose, transpose + 1)))
                frames = frames if shifted is None else shifted
            lane = int(np.argmin(lane_windows))  # the lane that is shortest so far
            lanes[lane].append(frames)
            lane_windows[lane] += -(-(len(frames) - 1) // seq_len)

        self.num_windows = int(lane_windows.max())
        keys = pieces[0].frames.shape[1]
        self._frames = np.zeros((self.num_windows, batch_size, seq_len + 1, keys), dtype=np.uint8)
        self._mask = np.zeros((self.num_windows, batch_size, seq_len), dtype=bool)
        self._starts = np.ones((self.num_windows, batch_size), dtype=bool)  # unused tails reset
        for lane, entries in enumerate(lanes):
            window = 0
            for frames in entries:
                predictions = len(frames) - 1
                count = -(-predictions // seq_len)
                for w in range(count):
                    chunk = frames[w * seq_len : (w + 1) * seq_len + 1]  # inputs + last target
                    self._frames[window + w, lane, : len(chunk)] = chunk
                    self._mask[window + w, lane, : len(chunk) - 1] = True
                self._starts[window + 1 : window + count, lane] = False
                window += count

    def __len__(self) -> int:
        return self.num_windows

    def batch(self, index: int) -> FrameBatch:
        frames = torch.from_numpy(self._frames[index])  # (batch, seq_len + 1, keys)
        return FrameBatch(
            inputs=frames[:, :-1],
            targets=frames[:, 1:],
            mask=torch.from_numpy(self._mask[index]),
            starts=torch.from_numpy(self._starts[index]),
        )

    def __iter__(self):
        for index in range(self.num_windows):
            yield self.batch(index)
