"""Crash-safe training: `python -m generator train` killed with SIGKILL, mid-run and in the
middle of a checkpoint write, resumes with --resume and ends with the very weights of a run
that was never interrupted (bit-exact on CPU)."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from generator.checkpoint import ABANDONED_AFTER_SECONDS, load_checkpoint, read_checkpoint
from generator.cli import main

ROOT = Path(__file__).resolve().parents[2]
MAX_STEPS = 100
SAVE_EVERY = 10
# Tiny, but with what makes resuming hard: dropout (RNG state), a cosine schedule with warmup
# (step count), Adam (optimizer state) and state carried across windows (hidden state).
TRAIN_FLAGS = [
    "--cell", "lstm", "--hidden-size", "32", "--embedding-size", "16", "--num-layers", "2",
    "--dropout", "0.1", "--batch-size", "4", "--seq-len", "16", "--warmup-steps", "5",
    "--schedule", "cosine", "--max-steps", str(MAX_STEPS), "--save-every", str(SAVE_EVERY),
    "--eval-every", "50", "--log-every", "50", "--seed", "3", "--no-progress",
]  # fmt: skip

# Run inside the child: the third rename of NAME.last.pt kills the process with SIGKILL after
# the new state is fully written to its temporary file and before it replaces the old one.
DIE_WHILE_SAVING = """
import os, signal, sys
import generator.atomic as atomic
real_replace, renames = os.replace, []
def replace(source, target):
    if str(target).endswith(".last.pt"):
        renames.append(target)
        if len(renames) == 3:
            os.kill(os.getpid(), signal.SIGKILL)
    real_replace(source, target)
atomic.os.replace = replace  # the rename of every atomic write
from generator.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    words = "the quick brown fox jumps over a lazy dog while seven tunes play on".split()
    rng = random.Random(0)
    path = tmp_path_factory.mktemp("text") / "words.txt"
    path.write_text(" ".join(rng.choice(words) for _ in range(4000)), encoding="utf-8")
    return path


def train_command(corpus: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "generator", "train", "text", "--data", str(corpus)] + [
        "--out", str(out), *TRAIN_FLAGS, *extra
    ]  # fmt: skip


def start(command: list[str], log: Path) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT
    )


def finish(process: subprocess.Popen, log: Path, timeout: float = 240) -> None:
    assert process.wait(timeout) == 0, log.read_text()[-3000:]


def last_of(out: Path) -> Path:
    return out.with_name(out.stem + ".last.pt")


def assert_same_final_state(whole: Path, resumed: Path) -> None:
    a, b = read_checkpoint(last_of(whole)), read_checkpoint(last_of(resumed))
    assert a["train_state"]["step"] == b["train_state"]["step"] == MAX_STEPS
    assert a["model_state"].keys() == b["model_state"].keys()
    for name, tensor in a["model_state"].items():
        assert torch.equal(tensor, b["model_state"][name]), f"{name} differs"
    moments_a = a["train_state"]["optimizer"]["state"]
    moments_b = b["train_state"]["optimizer"]["state"]
    for key in moments_a:
        for name in ("exp_avg", "exp_avg_sq"):
            assert torch.equal(moments_a[key][name], moments_b[key][name])
    assert torch.equal(a["train_state"]["torch_rng"], b["train_state"]["torch_rng"])
    best_a, best_b = load_checkpoint(whole), load_checkpoint(resumed)
    best_b_state = best_b.model.state_dict()
    for name, tensor in best_a.model.state_dict().items():
        assert torch.equal(tensor, best_b_state[name]), f"best model: {name} differs"


@pytest.mark.slow
def test_kill_9_mid_run_and_mid_save_then_resume_gives_the_uninterrupted_weights(corpus, tmp_path):
    whole, killed, mid_save = tmp_path / "whole.pt", tmp_path / "killed.pt", tmp_path / "save.pt"
    logs = {name: tmp_path / f"{name}.log" for name in ("killed", "save")}
    runs = {
        "killed": start(train_command(corpus, killed), logs["killed"]),
        "save": start(
            [sys.executable, "-c", DIE_WHILE_SAVING, "train", "text", "--data", str(corpus)]
            + ["--out", str(mid_save), *TRAIN_FLAGS],
            logs["save"],
        ),
    }
    # kill -9 as soon as the run has written a resumable state (at step 10, of 300)
    deadline = time.monotonic() + 240
    while not last_of(killed).exists():
        assert runs["killed"].poll() is None, logs["killed"].read_text()[-3000:]
        assert time.monotonic() < deadline, "no resumable state in 240 s"
        time.sleep(0.01)  # polling another process's file; no test logic waits on this
    runs["killed"].send_signal(signal.SIGKILL)
    assert runs["killed"].wait(60) == -signal.SIGKILL
    assert runs["save"].wait(240) == -signal.SIGKILL, logs["save"].read_text()[-3000:]

    killed_at = read_checkpoint(last_of(killed))["train_state"]["step"]
    assert SAVE_EVERY <= killed_at < MAX_STEPS
    # died between writing the third state and renaming it: the second is still the latest,
    # whole and loadable, and the third lies in a temporary file that no one renamed
    assert load_checkpoint(last_of(mid_save)).train_state["step"] == 2 * SAVE_EVERY
    (abandoned,) = tmp_path.glob(".save.last.pt.*.tmp")
    assert read_checkpoint(abandoned)["train_state"]["step"] == 3 * SAVE_EVERY
    hour_ago = time.time() - ABANDONED_AFTER_SECONDS - 3600
    os.utime(abandoned, (hour_ago, hour_ago))

    resumed = {
        name: start(train_command(corpus, out, "--resume"), tmp_path / f"{name}-resume.log")
        for name, out in (("killed", killed), ("save", mid_save))
    }
    # the uninterrupted run, here (the same CLI, in this process: one Python start-up less)
    assert main(train_command(corpus, whole)[3:]) == 0
    for name, process in resumed.items():
        finish(process, tmp_path / f"{name}-resume.log")
        assert "resuming" in (tmp_path / f"{name}-resume.log").read_text()
    assert_same_final_state(whole, killed)
    assert_same_final_state(whole, mid_save)
    assert not abandoned.exists()  # the next save of that checkpoint cleared it
