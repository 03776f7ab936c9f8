"""The one road: load, train, generate and evaluate, for the CLI, the app and the tests.

Every model family goes through the same four calls; what differs between families comes
from the registry (generator/families/), looked up by the checkpoint's family name or by the
recipe's name:

    loaded = load("generator/checkpoints/music.pt")
    result = generate(loaded, MusicRequest(num=2, bars=8))
    score = evaluate(loaded, "datasets/music/folk")
    train("music", "datasets/music", "runs/music.pt", model={"hidden_size": 256})

Request types: MusicRequest (token RNN, MIDI), TextRequest (token RNN, text),
PianoRollRequest (piano roll), TranslateRequest and HarmonizeRequest (encoder-decoder).
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from generator.checkpoint import CheckpointError, Loaded, load_checkpoint, read_checkpoint
from generator.config import TrainConfig
from generator.device import resolve_device
from generator.families import Recipe, get_family, get_recipe
from generator.families.encoder_decoder import HarmonizeRequest, TranslateRequest
from generator.families.token_rnn import TextRequest
from generator.sampling.music import MusicRequest
from generator.sampling.pianoroll import PianoRollRequest
from generator.tokenizers import tokenizer_from_dict
from generator.training.distributed import is_main_process
from generator.training.trainer import TrainResult, last_path_for
from generator.training.trainer import train as run_trainer
from generator.validation import check_device, check_path, check_type

Log = Callable[[str], None]


class NothingToTrain(ValueError):
    """The data holds nothing the recipe can train on; ``what`` names what was missing."""

    def __init__(self, what: str, data: str | Path):
        super().__init__(f"no usable {what} in {data}: nothing to train on")
        self.what = what


def load(path: str | Path, device: str | torch.device = "cpu") -> Loaded:
    """A checkpoint's model (eval mode, on ``device``; "auto" picks one) and tokenizer.
    WrongType (a TypeError) for a path or device of the wrong type, ValueError for a device
    this machine lacks, CheckpointError for a file that is missing or cannot be read."""
    path = check_path("path", path)
    check_type("device", device, (str, torch.device), "a device name (cpu, cuda, mps, auto)")
    return load_checkpoint(path, device=resolve_device(check_device(str(device))))


def note(text: str) -> None:
    """A report line on stderr, printed once: under torchrun, by rank 0."""
    if is_main_process():
        print(text, file=sys.stderr)


def data_options(recipe: Recipe, values: dict[str, Any] | Any = None) -> Any:
    """The recipe's options dataclass from a dict of its fields (unknown names: ValueError),
    from an options object as it is, or its defaults (None)."""
    if values is None:
        return recipe.options()
    if not isinstance(values, dict):
        return values
    known = {f.name for f in dataclasses.fields(recipe.options)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"{recipe.name} data has no option {', '.join(unknown)}")
    return recipe.options(**values)


def read_data(
    recipe: str | Recipe,
    data: str | Path,
    options: dict[str, Any] | Any = None,
    *,
    tokenizer=None,
    seq_len: int = TrainConfig.seq_len,
    progress: bool = False,
):
    """The corpus of ``data`` read the recipe's way (with ``tokenizer`` when given)."""
    recipe = get_recipe(recipe) if isinstance(recipe, str) else recipe
    if tokenizer is not None and not isinstance(tokenizer, recipe.tokenizers):
        raise ValueError(
            f"this checkpoint is not a {recipe.name} model (its tokenizer is "
            f"{getattr(tokenizer, 'kind', type(tokenizer).__name__)}): scoring it on "
            f"{recipe.data} needs a model made by `train {recipe.name}`"
        )
    options = data_options(recipe, options)
    return recipe.read(Path(data), options, tokenizer=tokenizer, seq_len=seq_len, progress=progress)


