"""The one sampling core (``sampler``: the loop, its choices and the token sampler; ``processors``:
constraints and temperature / top-k / top-p) and the front-ends built on it: music, text, the
encoder-decoder (seq2seq, harmonize) and the piano roll."""

from generator.sampling.processors import LogitsProcessor, allow_only, ban
from generator.sampling.sampler import SamplingOptions, sample_loop, sample_tokens

__all__ = [
    "LogitsProcessor",
    "SamplingOptions",
    "allow_only",
    "ban",
    "sample_loop",
    "sample_tokens",
]
