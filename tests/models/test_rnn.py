"""RNN generator: shapes, incremental stepping, conditioning and state resets."""

from __future__ import annotations

import pytest
import torch

from generator.config import ModelConfig
from generator.models import RNNGenerator

VOCAB, BATCH, TIME = 23, 3, 7


def make_model(cell: str, tie_weights: bool = False, layers: int = 2) -> RNNGenerator:
    torch.manual_seed(0)
    config = ModelConfig(
        vocab_size=VOCAB,
        cell=cell,
        embedding_size=8,
        hidden_size=12,
        num_layers=layers,
        dropout=0.3,  # eval mode must switch it off
        tie_weights=tie_weights,
        num_styles=2,
        num_seed_tokens=5,
    )
    return RNNGenerator(config).eval()


CASES = [(cell, tie) for cell in ("rnn", "lstm", "gru") for tie in (False, True)]


@pytest.mark.parametrize(("cell", "tie"), CASES)
def test_output_and_state_shapes(cell, tie):
    model = make_model(cell, tie)
    tokens = torch.randint(0, VOCAB, (BATCH, TIME))
    logits, state = model(tokens)
    assert logits.shape == (BATCH, TIME, VOCAB)
    assert len(state) == (2 if cell == "lstm" else 1)
    assert all(s.shape == (2, BATCH, 12) for s in state)
    cond = model.condition(torch.tensor([0, 1, 2]), torch.tensor([0, 3, 5]))
    assert cond.shape == (BATCH, 8)
    first, state = model.start(cond)
    assert first.shape == (BATCH, VOCAB)
    nxt, state = model.step(tokens[:, 0], state)
    assert nxt.shape == (BATCH, VOCAB)
    assert all(s.shape == (2, BATCH, 12) for s in state)


@pytest.mark.parametrize(("cell", "tie"), CASES)
def test_tied_weights_share_the_embedding(cell, tie):
    model = make_model(cell, tie)
    names = dict(model.named_parameters())
    assert ("head.weight" in names) is (not tie)
    if tie:
        with torch.no_grad():
            before = model(torch.tensor([[4]]))[0]
            model.embed.weight[5] += 1.0
            after = model(torch.tensor([[4]]))[0]
        changed = (after != before).squeeze()
        assert changed[5] and not changed[6]  # only the logit of the changed embedding row


@pytest.mark.parametrize(("cell", "tie"), CASES)
def test_incremental_steps_equal_a_full_forward(cell, tie):
    """start(cond) then step(y1), step(y2) ... gives the logits of one forward over BOS y1 y2."""
    model = make_model(cell, tie)
    tokens = torch.randint(3, VOCAB, (BATCH, TIME))
    tokens[:, 0] = 1  # BOS, replaced by the conditioning vector
    cond = model.condition(torch.tensor([0, 1, 2]), torch.tensor([4, 0, 1]))
    with torch.no_grad():
        full, full_state = model(tokens, cond=cond, starts=torch.ones(BATCH, dtype=torch.bool))
        logits, state = model.start(cond)
        steps = [logits]
        for t in range(1, TIME):
            logits, state = model.step(tokens[:, t], state)
            steps.append(logits)
    torch.testing.assert_close(torch.stack(steps, dim=1), full, atol=1e-5, rtol=0)
    for a, b in zip(state, full_state, strict=True):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=0)


@pytest.mark.parametrize(("cell", "tie"), CASES)
def test_the_sampling_decoder_equals_a_full_forward(cell, tie):
    """The sampler's Decoder (weights copied into their fast layout, state kept per layer)
    gives the logits and the final state of one forward pass over the same tokens."""
    model = make_model(cell, tie)
    tokens = torch.randint(3, VOCAB, (BATCH, TIME))
    cond = model.condition(torch.tensor([0, 1, 2]), torch.tensor([4, 0, 1]))
    with torch.inference_mode():
        full, full_state = model(tokens, cond=cond, starts=torch.ones(BATCH, dtype=torch.bool))
        decoder = model.decoder(model.initial_state(BATCH))
        steps = [decoder.feed(cond)] + [decoder.step(tokens[:, t]) for t in range(1, TIME)]
    torch.testing.assert_close(torch.stack(steps, dim=1), full, atol=1e-5, rtol=0)
    for a, b in zip(decoder.state, full_state, strict=True):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=0)


