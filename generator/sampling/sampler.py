"""Incremental sampling: the conditioning vector once, then one token at a time.

The model's ``step`` carries the hidden state, so each new token costs one step of the network
whatever has come before (no re-running of the prefix). All variations run as one batch.
Length is measured by summing a per-token cost (grid steps for music, characters or tokens for
text) so that one loop serves "16 bars", "30 seconds" and "500 characters".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from generator.validation import check_sampling

# (logits (batch, vocab), tokens so far (batch, t)) → logits, applied before sampling. A
# processor that masks (sets -inf) makes sampling exact under its constraint: the softmax of
# the masked logits is the model's distribution restricted to the allowed ids, renormalised.
# A processor is called at every step, in order, so it may keep state from the newest token.
LogitsProcessor = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def allow_only(allowed: torch.Tensor) -> LogitsProcessor:
    """Logits processor: ids where ``allowed`` (vocab,) bool is False are never sampled."""
    banned: dict[torch.device, torch.Tensor] = {}

    def process(logits: torch.Tensor, history: torch.Tensor) -> torch.Tensor:
        mask = banned.get(logits.device)
        if mask is None:
            mask = banned[logits.device] = ~allowed.to(logits.device)
        return logits.masked_fill(mask, float("-inf"))

    return process


@dataclass
class SamplingOptions:
    """How the next token is chosen."""

    temperature: float = 1.0  # < 1 sharper and safer, > 1 wilder
    top_k: int = 0  # keep only the k most likely tokens (0 = all)
    top_p: float = 1.0  # keep the smallest set of tokens whose probability reaches p
    greedy: bool = False  # always take the most likely token
    seed: int | None = None  # makes sampling repeatable

    def __post_init__(self) -> None:
        check_sampling(self.temperature, self.top_k, self.top_p)


def seeded_generator(seed: int | None, device: torch.device | str = "cpu") -> torch.Generator:
    """A random generator on ``device``: seeded with ``seed`` (repeatable), or from the OS."""
    generator = torch.Generator(device=device)
    if seed is not None:
        generator.manual_seed(seed)
    else:
        generator.seed()
    return generator


def filter_logits(logits: torch.Tensor, options: SamplingOptions) -> torch.Tensor:
    """Temperature, then top-k, then top-p (nucleus) on (batch, vocab) logits."""
    return truncate_logits(logits / options.temperature, options)


def truncate_logits(logits: torch.Tensor, options: SamplingOptions) -> torch.Tensor:
    """Top-k, then top-p (nucleus): the tokens left out get -inf. Without either, ``logits``."""
    if options.top_k and options.top_k < logits.shape[-1]:
        kth = torch.topk(logits, options.top_k, dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if options.top_p < 1.0:
        sorted_logits, order = torch.sort(logits, descending=True, dim=-1)
        probs = torch.softmax(sorted_logits, dim=-1)
        # drop a token when the tokens ranked above it already reach top_p
        drop_sorted = probs.cumsum(dim=-1) - probs >= options.top_p
        drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
        logits = logits.masked_fill(drop, float("-inf"))
    return logits


class GumbelNoise:
    """Gumbel noise for sampling by argmax: argmax(logits + g) is a draw from softmax(logits).

    (torch.multinomial draws one token much the same way, but pays for checks and a fresh
    random stream on every call: 30 µs a token, more than a whole step of a small network.)
    The noise comes in blocks of steps, one generator call per block; ids in ``banned`` get
    -inf noise, so they are never drawn.
    """

    def __init__(
        self,
        shape: tuple[int, int],
        generator: torch.Generator,
        steps: int,
        banned: torch.Tensor | None = None,
    ):
        self.generator, self.banned = generator, banned
        block = max(1, min(steps, 256, 2**20 // max(1, shape[0] * shape[1])))
        self.noise = torch.empty((block, *shape), device=generator.device)
        self.rows: list[torch.Tensor] = []

    def next(self) -> torch.Tensor:
        """(batch, vocab) noise for one step."""
        if not self.rows:
            # -log(-log(U)), U ~ Uniform[0, 1), is Gumbel(0, 1) (U = 0 gives -inf: never
            # drawn); five times faster than exponential_ on the CPU
            self.noise.uniform_(generator=self.generator).log_().neg_().log_().neg_()
            if self.banned is not None:
                self.noise.index_fill_(2, self.banned, float("-inf"))
            self.rows = list(self.noise.unbind(0))[::-1]  # views, popped from the end
        return self.rows.pop()


@torch.inference_mode()
def sample_tokens(
    model,
    cond: torch.Tensor,
    options: SamplingOptions,
    *,
    eos_id: int,
    never: tuple[int, ...] = (0, 1),
    prefix: torch.Tensor | None = None,
    max_tokens: int = 10_000,
    length_cost: torch.Tensor | None = None,
    length_limit: float | list[float] | None = None,
    processors: list[LogitsProcessor] | None = None,
    on_tokens: Callable[[torch.Tensor], None] | None = None,
) -> list[list[int]]:
    """Generate one sequence per row of ``cond`` (batch, embed).

    prefix: (batch, p) ids fed after the conditioning step (a primer), not returned.
    length_cost / length_limit: a sequence ends once the summed cost of its tokens reaches the
    limit (one for all, or one per sequence); until then EOS is not allowed. Without a limit a
    sequence ends at EOS.
    never: ids that are never sampled (PAD and BOS).
    on_tokens: called with each new (batch,) token tensor (for streaming).
    Returns the generated ids of each sequence, without the prefix and without EOS/PAD.

    The loop does little per token besides the network's step: tokens are drawn straight
    into the history, noise comes in blocks, the model's ``decoder`` (when it has one) keeps
    its state between steps, and lengths and ends are kept as Python numbers.
    """
    model.eval()
    pad_id = never[0]
    device = cond.device
    batch = cond.shape[0]
    generator = seeded_generator(options.seed, device)

    logits, state = model.start(cond)
    if prefix is not None and prefix.shape[1] > 0:
        window_logits, state = model(prefix.to(device), state)
        logits = window_logits[:, -1]
    decoder = model.decoder(state) if hasattr(model, "decoder") else None

    limited = length_cost is not None and length_limit is not None
    cost = length_cost.tolist() if limited else None
    if limited and isinstance(length_limit, (int, float)):
        length_limit = [float(length_limit)] * batch
    length = [0.0] * batch  # summed cost per sequence
    finished = [False] * batch
    done = torch.zeros(batch, dtype=torch.bool, device=device)  # the same, as a mask
    left = batch
    # (time, batch): row t is the tokens of step t, contiguous, sampled into in place
    history = torch.full((max_tokens, batch), pad_id, dtype=torch.long, device=device)
    # music ends when the length is reached, not before: EOS is banned until then
    banned = torch.tensor(list(never) + ([eos_id] if length_limit is not None else []))
    banned = banned.to(device)
    truncate = bool(options.top_k) or options.top_p < 1.0
    plain = not (options.greedy or truncate or processors)  # then the ban rides on the noise
    if not options.greedy:
        noise = GumbelNoise(logits.shape, generator, max_tokens, banned if plain else None)
        scores = torch.empty(logits.shape, device=device)
    for t in range(max_tokens):
        token = history[t]
        logits = logits.float()
        if not plain:
            logits.index_fill_(1, banned, float("-inf"))
        if processors:
            past = history[:t].t()  # (batch, t)
            for process in processors:
                logits = process(logits, past)
        if options.greedy:
            torch.argmax(logits, dim=-1, out=token)
        else:
            if options.temperature != 1.0:
                logits = logits.div_(options.temperature)
            if truncate:
                logits = truncate_logits(logits, options)
            torch.argmax(torch.add(logits, noise.next(), out=scores), dim=-1, out=token)
        if left < batch:
            token.masked_fill_(done, pad_id)
        if on_tokens is not None:
            on_tokens(token)
        for i, token_id in enumerate(token.tolist()):  # lengths and ends, in Python: cheaper
            if finished[i]:  # than a handful of tensor operations per token
                continue
            if limited:
                length[i] += cost[token_id]
                end = length[i] >= length_limit[i]
            else:
                end = token_id == eos_id
            if end:
                finished[i], left = True, left - 1
                done[i] = True
        if left == 0 or t == max_tokens - 1:
            break
        if decoder is not None:
            logits = decoder.step(token)
        else:
            logits, state = model.step(token, state)

    rows = history[: t + 1].t().tolist()
    return [[i for i in row if i not in (pad_id, eos_id)] for row in rows]
