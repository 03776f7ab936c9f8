"""Validation: the NLL of held-out batches, and what it decides (best model, plateau, patience)."""

from __future__ import annotations

import torch
from torch import nn

from generator.config import TrainConfig
from generator.training.distributed import Single
from generator.training.run_state import RunState
from generator.training.tasks import TOKEN_TASK, Plan, Task


@torch.no_grad()
def evaluate(
    model: nn.Module,
    plan: Plan,
    device: torch.device,
    max_batches: int = 0,
    task: Task = TOKEN_TASK,
) -> float:
    """Mean NLL in nats per prediction over a plan's batches, state carried across them."""
    was_training = model.training
    model.eval()
    total, count, state = 0.0, 0, None
    for index in range(len(plan) if not max_batches else min(max_batches, len(plan))):
        loss_sum, n, state = task.loss(model, plan.batch(index).to(device), state)
        total += float(loss_sum)
        count += int(n)
    model.train(was_training)
    return total / max(count, 1)


def validate(
    state: RunState,
    model: nn.Module,
    plan: Plan | None,
    config: TrainConfig,
    launch: Single,
    task: Task,
) -> tuple[float, bool]:
    """Score the model on ``plan`` (rank 0 scores, every rank gets its figure), record it in
    ``state`` (best so far, validations since, plateau schedule, history); (nll, improved)."""
    nll = launch.broadcast(
        evaluate(model, plan, launch.device, config.eval_batches, task) if launch.is_main else 0.0
    )
    improved = nll < state.best_nll
    if improved:
        state.best_nll, state.evals_since_best = nll, 0
    else:
        state.evals_since_best += 1
        if config.schedule == "plateau":
            state.plateau_scale *= 0.5
    state.history.append({"step": state.step, "valid_nll": nll})
    return nll, improved
