"""Training: truncated BPTT, clipping, schedules, validation, best-model keeping, resume.

Two files come out of a run at ``--out PATH``:
    PATH           the best model so far by validation loss (what you sample from)
    PATH.last.pt   the latest state, with optimizer, RNG states and data position (for --resume)
Both are ordinary checkpoints (generator.checkpoint), written atomically.

The loop is here; its parts live beside it:
    tasks.py       the Task protocol: what a model family supplies (model, batches, loss)
    step.py        one optimizer step: schedule, mixed precision, clipping, NaN checks
    validate.py    validation NLL and what it decides (best model, plateau, patience)
    run_state.py   the run's counters, and the checkpoints that save and resume them
    progress.py    the projected wall time, the progress bar and the log lines
    distributed.py torchrun: each rank's share of a batch, DDP, the ranks' agreement
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from generator.checkpoint import build_model, read_checkpoint
from generator.config import TrainConfig
from generator.device import resolve_device
from generator.training import distributed
from generator.training.progress import Progress, figure, probe_step_seconds, projection
from generator.training.run_state import RunFiles, RunState
from generator.training.step import Stepper, make_optimizer, mixed_precision
from generator.training.tasks import TOKEN_TASK, Corpus, Task
from generator.training.validate import evaluate, validate

LN2 = math.log(2.0)

__all__ = ["TrainResult", "TrainingStopped", "evaluate", "last_path_for", "resolve_device", "train"]


class TrainingStopped(Exception):
    """Training could not go on (e.g. the loss kept being NaN); the message says why."""


@dataclass
class TrainResult:
    """What a run did."""

    best_path: Path
    last_path: Path
    steps: int
    best_valid_nll: float | None  # nats per token
    train_nll: float | None  # nats per token, recent average
    wall_seconds: float
    tokens_seen: int
    skipped_steps: int
    stop_reason: str
    history: list[dict[str, float]] = field(default_factory=list)


def last_path_for(out: Path) -> Path:
    """Where the resumable checkpoint of a run writing ``out`` lives."""
    return (
        out.with_name(out.name + ".last.pt") if out.suffix != ".pt" else out.with_suffix(".last.pt")
    )


def train(
    model_config: Any,
    config: TrainConfig,
    corpus: Corpus,
    out: str | Path,
    *,
    resume: bool = False,
    progress: bool = True,
    log: Callable[[str], None] | None = None,
    info: dict[str, Any] | None = None,
    task: Task = TOKEN_TASK,
    on_step: Callable[[dict[str, float]], bool | None] | None = None,
) -> TrainResult:
    """Train a model of ``task``'s family on a corpus; write the best and the last checkpoints.

    ``task`` (a generator.training.tasks.Task) supplies the model, batches and loss, and
    ``model_config`` is its family's model config; the default is next-token prediction with
    RNNGenerator on a TokenCorpus.
    ``on_step`` (for live progress, e.g. the app) is called after every optimizer step with
    {step, max_steps, loss, tokens_seen, seconds} (+ valid_nll after a validation); when it
    returns True the run stops as after max_steps, writing both checkpoints.

    Under ``torchrun`` (WORLD_SIZE > 1) every rank trains on its share of each batch with
    DistributedDataParallel and rank 0 logs and writes the checkpoints; see distributed.py."""
    if not corpus.train:
        raise TrainingStopped("the training split is empty: nothing to train on")
    launch = distributed.start(resolve_device(config.device))
    try:
        return _train(
            launch,
            model_config,
            config,
            corpus,
            Path(out),
            resume=resume,
            progress=progress,
            log=log,
            info=info,
            task=task,
            on_step=on_step,
        )
    finally:
        launch.close()


class _AllRanksInterrupted(KeyboardInterrupt):
    """Ctrl-C that every rank agreed on after the same step (so they can save together)."""


@dataclass(frozen=True)
class _Run:
    """What stays fixed while a run trains (its changing part is a RunState)."""

    config: TrainConfig
    corpus: Corpus
    task: Task
    launch: distributed.Single
    stepper: Stepper
    files: RunFiles
    progress: Progress
    valid_plan: Any  # rank 0's validation batches (None on the other ranks)
    has_valid: bool  # there is validation data (on every rank)
    log: Callable[[str], None]
    on_step: Callable[[dict[str, float]], bool | None] | None


def _train(
    launch: distributed.Single,
    model_config: Any,
    config: TrainConfig,
    corpus: Corpus,
    out: Path,
    *,
    resume: bool,
    progress: bool,
    log: Callable[[str], None] | None,
    info: dict[str, Any] | None,
    task: Task,
    on_step: Callable[[dict[str, float]], bool | None] | None,
) -> TrainResult:
    """``train`` in one process of a launch (``launch``: torchrun's processes, or one alone)."""
    if not launch.is_main:
        log, progress = (lambda message: None), False
    log = log or (lambda message: print(message, file=sys.stderr, flush=True))
    run, state, plan = _set_up(
        launch, model_config, config, corpus, out, resume, progress, log, info, task, on_step
    )
    try:
        stop_reason = _loop(run, state, plan)
    except KeyboardInterrupt as stop:
        run.progress.close()
        # under torchrun: save only when all ranks stopped after the same step
        if launch.world_size == 1 or isinstance(stop, _AllRanksInterrupted):
            _save_at_end(run, state)
            log(f"interrupted at step {state.step}: saved {run.files.last}; continue with --resume")
            launch.barrier()
        raise
    finally:
        run.progress.close()
    _save_at_end(run, state)
    launch.barrier()  # under torchrun: no rank returns before rank 0 has written the files
    result = TrainResult(
        best_path=run.files.best,
        last_path=run.files.last,
        steps=state.step,
        best_valid_nll=state.best_valid_nll(),
        train_nll=next((h["train_nll"] for h in reversed(state.history) if "train_nll" in h), None),
        wall_seconds=state.elapsed(),
        tokens_seen=state.tokens_seen,
        skipped_steps=state.skipped,
        stop_reason=stop_reason,
        history=state.history,
    )
    log(
        f"done ({stop_reason}): {state.step} steps, {result.wall_seconds:.0f} s, best valid "
        f"{figure(result.best_valid_nll)} nats/{task.units}; best model {out}, "
        f"resumable state {run.files.last}"
    )
    return result


def _set_up(
    launch: distributed.Single,
    model_config: Any,
    config: TrainConfig,
    corpus: Corpus,
    out: Path,
    resume: bool,
    progress: bool,
    log: Callable[[str], None],
    info: dict[str, Any] | None,
    task: Task,
    on_step: Callable[[dict[str, float]], bool | None] | None,
) -> tuple[_Run, RunState, Any]:
    """The model (new, or the interrupted run's), optimizer, state and first epoch's plan.

    The order matters for exact resumes: the seed, then the model, the probe (which leaves the
    random streams as they were), the ranks' own streams, and last the resumed streams."""
    last = last_path_for(out)
    device = launch.device
    torch.manual_seed(config.seed)
    saved: dict[str, Any] | None = None
    if resume:
        model, config, saved = _resumable(last, config)
        log(f"resuming {last} at step {saved['step']}")
    else:
        model = task.build_model(model_config)
    launch.check_setup(config.batch_size, corpus)
    model.to(device).train()
    autocast, scaler = mixed_precision(config.amp, device)
    # where the run starts: from scratch, or where the interrupted run stopped
    first_step, first_epoch, first_index = (
        (saved["step"], saved["epoch"], saved["batch_index"]) if saved else (0, 0, 0)
    )
    plan = task.train_plan(corpus, config, first_epoch)
    # Measure a step before training (and before DDP wraps the model: a backward outside it
    # would disturb its gradient hooks); the projection is logged with the model's summary.
    step_seconds, projected = 0.0, []
    if first_step < config.max_steps:
        probe = launch.take(plan, min(first_index, len(plan) - 1))[0].to(device)
        step_seconds = probe_step_seconds(model, task, probe, None, autocast, device)
        projected = projection(config, first_step, step_seconds, saved["elapsed"] if saved else 0)
    model_loss = launch.wrap(model, task)  # task.loss(model, ...), through DDP when distributed
    launch.seed_ranks(config.seed)  # dropout masks: each rank its own stream
    optimizer = make_optimizer(model, config)
    state = RunState.resumed(saved, config, optimizer, scaler, launch) if saved else RunState()

    valid_plan = None
    if corpus.valid and launch.is_main:  # rank 0 validates and tells the others the result
        valid_plan = task.valid_plan(corpus, config)
    run_info = dict(info or {})
    baseline = task.baseline(corpus)
    if baseline is not None:
        run_info.setdefault("unigram_valid_nll", baseline)
    state.started = time.perf_counter()
    _log_set_up(log, model, task, corpus, config, launch, baseline, projected)
    files = RunFiles(
        best=out,
        last=last,
        model=model,
        tokenizer=corpus.tokenizer,
        family=task.family,
        info=run_info,
        config=config,
        optimizer=optimizer,
        scaler=scaler,
        launch=launch,
    )
    run = _Run(
        config=config,
        corpus=corpus,
        task=task,
        launch=launch,
        stepper=Stepper(model, model_loss, task, optimizer, scaler, autocast, config, launch),
        files=files,
        progress=Progress(config, task.units, log, progress, state, step_seconds),
        valid_plan=valid_plan,
        has_valid=bool(corpus.valid),
        log=log,
        on_step=on_step,
    )
    return run, state, plan


def _resumable(last: Path, config: TrainConfig) -> tuple[nn.Module, TrainConfig, dict[str, Any]]:
    """The interrupted run's model, its train config (with this call's budget) and its saved
    train state."""
    if not last.exists():
        raise TrainingStopped(f"--resume: {last} does not exist (nothing to resume)")
    payload = read_checkpoint(last)
    model = build_model(payload, last)
    saved = payload["train_state"]
    # the budget comes from this call; everything else from the interrupted run
    budget = {"max_steps": config.max_steps, "max_minutes": config.max_minutes}
    return model, TrainConfig.from_dict({**saved["train_config"], **budget}), saved


def _log_set_up(
    log: Callable[[str], None],
    model: nn.Module,
    task: Task,
    corpus: Corpus,
    config: TrainConfig,
    launch: distributed.Single,
    baseline: float | None,
    projected: list[str],
) -> None:
    """What the run trains, on what, with which baseline, and how long it should take."""
    parameters = sum(p.numel() for p in model.parameters())
    log(
        f"model: {task.family} {getattr(model.config, 'cell', '')}, {parameters:,} parameters "
        f"on {launch.device}; {task.describe(corpus)}"
    )
    shares = launch.describe(config.batch_size)
    if shares:
        log(shares)
    if baseline is not None:
        log(f"baseline (unigram): valid NLL {baseline:.3f} nats/{task.units}")
    for line in projected:
        log(line)


def _loop(run: _Run, state: RunState, plan: Any) -> str:
    """Train until the steps, the clock, patience or a stop request end the run; the reason."""
    config, launch, task = run.config, run.launch, run.task
    while state.step < config.max_steps:
        if state.batch_index >= len(plan):
            state.epoch, state.batch_index = state.epoch + 1, 0
            plan = task.train_plan(run.corpus, config, state.epoch)
        batch, weight = launch.take(plan, state.batch_index)  # this rank's share
        batch = batch.to(launch.device)
        state.batch_index += 1
        run.stepper.set_lr(state.step, state.minutes(), state.plateau_scale)
        outcome = run.stepper.step(batch, weight, state.carry)
        state.carry = outcome.carry
        if outcome.tokens == 0:
            continue
        if not outcome.applied:
            state.skipped += 1
            if outcome.nonfinite:
                _count_bad_step(run, state)
            continue
        state.bad_in_row = 0
        state.step += 1
        state.tokens_seen += outcome.tokens
        run.progress.stepped(state, outcome.tokens, outcome.loss, outcome.grad_norm, run.stepper.lr)

        out_of_time, interrupted = launch.agree(
            bool(config.max_minutes) and state.minutes() >= config.max_minutes,
            launch.interrupted,
        )  # under torchrun: all ranks stop after the same step
        if interrupted:
            raise _AllRanksInterrupted
        if run.has_valid and (
            state.step % config.eval_every == 0 or state.step == config.max_steps or out_of_time
        ):
            if _validate(run, state):
                return f"early stopping: no improvement in {config.patience} validations"
        if run.on_step is not None and _stop_requested(run, state, outcome.loss):
            return "stopped on request"
        if state.step % config.save_every == 0:
            run.files.save_last(state)
        if out_of_time:  # validated above, so the best model reflects the last steps
            return f"time limit of {config.max_minutes} minutes"
    return "max steps"


def _count_bad_step(run: _Run, state: RunState) -> None:
    """A NaN/Inf step was skipped: say so, and stop after --max-bad-steps in a row."""
    state.bad_in_row += 1
    run.log(
        f"step {state.step}: NaN/Inf loss or gradient; step skipped ({state.bad_in_row} in a row)"
    )
    if state.bad_in_row >= run.config.max_bad_steps:
        raise TrainingStopped(
            f"{state.bad_in_row} steps in a row had NaN/Inf loss or gradients; stopped. "
            f"The last good checkpoints are intact: {run.files.best}, {run.files.last}. Try a "
            f"lower --lr or a smaller --clip-norm."
        )


def _validate(run: _Run, state: RunState) -> bool:
    """Validate, keep the model if it is the best so far; True when patience has run out."""
    model, units = run.stepper.model, run.task.units
    nll, improved = validate(state, model, run.valid_plan, run.config, run.launch, run.task)
    if improved:
        run.files.save_best(state)
    saved = f" — best, saved {run.files.best}" if improved else ""
    run.progress.say(
        f"step {state.step}: valid {nll:.4f} nats/{units} ({nll / LN2:.4f} bits){saved}"
    )
    return bool(run.config.patience) and state.evals_since_best >= run.config.patience


def _stop_requested(run: _Run, state: RunState, loss: float) -> bool:
    """Tell ``on_step`` how the run goes; True when it (on any rank) asks to stop."""
    report = {
        "step": state.step,
        "max_steps": run.config.max_steps,
        "loss": loss,
        "tokens_seen": state.tokens_seen,
        "seconds": state.elapsed(),
    }
    latest = state.history[-1] if state.history else {}
    if latest.get("step") == state.step and "valid_nll" in latest:
        report["valid_nll"] = latest["valid_nll"]
    return run.launch.agree(bool(run.on_step(report)))[0]


def _save_at_end(run: _Run, state: RunState) -> None:
    """The resumable checkpoint, and the model as the best when nothing validated it."""
    run.files.save_last(state)
    if not run.has_valid or not run.files.best.exists():
        run.files.save_best(state)  # no validation data: the last model is the best we know
