"""Greedy, sampled and beam-search decoding: lengths, attention, beam width 1 = greedy."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from generator.models.seq2seq import Seq2Seq
from generator.sampling import SamplingOptions
from generator.sampling.seq2seq import decode
from generator.tokenizers import CharTokenizer

TOKENIZER = CharTokenizer("abcdefghij")
SOURCES = [np.array(s, dtype=np.int32) for s in ([4, 5, 6], [7, 8, 9, 10, 11, 12], [13])]


@pytest.fixture(params=["additive", "dot", "none"])
def model(request, tiny_config) -> Seq2Seq:
    torch.manual_seed(0)
    config = tiny_config(TOKENIZER.vocab_size, cell="lstm", attention=request.param)
    return Seq2Seq(config).eval()


def test_beam_width_one_is_greedy(model):
    greedy = decode(model, SOURCES, TOKENIZER, options=SamplingOptions(greedy=True))
    beam = decode(model, SOURCES, TOKENIZER, beam=1)
    assert [g.tokens for g in greedy] == [b.tokens for b in beam]
    assert [g.log_prob for g in greedy] == pytest.approx([b.log_prob for b in beam], abs=1e-5)


@pytest.mark.parametrize("beam", [1, 3])
def test_exact_lengths_and_one_attention_row_per_output_step(model, beam):
    lengths = [5, 2, 7]
    results = decode(model, SOURCES, TOKENIZER, beam=beam, lengths=lengths)
    for result, length, source in zip(results, lengths, SOURCES, strict=True):
        assert len(result.tokens) == length
        assert TOKENIZER.eos_id not in result.tokens and TOKENIZER.pad_id not in result.tokens
        if model.config.attention == "none":
            assert result.attention is None
        else:
            assert result.attention.shape == (length + 1, len(source) + 1)  # EOS on both sides
            np.testing.assert_allclose(result.attention.sum(1), 1.0, atol=1e-5)


def test_max_length_caps_free_decoding(model):
    results = decode(model, SOURCES, TOKENIZER, max_length=4, beam=2)
    assert all(len(r.tokens) <= 4 for r in results)


def test_sampling_repeats_with_a_seed_and_varies_without(model):
    options = SamplingOptions(temperature=2.0, top_k=5, top_p=0.95, seed=7)
    first = decode(model, SOURCES, TOKENIZER, options=options, lengths=[12, 12, 12])
    again = decode(model, SOURCES, TOKENIZER, options=options, lengths=[12, 12, 12])
    assert [r.tokens for r in first] == [r.tokens for r in again]
    other = SamplingOptions(temperature=2.0, seed=8)
    assert [r.tokens for r in first] != [
        r.tokens for r in decode(model, SOURCES, TOKENIZER, options=other, lengths=[12] * 3)
    ]


def test_a_beam_as_wide_as_the_vocabulary_finds_the_best_two_token_target(model):
    """Two tokens and EOS: the beam keeps every first token, then the best pairs, so it is an
    exhaustive search and cannot score below greedy (which usually scores below it)."""
    lengths = [2, 2, 2]
    greedy = decode(model, SOURCES, TOKENIZER, lengths=lengths)
    beam = decode(model, SOURCES, TOKENIZER, lengths=lengths, beam=TOKENIZER.vocab_size)
    for g, b in zip(greedy, beam, strict=True):
        assert b.log_prob >= g.log_prob - 1e-5
