"""The one sampler: filters, repeatability, length limits, constraints, incremental steps."""

from __future__ import annotations

import math

import pytest
import torch

from generator.models import RNNGenerator
from generator.sampling import SamplingOptions, sample_tokens
from generator.sampling.music import force_first_note
from generator.sampling.processors import sampling_processors
from generator.tokenizers import MidiEventTokenizer
from tests.conftest import tiny_model_config

EOS = 2


class TableModel:
    """A stand-in model whose logits are the same fixed row at every step.

    It counts its calls, to show that sampling feeds one token per step and never re-runs
    the prefix."""

    def __init__(self, logits: list[float]):
        self.row = torch.tensor(logits, dtype=torch.float32)
        self.step_calls, self.window_calls = 0, 0

    def eval(self):
        return self

    def start(self, cond):
        return self.row.expand(cond.shape[0], -1).clone(), (torch.zeros(cond.shape[0]),)

    def step(self, tokens, state):
        assert tokens.shape == (state[0].shape[0],)  # one new token per sequence
        self.step_calls += 1
        return self.row.expand(tokens.shape[0], -1).clone(), (state[0] + 1,)

    def __call__(self, tokens, state):
        self.window_calls += 1
        return self.row.expand(*tokens.shape, -1).clone(), state


def filter_logits(logits: torch.Tensor, options: SamplingOptions) -> torch.Tensor:
    """The logits after the options' temperature, top-k and top-p processors."""
    logits = logits.clone()
    for process in sampling_processors(options):
        logits = process(logits, None)
    return logits


def cond(batch: int, size: int = 16) -> torch.Tensor:
    return torch.zeros(batch, size)


def test_top_k_1_equals_greedy(tiny_model):
    model, tokenizer = tiny_model
    c = model.condition(torch.tensor([0, 1, 2]), torch.tensor([0, 61, 0]))
    greedy = sample_tokens(model, c, SamplingOptions(greedy=True), eos_id=EOS, max_tokens=40)
    for seed in (0, 1):
        top1 = sample_tokens(
            model,
            c,
            SamplingOptions(top_k=1, temperature=3.0, seed=seed),
            eos_id=EOS,
            max_tokens=40,
        )
        assert top1 == greedy
    assert greedy[0] != greedy[1] or greedy[1] != greedy[2]  # conditioning matters


@pytest.mark.parametrize(
    ("top_p", "kept"),
    [
        (0.3, {1}),
        (0.5 - 1e-6, {1}),
        (0.6, {1, 3}),
        (0.8 - 1e-6, {1, 3}),
        (0.85, {1, 3, 2}),
        (0.99, {0, 1, 2, 3}),
        (1.0, {0, 1, 2, 3}),
    ],
)
def test_top_p_keeps_the_smallest_nucleus(top_p, kept):
    probs = torch.tensor([[0.05, 0.5, 0.15, 0.3]])
    out = filter_logits(probs.log(), SamplingOptions(top_p=top_p))
    assert set(torch.isfinite(out[0]).nonzero().flatten().tolist()) == kept
    finite = torch.isfinite(out)
    assert torch.allclose(out[finite], probs.log()[finite])  # kept logits are unchanged


def test_top_k_and_temperature_filters():
    logits = torch.tensor([[1.0, 4.0, 3.0, 2.0], [0.0, -1.0, 5.0, 1.0]])
    out = filter_logits(logits, SamplingOptions(top_k=2))
    assert torch.isfinite(out).tolist() == [[False, True, True, False], [False, False, True, True]]
    assert torch.equal(filter_logits(logits, SamplingOptions(temperature=2.0)), logits / 2)
    assert torch.equal(filter_logits(logits, SamplingOptions(top_k=100)), logits)


def test_same_seed_same_output_other_seed_other_output(tiny_model):
    model, _ = tiny_model
    c = model.condition(torch.zeros(3, dtype=torch.long), torch.zeros(3, dtype=torch.long))

    def draw(seed):
        return sample_tokens(
            model, c, SamplingOptions(seed=seed, top_p=0.95), eos_id=EOS, max_tokens=30
        )

    first = draw(7)
    assert draw(7) == first
    assert draw(8) != first
    assert first[0] != first[1]  # the variations in one batch differ too


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (SamplingOptions(seed=5), [0.0, 0.0, 0.1, 0.2, 0.3, 0.4]),
        (SamplingOptions(seed=6, temperature=0.5), [0.0, 0.0, 1 / 30, 4 / 30, 9 / 30, 16 / 30]),
        (SamplingOptions(seed=7, top_k=2), [0.0, 0.0, 0.0, 0.0, 3 / 7, 4 / 7]),
    ],
)
def test_draws_follow_the_softmax_of_the_filtered_logits(options, expected):
    """Sampling by argmax over Gumbel noise draws tokens with the model's probabilities."""
    probs = torch.tensor([0.3, 0.2, 0.1, 0.2, 0.3, 0.4])  # ids 0 and 1 (PAD, BOS) are banned
    model = TableModel(probs.log().tolist())
    draws = 20_000
    out = sample_tokens(model, cond(draws), options, eos_id=99, max_tokens=1)
    counts = torch.bincount(torch.tensor([row[0] for row in out]), minlength=6).float() / draws
    assert torch.allclose(counts, torch.tensor(expected), atol=0.015)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_greedy_sampling_follows_the_model_step_by_step(cell):
    """The sampler's fast path (the model's Decoder) picks the tokens that stepping the model
    with ``model.step`` and taking each argmax picks."""
    tokenizer = MidiEventTokenizer(styles=["chorale", "reel"])
    torch.manual_seed(1)
    config = tiny_model_config(tokenizer, cell)
    config.num_layers = 2
    model = RNNGenerator(config).eval()
    c = model.condition(torch.tensor([1, 2]), torch.tensor([0, 40]))
    out = sample_tokens(model, c, SamplingOptions(greedy=True), eos_id=EOS, max_tokens=25)
    with torch.inference_mode():
        logits, state = model.start(c)
        expected = []
        for _ in range(25):
            logits[:, [0, 1]] = float("-inf")  # PAD and BOS are never sampled
            token = logits.argmax(dim=-1)
            expected.append(token)
            logits, state = model.step(token, state)
    rows = torch.stack(expected, dim=1).tolist()
    assert out == [row[: row.index(EOS)] if EOS in row else row for row in rows]


