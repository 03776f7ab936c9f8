"""The registry of model families: every family complete, looked up by name, model or recipe."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch

from generator.checkpoint import load_checkpoint, save_checkpoint
from generator.config import SHIPPED_DIR, ModelConfig, PianoRollConfig, Seq2SeqConfig
from generator.families import families, family_of, get_family, get_recipe, recipes
from generator.models import RNNGenerator
from generator.models.pianoroll import PianoRollRNN
from generator.models.seq2seq import Seq2Seq
from generator.tokenizers import CharTokenizer, MidiEventTokenizer
from generator.tokenizers.piano_roll import PianoRollTokenizer
from generator.tokenizers.voice_grid import VoiceGridTokenizer

SHIPPED = SHIPPED_DIR
TINY = {
    "rnn": (RNNGenerator, ModelConfig(vocab_size=20, embedding_size=8, hidden_size=8)),
    "pianoroll": (PianoRollRNN, PianoRollConfig(num_keys=12, hidden_size=8)),
    "seq2seq": (Seq2Seq, Seq2SeqConfig(vocab_size=20, embedding_size=8, hidden_size=8)),
}
TOKENIZERS = {
    "rnn": CharTokenizer("abcdefghijklmnop"),  # 16 characters + 4 special ids = 20
    "pianoroll": PianoRollTokenizer(lowest_pitch=60, num_keys=12),
    "seq2seq": CharTokenizer("abcdefghijklmnop"),
}


def test_the_three_families_are_registered_with_their_recipes() -> None:
    assert {f.name for f in families()} == {"rnn", "pianoroll", "seq2seq"}
    assert {r.name for r in recipes()} == {"music", "text", "pianoroll", "seq2seq"}
    assert get_recipe("text").family is get_family("rnn")
    assert get_recipe("pianoroll").family.unit == "frame"
    with pytest.raises(KeyError, match="unknown model family 'transformer'"):
        get_family("transformer")
    with pytest.raises(ValueError, match="unknown recipe 'poetry'"):
        get_recipe("poetry")


@pytest.mark.parametrize("family", families(), ids=lambda f: f.name)
def test_a_family_is_complete_and_consistent(family) -> None:
    assert dataclasses.is_dataclass(family.config_class)
    assert family.unit in ("token", "frame")
    assert family.recipes and family.requests and family.tokenizers
    for recipe in family.recipes:
        assert recipe.task.units == family.unit, "the Task and the family disagree on the unit"
        assert recipe.task.family == family.name
        assert dataclasses.is_dataclass(recipe.options) and recipe.evaluate is not None
        names = {f.name for f in dataclasses.fields(family.config_class)}
        assert set(recipe.data_sets) <= names
        for tokenizer_class in recipe.tokenizers:
            assert family.recipe_for(tokenizer_class.kind) is recipe
    for tokenizer_class, tab in family.uses.items():
        assert tokenizer_class in family.tokenizers and tab in ("compose", "write", "harmonize")


def test_recipe_data_fields_are_the_fields_it_declares() -> None:
    tokenizers = {
        "music": MidiEventTokenizer(styles=["folk", "jazz"]),
        "text": CharTokenizer("abc"),
        "pianoroll": PianoRollTokenizer(),
        "seq2seq": VoiceGridTokenizer(2, ("Bass",), 4),
    }
    for recipe in recipes():
        fields = recipe.data_fields(tokenizers[recipe.name])
        assert set(fields) == set(recipe.data_sets)
    assert get_recipe("music").data_fields(tokenizers["music"])["num_styles"] == 2


@pytest.mark.parametrize("name", sorted(TINY))
def test_checkpoint_family_comes_from_the_model_class(tmp_path: Path, name: str) -> None:
    model_class, config = TINY[name]
    model = model_class(config)
    assert family_of(model) is get_family(name)
    path = save_checkpoint(tmp_path / "m.pt", model, TOKENIZERS[name])  # no family= given
    loaded = load_checkpoint(path)
    assert loaded.family == name and type(loaded.model) is model_class


def test_family_of_an_unknown_model_is_a_clear_error() -> None:
    with pytest.raises(KeyError, match="Linear belongs to no registered model family"):
        family_of(torch.nn.Linear(2, 2))


@pytest.mark.parametrize(
    "stem, family, tab",
    [
        ("music", "rnn", "compose"),
        ("text", "rnn", "write"),
        ("pianoroll", "pianoroll", "compose"),
        ("harmonizer", "seq2seq", "harmonize"),
    ],
)
def test_shipped_checkpoints_load_through_the_registry(stem: str, family: str, tab: str) -> None:
    loaded = load_checkpoint(SHIPPED / f"{stem}.pt")  # weights_only=True inside
    found = get_family(loaded.family)
    assert found.name == family and isinstance(loaded.model, found.model_class)
    assert found.use(loaded.tokenizer.kind) == tab
    assert found.recipe_for(loaded.tokenizer) in found.recipes
