"""Files that would run code when unpickled are refused by every reader that takes a file from
outside: checkpoints (CLI, describe, resume, the app's pickers and loader) and the MIDI token
cache. Each is handed a real hostile pickle, and the file it would create must not appear."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import torch

from generator.checkpoint import FORMAT_VERSION, CheckpointError
from generator.config import ModelConfig
from generator.models import RNNGenerator
from generator.tokenizers import MidiEventTokenizer

ROOT = Path(__file__).resolve().parents[2]


class CreatesAFile:
    """Unpickling this runs ``open(target, "w")``: what a hostile file would do."""

    def __init__(self, target: str):
        self.target = target

    def __reduce__(self):
        return open, (self.target, "w")


def hostile_checkpoint(path: Path, target: Path) -> Path:
    """A checkpoint of a real tiny model whose info, once unpickled, creates ``target``."""
    tokenizer = MidiEventTokenizer(steps_per_beat=4)
    model = RNNGenerator(ModelConfig(vocab_size=tokenizer.vocab_size, hidden_size=8,
                                     embedding_size=8, num_layers=1))  # fmt: skip
    payload = {
        "format_version": FORMAT_VERSION,
        "family": "rnn",
        "model_config": model.config.to_dict(),
        "tokenizer": tokenizer.to_dict(),
        "model_state": model.state_dict(),
        "train_state": None,
        "info": CreatesAFile(str(target)),
    }
    torch.save(payload, path)
    return path


def test_the_hostile_pickle_really_runs_code_when_loaded_unsafely(tmp_path):
    target = tmp_path / "created"
    torch.load(hostile_checkpoint(tmp_path / "x.pt", target), weights_only=False)
    assert target.exists()  # so the refusals below are refusals of something real


def _readers(tmp_path):
    from generator.checkpoint import check_resumable, load_checkpoint, read_checkpoint
    from generator.cli import main
    from generator.loader import CheckpointCache, summarize_checkpoint
    from generator.model_card import model_card

    return {
        "load_checkpoint": load_checkpoint,
        "read_checkpoint": read_checkpoint,
        "describe": model_card,
        "resume": check_resumable,
        "app loader": lambda p: CheckpointCache().get(p),
        "app picker": lambda p: pytest.fail("listed") if summarize_checkpoint(p) else None,
        "CLI sample": lambda p: main(
            [
                "sample",
                "music",
                "--checkpoint",
                str(p),
                "--out",
                str(tmp_path / "out"),
                "--bars",
                "1",
            ]
        ),  # fmt: skip
    }


@pytest.mark.parametrize(
    "reader",
    ["load_checkpoint", "read_checkpoint", "describe", "resume", "app loader", "app picker",
     "CLI sample"],
)  # fmt: skip
def test_every_checkpoint_reader_refuses_a_pickle_that_runs_code(tmp_path, reader, capsys):
    target = tmp_path / "pwned"
    path = hostile_checkpoint(tmp_path / "evil.pt", target)
    read = _readers(tmp_path)[reader]
    try:
        outcome = read(path)
    except CheckpointError as error:
        assert "refused" in str(error) and str(path) in str(error)
    else:
        assert outcome in (2, None)  # the CLI's exit status / the picker leaves it out
        if outcome == 2:
            assert "refused to load" in capsys.readouterr().err
    assert not target.exists()


def test_the_midi_token_cache_refuses_a_pickle_and_rebuilds(tmp_path):
    import numpy as np

    from generator.data.midi_corpus import ReadLimits, _CorpusCache, load_midi_corpus
    from tests.conftest import write_midi_folder

    folder = write_midi_folder(tmp_path / "midi")
    cache_dir = tmp_path / "cache"
    settings = MidiEventTokenizer().settings_key() + repr(sorted(vars(ReadLimits()).items()))
    cache_file = _CorpusCache(cache_dir, settings, folder.path).path  # where the reader looks
    cache_dir.mkdir()
    target = tmp_path / "pwned"
    # an .npz whose array holds a pickled object that creates a file when unpickled
    np.savez(cache_file, digests=np.array([CreatesAFile(str(target))], dtype=object))

    corpus = load_midi_corpus(folder.path, cache_dir=cache_dir, progress=False)
    assert not target.exists()
    assert corpus.report.files_read == folder.good_files  # read again, not from the cache
    assert corpus.report.cached_files == 0
    with np.load(cache_file, allow_pickle=False) as rebuilt:  # rebuilt clean, no pickles
        assert len(rebuilt["digests"]) >= folder.good_files


def test_every_torch_load_in_the_sources_passes_weights_only_true():
    """A guard for readers added later: each torch.load call says weights_only=True, and each
    numpy load (the MIDI token cache) says allow_pickle=False."""
    sources = [*sorted((ROOT / "generator").rglob("*.py")), ROOT / "app.py"]
    calls = {"torch": [], "np": []}
    for path in sources:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            function = getattr(node, "func", None)
            if isinstance(function, ast.Attribute) and function.attr == "load":
                owner = function.value
                if isinstance(owner, ast.Name) and owner.id in calls:
                    calls[owner.id].append((f"{path.relative_to(ROOT)}:{node.lineno}", node))
    assert calls["torch"] and calls["np"]  # the checkpoint reader; the MIDI token cache
    for library, flag, safe in (("torch", "weights_only", True), ("np", "allow_pickle", False)):
        for where, call in calls[library]:
            value = {k.arg: k.value for k in call.keywords}.get(flag)
            assert isinstance(value, ast.Constant) and value.value is safe, where
