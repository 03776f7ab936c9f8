"""The one sampling core: a loop that draws one step at a time, and the choices it makes.

Every family generates the same way (``sample_loop``): the model gives scores for the next
step, the logits processors (``generator.sampling.processors``: constraints, then the sampling
shape) rework them, a choice fills the step, the model takes that step. The model's ``step``
carries its hidden state, so each step costs one step of the network whatever came before (no
re-running of the prefix), and all variations run as one batch.

    logits ───────► ban, constraints ─► [log-prob] ─► choice ─────────► history[t]
          ▲          (masks, in order)    (scores)    greedy: argmax           │
          │                                           draw: temperature,       │
          │                                           top-k, top-p, sample     │
          └── next logits ◄── step(history[t]) ◄── all ended? stop ◄──────────┘

What differs by family is only what is fed and drawn:
- token RNN (music, text): ``sample_tokens`` here; a sequence ends at EOS or once the summed
  cost of its tokens (grid steps, characters, tokens) reaches its limit (``Ends``), so one loop
  serves "16 bars", "30 seconds" and "500 characters";
- encoder-decoder: ``generator.sampling.seq2seq`` (free decoding; beam search keeps its own
  loop over beams but uses the same processors);
- piano roll: ``generator.sampling.pianoroll``, where the choice is the model's frame head
  (independent keys or NADE: a draw over 2^keys frames, so temperature is the head's own and
  top-k / top-p do not apply).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import torch

from generator.sampling.processors import NEG_INF, LogitsProcessor, sampling_processors
from generator.validation import check_number, check_sampling, check_seed, check_type


@dataclass
class SamplingOptions:
    """How the next token is chosen."""

    temperature: float = 1.0  # < 1 sharper and safer, > 1 wilder
    top_k: int = 0  # keep only the k most likely tokens (0 = all)
    top_p: float = 1.0  # keep the smallest set of tokens whose probability reaches p
    greedy: bool = False  # always take the most likely token
    seed: int | None = None  # makes sampling repeatable

    def __post_init__(self) -> None:
        check_number("temperature", self.temperature)
        check_number("top_k", self.top_k, whole=True)
        check_number("top_p", self.top_p)
        _, self.top_k, _ = check_sampling(self.temperature, self.top_k, self.top_p)
        check_type("greedy", self.greedy, bool, "True or False")
        self.seed = check_seed(self.seed)


def seeded_generator(seed: int | None, device: torch.device | str = "cpu") -> torch.Generator:
    """A random generator on ``device``: seeded with ``seed`` (repeatable), or from the OS."""
    generator = torch.Generator(device=device)
    if seed is not None:
        generator.manual_seed(seed)
    else:
        generator.seed()
    return generator


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


class Choice(Protocol):
    """Fills ``out`` (batch, ...) with the next step, chosen from the processed ``logits``."""

    def __call__(self, logits: torch.Tensor, out: torch.Tensor) -> None: ...


def greedy_choice(logits: torch.Tensor, out: torch.Tensor) -> None:
    """The most likely id of each row."""
    torch.argmax(logits, dim=-1, out=out)


def gumbel_choice(
    options: SamplingOptions,
    generator: torch.Generator,
    shape: tuple[int, int],
    steps: int,
    banned: torch.Tensor | None = None,
) -> Choice:
    """A draw from the softmax of the shaped logits, as argmax(logits + Gumbel noise): the
    token sampler's choice (no per-token checks or random streams; see GumbelNoise)."""
    shaping = sampling_processors(options)
    noise = GumbelNoise(shape, generator, steps, banned)
    scores = torch.empty(shape, device=generator.device)

    def choose(logits: torch.Tensor, out: torch.Tensor) -> None:
        for process in shaping:
            logits = process(logits, None)
        torch.argmax(torch.add(logits, noise.next(), out=scores), dim=-1, out=out)

    def choose_plain(logits: torch.Tensor, out: torch.Tensor) -> None:  # temperature 1, all ids
        torch.argmax(torch.add(logits, noise.next(), out=scores), dim=-1, out=out)

    return choose if shaping else choose_plain


def multinomial_choice(options: SamplingOptions, generator: torch.Generator) -> Choice:
    """A draw from the softmax of the shaped logits by torch.multinomial: the encoder-decoder's
    choice (the same distribution as gumbel_choice; kept so that its seeded outputs, such as
    the published harmonies, stay what they were)."""
    shaping = sampling_processors(options)

    def choose(logits: torch.Tensor, out: torch.Tensor) -> None:
        for process in shaping:
            logits = process(logits, None)
        probs = torch.softmax(logits, dim=-1)
        out.copy_(torch.multinomial(probs, 1, generator=generator).squeeze(1))

    return choose


class Ends:
    """Which sequences have ended: at EOS, or (with ``cost`` and ``limits``) once the summed
    cost of their tokens reaches their limit. Kept as Python numbers, which costs less per
    token than a handful of tensor operations; ``done`` holds the same as a (batch,) mask."""

    def __init__(
        self,
        batch: int,
        device: torch.device,
        eos_id: int,
        cost: list[float] | None = None,
        limits: list[float] | None = None,
    ):
        self.eos_id, self.cost, self.limits = eos_id, cost, limits
        self.length = [0.0] * batch  # summed cost per sequence
        self.finished = [False] * batch
        self.done = torch.zeros(batch, dtype=torch.bool, device=device)
        self.left = batch

    def update(self, ids: list[int]) -> None:
        """Account for the newest token of each sequence."""
        finished, cost, length = self.finished, self.cost, self.length
        for i, token_id in enumerate(ids):
            if finished[i]:
                continue
            if cost is not None:
                length[i] += cost[token_id]
                end = length[i] >= self.limits[i]
            else:
                end = token_id == self.eos_id
            if end:
                finished[i], self.left = True, self.left - 1
                self.done[i] = True


