"""Text from a model: prime it, sample with the one sampler, stream the text.

Priming: the prime is encoded and fed after the null conditioning step, as text was at the start
of every training segment. Characters the model does not know (UNK) are dropped from what the
model reads (``TextResult.dropped`` lists them); only the last ``MAX_PRIME_TOKENS`` tokens of a
long prime are read. The prime is never part of the generated text.

Length: ``length`` characters or tokens of new text (EOS is not sampled before that; the text is
cut to exactly ``length`` characters, or one fewer where the last is a byte-fallback character
whose bytes did not all come), or ``length=None``: until the model writes EOS (at most
``max_tokens`` tokens). Streaming: ``on_text(row, text)`` gets each row's new text as every token
is sampled (a multi-byte character once its last byte is in), ``on_end(row)`` when a row is done.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from generator.checkpoint import Loaded
from generator.sampling.sampler import SamplingOptions, sample_tokens
from generator.tokenizers import TextTokenizer
from generator.validation import check_range, check_variations

UNITS = ("characters", "tokens")
MAX_LENGTH = 100_000  # characters or tokens in one sample
MAX_PRIME_TOKENS = 4096  # a longer prime is cut to its end (an RNN remembers far less anyway)
UNTIL_EOS_MAX_TOKENS = 10_000  # cap when sampling until EOS


@dataclass
class TextResult:
    """Generated continuations (without the prime) and how long sampling took."""

    prime: str
    texts: list[str]
    tokens: list[int]  # tokens sampled per text
    sampling_seconds: float
    dropped: str = ""  # prime characters outside the vocabulary, not shown to the model
    settings: dict = field(default_factory=dict)


def text_tokenizer(loaded: Loaded) -> TextTokenizer:
    """The checkpoint's tokenizer, or a ValueError saying this is not a text model."""
    if not isinstance(loaded.tokenizer, TextTokenizer):
        raise ValueError(f"{loaded.path}: this checkpoint is not a text model")
    return loaded.tokenizer


def encode_prime(tokenizer: TextTokenizer, prime: str) -> tuple[np.ndarray, str]:
    """Prime → ids the model reads (UNK dropped, at most MAX_PRIME_TOKENS) and dropped chars."""
    ids = tokenizer.encode(prime)
    unknown = ids == tokenizer.unk_id
    dropped = ""
    if unknown.any():
        dropped = "".join(
            dict.fromkeys(c for c in prime if tokenizer.unk_id in tokenizer.encode(c))
        )
    return ids[~unknown][-MAX_PRIME_TOKENS:], dropped


def generate_text(
    loaded: Loaded,
    prime: str = "",
    length: int | None = 500,
    unit: str = "characters",
    options: SamplingOptions | None = None,
    num: int = 1,
    *,
    on_text: Callable[[int, str], None] | None = None,
    on_end: Callable[[int], None] | None = None,
    max_tokens: int = UNTIL_EOS_MAX_TOKENS,
) -> TextResult:
    """Sample ``num`` continuations of ``prime`` as one batch (see the module docstring)."""
    tokenizer = text_tokenizer(loaded)
    options = options or SamplingOptions()
    check_variations(num)
    if unit not in UNITS:
        raise ValueError(f"unit must be one of {', '.join(UNITS)}, got {unit!r}")
    if length is not None:
        length = check_range("length", length, 0, MAX_LENGTH, integer=True, low_open=True)
    model = loaded.model
    device = next(model.parameters()).device

    prime_ids, dropped = encode_prime(tokenizer, prime)
    prefix = torch.as_tensor(prime_ids, dtype=torch.long).repeat(num, 1) if len(prime_ids) else None
    with torch.inference_mode():
        null = torch.zeros(num, dtype=torch.long, device=device)
        cond = model.condition(null, null)
    cost = tokenizer.length_cost(unit)
    if length is not None:
        max_tokens = math.ceil(length) if unit == "tokens" else 4 * math.ceil(length)

    decoders = [tokenizer.stream() for _ in range(num)]
    texts: list[list[str]] = [[] for _ in range(num)]
    used = np.zeros(num)  # summed length cost per row, as the sampler counts it
    shown = np.zeros(num, dtype=np.int64)  # characters emitted per row
    counts = np.zeros(num, dtype=np.int64)
    finished = [False] * num

    def finish(row: int) -> None:
        finished[row] = True
        if on_end is not None:
            on_end(row)

    def receive(tokens: torch.Tensor) -> None:
        for row, token_id in enumerate(tokens.tolist()):
            if finished[row]:
                continue
            if token_id == tokenizer.eos_id:
                finish(row)
                continue
            counts[row] += 1
            used[row] += cost[token_id]
            text = decoders[row](token_id)
            if length is not None and unit == "characters":
                text = text[: max(0, int(length) - int(shown[row]))]
            if text:
                shown[row] += len(text)
                texts[row].append(text)
                if on_text is not None:
                    on_text(row, text)
            if length is not None and used[row] >= length:
                finish(row)

    started = time.perf_counter()
    sample_tokens(
        model,
        cond,
        options,
        eos_id=tokenizer.eos_id,
        never=(tokenizer.pad_id, tokenizer.bos_id, tokenizer.unk_id),
        prefix=prefix,
        max_tokens=max_tokens,
        length_cost=torch.from_numpy(cost) if length is not None else None,
        length_limit=length,
        on_tokens=receive,
    )
    elapsed = time.perf_counter() - started
    for row in range(num):
        if not finished[row]:  # ran into max_tokens
            finish(row)
    return TextResult(
        prime=prime,
        texts=["".join(parts) for parts in texts],
        tokens=counts.tolist(),
        sampling_seconds=elapsed,
        dropped=dropped,
        settings={
            "length": length,
            "unit": unit,
            "num": num,
            "temperature": options.temperature,
            "top_k": options.top_k,
            "top_p": options.top_p,
            "greedy": options.greedy,
            "seed": options.seed,
        },
    )


class SequentialPrinter:
    """Shows samples generated side by side as if one after another: the first streams live;
    the others are held back until the ones before them have ended, then stream on."""

    def __init__(self, num: int, write: Callable[[str], None], *, head: str = "", separator: str):
        self.write, self.head, self.separator = write, head, separator
        self.held: list[list[str]] = [[] for _ in range(num)]
        self.ended = [False] * num
        self.current = 0
        self.write(head)

    def text(self, row: int, text: str) -> None:
        if row == self.current:
            self.write(text)
        else:
            self.held[row].append(text)

    def end(self, row: int) -> None:
        self.ended[row] = True
        while self.current < len(self.ended) and self.ended[self.current]:
            self.current += 1
            if self.current < len(self.ended):
                self.write(self.separator + self.head + "".join(self.held[self.current]))
                self.held[self.current] = []
