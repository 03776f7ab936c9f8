"""What a run tells its user: the projected wall time, a progress bar, and log lines.

Before the first step one forward and backward pass is timed (``probe_step_seconds``) and
``projection`` says what that means for the run; after ``RECHECK_STEPS`` steps it is said
again if the probe was off (a busy machine). ``Progress`` keeps the bar, the speed and the
train-loss history of every --log-every window.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from tqdm import tqdm

from generator.config import TrainConfig
from generator.training.run_state import RunState
from generator.training.tasks import Carry, Task

LONG_RUN_MINUTES = 60  # a projection above this, with no --max-minutes, gets a warning
RECHECK_STEPS = 20  # the projection is said again after this many steps if it was off by 25%


def probe_step_seconds(
    model: nn.Module,
    task: Task,
    batch: Any,
    carry: Carry,
    autocast: Callable[[], Any],
    device: torch.device,
) -> float:
    """Seconds of one forward and backward pass on ``batch`` (the faster of the second and
    third: the first allocates and wakes the thread pool), leaving the random streams and the
    gradients as they were."""
    rng = torch.get_rng_state()
    cuda_rng = torch.cuda.get_rng_state(device) if device.type == "cuda" else None
    times = []
    for _ in range(3):
        started = time.perf_counter()
        with torch.enable_grad(), autocast():
            loss_sum, count, _ = task.loss(model, batch, carry)
        (loss_sum / max(int(count), 1)).backward()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        times.append(time.perf_counter() - started)
    model.zero_grad(set_to_none=True)
    torch.set_rng_state(rng)
    if cuda_rng is not None:
        torch.cuda.set_rng_state(cuda_rng, device)
    return min(times[1:])


def projection(config: TrainConfig, step: int, step_seconds: float, elapsed: float) -> list[str]:
    """What the measured step time means for this run: its wall time, and where it stops."""
    steps_left = config.max_steps - step
    minutes = steps_left * step_seconds / 60
    lines = [
        f"measured {step_seconds:.3f} s per step (forward and backward on one batch): "
        f"{steps_left:,} steps ≈ {duration(minutes)}"
    ]
    budget = config.max_minutes - elapsed / 60 if config.max_minutes else 0.0
    if config.max_minutes and minutes > budget:
        reach = step + int(max(budget, 0) * 60 / step_seconds)
        lines.append(
            f"--max-minutes {config.max_minutes:g} will stop the run at about step {reach:,} "
            f"of {config.max_steps:,}; the progress bar, its ETA and the learning-rate schedule "
            f"follow the clock"
        )
    elif not config.max_minutes and minutes > LONG_RUN_MINUTES:
        lines.append(
            f"warning: this run is projected to take {duration(minutes)}; set --max-minutes "
            f"to bound it (the schedule then follows the clock), or train a smaller model "
            f"(--hidden-size, --layers) or fewer --max-steps"
        )
    return lines


def duration(minutes: float) -> str:
    """``42 s``, ``17 min`` or ``2 h 05 min``."""
    if minutes < 1:
        return f"{minutes * 60:.0f} s"
    if minutes < 90:
        return f"{minutes:.0f} min"
    return f"{minutes // 60:.0f} h {minutes % 60:02.0f} min"


def figure(value: float | None) -> str:
    """A loss to four decimals, or n/a."""
    return "n/a" if value is None else f"{value:.4f}"


class Progress:
    """The progress bar (steps, or seconds when the clock will end the run first), the speed,
    and a log line and history entry every --log-every steps."""

    def __init__(
        self,
        config: TrainConfig,
        units: str,
        log: Callable[[str], None],
        show: bool,
        state: RunState,
        step_seconds: float,
    ):
        self.config, self.units, self.log, self.show = config, units, log, show
        self.step_seconds = step_seconds
        self.recent_loss, self.recent_tokens = 0.0, 0  # this log window's train loss
        self.window_started, self.window_tokens = time.perf_counter(), 0
        # When the clock will end the run before its steps do, the bar counts the clock's
        # seconds (its ETA is then the time left, exactly) and shows the step beside them.
        max_minutes = config.max_minutes
        budget_seconds = max_minutes * 60 - state.elapsed_before if max_minutes else 0.0
        steps_seconds = (config.max_steps - state.step) * step_seconds
        self.by_clock = bool(max_minutes) and steps_seconds > budget_seconds
        self.bar = tqdm(
            total=int(max(budget_seconds, 1)) if self.by_clock else config.max_steps,
            initial=0 if self.by_clock else state.step,
            disable=not show,
            unit="s" if self.by_clock else "step",
            dynamic_ncols=True,
            file=sys.stderr,
            bar_format="{l_bar}{bar}| {n:.0f}/{total} s [{elapsed}<{remaining}{postfix}]"
            if self.by_clock
            else None,
        )
        self.speed_average = 0.0  # tokens/s, moving average over about the last 20 steps
        self.step_started = self.loop_started = time.perf_counter()
        self.loop_first_step = state.step

    def say(self, message: str) -> None:
        """A line of its own, above the bar when there is one."""
        if self.show:
            tqdm.write(message, file=sys.stderr)
        else:
            self.log(message)

    def stepped(
        self, state: RunState, tokens: int, loss: float, grad_norm: float, lr: float
    ) -> None:
        """Account for the optimizer step that made ``state.step`` (``tokens`` predictions at a
        mean ``loss``, the gradient norm before clipping, the step's learning rate)."""
        step, config = state.step, self.config
        self.window_tokens += tokens
        self.recent_loss += loss * tokens
        self.recent_tokens += tokens
        now = time.perf_counter()
        seconds_per_step, self.step_started = now - self.step_started, now
        rate = tokens / max(seconds_per_step, 1e-9)
        self.speed_average = rate if step == 1 else 0.95 * self.speed_average + 0.05 * rate
        if step - self.loop_first_step == RECHECK_STEPS:  # the probe may have met a busy machine
            measured = (now - self.loop_started) / RECHECK_STEPS
            if abs(measured / max(self.step_seconds, 1e-9) - 1) > 0.25:
                lines = projection(
                    config, step, measured, state.elapsed_before + now - state.started
                )
                lines[0] = f"after {RECHECK_STEPS} steps: " + lines[0]
                for line in lines:
                    self.say(line)
        if self.by_clock:
            self.bar.update(min(now - state.started, self.bar.total) - self.bar.n)
        else:
            self.bar.update(1)
        self.bar.set_postfix(
            step=step,
            loss=f"{self.recent_loss / max(self.recent_tokens, 1):.3f}",
            tok_s=f"{self.speed_average:,.0f}",
            refresh=False,
        )
        if step % config.log_every == 0 or step == config.max_steps:
            seconds = time.perf_counter() - self.window_started
            speed = self.window_tokens / max(seconds, 1e-9)
            train_nll = self.recent_loss / max(self.recent_tokens, 1)
            if not self.show:
                self.log(
                    f"step {step}: train {train_nll:.3f} nats/{self.units}, grad norm "
                    f"{grad_norm:.2f}, lr {lr:.2e}, {speed:,.0f} tokens/s"
                )
            state.history.append(
                {
                    "step": step,
                    "train_nll": train_nll,
                    "grad_norm": grad_norm,
                    "tokens_per_s": speed,
                }
            )
            self.recent_loss, self.recent_tokens = 0.0, 0
            self.window_started, self.window_tokens = time.perf_counter(), 0

    def close(self) -> None:
        """Close the bar (again: harmless)."""
        self.bar.close()
