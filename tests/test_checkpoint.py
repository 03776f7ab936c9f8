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


# -- crafted checkpoints: refused before anything they describe is allocated -------------------
def _payload(tmp_path) -> dict:
    model, tokenizer = make()
    save_checkpoint(tmp_path / "good.pt", model, tokenizer, info={"steps": 3})
    return torch.load(tmp_path / "good.pt", weights_only=True)


def _sentencepiece_payload(tmp_path) -> dict:
    payload = _payload(tmp_path)
    payload["tokenizer"] = {"kind": "sentencepiece", "model": b"\x00garbage" * 50}
    return payload


CRAFTED = {  # name → (change to a good payload, words the error must hold)
    "family as a list": (lambda p: p.update(family=["rnn"]), "family must be str"),
    "model_state a list": (lambda p: p.update(model_state=[1]), "model_state must be dict"),
    "model_config a string": (lambda p: p.update(model_config="x"), "model_config must be dict"),
    "info a list": (lambda p: p.update(info=[1, 2]), "info must be dict or None"),
    "a state entry not a tensor": (
        lambda p: p["model_state"].update({"embed.weight": [0.0]}),
        "not a named tensor",
    ),
    "hidden_size 8192": (
        lambda p: p["model_config"].update(hidden_size=8192),
        "parameters, over the cap",
    ),
    "hidden_size 64 (shapes)": (
        lambda p: p["model_config"].update(hidden_size=64),
        "weights do not match the model config",
    ),
    "hidden_size -1": (lambda p: p["model_config"].update(hidden_size=-1), "bad model config"),
    "steps_per_beat 1e6": (
        lambda p: p["tokenizer"].update(steps_per_beat=1_000_000),
        r"steps_per_beat must be a whole number in \[1, 96\]",
    ),
    "steps_per_beat 0": (lambda p: p["tokenizer"].update(steps_per_beat=0), "steps_per_beat"),
    "velocity_bins 0": (lambda p: p["tokenizer"].update(velocity_bins=0), "velocity_bins"),
    "styles not matching": (
        lambda p: p["tokenizer"].update(styles=["a", "b", "c", "d"]),
        "names 4 styles but the model knows 2",
    ),
    "vocabulary not matching": (
        lambda p: p["tokenizer"].update(max_shift=p["tokenizer"]["max_shift"] - 4),
        "vocabulary ids but the model",
    ),
    "characters without alphabet": (
        lambda p: p.update(tokenizer={"kind": "characters"}),
        "bad tokenizer description",
    ),
    "sentencepiece without model": (
        lambda p: p.update(tokenizer={"kind": "sentencepiece"}),
        "bad tokenizer description",
    ),
    "unknown tokenizer kind": (
        lambda p: p.update(tokenizer={"kind": 5}),
        "bad tokenizer description",
    ),
}


@pytest.mark.parametrize("case", sorted(CRAFTED))
def test_crafted_checkpoints_are_refused_with_a_one_line_error(tmp_path, case):
    payload = _payload(tmp_path)
    change, words = CRAFTED[case]
    change(payload)
    path = tmp_path / "crafted.pt"
    torch.save(payload, path)
    with pytest.raises(CheckpointError, match=words) as error:
        load_checkpoint(path)
    assert str(path) in str(error.value) and "\n" not in str(error.value)


def test_garbage_sentencepiece_bytes_are_a_checkpoint_error(tmp_path):
    path = tmp_path / "sp.pt"
    torch.save(_sentencepiece_payload(tmp_path), path)
    with pytest.raises(CheckpointError, match="bad tokenizer description"):
        load_checkpoint(path)


def test_a_deflated_huge_tensor_is_refused_unread(tmp_path):
    """A 1 GiB zero tensor deflates to about 1 MB; torch never compresses, so compressed
    entries are refused before torch.load would allocate the tensor."""
    import zipfile

    small = tmp_path / "small.pt"
    torch.save({"format_version": FORMAT_VERSION, "t": torch.zeros(4)}, small)
    crafted = tmp_path / "deflated.pt"
    with zipfile.ZipFile(small) as source, zipfile.ZipFile(crafted, "w") as target:
        for member in source.infolist():
            data = source.read(member)
            if member.filename.endswith("/data/0"):
                target.writestr(member.filename, data, compress_type=zipfile.ZIP_DEFLATED)
            else:
                target.writestr(member, data)
    with pytest.raises(CheckpointError, match="compressed entries"):
        read_checkpoint(crafted)


def test_describe_survives_wrong_types_inside_info(tmp_path):
    from generator.model_card import model_card

    payload = _payload(tmp_path)
    payload["info"] = {"corpus": ["not", "a", "dict"], "valid_scores": {"accuracy": "x"}}
    path = tmp_path / "odd.pt"
    torch.save(payload, path)
    with pytest.raises(CheckpointError, match="cannot describe it"):
        model_card(str(path))
