"""The registry of model families: looked up by name, never compared by name.

A family is one module in this package that bundles what differs between families (the model
and config classes, the tokenizers it accepts, its recipes, generate, its unit and its
model-card lines) in one ``Family`` object named ``FAMILY``. A recipe is one way to train a
family: a data reader, the config fields the data sets, and the training Task.

    checkpoint ── family name ──► get_family(name) ──► Family(model, config, recipes, generate)
    CLI `train music` / app ───► get_recipe("music") ──► Recipe(read, task, evaluate, ...)

The family modules import the trainer, the sampler and the data readers, so they load on the
first lookup, not when this package is imported: the checkpoint reader can ask the registry
without importing the layers above it at import time. Adding a family = one module here that
defines ``FAMILY`` (found by its presence in this folder) and its tests.
"""

from __future__ import annotations

import importlib
import pkgutil
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import torch
from torch import nn

from generator.config import TrainConfig
from generator.models.rnn import State
from generator.tokenizers import Tokenizer

# -- what a family gives the trainer: its Task (the trainer, generator/training/, calls nothing
# else of a family) and the corpus it reads ---------------------------------------------------

Carry = State | None  # the recurrent state carried from one window to the next (None: fresh)


class Corpus(Protocol):
    """What the trainer reads from a corpus (TokenCorpus, FrameCorpus, PairCorpus)."""

    @property
    def tokenizer(self) -> Tokenizer: ...

    @property
    def train(self) -> Sequence[Any]:
        """The family's training pieces (token pieces, piano rolls, pairs)."""
        ...

    @property
    def valid(self) -> Sequence[Any]:
        """Held-out pieces of the same kind (may be empty)."""
        ...


class Plan(Protocol):
    """An epoch of batches, each with ``.to(device)``."""

    def __len__(self) -> int: ...

    def batch(self, index: int) -> Any: ...


@runtime_checkable
class Task(Protocol):
    """A model family's part of training; the trainer calls nothing else."""

    family: str  # the family name written into checkpoints
    units: str  # what one prediction is ("token", "frame", ...)

    def build_model(self, config: Any) -> nn.Module:
        """The family's model for its model config."""
        ...

    def train_plan(self, corpus: Corpus, config: TrainConfig, epoch: int) -> Plan:
        """The training batches of one epoch, the same from (config.seed, epoch) on resume."""
        ...

    def valid_plan(self, corpus: Corpus, config: TrainConfig) -> Plan:
        """The validation batches, in a fixed order."""
        ...

    def loss(self, model: nn.Module, batch: Any, state: Carry) -> tuple[torch.Tensor, Any, Carry]:
        """(summed NLL in nats, number of predictions, the state to carry to the next batch)."""
        ...

    def detach_state(self, state: Carry) -> Carry:
        """The carried state cut from the graph of the step that made it."""
        ...

    def baseline(self, corpus: Corpus) -> float | None:
        """A simple model's valid NLL in the same units, or None."""
        ...

    def describe(self, corpus: Corpus) -> str:
        """One line on the data, for the run's log."""
        ...


_REGISTRY: dict[str, Family] = {}
_LOCK = threading.Lock()
_LOADED = False


@dataclass(frozen=True)
class Recipe:
    """One way to train a family: what ``--data`` holds, how it is read, and the Task.

    ``read(data, options, tokenizer=None, seq_len=256, progress=False)`` returns a corpus with
    ``.tokenizer``, ``.train``, ``.valid`` and ``.report`` (``summary()``, ``to_dict()``);
    ``tokenizer`` given (resume, evaluation) means the data is read with it."""

    name: str  # what `python -m generator train NAME` and the app call it
    title: str  # for people, as in "a piano-roll model"
    data: str  # what the data holds, for messages: "MIDI files", "text files", ...
    reads: tuple[str, ...]  # file formats --data may hold: "midi", "text", "json", "tsv"
    tokenizers: tuple[type[Tokenizer], ...]  # tokenizer classes models of this recipe use
    options: type  # dataclass of the reader's options (fields = CLI flags)
    read: Callable[..., Any]
    data_sets: tuple[str, ...]  # the config fields the data sets (vocabulary, styles, keys)
    data_fields: Callable[[Any], dict[str, Any]]  # tokenizer → values of those fields
    task: Task  # the training Task (a Protocol, generator/training/tasks.py) the trainer calls
    describe_data: Callable[[Any], str] = lambda tokenizer: ""  # "from the data: ..." line
    fixed_training: dict[str, Any] = field(default_factory=dict)  # TrainConfig fields it pins
    resume_tokenizer: bool = False  # resume with the stored tokenizer instead of a new one
    holds_out_within_files: bool = False  # one file is enough: the end of each file is held out
    check: Callable[[Any, Any], None] = lambda config, corpus: None  # ValueError if unfit
    empty: Callable[[Any], bool] = lambda corpus: not corpus.train  # nothing to train on
    train_info: Callable[[Any, Any], dict[str, Any]] = lambda corpus, options: {}  # to store
    after: Callable[..., None] | None = None  # (result, corpus, log) once training ended
    warm_start: Callable[..., Any] | None = None  # (checkpoint, tokenizer) → (config, task)
    evaluate: Callable[..., Any] | None = None  # (loaded, corpus, batch_size=, seq_len=) → score

    @property
    def family(self) -> Family:
        """The family this recipe trains."""
        return next(f for f in families() if any(r is self for r in f.recipes))

    @property
    def tab(self) -> str:
        """The app's tab that uses the models this recipe makes ("" for none)."""
        return self.family.use(self.tokenizers[0].kind)


