"""The one checkpoint format: equality, safe loading, strict keys, atomic writes."""

from __future__ import annotations

import io

import pytest
import torch

from generator.checkpoint import (
    FORMAT_VERSION,
    CheckpointError,
    load_checkpoint,
    read_checkpoint,
    save_checkpoint,
)
from generator.config import ModelConfig
from generator.models import RNNGenerator
from generator.tokenizers import MidiEventTokenizer


def make(seed: int = 0, cell: str = "lstm", tie: bool = False):
    tokenizer = MidiEventTokenizer(steps_per_beat=8, styles=["jig", "reel"])
    torch.manual_seed(seed)
    config = ModelConfig(
        vocab_size=tokenizer.vocab_size,
        cell=cell,
        embedding_size=8,
        hidden_size=8,
        num_layers=2,
        tie_weights=tie,
        num_styles=2,
        num_seed_tokens=128,
    )
    return RNNGenerator(config), tokenizer


def states_equal(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.mark.parametrize(("cell", "tie"), [("lstm", False), ("gru", True), ("rnn", False)])
def test_save_then_load_gives_the_same_model_and_tokenizer(tmp_path, cell, tie):
    model, tokenizer = make(cell=cell, tie=tie)
    train_state = {
        "step": 7,
        "history": [{"step": 1, "valid_nll": 2.5}],
        "rng": torch.get_rng_state(),
    }
    path = save_checkpoint(
        tmp_path / "sub" / "m.pt",
        model,
        tokenizer,
        train_state=train_state,
        info={"valid_nll": 1.25, "command": "python -m generator train"},
    )
    loaded = load_checkpoint(path)
    assert states_equal(loaded.model, model)
    assert loaded.model.config == model.config
    assert not loaded.model.training
    assert loaded.tokenizer.to_dict() == tokenizer.to_dict()
    assert loaded.family == "rnn" and loaded.path == path
    assert loaded.info == {"valid_nll": 1.25, "command": "python -m generator train"}
    assert loaded.train_state["step"] == 7
    assert torch.equal(loaded.train_state["rng"], train_state["rng"])
    tokens = torch.randint(3, tokenizer.vocab_size, (2, 5))
    model.eval()
    with torch.no_grad():
        assert torch.equal(loaded.model(tokens)[0], model(tokens)[0])


def test_payload_is_plain_types_and_tensors(tmp_path):
    model, tokenizer = make()
    path = save_checkpoint(tmp_path / "m.pt", model, tokenizer)
    payload = torch.load(path, weights_only=True)
    assert payload["format_version"] == FORMAT_VERSION
    assert set(payload) >= {"family", "model_config", "tokenizer", "model_state", "info"}
    assert payload["model_config"] == model.config.to_dict()


class _CreatesAFile:
    """Unpickling this runs ``open(target, "w")``: what a hostile checkpoint would do."""

    def __init__(self, target: str):
        self.target = target

    def __reduce__(self):
        return open, (self.target, "w")


def test_a_pickle_that_runs_code_is_refused_and_does_nothing(tmp_path):
    # sanity: loaded without weights_only, such a file really creates its target
    canary = tmp_path / "canary"
    torch.save(
        {"format_version": FORMAT_VERSION, "x": _CreatesAFile(str(canary))}, tmp_path / "canary.pt"
    )
    torch.load(tmp_path / "canary.pt", weights_only=False).pop("x").close()
    assert canary.exists()

    target = tmp_path / "pwned"
    evil = tmp_path / "evil.pt"
    model, tokenizer = make()
    torch.save(
        {
            "format_version": FORMAT_VERSION,
            "family": "rnn",
            "model_config": model.config.to_dict(),
            "tokenizer": tokenizer.to_dict(),
            "model_state": model.state_dict(),
            "info": _CreatesAFile(str(target)),
        },
        evil,
    )
    with pytest.raises(CheckpointError) as error:
        load_checkpoint(evil)
    assert str(evil) in str(error.value) and "refused" in str(error.value)
    assert not target.exists()


def test_wrong_format_version_is_a_clear_error(tmp_path):
    model, tokenizer = make()
    path = save_checkpoint(tmp_path / "m.pt", model, tokenizer)
    payload = torch.load(path, weights_only=True)
    payload["format_version"] = FORMAT_VERSION + 1
    torch.save(payload, path)
    with pytest.raises(CheckpointError) as error:
        load_checkpoint(path)
    message = str(error.value)
    assert f"version {FORMAT_VERSION + 1}" in message and f"version {FORMAT_VERSION}" in message


@pytest.mark.parametrize("change", ["missing", "unexpected", "shape"])
def test_mismatched_weights_are_an_error_not_silently_dropped(tmp_path, change):
    model, tokenizer = make()
    path = save_checkpoint(tmp_path / "m.pt", model, tokenizer)
    payload = torch.load(path, weights_only=True)
    state = payload["model_state"]
    if change == "missing":
        del state["head.bias"]
    elif change == "unexpected":
        state["extra.weight"] = torch.zeros(3)
    else:
        state["head.bias"] = torch.zeros(5)
    torch.save(payload, path)
    with pytest.raises(CheckpointError, match="weights do not match") as error:
        load_checkpoint(path)
    assert {"missing": "head.bias", "unexpected": "extra.weight", "shape": "head.bias"}[
        change
    ] in str(error.value)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "no such checkpoint"),
        (b"", "not a readable checkpoint"),
        (b"hello, not torch", "not a readable checkpoint"),
        ({"weights": 1}, "no format_version"),
        ({"format_version": FORMAT_VERSION, "family": "rnn"}, "checkpoint lacks"),
        (
            {
                "format_version": FORMAT_VERSION,
                "family": "tree",
                "model_config": {},
                "tokenizer": {},
                "model_state": {},
            },
            "unknown model family 'tree'",
        ),
    ],
)
def test_unreadable_files_give_a_checkpoint_error_naming_the_file(tmp_path, content, expected):
    path = tmp_path / "bad.pt"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        torch.save(content, path)
    with pytest.raises(CheckpointError, match=expected) as error:
        read_checkpoint(path)
    assert str(path) in str(error.value)