def test_the_length_limit_ends_sequences_and_eos_is_never_sampled_before_it():
    # EOS is by far the likeliest token; token 3 costs 1, token 4 costs 0.25, token 5 nothing
    model = TableModel([0.0, 0.0, 8.0, 0.0, 0.0, 0.0])
    cost = torch.tensor([0.0, 0.0, 0.0, 1.0, 0.25, 0.0])
    seen = []
    out = sample_tokens(
        model,
        cond(4),
        SamplingOptions(seed=0),
        eos_id=EOS,
        max_tokens=500,
        length_cost=cost,
        length_limit=3.0,
        on_tokens=seen.append,
    )
    assert all(EOS not in step.tolist() for step in seen)
    assert all(0 not in row and 1 not in row for row in out)  # PAD and BOS never sampled
    for row in out:
        total = sum(float(cost[t]) for t in row)
        assert total >= 3.0
        assert total - float(cost[row[-1]]) < 3.0  # it stopped at the first token that got there
    assert len({tuple(row) for row in out}) > 1
    assert model.step_calls == len(seen) - 1 and model.window_calls == 0


def test_without_a_length_limit_sequences_end_at_eos():
    model = TableModel([0.0, 0.0, 8.0, 0.0, 0.0, 0.0])
    out = sample_tokens(model, cond(2), SamplingOptions(greedy=True), eos_id=EOS, max_tokens=50)
    assert out == [[], []]
    assert model.step_calls == 0  # the first token ended both: no further network steps


def test_max_tokens_caps_the_length():
    model = TableModel([0.0, 0.0, -50.0, 1.0, 0.0, 0.0])
    out = sample_tokens(model, cond(3), SamplingOptions(seed=1), eos_id=EOS, max_tokens=17)
    assert [len(row) for row in out] == [17, 17, 17]
    assert model.step_calls <= 17  # at most one network step per token


def test_a_prefix_is_fed_once_and_not_returned():
    model = TableModel([0.0, 0.0, -50.0, 1.0, 0.0, 0.0])
    prefix = torch.tensor([[3, 4, 5], [5, 4, 3]])
    out = sample_tokens(
        model, cond(2), SamplingOptions(seed=1), eos_id=EOS, prefix=prefix, max_tokens=5
    )
    assert model.window_calls == 1 and model.step_calls <= 5
    assert [len(row) for row in out] == [5, 5]


@pytest.mark.parametrize("favourite", ["SHIFT", "NOTE"])
def test_a_seed_note_forces_the_first_note_at_once(favourite):
    """Whatever the model prefers (other notes, or letting time pass in silence), the piece
    opens with the seed note: at most a velocity token comes before it, never a shift."""
    tokenizer = MidiEventTokenizer()
    row = [0.0] * tokenizer.vocab_size
    for token_id in range(tokenizer.vocab_size):
        if tokenizer.split(token_id)[0] == favourite:
            row[token_id] = 6.0
    model = TableModel(row)
    pitch = 50
    cost = torch.from_numpy(tokenizer.length_cost("beats"))
    out = sample_tokens(
        model,
        cond(8),
        SamplingOptions(seed=3),
        eos_id=EOS,
        max_tokens=40,
        length_cost=cost,
        length_limit=4.0,
        processors=[force_first_note(tokenizer, pitch)],
    )
    seed_id = tokenizer.note_id(pitch)
    for row in out:
        first = row.index(seed_id)
        assert first <= 1 and all(tokenizer.split(t)[0] == "VEL" for t in row[:first])
        assert min(n.start for n in tokenizer.decode(row) if n.pitch == pitch) == 0.0
    if favourite == "NOTE":  # only the first note is forced
        note_ids = set(tokenizer.note_ids())
        assert len({t for row in out for t in row[2:]} & note_ids) > 5


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"temperature": 0}, "temperature must be a number in (0, 10]"),
        ({"temperature": math.nan}, "temperature must be a finite number"),
        ({"top_k": -1}, "top-k must be a whole number in [0, 100000]"),
        ({"top_k": 2.5}, "top-k must be a whole number"),
        ({"top_p": 0}, "top-p must be a number in (0, 1]"),
        ({"top_p": 1.5}, "top-p must be a number in (0, 1]"),
    ],
)
def test_bad_sampling_options_are_refused(kwargs, message):
    with pytest.raises(ValueError) as error:
        SamplingOptions(**kwargs)
    assert message in str(error.value)
