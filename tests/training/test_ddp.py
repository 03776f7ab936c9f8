"""Training under torchrun: two gloo processes on the CPU train like one process.

The launch is real: ``python -m torch.distributed.run --nproc_per_node=2 ddp_two_runs.py``,
which runs the command line's ``train text`` twice in each rank (the second a --resume); the
reference runs the same commands in this process. The global batch (--batch-size 4) is the
same, so each rank trains 2 of the 4 lanes and DDP's average of the ranks' gradients must equal
the one-process gradient.

Tolerance: allclose(rtol=1e-5, atol=1e-6). The same sums in float32 taken in another order
differ by ~1e-7 after 10 steps here; a plain mean loss per rank instead of the token-weighted
one (distributed.py) is off by ~1e-3 after 5 steps, and a wrong share of the lanes by more.
"""

from __future__ import annotations

import os
import random
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from generator.checkpoint import read_checkpoint
from generator.cli import main
from generator.data.text_corpus import load_text_corpus
from generator.data.windows import EpochPlan
from generator.training import distributed

REPO = Path(__file__).resolve().parents[2]
ATOL, RTOL = 1e-6, 1e-5  # torch.allclose(ddp, single, rtol=RTOL, atol=ATOL)
BATCH, SEQ_LEN = 4, 16

pytestmark = pytest.mark.skipif(
    not torch.distributed.is_available(), reason="torch built without torch.distributed"
)


def write_corpus(root: Path) -> Path:
    """12 one-line files of 1 to 12 words: pieces end at different times in different lanes,
    so the two ranks' halves of a batch hold unequal numbers of real tokens (some none)."""
    root.mkdir(parents=True, exist_ok=True)
    rng = random.Random(0)
    words = "the quick brown fox jumps over a lazy dog while seven wizards hex bold jackals"
    for i in range(12):
        line = " ".join(rng.choices(words.split(), k=1 + (5 * i) % 12))
        (root / f"part{i:02}.txt").write_text(line + "\n", encoding="utf-8")
    return root


def train_flags(data: Path, out: Path, steps: int) -> list[str]:
    return [
        "train", "text", "--data", str(data), "--out", str(out), "--tokenizer", "char",
        "--cell", "lstm", "--layers", "1", "--hidden-size", "32", "--embed", "16",
        "--dropout", "0", "--batch-size", str(BATCH), "--seq-len", str(SEQ_LEN),
        "--optimizer", "sgd", "--lr", "0.5", "--momentum", "0.9", "--schedule", "constant",
        "--warmup-steps", "0", "--max-steps", str(steps), "--eval-every", "5",
        "--device", "cpu", "--no-progress",
    ]  # fmt: skip


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def torchrun(*arguments: str) -> str:
    """Run tests/training/ddp_two_runs.py on 2 gloo CPU processes; return their log."""
    command = [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2",
        "--master-addr=127.0.0.1", f"--master-port={free_port()}", "--monitor-interval=0.1",
        str(Path(__file__).with_name("ddp_two_runs.py")), *arguments,
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    if sys.platform.startswith("linux"):  # gloo on loopback, even where the host name is unknown
        env.setdefault("GLOO_SOCKET_IFNAME", "lo")
    try:
        done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, timeout=90)
    except subprocess.TimeoutExpired as error:
        pytest.fail(f"torchrun did not finish in 90 s:\n{(error.stderr or b'').decode()}")
    assert done.returncode == 0, (done.stdout + done.stderr).decode()
    return done.stderr.decode()


def assert_same_training(ddp_path: Path, single_path: Path) -> float:
    """Same step, data position and tokens; weights, momentum and carried state allclose."""
    ddp, single = read_checkpoint(ddp_path), read_checkpoint(single_path)
    a, b = ddp["train_state"], single["train_state"]
    for key in ("step", "epoch", "batch_index", "tokens_seen"):
        assert a[key] == b[key], key
    worst = 0.0
    pairs = [(ddp["model_state"][k], single["model_state"][k]) for k in single["model_state"]]
    pairs += list(zip(a["carry"], b["carry"], strict=True))
    pairs += [
        (a["optimizer"]["state"][k]["momentum_buffer"], b["optimizer"]["state"][k][name])
        for k in b["optimizer"]["state"]
        for name in ("momentum_buffer",)
    ]
    for x, y in pairs:
        assert x.shape == y.shape
        assert torch.allclose(x, y, rtol=RTOL, atol=ATOL), (x - y).abs().max()
        worst = max(worst, float((x - y).abs().max()))
    return worst


