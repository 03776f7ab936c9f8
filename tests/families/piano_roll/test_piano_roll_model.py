"""Piano-roll model: shapes, exact normalization of both heads, stepping, state and learning."""

from __future__ import annotations

import itertools

import pytest
import torch

from generator.data.frame_windows import FramePlan
from generator.data.piano_roll import load_piano_roll_json
from generator.models.pianoroll import PianoRollRNN
from generator.training.frame_task import FRAME_TASK

HEADS = ("sigmoid", "nade")


@pytest.mark.parametrize("head", HEADS)
@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_shapes(head: str, cell: str, config) -> None:
    model = PianoRollRNN(config(head, cell))
    frames = (torch.rand(3, 7, 88) < 0.1).to(torch.uint8)
    features, state = model(frames)
    assert features.shape == (3, 7, 16)
    assert len(state) == (2 if cell == "lstm" else 1) and state[0].shape == (1, 3, 16)
    nll = model.frame_nll(features.reshape(-1, 16), frames.reshape(-1, 88))
    assert nll.shape == (21,) and bool((nll > 0).all())
    sample = model.sample_frame(features[:, -1])
    assert sample.shape == (3, 88) and set(sample.unique().tolist()) <= {0.0, 1.0}


@pytest.mark.parametrize("pitch_span", [0, 1, 2])
@pytest.mark.parametrize("head", HEADS)
def test_frame_distribution_sums_to_one(head: str, pitch_span: int, config) -> None:
    """Over all 2^K frames of a K-key roll, p(frame | past) adds up to 1 (K = 6), with and
    without the pitch skip (linear and one hidden layer)."""
    keys = 6
    model = PianoRollRNN(config(head, num_keys=keys, pitch_span=pitch_span)).eval()
    with torch.no_grad():  # large random weights so the test is not passed by a flat model
        for parameter in model.parameters():
            parameter.normal_(0, 2)
    features, _ = model((torch.rand(2, 3, keys) < 0.5).float())
    features = features[:, -1]  # (2, hidden)
    every = torch.tensor(list(itertools.product([0, 1], repeat=keys)), dtype=torch.float)
    total = torch.zeros(2)
    with torch.no_grad():
        for frame in every:
            total += torch.exp(-model.frame_nll(features, frame.expand(2, keys)))
    torch.testing.assert_close(total, torch.ones(2), rtol=0, atol=1e-5)


def test_nade_is_autoregressive_over_keys(config) -> None:
    """A key's probability depends on the keys below it, never on those above."""
    model = PianoRollRNN(config("nade", num_keys=5)).eval()
    features = torch.randn(1, 16)
    low = torch.tensor([[0.0, 0, 1, 0, 0]])
    high = torch.tensor([[0.0, 0, 1, 1, 1]])
    other = torch.tensor([[1.0, 0, 1, 0, 0]])
    logits = model.head.frame_logits
    with torch.no_grad():
        torch.testing.assert_close(logits(features, low)[0, :4], logits(features, high)[0, :4])
        assert not torch.allclose(logits(features, low)[0, 1:], logits(features, other)[0, 1:])


@pytest.mark.parametrize("pitch_span", [0, 12])
@pytest.mark.parametrize("head", HEADS)
def test_step_matches_forward(head: str, pitch_span: int, config) -> None:
    model = PianoRollRNN(config(head, "lstm", pitch_span=pitch_span)).eval()
    frames = (torch.rand(2, 5, 88) < 0.1).float()
    full, _ = model(frames)
    state = model.initial_state(2)
    for t in range(5):
        step, state = model.step(frames[:, t], state)
        torch.testing.assert_close(step, full[:, t])


def test_starts_reset_the_state(config) -> None:
    model = PianoRollRNN(config()).eval()
    frames = (torch.rand(2, 4, 88) < 0.1).float()
    fresh, _ = model(frames)
    noisy = tuple(torch.randn_like(s) * 3 for s in model.initial_state(2))
    reset, _ = model(frames, noisy, starts=torch.tensor([True, False]))
    torch.testing.assert_close(reset[0], fresh[0])
    assert not torch.allclose(reset[1], fresh[1])


@pytest.mark.parametrize("head", HEADS)
def test_loss_falls_on_a_toy_pattern(head: str, tiny_json, config) -> None:
    corpus = load_piano_roll_json(tiny_json)
    model = PianoRollRNN(config(head))
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-2)
    plan = FramePlan(corpus.train, corpus.tokenizer, batch_size=2, seq_len=8, shuffle=False)
    losses = []
    for _ in range(40):
        total, count, _ = FRAME_TASK.loss(model, plan.batch(0), None)
        assert int(count) == corpus.num_train_frames
        optimizer.zero_grad()
        (total / count).backward()
        optimizer.step()
        losses.append(float(total.detach() / count))
    assert losses[-1] < 0.25 * losses[0]


def test_pitch_skip_is_the_same_at_every_key(config) -> None:
    """The skip is a convolution over pitch: moving the input frame moves its prior."""
    model = PianoRollRNN(config(pitch_span=1)).eval()  # linear kernel (no state gate)
    frame = torch.zeros(1, 1, 88)
    frame[0, 0, 40] = 1
    with torch.no_grad():
        prior = model(frame)[0][0, 0, 16:]
        moved = model(frame.roll(5, dims=-1))[0][0, 0, 16:]
    torch.testing.assert_close(moved[30:60], prior[25:55])
    assert prior.shape == (88,) and float(prior[30:50].std()) > 0


def test_nade_samples_follow_the_exact_frame_distribution(config) -> None:
    """The note-at-a-time NADE draw has the model's own p(frame): over all 2^4 frames of a
    4-key roll, 40,000 draws match exp(-frame_nll) (and temperature 1 changes nothing)."""
    keys = 4
    model = PianoRollRNN(config("nade", num_keys=keys)).eval()
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.normal_(0, 1.5)
        features = torch.randn(1, 16).expand(40_000, 16)
        frames = model.sample_frame(features, generator=torch.Generator().manual_seed(0))
        every = torch.tensor(list(itertools.product([0, 1], repeat=keys)), dtype=torch.float)
        exact = torch.exp(-model.frame_nll(features[:1].expand(len(every), 16), every))
    index = (frames * 2 ** torch.arange(keys - 1, -1, -1)).sum(1).long()  # same order as every
    observed = torch.bincount(index, minlength=len(every)).float() / len(frames)
    assert exact.sum().item() == pytest.approx(1.0, abs=1e-5)
    assert (observed - exact).abs().max().item() < 0.01  # ~4 standard errors at p = 0.25


def test_nade_greedy_takes_keys_with_p_above_half_given_the_keys_below(config) -> None:
    model = PianoRollRNN(config("nade", num_keys=6)).eval()
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.normal_(0, 2)
        features = torch.randn(5, 16)
        frame = model.sample_frame(features, greedy=True)
        logits = model.head.frame_logits(features, frame)  # teacher-forced on its own choice
    assert torch.equal(frame, (logits > 0).float())
