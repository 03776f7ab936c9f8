"""Training on several processes: torchrun, DistributedDataParallel, a share of every batch.

    torchrun --nproc_per_node=4 -m generator train text --device cuda ...

torchrun starts one process (rank) per device and sets WORLD_SIZE, RANK and LOCAL_RANK; the
trainer sees them (``start``) and then every rank builds the same model (same seed; DDP also
broadcasts rank 0's weights) and the same epoch plan (seeded by (seed, epoch)), and trains on
its share of each global batch of ``--batch-size`` lanes (or pairs):

    global batch, --batch-size 8, 2 ranks      lanes 0-3 ──▶ rank 0    lanes 4-7 ──▶ rank 1
    (the carried state of lane k stays on the rank that trains lane k)

so the windows one step sees across all ranks are exactly those one process would see.

The loss. One process minimises L = Σ nll / N over the N real (non-padding) predictions of the
global batch. DDP averages gradients over the W ranks, so rank r backpropagates
W · Σ_{its lanes} nll / N, with N all-reduced first: the average is exactly ∇L however unevenly
the real tokens fall on the ranks (pieces end and leave padding at different times in different
lanes). A plain mean per rank would weight rank r's tokens by 1 / N_r instead.

Rank 0 alone logs, validates (broadcasting the validation loss, which decides the best model,
early stopping and the plateau schedule) and writes checkpoints. The resumable checkpoint holds
the whole batch's carried state, gathered from all ranks, and every rank's RNG state, so torchrun
with any number of ranks, or one process, can resume it. Stopping agrees across ranks: a time
limit, a stop request or Ctrl-C (torchrun forwards SIGINT to every rank) ends all ranks after
the same step.

What differs from one process: random draws inside the model (dropout, teacher forcing below 1)
come from each rank's own generator, so only runs without them match one process step for step
(tests/training/test_ddp.py); the data, augmentation and conditioning dropout match always.
"""

from __future__ import annotations

import hashlib
import os
import signal
import threading
from collections.abc import Callable
from dataclasses import fields, is_dataclass
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

LANE_DIM = 1  # carried recurrent state: (layers × directions, lanes, hidden)