def test_two_gloo_processes_train_like_one_and_resume(tmp_path):
    data = write_corpus(tmp_path / "corpus")
    ddp, single = tmp_path / "ddp.pt", tmp_path / "single.pt"
    step5 = tmp_path / "ddp-step5.last.pt"

    # on 2 processes: 5 steps from scratch, then every rank resumes ddp.last.pt up to step 10
    # (an epoch is 9 steps: the resumed run starts the next one)
    log = torchrun(
        str(step5), *train_flags(data, ddp, 5), "--", *train_flags(data, ddp, 10), "--resume"
    )
    assert log.count("torchrun: 2 processes, each trains 2 of the 4 lanes") == 2
    assert log.count("done (max steps): 5 steps") == 1  # rank 0 alone logs
    assert "resuming" in log and log.count("done (max steps): 10 steps") == 1

    # the same in one process
    assert main(train_flags(data, single, 5)) == 0
    at_step5 = read_checkpoint(single.with_suffix(".last.pt"))["model_state"]
    assert_same_training(step5, single.with_suffix(".last.pt"))
    assert main([*train_flags(data, single, 10), "--resume"]) == 0
    worst = assert_same_training(ddp.with_suffix(".last.pt"), single.with_suffix(".last.pt"))
    assert read_checkpoint(single.with_suffix(".last.pt"))["train_state"]["epoch"] == 1
    print(f"largest difference after 10 steps: {worst:.2e}")

    # the comparison could fail: the weights moved far more than the tolerance, and the two
    # ranks' halves of the batch held unequal numbers of real tokens
    at_step10 = read_checkpoint(single.with_suffix(".last.pt"))["model_state"]
    moved = max(float((at_step10[k] - v).abs().max()) for k, v in at_step5.items())
    assert moved > 10_000 * ATOL
    corpus = load_text_corpus(data, tokenizer="char", segment_len=16 * SEQ_LEN - 1)
    plan = EpochPlan(corpus.train, corpus.tokenizer, BATCH, SEQ_LEN, seed=0, epoch=0)
    halves = [
        (int((plan.batch(i).targets[:2] != 0).sum()), int((plan.batch(i).targets[2:] != 0).sum()))
        for i in range(5)
    ]
    assert sum(first != second for first, second in halves) >= 3, halves


def test_each_rank_takes_its_lanes_and_a_short_batch_lends_a_row():
    from generator.data.pairs import Pair, PairPlan
    from generator.tokenizers import CharTokenizer

    ranks = [distributed.Group(torch.device("cpu"), r, 2, owns_group=False) for r in (0, 1)]
    windows = torch.arange(4 * 3).reshape(4, 3)
    plan = type("Plan", (), {"batch": lambda self, i: _Rows(windows, windows[:, 0])})()
    shares = [rank.take(plan, 0) for rank in ranks]
    assert [weight for _, weight in shares] == [1.0, 1.0]  # lanes 0-1, lanes 2-3
    assert torch.equal(torch.cat([share.a for share, _ in shares]), windows)

    tokenizer = CharTokenizer.from_texts(["abc"])
    pairs = [Pair("one", tokenizer.encode("ab"), tokenizer.encode("ba"))]
    lone = PairPlan(pairs, tokenizer, batch_size=2, shuffle=False)  # one batch of one pair
    (first, w0), (second, w1) = (rank.take(lone, 0) for rank in ranks)
    assert (w0, w1) == (0.0, 1.0)  # rank 0 trains on a borrowed row that counts for nothing
    assert first.sources.shape[0] == second.sources.shape[0] == 1

    state = [torch.arange(2 * 4 * 3.0).reshape(2, 4, 3)]  # (layers, lanes, hidden)
    parts = [distributed.split_lanes(state, rank.lanes(4)) for rank in ranks]
    assert parts[0][0].shape == (2, 2, 3)
    assert torch.equal(distributed.join_lanes(parts)[0], state[0])


class _Rows:
    def __init__(self, a: torch.Tensor, b: torch.Tensor):
        self.a, self.b = a, b