def train(
    recipe: str | Recipe,
    data: str | Path,
    out: str | Path,
    *,
    model: dict[str, Any] | None = None,
    training: TrainConfig | None = None,
    options: dict[str, Any] | Any = None,
    resume: bool = False,
    init_from: str | Path | None = None,
    progress: bool = False,
    log: Log = note,
    on_step: Callable[[dict[str, float]], bool | None] | None = None,
    info: dict[str, Any] | None = None,
    on_corpus: Callable[[Any], None] | None = None,
) -> TrainResult:
    """Read ``data`` the recipe's way, build the family's config (``model``: its fields other
    than those the data sets), train, and write the best model to ``out`` (and the resumable
    state next to it). ``init_from``: a checkpoint whose weights the model starts from (music).
    ``on_corpus(corpus)`` sees the corpus once read, before training. ValueError when the
    data holds nothing to train on or does not fit the model."""
    recipe = get_recipe(recipe) if isinstance(recipe, str) else recipe
    family = recipe.family
    options = data_options(recipe, options)
    training = dataclasses.replace(training or TrainConfig(), **recipe.fixed_training)
    out = Path(out)
    tokenizer = None
    if resume and recipe.resume_tokenizer and last_path_for(out).exists():
        tokenizer = tokenizer_from_dict(read_checkpoint(last_path_for(out))["tokenizer"])
    corpus = recipe.read(
        Path(data), options, tokenizer=tokenizer, seq_len=training.seq_len, progress=progress
    )
    log(corpus.report.summary())
    if on_corpus is not None:
        on_corpus(corpus)
    if recipe.empty(corpus):
        raise NothingToTrain(recipe.data, data)
    tokenizer = corpus.tokenizer
    determined = recipe.describe_data(tokenizer)  # "from the data: vocabulary ..."
    if determined:
        log(determined)
    model_config = family.config_class(**(model or {}), **recipe.data_fields(tokenizer))
    task = recipe.task
    if init_from is not None and not resume:
        if recipe.warm_start is None:
            raise ValueError(f"--init-from: a {recipe.name} model cannot start from another")
        try:
            model_config, task = recipe.warm_start(Path(init_from), tokenizer)
        except (ValueError, CheckpointError) as error:
            raise ValueError(f"--init-from {error}") from None
        log(f"starting from the weights of {init_from}")
    recipe.check(model_config, corpus)
    result = run_trainer(
        model_config,
        training,
        corpus,
        out,
        resume=resume,
        progress=progress,
        log=log,
        info={
            **(info or {}),
            "corpus": corpus.report.to_dict(),
            **recipe.train_info(corpus, options),
        },
        task=task,
        on_step=on_step,
    )
    if recipe.after is not None:
        recipe.after(result, corpus, log)
    return result


def generate(loaded: Loaded, request: Any):
    """What ``request`` asks of the loaded model; its type says what (see the module's
    docstring). ValueError when the model's family does not answer such a request."""
    family = get_family(loaded.family)
    if not isinstance(request, family.requests):
        raise ValueError(
            f"{loaded.path}: a {family.title} model does not answer a {type(request).__name__}"
        )
    return family.generate(loaded, request)


def evaluate(
    loaded: Loaded,
    data: str | Path | Any,
    options: dict[str, Any] | Any = None,
    **settings: Any,
):
    """The loss of the loaded model on ``data`` (a path, read with the model's tokenizer and
    the recipe's options; or a corpus already read): the recipe's score object."""
    recipe = get_family(loaded.family).recipe_for(loaded.tokenizer)
    corpus = data
    if isinstance(data, (str, Path)):
        corpus = read_data(recipe, data, options, tokenizer=loaded.tokenizer)
    return recipe.evaluate(loaded, corpus, **settings)


__all__ = [
    "HarmonizeRequest",
    "NothingToTrain",
    "MusicRequest",
    "PianoRollRequest",
    "TextRequest",
    "TranslateRequest",
    "evaluate",
    "generate",
    "load",
    "read_data",
    "resolve_device",
    "train",
]
