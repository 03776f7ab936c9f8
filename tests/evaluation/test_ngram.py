"""The Kneser-Ney n-gram baseline: probabilities worked out by hand, NLL, and sampling."""

from __future__ import annotations

import math

import numpy as np
import pytest

from generator.evaluation.ngram import NgramModel


def test_bigram_probabilities_by_hand():
    # ids 0..3, BOS 1, EOS 2; one sequence [3, 3] → padded 1 3 3 2: bigrams 13, 33, 32.
    model = NgramModel(4, order=2).fit([np.array([3, 3])])
    # Unigram continuation counts: 3 follows two distinct ids (1, 3), 2 follows one (3):
    # total 3, 2 types, n1 = n2 = 1 so D1 = 1/3.
    unigram = {3: (2 - 1 / 3) / 3, 2: (1 - 1 / 3) / 3, 0: 0.0, 1: 0.0}
    unigram = {w: p + (1 / 3) * 2 / 3 / 4 for w, p in unigram.items()}
    assert unigram[3] == pytest.approx(11 / 18) and sum(unigram.values()) == pytest.approx(1)
    # Bigram counts are all 1 (n2 = 0): D2 = 1, held at its ceiling 0.95.
    d = 0.95
    after_3 = {w: max((w in (2, 3)) - d, 0) / 2 + d * 2 / 2 * unigram[w] for w in range(4)}
    after_bos = {w: max((w == 3) - d, 0) / 1 + d * 1 / 1 * unigram[w] for w in range(4)}
    p = model.probabilities(np.array([[3], [1], [0]]))
    assert p[0] == pytest.approx([after_3[w] for w in range(4)])
    assert p[1] == pytest.approx([after_bos[w] for w in range(4)])
    assert p[2] == pytest.approx([unigram[w] for w in range(4)])  # unseen context: backs off
    expected = -np.mean(np.log([after_bos[3], after_3[3], after_3[2]]))
    assert model.nll([np.array([3, 3])]) == pytest.approx(expected)


@pytest.mark.parametrize("order", [1, 3, 5])
def test_distributions_sum_to_one_and_agree_with_the_nll(order):
    rng = np.random.default_rng(0)
    sequences = [rng.integers(3, 12, size=rng.integers(3, 30)) for _ in range(40)]
    model = NgramModel(12, order=order).fit(sequences)
    history = np.array([rng.integers(0, 12, size=order - 1) for _ in range(50)])
    assert model.probabilities(history).sum(axis=1) == pytest.approx(np.ones(50))
    # the NLL's per-target probabilities are the full distributions read at the target
    sequence = sequences[0]
    padded = np.r_[np.ones(order - 1, dtype=np.int64), sequence, 2]
    rows = np.lib.stride_tricks.sliding_window_view(padded, order)
    full = model.probabilities(rows[:, :-1])[np.arange(len(rows)), rows[:, -1]]
    assert np.exp(model.token_log_probs([sequence])) == pytest.approx(full)


def test_higher_orders_fit_a_pattern_better():
    pattern = [np.array([3, 4, 5, 3, 4, 6] * 20)]
    # after "3 4" comes 5 or 6: only order 4 sees far enough back to know which
    nll = [NgramModel(8, order=k).fit(pattern).nll(pattern) for k in (1, 2, 4)]
    assert nll[0] > nll[1] > nll[2]
    assert nll[2] < 0.2


def test_sampling_follows_the_pattern_and_stops_at_the_length():
    model = NgramModel(8, order=3).fit([np.array([3, 4, 5] * 30)] * 3)
    cost = np.zeros(8)
    cost[5] = 1.0  # token 5 "advances the clock" by one
    drawn = model.sample(
        4, max_tokens=200, length_cost=cost, length_limit=10, never=(0, 1, 2), seed=1
    )
    for sequence in drawn:
        assert cost[sequence].sum() == 10  # stopped at the limit
        assert (sequence[:9] == [3, 4, 5, 3, 4, 5, 3, 4, 5]).mean() > 0.8
    first, second = (
        model.sample(4, max_tokens=200, length_cost=cost, length_limit=10, seed=2) for _ in "ab"
    )
    assert all(np.array_equal(a, b) for a, b in zip(first, second, strict=True))


def test_bad_orders_are_refused():
    with pytest.raises(ValueError, match="order 0"):
        NgramModel(10, order=0)
    with pytest.raises(ValueError, match="63 bits"):
        NgramModel(243, order=8)
    with pytest.raises(ValueError, match="at least one"):
        NgramModel(10, order=2).fit([])
    assert math.isfinite(NgramModel(10, order=2).fit([np.array([3])]).nll([np.array([4])]))
