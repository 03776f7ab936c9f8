"""Stateful text batches: the whole corpus as one stream, cut into contiguous lanes.

    stream:  [BOS] file 3 ······ EOS file 1 ········· EOS file 2 ·········· EOS ...
    lane 0:  |BOS ········|········|········|   ← the first quarter of the stream
    lane 1:  |BOS ········|········|········|   ← the second quarter ...
              └window 0┘└window 1┘  ...

Each lane reads its part of the stream in order, window after window, so the recurrent state
is carried across every window of a file (and from one file into the next, past an EOS),
never reset every few thousand tokens. Only window 0 starts fresh: the trainer zeroes the
state there and feeds the conditioning vector in place of the lane's BOS, exactly as sampling
starts. This is how char-rnn and PyTorch's word_language_model read text; ``EpochPlan`` (one
piece per lane slot, reset at every piece) suits short pieces such as MIDI files.

Each epoch shuffles the order of the files and shifts the stream by a random offset from a
generator seeded by (seed, epoch), so window boundaries move and any epoch can be rebuilt
when a run resumes. Unshuffled (validation), the files stay in order and nothing shifts.
"""

from __future__ import annotations

import numpy as np
import torch

from generator.data.pieces import Piece
from generator.data.windows import Batch
from generator.tokenizers import Tokenizer


def file_streams(pieces: list[Piece]) -> list[list[Piece]]:
    """Consecutive segments of one file (``NAME#0``, ``NAME#1``, ... as
    ``generator.data.text_corpus.segments`` names them) grouped together, in order."""
    files: list[list[Piece]] = []
    previous = None
    for piece in pieces:
        base = piece.name.rsplit("#", 1)[0]
        if base != previous or files[-1][-1].ends:
            files.append([])
        files[-1].append(piece)
        previous = base
    return files


def token_stream(
    pieces: list[Piece], tokenizer: Tokenizer, rng: np.random.Generator | None = None
) -> np.ndarray:
    """The pieces' ids as one int32 stream, file after file (in an order shuffled by ``rng``,
    or as given), with EOS after each file's real end."""
    files = file_streams(pieces)
    order = rng.permutation(len(files)) if rng is not None else np.arange(len(files))
    eos = np.array([tokenizer.eos_id], dtype=np.int32)
    parts: list[np.ndarray] = []
    for index in order:
        parts.extend(p.tokens.astype(np.int32, copy=False) for p in files[index])
        if files[index][-1].ends:
            parts.append(eos)
    return np.concatenate(parts)


class StreamPlan:
    """All windows of one epoch as (windows, lanes, seq_len) arrays, lanes contiguous."""

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
        min_lane_windows: int = 0,
        **_unused,
    ):
        if not pieces:
            raise ValueError("no pieces to train on")
        rng = np.random.default_rng([seed, epoch])
        stream = token_stream(pieces, tokenizer, rng if shuffle else None)
        if shuffle and len(stream) > seq_len:
            stream = np.roll(stream, -int(rng.integers(seq_len)))  # move the window boundaries

        # A lane holds BOS + its share of the stream as inputs, and that share as targets.
        # Lanes are as long as the stream allows, rounded up to whole windows (the tail pads).
        # Each lane starts cold (no state) in the middle of a text: ``min_lane_windows`` keeps
        # lanes long enough that this costs little (validation: 16 windows of context or more).
        lanes = max(1, min(batch_size, len(stream)))
        if min_lane_windows:
            lanes = max(1, min(lanes, len(stream) // (min_lane_windows * seq_len)))
        rows = batch_size if shuffle else lanes  # training batches keep their full size
        share = -(-len(stream) // lanes)  # targets per lane
        count = -(-share // seq_len)  # windows per lane
        self.num_windows = count
        shape = (count, rows, seq_len)
        pad = tokenizer.pad_id
        inputs = np.full((rows, count * seq_len), pad, dtype=np.int32)
        targets = np.full((rows, count * seq_len), pad, dtype=np.int32)
        for lane in range(lanes):
            chunk = stream[lane * share : (lane + 1) * share]
            if not len(chunk):
                continue
            targets[lane, : len(chunk)] = chunk
            inputs[lane, 0] = tokenizer.bos_id
            inputs[lane, 1 : len(chunk)] = chunk[:-1]
        self._inputs = np.ascontiguousarray(inputs.reshape(rows, count, seq_len).swapaxes(0, 1))
        self._targets = np.ascontiguousarray(targets.reshape(rows, count, seq_len).swapaxes(0, 1))
        self._starts = np.zeros(shape[:2], dtype=bool)
        self._starts[0] = True
        self._zeros = torch.zeros(rows, dtype=torch.int64)

    def __len__(self) -> int:
        return self.num_windows

    def batch(self, index: int) -> Batch:
        return Batch(
            inputs=torch.from_numpy(self._inputs[index]).long(),
            targets=torch.from_numpy(self._targets[index]).long(),
            starts=torch.from_numpy(self._starts[index]),
            style_ids=self._zeros,
            seed_ids=self._zeros,
        )

    def __iter__(self):
        for index in range(self.num_windows):
            yield self.batch(index)
