"""The cached loader the app gets its models from: one load per version of a file."""

from __future__ import annotations

import os
import shutil

import pytest

from generator.checkpoint import CheckpointError
from generator.loader import CheckpointCache, find_checkpoints, summarize_checkpoint


def test_loaded_once_per_file_version(music_checkpoint, tmp_path):
    path = tmp_path / "model.pt"
    shutil.copyfile(music_checkpoint, path)
    cache = CheckpointCache(max_models=2)

    first = cache.get(path)
    assert cache.get(tmp_path / "." / "model.pt") is first  # same file, same object

    shutil.copyfile(music_checkpoint, path)  # rewritten in place, as a training run does
    os.utime(path, ns=(1, 1))
    assert cache.get(path) is not first


def test_least_recently_used_model_is_dropped(music_checkpoint, tmp_path):
    paths = [tmp_path / f"m{i}.pt" for i in range(3)]
    for path in paths:
        shutil.copyfile(music_checkpoint, path)
    cache = CheckpointCache(max_models=2)
    first = cache.get(paths[0])
    cache.get(paths[1])
    cache.get(paths[2])
    assert cache.get(paths[0]) is not first


def test_listing_and_summaries(music_checkpoint, tmp_path):
    shutil.copyfile(music_checkpoint, tmp_path / "b.pt")
    shutil.copyfile(music_checkpoint, tmp_path / "b.last.pt")
    (tmp_path / ".a.pt.tmp").write_bytes(b"")
    (tmp_path / "a.pt").write_bytes(b"broken")
    assert [p.name for p in find_checkpoints([tmp_path, tmp_path / "missing"])] == ["a.pt", "b.pt"]
    assert summarize_checkpoint(tmp_path / "a.pt") is None
    assert summarize_checkpoint(tmp_path / "b.pt").tokenizer_kind == "midi_events"
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        CheckpointCache().get(tmp_path / "missing.pt")
