"""The sampling core: logits processors and the one loop every family runs."""

from __future__ import annotations

import pytest
import torch

from generator.sampling import SamplingOptions, allow_only, ban, sample_loop
from generator.sampling.processors import fixed_lengths, sampling_processors
from generator.sampling.sampler import Ends, greedy_choice

INF = float("inf")


def test_ban_and_allow_only_mask_exactly_their_ids():
    logits = torch.zeros(2, 6)
    out = ban([0, 4])(logits.clone(), torch.zeros(2, 0, dtype=torch.long))
    assert torch.isinf(out).nonzero()[:, 1].tolist() == [0, 4, 0, 4]
    allowed = torch.tensor([False, True, True, False, True, True])
    out = allow_only(allowed)(logits.clone(), torch.zeros(2, 0, dtype=torch.long))
    assert torch.isfinite(out[0]).tolist() == allowed.tolist()


def test_fixed_lengths_forbid_eos_before_the_length_and_force_it_at_the_length():
    eos, limits = 2, torch.tensor([1, 3])
    rule = fixed_lengths(limits, eos, exact=True)
    first = rule(torch.zeros(2, 5), torch.zeros(2, 0, dtype=torch.long))  # step 0
    assert first[:, eos].tolist() == [-INF, -INF]
    second = rule(torch.zeros(2, 5), torch.zeros(2, 1, dtype=torch.long))  # step 1
    assert torch.isfinite(second[0]).nonzero().flatten().tolist() == [eos]  # forced
    assert second[1, eos] == -INF and torch.isfinite(second[1]).sum() == 4
    free = fixed_lengths(limits, eos, exact=False)(torch.zeros(2, 5), torch.zeros(2, 0))
    assert torch.isfinite(free).all()  # not exact: EOS allowed before the limit


def test_sampling_processors_follow_the_options_in_order():
    assert sampling_processors(SamplingOptions()) == []
    logits = torch.tensor([[2.0, 1.0, 0.0, -1.0]])
    chain = sampling_processors(SamplingOptions(temperature=0.5, top_k=3, top_p=0.9))
    assert len(chain) == 3
    out = logits.clone()
    for process in chain:
        out = process(out, None)
    assert torch.isfinite(out).tolist() == [[True, True, False, False]]  # p(0)+p(1) > 0.9
    assert out[0, 0] == 4.0  # temperature first: 2 / 0.5


class Table:
    """Steps whose logits are fixed rows, one per step, for every sequence: counts its calls."""

    def __init__(self, rows: list[list[float]], batch: int):
        self.rows = [torch.tensor(r).expand(batch, -1).clone() for r in rows]
        self.calls = 0

    def step(self, token: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return self.rows[self.calls].clone()


def test_the_loop_ends_each_sequence_fills_after_it_and_scores_up_to_its_end():
    # ids 3 then EOS (2) for everyone; a processor forbids EOS to row 1 at step 1
    table = Table([[0, 0, 0, 5.0], [0, 0, 5.0, 0], [0, 0, 0, 5.0], [0, 0, 5.0, 0]], batch=2)

    def late_end(logits, history):
        if history.shape[1] == 1:
            logits[1, 2] = -INF
        return logits

    history = torch.full((4, 2), 9, dtype=torch.long)
    scores = torch.zeros(2)
    seen = []
    taken = sample_loop(
        table.rows[0].clone(),
        table.step,
        greedy_choice,
        history,
        banned=torch.tensor([0]),
        processors=[late_end],
        ends=Ends(2, torch.device("cpu"), eos_id=2),
        fill=2,
        scores=scores,
        on_step=lambda token: seen.append(token.tolist()),
    )
    assert taken == 4 and table.calls == 3  # no step after the last choice
    assert history.t().tolist() == [[3, 2, 2, 2], [3, 1, 3, 2]]  # row 0 filled after its EOS
    assert seen == history.tolist()
    log_p = torch.log_softmax(torch.tensor([-INF, 0, 0, 5.0]), 0)  # id 0 banned
    row0 = 2 * float(log_p[3])  # 3 then EOS: the same odds
    row1 = float(log_p[3] + torch.log_softmax(torch.tensor([-INF, 0, -INF, 0]), 0)[1])
    row1 += float(log_p[3] + log_p[3])
    assert scores.tolist() == pytest.approx([row0, row1])


def test_the_loop_runs_all_steps_without_ends():
    table = Table([[1.0, 0.0]] * 5, batch=3)
    history = torch.zeros(5, 3, dtype=torch.long)
    scores = torch.zeros(3)
    assert sample_loop(table.rows[0], table.step, greedy_choice, history, scores=scores) == 5
    assert table.calls == 4 and history.eq(0).all()
    one = float(torch.log_softmax(torch.tensor([1.0, 0.0]), 0)[0])
    assert scores.tolist() == pytest.approx([5 * one] * 3)
    assert sample_loop(table.rows[0], table.step, greedy_choice, history[:0]) == 0