def test_the_decoder_leaves_the_state_it_was_given_alone():
    model = make_model("lstm")
    state = tuple(torch.randn_like(s) for s in model.initial_state(BATCH))
    before = tuple(s.clone() for s in state)
    with torch.inference_mode():
        decoder = model.decoder(state)
        decoder.step(torch.tensor([3, 4, 5]))
    assert all(torch.equal(a, b) for a, b in zip(state, before, strict=True))
    assert not torch.equal(decoder.state[0], state[0])


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_windows_carrying_state_equal_one_long_window(cell):
    model = make_model(cell)
    tokens = torch.randint(3, VOCAB, (BATCH, 2 * TIME))
    with torch.no_grad():
        whole, _ = model(tokens)
        first, state = model(tokens[:, :TIME])
        second, _ = model(tokens[:, TIME:], model.detach_state(state))
    torch.testing.assert_close(torch.cat([first, second], dim=1), whole, atol=1e-5, rtol=0)


def test_null_condition_is_exactly_zero_even_after_training():
    model = make_model("lstm").train()
    zeros = torch.zeros(4, dtype=torch.long)
    assert torch.equal(model.condition(zeros, zeros), torch.zeros(4, 8))
    assert model.condition(torch.tensor([1]), torch.tensor([0])).abs().sum() > 0
    assert model.condition(torch.tensor([0]), torch.tensor([1])).abs().sum() > 0

    optimizer = torch.optim.Adam(model.parameters(), lr=0.1, weight_decay=0.1)
    for _ in range(3):
        cond = model.condition(torch.tensor([0, 1, 2, 0]), torch.tensor([0, 5, 0, 3]))
        logits, _ = model(
            torch.randint(3, VOCAB, (4, 5)), cond=cond, starts=torch.ones(4, dtype=torch.bool)
        )
        optimizer.zero_grad()
        logits.square().mean().backward()
        optimizer.step()
    assert torch.equal(model.condition(zeros, zeros), torch.zeros(4, 8))


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_starts_resets_the_carried_state(cell):
    model = make_model(cell)
    tokens = torch.randint(3, VOCAB, (BATCH, TIME))
    cond = model.condition(torch.tensor([1, 2, 0]), torch.tensor([0, 1, 2]))
    starts = torch.tensor([True, True, False])
    noisy = tuple(torch.randn_like(s) * 3 for s in model.initial_state(BATCH))
    with torch.no_grad():
        fresh, _ = model(tokens, None, cond=cond, starts=starts)
        carried, _ = model(tokens, noisy, cond=cond, starts=starts)
        plain, _ = model(tokens, noisy)
    torch.testing.assert_close(carried[:2], fresh[:2], atol=1e-6, rtol=0)  # reset lanes
    assert not torch.allclose(carried[2], fresh[2])  # lane 2 continues its state
    torch.testing.assert_close(carried[2], plain[2], atol=1e-6, rtol=0)  # and ignores cond


def test_bad_configs_are_refused():
    with pytest.raises(ValueError, match="cell must be one of rnn, lstm, gru"):
        ModelConfig(vocab_size=5, cell="transformer")
    with pytest.raises(ValueError, match="hidden_size must be at least 1"):
        ModelConfig(vocab_size=5, hidden_size=0)
    with pytest.raises(ValueError, match=r"dropout must be in \[0, 1\)"):
        ModelConfig(vocab_size=5, dropout=1.0)
    with pytest.raises(ValueError, match="vocab_size must be set"):
        RNNGenerator(ModelConfig())


def test_config_round_trips_through_plain_types():
    config = make_model("gru", True).config
    assert ModelConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match="unknown ModelConfig fields"):
        ModelConfig.from_dict({**config.to_dict(), "attention": "none"})
