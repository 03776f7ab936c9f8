"""The one sampler, and the music and text front-ends built on it."""

from generator.sampling.sampler import SamplingOptions, sample_tokens

__all__ = ["SamplingOptions", "sample_tokens"]
