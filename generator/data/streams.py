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

VALID_LANE_WINDOWS = 16  # a held-out lane starts cold: give it this many windows at least


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


def stream_parts(
    pieces: list[Piece], tokenizer: Tokenizer, rng: np.random.Generator | None = None
) -> list[np.ndarray]:
    """The stream as a list of arrays (the pieces' own ids, not copies), file after file (in an
    order shuffled by ``rng``, or as given), with EOS after each file's real end."""
    files = file_streams(pieces)
    order = rng.permutation(len(files)) if rng is not None else np.arange(len(files))
    eos = np.array([tokenizer.eos_id], dtype=np.int32)
    parts: list[np.ndarray] = []
    for index in order:
        parts.extend(p.tokens for p in files[index])
        if files[index][-1].ends:
            parts.append(eos)
    return parts


def token_stream(
    pieces: list[Piece], tokenizer: Tokenizer, rng: np.random.Generator | None = None
) -> np.ndarray:
    """The pieces' ids as one int32 stream (see ``stream_parts``)."""
    return np.concatenate(stream_parts(pieces, tokenizer, rng), dtype=np.int32)


def _rotated(parts: list[np.ndarray], offset: int) -> list[np.ndarray]:
    """``parts`` as if their concatenation were rolled left by ``offset`` (views, no copy)."""
    for k, part in enumerate(parts):
        if offset < len(part):
            return [part[offset:], *parts[k + 1 :], *parts[:k], part[:offset]]
        offset -= len(part)
    return parts


class StreamPlan:
    """All windows of one epoch, lanes contiguous, held as one (lanes, 1 + windows * seq_len)
    array in the ids' own dtype (uint16 for text): a lane is BOS then its share of the stream;
    window w's inputs are its columns [w*seq_len, (w+1)*seq_len), its targets the same shifted
    by one. No copy of the whole stream is made: the pieces are written into the lanes."""

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
    ):
        if not pieces:
            raise ValueError("no pieces to train on")
        rng = np.random.default_rng([seed, epoch])
        parts = stream_parts(pieces, tokenizer, rng if shuffle else None)
        length = sum(len(part) for part in parts)
        if shuffle and length > seq_len:
            parts = _rotated(parts, int(rng.integers(seq_len)))  # move the window boundaries

        # A lane holds BOS + its share of the stream as inputs, and that share as targets.
        # Lanes are as long as the stream allows, rounded up to whole windows (the tail pads).
        # Each lane starts cold (no state) in the middle of a text: ``min_lane_windows`` keeps
        # lanes long enough that this costs little (validation: 16 windows of context or more).
        lanes = max(1, min(batch_size, length))
        if min_lane_windows:
            lanes = max(1, min(lanes, length // (min_lane_windows * seq_len)))
        rows = batch_size if shuffle else lanes  # training batches keep their full size
        share = -(-length // lanes)  # targets per lane
        count = -(-share // seq_len)  # windows per lane
        self.num_windows, self.seq_len = count, seq_len
        largest = max(tokenizer.vocab_size, tokenizer.pad_id, tokenizer.bos_id) + 1
        dtype = np.uint16 if largest <= np.iinfo(np.uint16).max + 1 else np.int32
        self._lanes = np.full((rows, 1 + count * seq_len), tokenizer.pad_id, dtype=dtype)
        self._lanes[: -(-length // share), 0] = tokenizer.bos_id  # lanes that hold text
        position = 0  # in the stream
        for part in parts:
            done = 0
            while done < len(part):
                lane, column = divmod(position, share)
                n = min(len(part) - done, share - column)
                self._lanes[lane, 1 + column : 1 + column + n] = part[done : done + n]
                done += n
                position += n
        self._starts = np.zeros((count, rows), dtype=bool)
        self._starts[0] = True
        self._zeros = torch.zeros(rows, dtype=torch.int64)

    def __len__(self) -> int:
        return self.num_windows

    def batch(self, index: int) -> Batch:
        begin = index * self.seq_len
        return Batch(
            inputs=torch.from_numpy(self._lanes[:, begin : begin + self.seq_len].astype(np.int64)),
            targets=torch.from_numpy(
                self._lanes[:, begin + 1 : begin + 1 + self.seq_len].astype(np.int64)
            ),
            starts=torch.from_numpy(self._starts[index]),
            style_ids=self._zeros,
            seed_ids=self._zeros,
        )

    def __iter__(self):
        for index in range(self.num_windows):
            yield self.batch(index)
