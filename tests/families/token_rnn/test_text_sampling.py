"""Text sampling and scoring on a tiny model trained on a repeated phrase."""

from __future__ import annotations

import math

import pytest
import torch

from generator.checkpoint import Loaded
from generator.config import ModelConfig
from generator.data.text_corpus import load_text_corpus
from generator.data.windows import EpochPlan
from generator.evaluation.text import evaluate_text
from generator.models import RNNGenerator
from generator.sampling import SamplingOptions
from generator.sampling.text import SequentialPrinter, generate_text
from generator.tokenizers import MidiEventTokenizer
from generator.training import evaluate


def test_loss_falls_well_below_the_unigram_baseline(phrase_run) -> None:
    result, loaded = phrase_run
    train_nll = [h["train_nll"] for h in result.history if "train_nll" in h]
    assert train_nll[-1] < train_nll[0] / 10
    assert result.best_valid_nll < loaded.info["unigram_valid_nll"] / 5


def test_greedy_sample_reproduces_the_phrase(phrase_run, phrase: str) -> None:
    _, loaded = phrase_run
    result = generate_text(loaded, "the cat ", 48, options=SamplingOptions(greedy=True))
    cycle = phrase * 4
    assert result.texts == [cycle[8 : 8 + 48]]
    assert result.prime == "the cat "


def test_length_in_characters_and_in_tokens_is_exact(phrase_run) -> None:
    _, loaded = phrase_run
    options = SamplingOptions(temperature=2.0, seed=3)
    by_chars = generate_text(loaded, "", 37, "characters", options, num=3)
    assert [len(t) for t in by_chars.texts] == [37, 37, 37]
    by_tokens = generate_text(loaded, "", 20, "tokens", options, num=2)
    assert by_tokens.tokens == [20, 20]


def test_streamed_text_is_the_returned_text_row_by_row(phrase_run) -> None:
    _, loaded = phrase_run
    streamed: dict[int, list[str]] = {0: [], 1: [], 2: []}
    ended: list[int] = []
    result = generate_text(
        loaded,
        "the ",
        30,
        options=SamplingOptions(temperature=1.5, seed=1),
        num=3,
        on_text=lambda row, text: streamed[row].append(text),
        on_end=ended.append,
    )
    assert ["".join(streamed[row]) for row in range(3)] == result.texts
    assert all(len(parts) == 30 for parts in streamed.values())  # one piece per character
    assert sorted(ended) == [0, 1, 2]


def test_seed_makes_sampling_repeatable(phrase_run) -> None:
    _, loaded = phrase_run
    hot = SamplingOptions(temperature=5.0, seed=7)
    first = generate_text(loaded, "the", 40, options=hot, num=2).texts
    assert generate_text(loaded, "the", 40, options=hot, num=2).texts == first
    assert first[0] != first[1]  # rows of one batch are different samples
    other = SamplingOptions(temperature=5.0, seed=8)
    assert generate_text(loaded, "the", 40, options=other, num=2).texts != first


def test_prime_characters_outside_the_vocabulary_are_dropped_not_fatal(phrase_run) -> None:
    _, loaded = phrase_run
    greedy = SamplingOptions(greedy=True)
    result = generate_text(loaded, "the cat€ ✓", 16, options=greedy)
    assert result.dropped == "€✓"
    assert result.texts == generate_text(loaded, "the cat ", 16, options=greedy).texts


def test_without_a_length_it_stops_at_eos_or_the_token_cap(phrase_run) -> None:
    _, loaded = phrase_run
    result = generate_text(loaded, "", None, options=SamplingOptions(seed=0), max_tokens=25)
    assert result.tokens[0] <= 25
    assert len(result.texts[0]) == result.tokens[0]


def test_bad_requests_are_value_errors(phrase_run) -> None:
    _, loaded = phrase_run
    with pytest.raises(ValueError, match="unit"):
        generate_text(loaded, "", 10, "words")
    with pytest.raises(ValueError, match="length"):
        generate_text(loaded, "", -5)
    with pytest.raises(ValueError, match="variations"):
        generate_text(loaded, "", 10, num=0)
    tokenizer = MidiEventTokenizer()
    music = Loaded(RNNGenerator(_config(tokenizer.vocab_size)), tokenizer, "rnn")
    with pytest.raises(ValueError, match="not a text model"):
        generate_text(music, "", 10)


def test_sequential_printer_shows_rows_one_after_another() -> None:
    out: list[str] = []
    printer = SequentialPrinter(3, out.append, head="> ", separator="|")
    printer.text(1, "b1")
    printer.text(0, "a1")
    printer.text(2, "c1")
    printer.end(1)
    printer.text(0, "a2")
    printer.end(0)  # row 1 already ended: shown whole, then row 2 catches up
    printer.text(2, "c2")
    printer.end(2)
    assert "".join(out) == "> a1a2|> b1|> c1c2"


def test_evaluate_reports_bits_per_character(phrase_run, phrase: str, tmp_path) -> None:
    _, loaded = phrase_run
    held_out = tmp_path / "held_out.txt"
    held_out.write_text(phrase * 5, encoding="utf-8")
    corpus = load_text_corpus(held_out, tokenizer=loaded.tokenizer, valid_fraction=0)
    score = evaluate_text(loaded, corpus, batch_size=4, seq_len=32)
    assert score.characters == len(phrase) * 5
    assert score.tokens == score.characters + 1  # every character, then EOS
    plan = EpochPlan(corpus.train, loaded.tokenizer, 1, 32, shuffle=False)
    nll = evaluate(loaded.model, plan, torch.device("cpu"))
    assert score.nats_per_token == pytest.approx(nll, rel=1e-5)
    expected = nll * score.tokens / math.log(2) / score.characters
    assert score.bits_per_character == pytest.approx(expected, rel=1e-5)
    assert score.bits_per_character < 0.5  # it knows this phrase


def _config(vocab_size: int) -> ModelConfig:
    return ModelConfig(vocab_size=vocab_size, hidden_size=8, embedding_size=4, num_layers=1)
