"""One optimizer step, and what it needs: optimizer, learning-rate schedule, mixed precision.

batch ─► loss (autocast) ─► backward (scaled) ─► clip ─► finite? ─► optimizer step
                                                           └─ no: skip, say why
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from generator.config import TrainConfig
from generator.training.distributed import Single
from generator.training.tasks import Carry, Task


def lr_factor(config: TrainConfig, step: int, minutes: float = 0.0) -> float:
    """Warmup, then cosine down to 10% over the budget: steps, or wall time when --max-minutes
    would end the run first (then the schedule follows the clock, so it is not bit-repeatable)."""
    if config.warmup_steps and step < config.warmup_steps:
        return (step + 1) / config.warmup_steps
    if config.schedule == "cosine":
        span = max(1, config.max_steps - config.warmup_steps)
        progress = (step - config.warmup_steps) / span
        if config.max_minutes:
            progress = max(progress, minutes / config.max_minutes)
        progress = min(1.0, progress)
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress))
    return 1.0


def mixed_precision(amp: str, device: torch.device):
    """Autocast context factory and gradient scaler for ``--amp`` (CUDA only)."""
    if amp == "off":
        return contextlib.nullcontext, torch.amp.GradScaler("cpu", enabled=False)
    if device.type != "cuda":
        raise ValueError(f"--amp {amp} needs a CUDA device, but training runs on {device}")
    dtype = torch.bfloat16 if amp == "bf16" else torch.float16
    scaler = torch.amp.GradScaler("cuda", enabled=amp == "fp16")  # bf16 needs no scaling
    return (lambda: torch.autocast("cuda", dtype=dtype)), scaler


def make_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    """Adam, or SGD with momentum, over all the model's parameters."""
    if config.optimizer == "sgd":
        return torch.optim.SGD(
            model.parameters(),
            lr=config.lr,
            momentum=config.momentum,
            weight_decay=config.weight_decay,
        )
    return torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)


@dataclass
class StepOutcome:
    """What one step did with a batch."""

    carry: Carry  # the state for the lanes' next windows
    tokens: int  # real predictions in the (global) batch; 0: nothing was learned
    loss: float = math.nan  # mean NLL of the batch (nats per prediction)
    grad_norm: float = math.nan  # before clipping
    applied: bool = False  # the optimizer stepped
    nonfinite: bool = False  # skipped: NaN/Inf loss or gradients (not an fp16 overflow)


@dataclass
class Stepper:
    """Runs optimizer steps: the model's loss (through DDP when distributed), scaled backward,
    clipping, and the NaN/Inf and fp16-overflow checks."""

    model: nn.Module
    model_loss: Callable[[Any, Carry], tuple[torch.Tensor, Any, Carry]]  # launch.wrap's
    task: Task
    optimizer: torch.optim.Optimizer
    scaler: torch.amp.GradScaler
    autocast: Callable[[], Any]
    config: TrainConfig
    launch: Single

    def set_lr(self, step: int, minutes: float, plateau_scale: float) -> None:
        """The schedule's learning rate for ``step``."""
        lr = self.config.lr * lr_factor(self.config, step, minutes) * plateau_scale
        for param_group in self.optimizer.param_groups:
            param_group["lr"] = lr

    @property
    def lr(self) -> float:
        """The learning rate the last step used."""
        return self.optimizer.param_groups[0]["lr"]

    def step(self, batch: Any, weight: float, carry: Carry) -> StepOutcome:
        """Train on ``batch`` (this rank's share, with its weight) from the lanes' ``carry``."""
        with self.autocast():
            loss_sum, count, new_carry = self.model_loss(batch, carry)
        carry = self.task.detach_state(new_carry)
        # loss_sum / n_tokens over the whole (global) batch; distributed.py says how
        loss, n_tokens, mean_loss = self.launch.mean_loss(loss_sum, count, weight)
        if n_tokens == 0:
            return StepOutcome(carry, 0)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.unscale_(self.optimizer)
        clip = self.config.clip_norm if self.config.clip_norm > 0 else math.inf
        grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), clip)
        loss_value = loss.item() if mean_loss is None else mean_loss
        norm_value = grad_norm.item()
        outcome = StepOutcome(carry, n_tokens, loss_value, norm_value)
        if self.scaler.is_enabled() and math.isfinite(loss_value) and not math.isfinite(norm_value):
            self.scaler.step(self.optimizer)  # fp16 overflow: the scaler skips, lowers the scale
            self.scaler.update()
            return outcome
        if not (math.isfinite(loss_value) and math.isfinite(norm_value)):
            self.optimizer.zero_grad(set_to_none=True)
            outcome.carry, outcome.nonfinite = None, True  # a NaN state would poison the lanes
            return outcome
        self.scaler.step(self.optimizer)
        self.scaler.update()
        outcome.applied = True
        return outcome
