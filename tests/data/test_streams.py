"""Stateful text plans: the corpus as contiguous lanes, state carried across every window."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from generator.config import ModelConfig
from generator.data.pieces import Piece
from generator.data.streams import StreamPlan, file_streams, token_stream
from generator.data.text_corpus import segments
from generator.models import RNNGenerator
from generator.tokenizers import CharTokenizer
from generator.training import evaluate

TOKENIZER = CharTokenizer("abcdefghij")
PAD, BOS, EOS = TOKENIZER.pad_id, TOKENIZER.bos_id, TOKENIZER.eos_id


def corpus(lengths: list[int], segment_len: int = 7, seed: int = 0) -> list[Piece]:
    rng = np.random.default_rng(seed)
    pieces = []
    for i, n in enumerate(lengths):
        ids = rng.integers(4, TOKENIZER.vocab_size, n).astype(np.int32)
        pieces += segments(f"file{i}.txt", ids, segment_len, ends=True)
    return pieces


def lanes(plan: StreamPlan) -> tuple[np.ndarray, np.ndarray]:
    """(lanes, tokens) inputs and targets, windows laid end to end."""
    inputs = np.concatenate([plan.batch(w).inputs.numpy() for w in range(len(plan))], axis=1)
    targets = np.concatenate([plan.batch(w).targets.numpy() for w in range(len(plan))], axis=1)
    return inputs, targets


def test_segments_of_a_file_are_grouped_back_in_order():
    pieces = corpus([20, 3, 15])
    files = file_streams(pieces)
    assert [len(f) for f in files] == [3, 1, 3]
    assert [p.name for p in files[0]] == ["file0.txt#0", "file0.txt#1", "file0.txt#2"]
    assert all(f[-1].ends and not any(p.ends for p in f[:-1]) for f in files)


def test_unshuffled_lanes_hold_the_stream_once_in_order_with_eos_at_file_ends():
    pieces = corpus([20, 3, 15])
    stream = token_stream(pieces, TOKENIZER)
    assert len(stream) == 20 + 3 + 15 + 3  # every token, and EOS after each file
    assert list(np.flatnonzero(stream == EOS)) == [20, 24, 40]
    plan = StreamPlan(pieces, TOKENIZER, batch_size=3, seq_len=4, shuffle=False)
    inputs, targets = lanes(plan)
    assert targets[targets != PAD].tolist() == stream.tolist()
    for lane in range(3):
        real = targets[lane] != PAD
        assert inputs[lane, 0] == BOS
        # the input at step t is the target at step t - 1: one continuous text per lane
        assert inputs[lane, 1 : real.sum()].tolist() == targets[lane, : real.sum() - 1].tolist()
    starts = np.stack([plan.batch(w).starts.numpy() for w in range(len(plan))])
    assert starts[0].all() and not starts[1:].any()  # the state is reset only at the start


def test_shuffled_epochs_are_repeatable_and_differ_from_each_other():
    pieces = corpus([30, 25, 40, 12])
    first = lanes(StreamPlan(pieces, TOKENIZER, 2, 8, seed=3, epoch=1))[1]
    again = lanes(StreamPlan(pieces, TOKENIZER, 2, 8, seed=3, epoch=1))[1]
    other = lanes(StreamPlan(pieces, TOKENIZER, 2, 8, seed=3, epoch=2))[1]
    assert np.array_equal(first, again)
    assert not np.array_equal(first, other)
    # whatever the order and shift, every token is trained once
    counts = np.bincount(first[first != PAD], minlength=TOKENIZER.vocab_size)
    expected = np.bincount(token_stream(pieces, TOKENIZER), minlength=TOKENIZER.vocab_size)
    assert np.array_equal(counts, expected)


def test_evaluation_over_windows_equals_one_pass_over_the_whole_lane():
    """The carried state makes 4-token windows score exactly like one unbroken forward pass."""
    torch.manual_seed(0)
    model = RNNGenerator(ModelConfig(vocab_size=TOKENIZER.vocab_size, hidden_size=16)).eval()
    pieces = corpus([23, 9])
    plan = StreamPlan(pieces, TOKENIZER, batch_size=1, seq_len=4, shuffle=False)
    windowed = evaluate(model, plan, torch.device("cpu"))

    inputs, targets = (torch.from_numpy(a).long() for a in lanes(plan))
    cond = model.condition(torch.zeros(1, dtype=torch.long), torch.zeros(1, dtype=torch.long))
    with torch.no_grad():
        logits, _ = model(inputs, None, cond=cond, starts=torch.ones(1, dtype=torch.bool))
    whole = F.cross_entropy(logits[0], targets[0], ignore_index=PAD).item()
    assert abs(windowed - whole) < 1e-5


def test_a_plan_holds_the_ids_once_in_their_own_dtype() -> None:
    """No int32 stream, no rolled copy, no separate inputs and targets: peak memory while
    building a plan is about one copy of the uint16 ids."""
    import tracemalloc

    ids = np.random.default_rng(0).integers(4, TOKENIZER.vocab_size, 1_000_000).astype(np.uint16)
    pieces = segments("big.txt", ids, 2047, ends=True)
    tracemalloc.start()
    plan = StreamPlan(pieces, TOKENIZER, 16, 128, seed=3)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 1.3 * ids.nbytes, f"peak {peak:,} bytes for {ids.nbytes:,} bytes of ids"
    _, targets = lanes(plan)
    counts = np.bincount(targets.ravel(), minlength=TOKENIZER.vocab_size)
    assert (counts[4:] == np.bincount(ids, minlength=TOKENIZER.vocab_size)[4:]).all()
