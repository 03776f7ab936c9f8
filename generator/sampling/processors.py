"""Logits processors: every rule that shapes the next token's distribution, one signature.

A processor takes (logits (rows, vocab), tokens so far (rows, t)) and returns logits. It may
change the tensor it is given in place (the sampling loop hands it a fresh float tensor each
step) and may keep state from the newest token, as it is called once per step, in order.

Two kinds, applied in this order by the sampling loop (``generator.sampling.sampler``) and by
beam search (``generator.sampling.seq2seq``):

- **constraints** mask ids (set them to -inf) or reshape the model's distribution: ``ban``,
  ``allow_only``, ``fixed_lengths`` here, and the music and harmony rules of the front-ends.
  Masking keeps sampling exact: the softmax of the masked logits is the model's distribution
  restricted to the allowed ids, renormalised. A sample's log-probability is measured after
  the constraints.
- **sampling shape**: ``temperature``, ``top_k``, ``top_p`` (``sampling_processors`` builds
  them from ``SamplingOptions``). Beam search does not use them.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

# (logits (rows, vocab), tokens so far (rows, t)) → logits
LogitsProcessor = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

NEG_INF = float("-inf")


def ban(ids: torch.Tensor | list[int] | tuple[int, ...]) -> LogitsProcessor:
    """Constraint: ``ids`` (e.g. PAD and BOS) are never chosen."""
    banned = torch.as_tensor(list(ids) if not isinstance(ids, torch.Tensor) else ids)
    on_device: dict[torch.device, torch.Tensor] = {}

    def process(logits: torch.Tensor, history: torch.Tensor) -> torch.Tensor:
        index = on_device.get(logits.device)
        if index is None:
            index = on_device[logits.device] = banned.to(logits.device, torch.long)
        return logits.index_fill_(1, index, NEG_INF)

    return process


def allow_only(allowed: torch.Tensor) -> LogitsProcessor:
    """Constraint: ids where ``allowed`` (vocab,) bool is False are never chosen."""
    banned: dict[torch.device, torch.Tensor] = {}

    def process(logits: torch.Tensor, history: torch.Tensor) -> torch.Tensor:
        mask = banned.get(logits.device)
        if mask is None:
            mask = banned[logits.device] = ~allowed.to(logits.device)
        return logits.masked_fill(mask, NEG_INF)

    return process


def fixed_lengths(limits: torch.Tensor, eos_id: int, *, exact: bool) -> LogitsProcessor:
    """Constraint for ``limits`` (rows,) target lengths: EOS is forced at the limit and, when
    ``exact``, forbidden before it (the step is the number of tokens so far)."""

    def process(logits: torch.Tensor, history: torch.Tensor) -> torch.Tensor:
        t = history.shape[1]
        if exact:
            logits[t < limits, eos_id] = NEG_INF
        at_limit = t >= limits
        logits[at_limit] = NEG_INF
        logits[at_limit, eos_id] = 0.0
        return logits

    return process


def temperature(value: float) -> LogitsProcessor:
    """Sampling shape: logits / ``value`` (< 1 sharper and safer, > 1 wilder)."""

    def process(logits: torch.Tensor, history: torch.Tensor | None = None) -> torch.Tensor:
        return logits.div_(value)

    return process


def top_k(k: int) -> LogitsProcessor:
    """Sampling shape: only the ``k`` most likely ids stay (ties with the k-th stay too)."""

    def process(logits: torch.Tensor, history: torch.Tensor | None = None) -> torch.Tensor:
        if k >= logits.shape[-1]:
            return logits
        kth = torch.topk(logits, k, dim=-1).values[:, -1:]
        return logits.masked_fill(logits < kth, NEG_INF)

    return process


def top_p(p: float) -> LogitsProcessor:
    """Sampling shape (nucleus): the smallest set of most likely ids whose probability reaches
    ``p`` stays."""

    def process(logits: torch.Tensor, history: torch.Tensor | None = None) -> torch.Tensor:
        sorted_logits, order = torch.sort(logits, descending=True, dim=-1)
        probs = torch.softmax(sorted_logits, dim=-1)
        # drop an id when the ids ranked above it already reach p
        drop_sorted = probs.cumsum(dim=-1) - probs >= p
        drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
        return logits.masked_fill(drop, NEG_INF)

    return process


def sampling_processors(options) -> list[LogitsProcessor]:
    """Temperature, then top-k, then top-p, as far as ``options`` (SamplingOptions) asks for
    them (a greedy choice reads none of them)."""
    chain = []
    if options.temperature != 1.0:
        chain.append(temperature(options.temperature))
    if options.top_k:
        chain.append(top_k(options.top_k))
    if options.top_p < 1.0:
        chain.append(top_p(options.top_p))
    return chain


def apply(processors: list[LogitsProcessor], logits: torch.Tensor, history) -> torch.Tensor:
    """``logits`` through each of ``processors`` in turn."""
    for process in processors:
        logits = process(logits, history)
    return logits