def test_bad_tokenizer_or_config_in_a_checkpoint_is_an_error(tmp_path):
    model, tokenizer = make()
    path = save_checkpoint(tmp_path / "m.pt", model, tokenizer)
    payload = torch.load(path, weights_only=True)
    payload["tokenizer"] = {"kind": "mystery"}
    torch.save(payload, path)
    with pytest.raises(CheckpointError, match="bad tokenizer"):
        load_checkpoint(path)
    payload["model_config"]["cell"] = "transformer"
    torch.save(payload, path)
    with pytest.raises(CheckpointError, match="cell must be one of"):
        load_checkpoint(path)


def test_a_crash_while_writing_leaves_the_previous_checkpoint_intact(tmp_path, monkeypatch):
    old_model, tokenizer = make(seed=1)
    path = save_checkpoint(tmp_path / "m.pt", old_model, tokenizer, info={"version": "old"})
    before = path.read_bytes()
    real_save = torch.save

    def crash_halfway(obj, handle, *args, **kwargs):
        buffer = io.BytesIO()
        real_save(obj, buffer, *args, **kwargs)
        handle.write(buffer.getvalue()[: len(buffer.getvalue()) // 2])
        handle.flush()
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(torch, "save", crash_halfway)
    new_model, _ = make(seed=2)
    with pytest.raises(OSError, match="simulated"):
        save_checkpoint(path, new_model, tokenizer, info={"version": "new"})
    monkeypatch.undo()

    assert path.read_bytes() == before
    loaded = load_checkpoint(path)
    assert loaded.info == {"version": "old"} and states_equal(loaded.model, old_model)
    assert [p.name for p in tmp_path.iterdir()] == ["m.pt"]  # no temporary file left


def test_an_interrupt_while_writing_also_cleans_up(tmp_path, monkeypatch):
    model, tokenizer = make()

    def interrupted(obj, handle, *args, **kwargs):
        handle.write(b"PK\x03\x04 partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", interrupted)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(tmp_path / "m.pt", model, tokenizer)
    assert list(tmp_path.iterdir()) == []