def world_size() -> int:
    """Processes in this torchrun launch (1 without torchrun)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def is_main_process() -> bool:
    """True in a single process and in rank 0 of a torchrun launch: the one that writes files."""
    return int(os.environ.get("RANK", "0")) == 0


class TaskLoss(nn.Module):
    """``task.loss(model, ...)`` as a module's forward, so DDP sees (and syncs) all of it:
    tasks call model methods other than forward (``condition``, ``frame_nll``, ``loss``)."""

    def __init__(self, model: nn.Module, task):
        super().__init__()
        self.model, self.task = model, task

    def forward(self, batch, state):
        return self.task.loss(self.model, batch, state)


class Single:
    """One process: nothing is wrapped or sharded, and every collective is the identity."""

    world_size, rank, is_main, interrupted = 1, 0, True, False

    def __init__(self, device: torch.device):
        self.device = device

    def wrap(self, model: nn.Module, task) -> Callable:
        """``(batch, state) → task.loss(model, batch, state)``, through DDP when distributed."""
        return lambda batch, state: task.loss(model, batch, state)

    def take(self, plan, index: int) -> tuple[Any, float]:
        """(this rank's share of batch ``index``, its weight: 0 where the rows are borrowed)."""
        return plan.batch(index), 1.0

    def lanes(self, lanes: int) -> slice:
        """This rank's rows of a batch of ``lanes`` rows (uneven shares differ by one row)."""
        rank, size = self.rank, self.world_size
        return slice(rank * lanes // size, (rank + 1) * lanes // size)

    def mean_loss(self, loss_sum: torch.Tensor, count, weight: float):
        """(the loss to backpropagate, real predictions in the batch, mean loss or None when
        ``loss.item()`` is it)."""
        n_tokens = int(count)
        return (loss_sum / n_tokens if n_tokens else None), n_tokens, None

    def agree(self, *flags: bool) -> tuple[bool, ...]:
        """Each flag, True on every rank when it is True on any rank."""
        return tuple(bool(f) for f in flags)

    def broadcast(self, value: float) -> float:
        """Rank 0's value on every rank."""
        return value

    def gather(self, value: Any) -> list[Any]:
        """Every rank's (picklable) value, in rank order, on every rank."""
        return [value]

    def check_same(self, what: str, fingerprint: Callable[[], str]) -> None:
        """Stop with a clear message when the ranks did not load the same ``what``."""

    def check_setup(self, batch_size: int, corpus: Any) -> None:
        """Stop with a clear message when the batch does not split over the ranks, or when the
        ranks did not read the same corpus."""

    def seed_ranks(self, seed: int) -> None:
        """Give each rank its own stream for random draws inside the model (dropout)."""

    def saved_rng(self, saved: dict[str, Any], seed: int, step: int) -> tuple[Any, Any]:
        """This rank's (torch, CUDA) random states in a resumable checkpoint's train state."""
        return saved["torch_rng"], saved.get("cuda_rng")

    def describe(self, batch_size: int) -> str | None:
        """A log line on how the ranks share a batch (None in one process)."""
        return None

    def barrier(self) -> None:
        """Wait for every rank (e.g. until rank 0 has written the checkpoints)."""

    def close(self) -> None:
        """Leave the process group (if this trainer joined it) and restore Ctrl-C."""


class Group(Single):
    """This process's place in a torchrun launch (WORLD_SIZE > 1) and the collectives it uses."""

    def __init__(self, device: torch.device, rank: int, world_size: int, owns_group: bool):
        super().__init__(device)
        self.rank, self.world_size, self.is_main = rank, world_size, rank == 0
        self.owns_group = owns_group
        self.interrupted = False
        self._previous_handler = None

    def catch_ctrl_c(self) -> None:
        """Make Ctrl-C (SIGINT, which torchrun sends every rank) a request to stop after the
        step: a KeyboardInterrupt at a random point would leave the ranks in different
        collectives, unable to save together."""
        if threading.current_thread() is threading.main_thread():
            self._previous_handler = signal.signal(signal.SIGINT, self._on_sigint)

    def _on_sigint(self, signum, frame) -> None:
        """First Ctrl-C: stop after this step, on every rank, and save; a second one: now."""
        self.interrupted = True
        signal.signal(signal.SIGINT, signal.default_int_handler)

    def wrap(self, model: nn.Module, task) -> Callable:
        ids = [self.device.index] if self.device.type == "cuda" else None
        # static_graph: every step uses the same parameters, but not always all of them (no
        # attention: the encoder's memory projection rests); DDP learns which in the first step
        return DistributedDataParallel(TaskLoss(model, task), device_ids=ids, static_graph=True)

    def take(self, plan, index: int) -> tuple[Any, float]:
        """This rank's rows of batch ``index``; a batch with fewer rows than ranks (the short last
        batch of pairs) lends its first row, with weight 0, to the ranks without one: every rank
        must still run forward and backward."""
        batch = plan.batch(index)
        share = self.lanes(next(iter(vars(batch).values())).shape[0])
        weight = float(share.start < share.stop)
        if not weight:
            share = slice(0, 1)
        return type(batch)(*(t[share] for t in vars(batch).values())), weight

    def mean_loss(self, loss_sum: torch.Tensor, count, weight: float):
        """(the loss to backpropagate, real predictions in the global batch, its mean loss).

        W · loss_sum / N_global: DDP's average of the ranks' gradients is then the gradient of
        one process's loss over the whole batch (see the module docstring)."""
        count = torch.as_tensor(count, device=loss_sum.device)
        totals = torch.stack([loss_sum.detach().double(), count.double()]) * weight
        dist.all_reduce(totals)
        total_loss, n_tokens = totals.tolist()
        if n_tokens == 0:
            return None, 0, None
        scale = weight * self.world_size / n_tokens
        return loss_sum * scale, int(n_tokens), total_loss / n_tokens

    def agree(self, *flags: bool) -> tuple[bool, ...]:
        tensor = torch.tensor([float(f) for f in flags], device=self.device)
        dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
        return tuple(bool(f) for f in tensor.tolist())

    def broadcast(self, value: float) -> float:
        tensor = torch.tensor(
            [value if self.is_main else 0.0], dtype=torch.float64, device=self.device
        )
        dist.broadcast(tensor, src=0)
        return float(tensor.item())

    def gather(self, value: Any) -> list[Any]:
        values: list[Any] = [None] * self.world_size
        dist.all_gather_object(values, value)
        return values

    def check_same(self, what: str, fingerprint: Callable[[], str]) -> None:
        prints = self.gather(fingerprint())
        if len(set(prints)) > 1:
            differ = [r for r, p in enumerate(prints) if p != prints[0]]
            raise ValueError(
                f"torchrun: ranks {differ} loaded a different {what} than rank 0; every rank "
                f"must read the same data (same files, same tokenizer, same flags)"
            )

    def check_setup(self, batch_size: int, corpus: Any) -> None:
        if batch_size % self.world_size:
            raise ValueError(
                f"--batch-size {batch_size} does not split evenly over {self.world_size} "
                f"torchrun processes; the batch is the global batch, so use a multiple of "
                f"{self.world_size}"
            )
        self.check_same("corpus", lambda: fingerprint(corpus))

    def seed_ranks(self, seed: int) -> None:
        torch.manual_seed(rank_seed(seed, self.rank))

    def saved_rng(self, saved: dict[str, Any], seed: int, step: int) -> tuple[Any, Any]:
        """This rank's streams when the checkpoint has as many ranks; else fresh ones from
        (seed, rank, step), since a rank count that changed has no stream to continue."""
        ranks = saved.get("rank_rng") or []
        if len(ranks) == self.world_size:
            return ranks[self.rank], saved["rank_cuda_rng"][self.rank]
        torch.manual_seed(rank_seed(seed, self.rank, step))
        return torch.get_rng_state(), None

    def describe(self, batch_size: int) -> str | None:
        return (
            f"torchrun: {self.world_size} processes, each trains "
            f"{batch_size // self.world_size} of the {batch_size} lanes of a batch"
        )

    def barrier(self) -> None:
        self.agree(False)  # an all-reduce: the same call on gloo and NCCL

    def close(self) -> None:
        if self._previous_handler is not None:
            signal.signal(signal.SIGINT, self._previous_handler)
            self._previous_handler = None
        if self.owns_group and dist.is_initialized():
            dist.destroy_process_group()
            self.owns_group = False


def start(device: torch.device) -> Single | Group:
    """The trainer's view of the launch: ``Single`` without torchrun (or with one process),
    else join the process group (NCCL on CUDA, gloo on the CPU) and take this rank's device."""
    size = world_size()
    if size <= 1:
        return Single(device)
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if device.type == "cuda":
        device = torch.device("cuda", local_rank)  # one GPU per rank, whatever --device named
        torch.cuda.set_device(device)
        backend = "nccl"
    elif device.type == "cpu":
        backend = "gloo"
    else:
        raise ValueError(f"torchrun training runs on CUDA or on the CPU, not on {device}")
    owns = not dist.is_initialized()
    if owns:
        _init_process_group(backend, device)
    if dist.get_world_size() != size or dist.get_rank() != rank:
        raise RuntimeError("the process group does not match WORLD_SIZE/RANK")
    group = Group(device, rank, size, owns)
    group.catch_ctrl_c()
    return group


_groups_started = 0  # by this process: each gets fresh keys in torchrun's store


def _init_process_group(backend: str, device: torch.device) -> None:
    """``init_process_group`` from torchrun's environment, under a key prefix of its own: a
    second ``train`` in the same processes must not read the first one's stale addresses."""
    global _groups_started
    store, rank, size = next(dist.rendezvous("env://"))
    store = dist.PrefixStore(f"generator-train-{_groups_started}", store)
    _groups_started += 1
    options = {"device_id": device} if backend == "nccl" else {}
    dist.init_process_group(backend, store=store, rank=rank, world_size=size, **options)


def split_lanes(state: list[torch.Tensor], lanes: slice) -> list[torch.Tensor]:
    """One rank's lanes of a carried state saved for the whole batch."""
    return [s[(slice(None),) * LANE_DIM + (lanes,)] for s in state]


def join_lanes(states: list[list[torch.Tensor]]) -> list[torch.Tensor]:
    """The ranks' carried states (in rank order) as one state for the whole batch."""
    if not states[0]:
        return []
    return [torch.cat(parts, dim=LANE_DIM) for parts in zip(*states, strict=True)]


def rank_seed(*entropy: int) -> int:
    """A seed for one rank's random draws inside the model (dropout), e.g. from (seed, rank)."""
    return int(np.random.SeedSequence(list(entropy)).generate_state(1)[0])


def fingerprint(corpus) -> str:
    """A digest of a corpus's tokenizer and training pieces, to check the ranks agree."""
    digest = hashlib.sha256(repr(corpus.tokenizer.to_dict()).encode())
    for piece in corpus.train:
        values = (
            [getattr(piece, f.name) for f in fields(piece)]
            if is_dataclass(piece)
            else list(vars(piece).values())
        )
        for value in values:
            if isinstance(value, np.ndarray):
                digest.update(np.ascontiguousarray(value).tobytes())
            else:
                digest.update(repr(value).encode())
    return digest.hexdigest()
