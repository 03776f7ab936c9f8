"""Atomic writes: the old file or the new one, never half of one, and no temporary left over."""

from __future__ import annotations

import os
import stat
import time

import pytest

from generator.atomic import (
    ABANDONED_AFTER_SECONDS,
    atomic_write,
    remove_abandoned_temporaries,
    temporaries,
    write_bytes_atomic,
    write_text_atomic,
)


def test_a_write_replaces_the_file_whole_with_the_usual_permissions(tmp_path):
    path = tmp_path / "deep" / "folder" / "data.bin"  # folders are made
    write_bytes_atomic(path, b"old")
    write_bytes_atomic(path, b"new contents")
    assert path.read_bytes() == b"new contents"
    assert temporaries(path) == [] and sorted(p.name for p in path.parent.iterdir()) == ["data.bin"]
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~mask  # not mkstemp's 0600


def test_a_secret_keeps_the_permissions_asked_for(tmp_path):
    with atomic_write(tmp_path / "secret", "w", permissions=0o600) as handle:
        handle.write("0123")
    assert stat.S_IMODE((tmp_path / "secret").stat().st_mode) == 0o600


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    path = write_text_atomic(tmp_path / "notes.txt", "kept ü\n")
    with pytest.raises(RuntimeError, match="disk full"):
        with atomic_write(path, "w", encoding="utf-8") as handle:
            handle.write("half of the new")
            assert len(temporaries(path)) == 1  # being written beside the target
            raise RuntimeError("disk full")
    assert path.read_text(encoding="utf-8") == "kept ü\n"
    assert temporaries(path) == []


def test_only_whole_file_modes_are_accepted(tmp_path):
    with pytest.raises(ValueError, match="mode 'w' or 'wb'"):
        with atomic_write(tmp_path / "x", "a"):
            pass


def test_abandoned_temporaries_are_removed_and_fresh_ones_kept(tmp_path):
    path = write_bytes_atomic(tmp_path / "model.pt", b"x")
    old, fresh = tmp_path / ".model.pt.abc123.tmp", tmp_path / ".model.pt.def456.tmp"
    other = tmp_path / ".other.pt.abc123.tmp"
    for temporary in (old, fresh, other):
        temporary.write_bytes(b"partial")
    hour_ago = time.time() - ABANDONED_AFTER_SECONDS - 3600
    for temporary in (old, other):
        os.utime(temporary, (hour_ago, hour_ago))
    assert temporaries(path) == [old, fresh]
    remove_abandoned_temporaries(path)
    assert not old.exists() and fresh.exists() and other.exists()
