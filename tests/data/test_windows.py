"""Truncated-BPTT epoch plans: every token once, BOS and resets at piece starts, repeatable."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from generator.data.pieces import Piece
from generator.data.windows import EpochPlan
from generator.midi import Note
from generator.tokenizers import MidiEventTokenizer

TOKENIZER = MidiEventTokenizer(styles=["a", "b"])
PAD, BOS, EOS = TOKENIZER.pad_id, TOKENIZER.bos_id, TOKENIZER.eos_id


def make_pieces(lengths: list[int], seed: int = 0) -> list[Piece]:
    rng = np.random.default_rng(seed)
    return [
        Piece(f"p{i}", rng.integers(3, TOKENIZER.vocab_size, n).astype(np.int32), "ab"[i % 2])
        for i, n in enumerate(lengths)
    ]


def lane_pieces(plan: EpochPlan, lane: int) -> list[tuple[list[int], list[int], int]]:
    """Cut one lane back into (inputs, targets, first window) per piece, padding stripped."""
    found = []
    current = None
    for w in range(len(plan)):
        batch = plan.batch(w)
        inputs = batch.inputs[lane].tolist()
        targets = batch.targets[lane].tolist()
        if bool(batch.starts[lane]):
            current = ([], [], w)
            found.append(current)
        else:
            assert current is not None, "a continuation window with no start before it"
        current[0].extend(inputs)
        current[1].extend(targets)
    pieces = []
    for inputs, targets, first in found:
        n = len(targets) - targets[::-1].index(EOS) if EOS in targets else 0
        assert all(t == PAD for t in targets[n:]) and all(t == PAD for t in inputs[n:])
        if n:
            pieces.append((inputs[:n], targets[:n], first))
        else:  # an unused tail window: nothing but padding
            assert set(inputs) == {PAD} and set(targets) == {PAD}
    return pieces


@settings(max_examples=60, deadline=None)
@given(
    lengths=st.lists(st.integers(0, 40), min_size=1, max_size=12),
    batch_size=st.integers(1, 4),
    seq_len=st.integers(1, 9),
    seed=st.integers(0, 3),
    epoch=st.integers(0, 3),
)
def test_every_piece_appears_exactly_once_as_targets(lengths, batch_size, seq_len, seed, epoch):
    pieces = make_pieces(lengths)
    plan = EpochPlan(pieces, TOKENIZER, batch_size, seq_len, seed=seed, epoch=epoch)
    seen = []
    for lane in range(batch_size):
        for inputs, targets, _ in lane_pieces(plan, lane):
            assert targets[-1] == EOS and EOS not in targets[:-1]
            assert inputs[0] == BOS  # the piece's first input is BOS ...
            assert inputs[1:] == targets[:-1]  # ... then the targets shifted by one
            seen.append(tuple(targets[:-1]))
    assert Counter(seen) == Counter(tuple(p.tokens.tolist()) for p in pieces)
    assert sum(plan.batch(w).num_tokens for w in range(len(plan))) == sum(
        len(p.tokens) + 1 for p in pieces
    )


def test_starts_flag_first_windows_only_and_carry_conditioning():
    pieces = make_pieces([12, 3, 20, 7])
    pieces[0] = Piece("p0", TOKENIZER.encode([Note(0, 1, 64, 80), Note(1, 1, 50, 80)]), "b")
    seq_len = 5
    plan = EpochPlan(pieces, TOKENIZER, 2, seq_len, seed=1)
    for lane in range(2):
        for inputs, _, first in lane_pieces(plan, lane):
            windows = -(-len(inputs) // seq_len)
            starts = [bool(plan.batch(first + k).starts[lane]) for k in range(windows)]
            assert starts == [True] + [False] * (windows - 1)
            batch = plan.batch(first)
            assert batch.inputs[lane, 0] == BOS
            piece = next(p for p in pieces if p.tokens.tolist() == inputs[1:])
            style, seed_note = TOKENIZER.condition_ids(piece.tokens, piece.style)
            assert (int(batch.style_ids[lane]), int(batch.seed_ids[lane])) == (style, seed_note)
            if piece.name == "p0":
                assert (style, seed_note) == (2, 65)


def test_batches_have_the_documented_shapes_and_types():
    plan = EpochPlan(make_pieces([10, 30, 4]), TOKENIZER, 2, 8)
    batch = next(iter(plan))
    assert batch.inputs.shape == batch.targets.shape == (2, 8)
    assert batch.inputs.dtype == batch.targets.dtype == batch.style_ids.dtype
    assert batch.starts.shape == (2,) and batch.starts.dtype == torch.bool
    assert len(list(plan)) == len(plan)


def test_same_seed_and_epoch_give_the_same_plan_and_other_epochs_differ():
    pieces = make_pieces(list(range(5, 45)))

    def arrays(**kwargs):
        plan = EpochPlan(pieces, TOKENIZER, 4, 8, transpose=3, cond_dropout=0.5, **kwargs)
        return [
            np.stack([getattr(plan.batch(w), k).numpy() for w in range(len(plan))])
            for k in ("inputs", "targets", "starts", "style_ids", "seed_ids")
        ]

    first = arrays(seed=3, epoch=2)
    again = arrays(seed=3, epoch=2)
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    for other in (arrays(seed=3, epoch=3), arrays(seed=4, epoch=2)):
        assert first[0].shape != other[0].shape or not np.array_equal(first[0], other[0])


def test_without_shuffle_pieces_keep_their_order():
    pieces = make_pieces([3, 3, 3])
    plan = EpochPlan(pieces, TOKENIZER, 1, 4, shuffle=False)
    assert [inputs[1:] for inputs, _, _ in lane_pieces(plan, 0)] == [
        p.tokens.tolist() for p in pieces
    ]


def test_conditioning_dropout_hides_style_and_first_note_sometimes():
    pieces = make_pieces([6] * 200)

    def style_ids(plan: EpochPlan) -> np.ndarray:
        return np.array([int(batch.style_ids[0]) for batch in plan])

    hidden = style_ids(EpochPlan(pieces, TOKENIZER, 1, 7, cond_dropout=0.5)) == 0
    assert 0.3 < hidden.mean() < 0.7
    assert style_ids(EpochPlan(pieces, TOKENIZER, 1, 7)).min() > 0


def test_transposition_keeps_token_counts_and_shifts_each_piece_uniformly():
    notes = [Note(i * 0.5, 0.5, 60 + (i * 5) % 12, 80) for i in range(16)]
    pieces = [Piece(f"p{i}", TOKENIZER.encode(notes[i:]), None) for i in range(8)]
    plain = EpochPlan(pieces, TOKENIZER, 2, 16, seed=5, shuffle=False)
    moved = EpochPlan(pieces, TOKENIZER, 2, 16, seed=5, shuffle=False, transpose=4)
    assert sum(b.num_tokens for b in plain) == sum(b.num_tokens for b in moved)
    note_ids = np.asarray(TOKENIZER.note_ids())
    shifts = set()
    for lane in range(2):
        for (a, _, _), (b, _, _) in zip(
            lane_pieces(plain, lane), lane_pieces(moved, lane), strict=True
        ):
            a, b = np.asarray(a), np.asarray(b)
            is_note = np.isin(a, note_ids)
            assert np.array_equal(np.isin(b, note_ids), is_note)
            assert np.array_equal(a[~is_note], b[~is_note])  # timing, velocity untouched
            shift = set((b[is_note] - a[is_note]).tolist())
            assert len(shift) == 1 and abs(next(iter(shift))) <= 4
            shifts |= shift
    assert len(shifts) > 1  # pieces are transposed by different amounts


def test_transposition_leaves_a_piece_alone_when_it_would_leave_the_keyboard():
    piece = Piece("edge", TOKENIZER.encode([Note(0, 1, 0, 80), Note(1, 1, 127, 80)]), None)
    for epoch in range(5):
        plan = EpochPlan([piece], TOKENIZER, 1, 64, epoch=epoch, transpose=6)
        assert plan.batch(0).inputs[0, 1 : len(piece.tokens) + 1].tolist() == piece.tokens.tolist()


def test_no_pieces_is_an_error():
    with pytest.raises(ValueError, match="no pieces"):
        EpochPlan([], TOKENIZER, 2, 8)