@dataclass(frozen=True)
class Family:
    """A model family: everything the trainer, the loader, the CLI and the app look up."""

    name: str  # stored in every checkpoint of the family
    title: str  # for people: "token RNN", "piano roll", "encoder-decoder"
    model_class: type[nn.Module]
    config_class: type  # dataclass with to_dict/from_dict
    unit: str  # what one prediction is: "token" or "frame"
    recipes: tuple[Recipe, ...]
    generate: Callable[[Any, Any], Any]  # (Loaded, request) → result; requests as below
    requests: tuple[type, ...]  # the request classes generate answers
    card_lines: Callable[[dict, dict, dict], list[str]]  # (model config, tokenizer, corpus)
    uses: dict[type[Tokenizer], str] = field(default_factory=dict)  # tokenizer → the app's tab
    settings: Callable[[Any, Any], list[str]] = lambda config, tokenizer: []  # for a picker
    from_preset: Callable[[dict], dict] = lambda fields: fields  # a size preset (cell,
    # embedding_size, hidden_size, num_layers, dropout) as this family's config fields

    @property
    def tokenizers(self) -> tuple[type[Tokenizer], ...]:
        """Every tokenizer class a model of this family may carry."""
        return tuple(dict.fromkeys(t for r in self.recipes for t in r.tokenizers))

    def recipe_for(self, tokenizer: Tokenizer | str) -> Recipe:
        """The recipe whose models carry ``tokenizer`` (an object or its stored kind)."""
        kind = tokenizer if isinstance(tokenizer, str) else tokenizer.kind
        for recipe in self.recipes:
            if any(t.kind == kind for t in recipe.tokenizers):
                return recipe
        raise ValueError(f"a {self.title} model does not take a {kind!r} tokenizer")

    def use(self, tokenizer_kind: str) -> str:
        """The app's tab that uses a model of this family and tokenizer: "compose", "write",
        "harmonize", or "" (none: the CLI only)."""
        return next((use for t, use in self.uses.items() if t.kind == tokenizer_kind), "")


def _load() -> None:
    """Import every family module of this package once (each defines ``FAMILY``)."""
    global _LOADED
    with _LOCK:
        if _LOADED:
            return
        for module in pkgutil.iter_modules(__path__):
            family = getattr(importlib.import_module(f"{__name__}.{module.name}"), "FAMILY", None)
            if isinstance(family, Family):
                _REGISTRY[family.name] = family
        _LOADED = True


def families() -> list[Family]:
    """Every registered family."""
    _load()
    return list(_REGISTRY.values())


def get_family(name: str) -> Family:
    """The family stored under ``name`` in checkpoints; KeyError naming the known ones."""
    _load()
    if name not in _REGISTRY:
        raise KeyError(f"unknown model family {name!r}; known: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name]


def family_of(model: nn.Module) -> Family:
    """The family of a model object (unwrapped from DistributedDataParallel)."""
    model = getattr(model, "module", model)
    for family in families():
        if isinstance(model, family.model_class):
            return family
    raise KeyError(f"{type(model).__name__} belongs to no registered model family")


def recipes() -> list[Recipe]:
    """Every recipe of every family, in registry order."""
    return [r for f in families() for r in f.recipes]


def get_recipe(name: str) -> Recipe:
    """The recipe called ``name`` ("music", "text", ...); ValueError naming the known ones."""
    for recipe in recipes():
        if recipe.name == name:
            return recipe
    known = ", ".join(r.name for r in recipes())
    raise ValueError(f"unknown recipe {name!r}; known: {known}")


__all__ = [
    "Family",
    "Recipe",
    "families",
    "family_of",
    "get_family",
    "get_recipe",
    "recipes",
]
