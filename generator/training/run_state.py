"""What a run carries from step to step, and how it is saved to and restored from checkpoints.

``RunState`` holds the counters; ``RunFiles`` writes the run's two checkpoints (``out``: the
best model, ``out.last.pt``: everything --resume needs, see ``RunState.capture``).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from generator.checkpoint import save_checkpoint
from generator.config import TrainConfig
from generator.tokenizers import Tokenizer
from generator.training import distributed
from generator.training.tasks import Carry


@dataclass
class RunState:
    """The run's position and record; everything but ``bad_in_row`` and ``started`` is saved."""

    step: int = 0  # optimizer steps taken
    epoch: int = 0
    batch_index: int = 0  # the next batch of the epoch's plan
    best_nll: float = math.inf  # best validation NLL so far (nats per prediction)
    evals_since_best: int = 0
    bad_in_row: int = 0  # NaN/Inf steps in a row
    skipped: int = 0  # steps skipped (NaN/Inf, or an fp16 overflow)
    tokens_seen: int = 0  # predictions trained on
    elapsed_before: float = 0.0  # seconds the interrupted run(s) trained before this one
    history: list[dict[str, float]] = field(default_factory=list)
    plateau_scale: float = 1.0  # learning-rate factor of the plateau schedule
    carry: Carry = None  # this rank's lanes' recurrent state
    started: float = field(default_factory=time.perf_counter)  # this process's clock

    def elapsed(self) -> float:
        """Training seconds of the whole run, interrupted parts included."""
        return self.elapsed_before + time.perf_counter() - self.started

    def minutes(self) -> float:
        """Minutes since this process started training (what --max-minutes counts)."""
        return (time.perf_counter() - self.started) / 60

    def best_valid_nll(self) -> float | None:
        """The best validation NLL, or None before any validation."""
        return self.best_nll if math.isfinite(self.best_nll) else None

    @classmethod
    def resumed(
        cls,
        saved: dict[str, Any],
        config: TrainConfig,
        optimizer: torch.optim.Optimizer,
        scaler: torch.amp.GradScaler,
        launch: distributed.Single,
    ) -> RunState:
        """The state a resumable checkpoint's ``train_state`` saved; loads the optimizer, the
        scaler and this rank's random streams and lanes as they were."""
        optimizer.load_state_dict(saved["optimizer"])
        if scaler.is_enabled() and saved.get("scaler"):
            scaler.load_state_dict(saved["scaler"])
        state = cls(
            step=saved["step"],
            epoch=saved["epoch"],
            batch_index=saved["batch_index"],
            best_nll=saved["best_valid_nll"],
            evals_since_best=saved["evals_since_best"],
            skipped=saved["skipped_steps"],
            tokens_seen=saved["tokens_seen"],
            elapsed_before=saved["elapsed"],
            history=list(saved["history"]),
            plateau_scale=saved["plateau_scale"],
        )
        torch_rng, cuda_rng = launch.saved_rng(saved, config.seed, state.step)
        torch.set_rng_state(torch_rng)
        if launch.device.type == "cuda" and cuda_rng is not None:
            torch.cuda.set_rng_state(cuda_rng)
        lanes = launch.lanes(config.batch_size)  # the checkpoint holds every lane's state
        carry = distributed.split_lanes(saved["carry"], lanes) if saved["carry"] else None
        state.carry = tuple(s.to(launch.device) for s in carry) if carry else None
        return state

    def capture(
        self,
        config: TrainConfig,
        optimizer: torch.optim.Optimizer,
        scaler: torch.amp.GradScaler,
        launch: distributed.Single,
    ) -> dict[str, Any]:
        """The ``train_state`` of a resumable checkpoint: counters, optimizer, every rank's
        random streams and lanes (a collective under torchrun: every rank must call it)."""
        device = launch.device
        own = {
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state(device) if device.type == "cuda" else None,
            "carry": [s.detach().cpu() for s in self.carry] if self.carry is not None else [],
        }
        ranks = launch.gather(own)
        saved = {
            "train_config": config.to_dict(),
            "step": self.step,
            "epoch": self.epoch,
            "batch_index": self.batch_index,
            "best_valid_nll": self.best_nll,
            "evals_since_best": self.evals_since_best,
            "skipped_steps": self.skipped,
            "tokens_seen": self.tokens_seen,
            "elapsed": self.elapsed(),
            "history": self.history,
            "plateau_scale": self.plateau_scale,
            "optimizer": optimizer.state_dict(),
            "scaler": scaler.state_dict() if scaler.is_enabled() else None,
            "torch_rng": ranks[0]["torch_rng"],
            "cuda_rng": ranks[0]["cuda_rng"],
            "carry": distributed.join_lanes([r["carry"] for r in ranks]),
        }
        if len(ranks) > 1:
            saved["rank_rng"] = [r["torch_rng"] for r in ranks]
            saved["rank_cuda_rng"] = [r["cuda_rng"] for r in ranks]
        return saved


@dataclass
class RunFiles:
    """The run's checkpoints: ``best`` (by validation loss) and ``last`` (resumable), written
    by rank 0; ``info`` describes the run and is completed with the state's figures."""

    best: Path
    last: Path
    model: nn.Module
    tokenizer: Tokenizer
    family: str
    info: dict[str, Any]
    config: TrainConfig
    optimizer: torch.optim.Optimizer
    scaler: torch.amp.GradScaler
    launch: distributed.Single

    def save_last(self, state: RunState) -> None:
        """Write the resumable checkpoint (a collective under torchrun: every rank calls it)."""
        train_state = state.capture(self.config, self.optimizer, self.scaler, self.launch)
        if self.launch.is_main:
            self._save(self.last, state, train_state)

    def save_best(self, state: RunState) -> None:
        """Write the model as the best so far."""
        if self.launch.is_main:
            self._save(self.best, state, None)

    def _save(self, path: Path, state: RunState, train_state: dict[str, Any] | None) -> None:
        info = {
            **self.info,
            "steps": state.step,
            "best_valid_nll": state.best_valid_nll(),
            "wall_seconds": round(state.elapsed(), 1),
            "tokens_seen": state.tokens_seen,
        }
        save_checkpoint(
            path, self.model, self.tokenizer, family=self.family, train_state=train_state, info=info
        )