@torch.inference_mode()
def sample_loop(
    logits: torch.Tensor,
    step: Callable[[torch.Tensor], torch.Tensor],
    choose: Choice,
    history: torch.Tensor,
    *,
    banned: torch.Tensor | None = None,
    processors: Sequence[LogitsProcessor] = (),
    ends: Ends | None = None,
    fill: int = 0,
    scores: torch.Tensor | None = None,
    on_step: Callable[[torch.Tensor], None] | None = None,
) -> int:
    """Generate up to ``len(history)`` steps into ``history`` (steps, batch, ...) in place;
    returns the number of steps taken.

    logits: scores of the first step (batch, vocab); step: feeds a chosen step, returns the
    next scores; choose: fills a step from the processed scores.
    banned: ids never chosen (the ``ban`` constraint, applied first, inline: the token
    sampler's hot path); processors: constraints applied in order to every step's logits,
    with the ids so far (batch, t).
    ends: the loop stops once every sequence has ended; an ended sequence gets ``fill``.
    scores: (batch,), to which each sequence's log-probabilities are added (after the
    constraints, before the choice's temperature and truncation), up to its last token.
    on_step: called with each new step (streaming)."""
    batch, steps = history.shape[1], history.shape[0]
    by_row = history.transpose(0, 1)  # (batch, steps): the ids so far are by_row[:, :t]
    t = -1
    for t in range(steps):
        if banned is not None:
            logits.index_fill_(1, banned, NEG_INF)
        if processors:
            past = by_row[:, :t]
            for process in processors:
                logits = process(logits, past)
        if scores is not None:
            log_probs = torch.log_softmax(logits, dim=-1)
        token = history[t]  # a view: the choice is written straight into the history
        choose(logits, token)
        if ends is not None and ends.left < batch:
            token.masked_fill_(ends.done, fill)
        if scores is not None:
            picked = log_probs.gather(1, token[:, None]).squeeze(1)
            scores += picked if ends is None else torch.where(ends.done, 0.0, picked)
        if on_step is not None:
            on_step(token)
        if ends is not None:
            ends.update(token.tolist())
            if ends.left == 0:
                break
        if t == steps - 1:
            break
        logits = step(token)
    return t + 1


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
    """Generate one sequence per row of ``cond`` (batch, embed) with a token RNN.

    prefix: (batch, p) ids fed after the conditioning step (a primer), not returned.
    length_cost / length_limit: a sequence ends once the summed cost of its tokens reaches the
    limit (one for all, or one per sequence); until then EOS is not allowed. Without a limit a
    sequence ends at EOS.
    never: ids that are never sampled (PAD and BOS).
    processors: constraints (see generator.sampling.processors), applied after ``never``.
    on_tokens: called with each new (batch,) token tensor (for streaming).
    Returns the generated ids of each sequence, without the prefix and without EOS/PAD.

    Little happens per token besides the network's step: tokens are drawn straight into the
    history, noise comes in blocks, the model's ``decoder`` (when it has one) keeps its state
    between steps, and lengths and ends are kept as Python numbers.
    """
    model.eval()
    pad_id = never[0]
    device = cond.device
    batch = cond.shape[0]

    logits, state = model.start(cond)
    if prefix is not None and prefix.shape[1] > 0:
        window_logits, state = model(prefix.to(device), state)
        logits = window_logits[:, -1]
    if hasattr(model, "decoder"):
        decoder = model.decoder(state)

        def step(token: torch.Tensor) -> torch.Tensor:
            return decoder.step(token).float()
    else:

        def step(token: torch.Tensor) -> torch.Tensor:
            nonlocal state
            next_logits, state = model.step(token, state)
            return next_logits.float()

    limited = length_cost is not None and length_limit is not None
    if limited and isinstance(length_limit, (int, float)):
        length_limit = [float(length_limit)] * batch
    ends = Ends(
        batch,
        device,
        eos_id,
        length_cost.tolist() if limited else None,
        length_limit if limited else None,
    )
    # music ends when the length is reached, not before: EOS is banned until then
    banned = torch.tensor(list(never) + ([eos_id] if length_limit is not None else []))
    banned = banned.to(device)
    if options.greedy:
        choose = greedy_choice
    else:
        generator = seeded_generator(options.seed, device)
        # with nothing else to apply, the ban rides on the noise (-inf noise is never drawn)
        plain = not (processors or options.top_k or options.top_p < 1.0)
        choose = gumbel_choice(
            options, generator, tuple(logits.shape), max_tokens, banned if plain else None
        )
        if plain:
            banned = None
    # (time, batch): row t is the tokens of step t, contiguous, chosen into in place
    history = torch.full((max_tokens, batch), pad_id, dtype=torch.long, device=device)
    taken = sample_loop(
        logits.float(),
        step,
        choose,
        history,
        banned=banned,
        processors=processors or (),
        ends=ends,
        fill=pad_id,
        on_step=on_tokens,
    )
    rows = history[:taken].t().tolist()
    return [[i for i in row if i not in (pad_id, eos_id)] for row in rows]
