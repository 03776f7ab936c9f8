"""The floor baseline: an n-gram (Markov) model over the same token ids the networks read, with
interpolated Kneser-Ney smoothing (Chen & Goodman 1998), all in numpy.

For order n, a token's probability given the n − 1 tokens before it interpolates down to the
unigram, then to uniform over the vocabulary:

    P_k(w | h) = max(c_k(h w) − D_k, 0) / T_k(h) + D_k · N_k(h) / T_k(h) · P_{k−1}(w | h')

where h' drops the oldest token of h, T_k(h) = Σ_w c_k(h w), N_k(h) = how many distinct w follow
h, and an unseen context passes straight to P_{k−1}. The top order counts n-grams (c_n); lower
orders count continuations, c_k(g) = how many distinct tokens precede g (Kneser-Ney), and
D_k = n1 / (n1 + 2 n2) from the order's count-of-counts. Sequences start with n − 1 BOS and end
with EOS, as the networks are trained to end them.

Counts live in sorted int64 arrays keyed by the n-gram's ids in base ``vocab_size`` (so
vocab_size^order must stay below 2^63), and every query is vectorised over a batch.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass
class _Order:
    """Counts of one order k: n-gram keys (context · V + token) and per-context totals."""

    keys: np.ndarray  # sorted int64 keys of the k-grams seen
    counts: np.ndarray  # c_k of each key (raw counts at the top order, continuations below)
    contexts: np.ndarray  # sorted distinct context keys
    totals: np.ndarray  # T_k(h) per context
    types: np.ndarray  # N_k(h) per context
    discount: float  # D_k


class NgramModel:
    """Interpolated Kneser-Ney n-gram model over token ids 0..vocab_size−1."""

    def __init__(self, vocab_size: int, order: int = 5, bos_id: int = 1, eos_id: int = 2):
        if order < 1:
            raise ValueError(f"order {order}: an n-gram model needs order 1 or more")
        if vocab_size**order >= 2**63:
            raise ValueError(
                f"order {order} with {vocab_size} ids: keys would not fit 63 bits; "
                f"the largest order is {int(62 / math.log2(vocab_size))}"
            )
        self.vocab_size = vocab_size
        self.order = order
        self.bos_id = bos_id
        self.eos_id = eos_id
        self.orders: list[_Order] = []  # index k − 1 holds order k

    # -- training ------------------------------------------------------------------------------
    def fit(self, sequences: Sequence[np.ndarray]) -> NgramModel:
        """Count the n-grams of ``sequences`` (token ids without BOS/EOS)."""
        if not sequences:
            raise ValueError("an n-gram model needs at least one training sequence")
        n, vocab = self.order, self.vocab_size
        windows = []
        for seq in sequences:
            padded = self._padded(seq)
            windows.append(np.lib.stride_tricks.sliding_window_view(padded, n))
        grams = np.concatenate(windows).astype(np.int64)  # (positions, n)
        top_keys, top_counts = np.unique(_keys(grams, vocab), return_counts=True)
        levels = {n: (top_keys, top_counts.astype(np.float64))}
        higher = top_keys
        for k in range(n - 1, 0, -1):
            # continuation count of a k-gram: the distinct (k+1)-grams that end with it
            suffixes = higher % vocab**k
            keys, counts = np.unique(suffixes, return_counts=True)
            levels[k] = (keys, counts.astype(np.float64))
            higher = keys
        self.orders = [self._order(k, *levels[k]) for k in range(1, n + 1)]
        return self

    def _order(self, k: int, keys: np.ndarray, counts: np.ndarray) -> _Order:
        contexts, first = np.unique(keys // self.vocab_size, return_index=True)
        totals = np.add.reduceat(counts, first)
        types = np.diff(np.r_[first, len(keys)]).astype(np.float64)
        n1, n2 = np.sum(counts == 1), np.sum(counts == 2)
        discount = n1 / (n1 + 2 * n2) if n1 + n2 else 0.5
        return _Order(keys, counts, contexts, totals, types, float(min(max(discount, 0.05), 0.95)))

    def _padded(self, seq: np.ndarray) -> np.ndarray:
        return np.r_[
            np.full(self.order - 1, self.bos_id), np.asarray(seq, dtype=np.int64), self.eos_id
        ]

    # -- probabilities -------------------------------------------------------------------------
    def probabilities(self, history: np.ndarray) -> np.ndarray:
        """(batch, n − 1) previous ids (BOS-padded) → (batch, vocab) next-token probabilities."""
        history = np.asarray(history, dtype=np.int64)
        batch, vocab = len(history), self.vocab_size
        p = np.full((batch, vocab), 1.0 / vocab)
        for k, level in enumerate(self.orders, start=1):
            context = _keys(history[:, history.shape[1] - (k - 1) :], vocab)  # (batch,)
            slot = np.searchsorted(level.contexts, context)
            slot = np.minimum(slot, len(level.contexts) - 1)
            seen = level.contexts[slot] == context
            total = np.where(seen, level.totals[slot], 1.0)
            mass = np.where(seen, level.discount * level.types[slot] / total, 1.0)
            new = p * mass[:, None]
            # the seen continuations of each context: a contiguous run of the sorted keys
            lo = np.searchsorted(level.keys, context * vocab)
            hi = np.searchsorted(level.keys, context * vocab + vocab)
            lengths = np.where(seen, hi - lo, 0)
            rows = np.repeat(np.arange(batch), lengths)
            index = np.repeat(lo - np.cumsum(np.r_[0, lengths[:-1]]), lengths) + np.arange(
                lengths.sum()
            )
            tokens = level.keys[index] % vocab
            new[rows, tokens] += np.maximum(level.counts[index] - level.discount, 0) / total[rows]
            p = new
        return p

    def token_log_probs(self, sequences: Sequence[np.ndarray]) -> np.ndarray:
        """Natural-log probability of every target (each token and the final EOS)."""
        n, vocab = self.order, self.vocab_size
        grams = np.concatenate(
            [np.lib.stride_tricks.sliding_window_view(self._padded(s), n) for s in sequences]
        ).astype(np.int64)
        log_p = np.empty(len(grams))
        for start in range(0, len(grams), 4096):
            chunk = grams[start : start + 4096]
            p = self._target_probabilities(chunk, vocab)
            log_p[start : start + 4096] = np.log(p)
        return log_p

    def _target_probabilities(self, grams: np.ndarray, vocab: int) -> np.ndarray:
        """P(last id | the ids before it) for each row of (rows, n) n-grams."""
        target = grams[:, -1]
        p = np.full(len(grams), 1.0 / vocab)
        for k, level in enumerate(self.orders, start=1):
            context = _keys(grams[:, self.order - k : -1], vocab)
            slot = np.minimum(np.searchsorted(level.contexts, context), len(level.contexts) - 1)
            seen = level.contexts[slot] == context
            key = context * vocab + target
            at = np.minimum(np.searchsorted(level.keys, key), len(level.keys) - 1)
            count = np.where(level.keys[at] == key, level.counts[at], 0.0)
            total = np.where(seen, level.totals[slot], 1.0)
            interpolated = (
                np.maximum(count - level.discount, 0) / total
                + level.discount * level.types[slot] / total * p
            )
            p = np.where(seen, interpolated, p)
        return p

    def nll(self, sequences: Sequence[np.ndarray]) -> float:
        """Mean negative log-likelihood in nats per target (tokens plus EOS)."""
        return float(-self.token_log_probs(sequences).mean())

    # -- sampling ------------------------------------------------------------------------------
    def sample(
        self,
        num: int,
        *,
        max_tokens: int,
        length_cost: np.ndarray | None = None,
        length_limit: float | None = None,
        never: Sequence[int] = (),
        temperature: float = 1.0,
        seed: int | None = None,
    ) -> list[np.ndarray]:
        """``num`` sequences drawn token by token, each until EOS, ``max_tokens``, or until its
        summed ``length_cost`` reaches ``length_limit`` (e.g. beats of music)."""
        rng = np.random.default_rng(seed)
        history = np.full((num, max(self.order - 1, 0)), self.bos_id, dtype=np.int64)
        out = np.zeros((num, max_tokens), dtype=np.int64)
        lengths = np.full(num, max_tokens)
        clock = np.zeros(num)
        alive = np.ones(num, dtype=bool)
        for step in range(max_tokens):
            p = self.probabilities(history)
            p[:, list(never)] = 0.0
            if temperature != 1.0:
                p = p ** (1.0 / temperature)
            p /= p.sum(axis=1, keepdims=True)
            drawn = (p.cumsum(axis=1) < rng.random((num, 1))).sum(axis=1)
            drawn = np.minimum(drawn, self.vocab_size - 1)
            out[:, step] = drawn
            ended = alive & (drawn == self.eos_id)
            lengths[ended] = step
            alive &= ~ended
            if length_cost is not None and length_limit is not None:
                clock += length_cost[drawn]
                full = alive & (clock >= length_limit)
                lengths[full] = step + 1
                alive &= ~full
            if not alive.any():
                break
            if history.shape[1]:
                history = np.concatenate([history[:, 1:], drawn[:, None]], axis=1)
        return [out[i, : lengths[i]].astype(np.int32) for i in range(num)]


def _keys(grams: np.ndarray, vocab: int) -> np.ndarray:
    """Rows of ids → one int64 key each (the last id least significant); empty rows → 0."""
    keys = np.zeros(len(grams), dtype=np.int64)
    for column in range(grams.shape[1]):
        keys = keys * vocab + grams[:, column]
    return keys
