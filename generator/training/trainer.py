"""Training: truncated BPTT, clipping, schedules, validation, best-model keeping, resume.

Two files come out of a run at ``--out PATH``:
    PATH           the best model so far by validation loss (what you sample from)
    PATH.last.pt   the latest state, with optimizer, RNG states and data position (for --resume)
Both are ordinary checkpoints (generator.checkpoint), written atomically.
"""

from __future__ import annotations

import contextlib
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from tqdm import tqdm

from generator.checkpoint import build_model, read_checkpoint, save_checkpoint
from generator.config import ModelConfig, TrainConfig
from generator.data.pieces import TokenCorpus
from generator.device import resolve_device
from generator.training import distributed
from generator.training.tasks import TOKEN_TASK

LN2 = math.log(2.0)


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


@torch.no_grad()
def evaluate(
    model: nn.Module, plan, device: torch.device, max_batches: int = 0, task=TOKEN_TASK
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


def _lr_factor(config: TrainConfig, step: int, minutes: float = 0.0) -> float:
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


def _mixed_precision(amp: str, device: torch.device):
    """Autocast context factory and gradient scaler for ``--amp`` (CUDA only)."""
    if amp == "off":
        return contextlib.nullcontext, torch.amp.GradScaler("cpu", enabled=False)
    if device.type != "cuda":
        raise ValueError(f"--amp {amp} needs a CUDA device, but training runs on {device}")
    dtype = torch.bfloat16 if amp == "bf16" else torch.float16
    scaler = torch.amp.GradScaler("cuda", enabled=amp == "fp16")  # bf16 needs no scaling
    return (lambda: torch.autocast("cuda", dtype=dtype)), scaler


def _make_optimizer(model: torch.nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    if config.optimizer == "sgd":
        return torch.optim.SGD(
            model.parameters(),
            lr=config.lr,
            momentum=config.momentum,
            weight_decay=config.weight_decay,
        )
    return torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)


def train(
    model_config: ModelConfig,
    config: TrainConfig,
    corpus: TokenCorpus,
    out: str | Path,
    *,
    resume: bool = False,
    progress: bool = True,
    log: Callable[[str], None] | None = None,
    info: dict[str, Any] | None = None,
    task=TOKEN_TASK,
    on_step: Callable[[dict[str, float]], bool | None] | None = None,
) -> TrainResult:
    """Train a model of ``task``'s family on a corpus; write the best and the last checkpoints.

    ``task`` (generator.training.tasks) supplies the model, batches and loss; the default is
    next-token prediction with RNNGenerator on a TokenCorpus.
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
            resume,
            progress,
            log,
            info,
            task,
            on_step,
        )
    finally:
        launch.close()


def _train(
    launch: distributed.Single,
    model_config: ModelConfig,
    config: TrainConfig,
    corpus: TokenCorpus,
    out: Path,
    resume: bool,
    progress: bool,
    log: Callable[[str], None] | None,
    info: dict[str, Any] | None,
    task,
    on_step: Callable[[dict[str, float]], bool | None] | None,
) -> TrainResult:
    """``train`` in one process of a launch (``launch``: torchrun's processes, or one alone)."""
    if not launch.is_main:
        log, progress = (lambda message: None), False
    log = log or (lambda message: print(message, file=sys.stderr, flush=True))
    last = last_path_for(out)
    device = launch.device
    tokenizer = corpus.tokenizer

    torch.manual_seed(config.seed)
    resumed: dict[str, Any] | None = None
    if resume:
        if not last.exists():
            raise TrainingStopped(f"--resume: {last} does not exist (nothing to resume)")
        payload = read_checkpoint(last)
        model = build_model(payload, last)
        resumed = payload["train_state"]
        # the budget comes from this call; everything else from the interrupted run
        budget = {"max_steps": config.max_steps, "max_minutes": config.max_minutes}
        config = TrainConfig.from_dict({**resumed["train_config"], **budget})
        log(f"resuming {last} at step {resumed['step']}")
    else:
        model = task.build_model(model_config)
    if config.batch_size % launch.world_size:
        raise ValueError(
            f"--batch-size {config.batch_size} does not split evenly over {launch.world_size} "
            f"torchrun processes; the batch is the global batch, so use a multiple of "
            f"{launch.world_size}"
        )
    launch.check_same("corpus", lambda: distributed.fingerprint(corpus))
    model.to(device).train()
    autocast, scaler = _mixed_precision(config.amp, device)
    # where the run starts: from scratch, or where the interrupted run stopped
    first_step, first_epoch, first_index = (
        (resumed["step"], resumed["epoch"], resumed["batch_index"]) if resumed else (0, 0, 0)
    )
    plan = _epoch_plan(task, corpus, config, first_epoch)
    # Measure a step before training (and before DDP wraps the model: a backward outside it
    # would disturb its gradient hooks); the projection is logged with the model's summary.
    step_seconds, projection = 0.0, []
    if first_step < config.max_steps:
        probe = launch.take(plan, min(first_index, len(plan) - 1))[0].to(device)
        step_seconds = _probe_step_seconds(model, task, probe, None, autocast, device)
        elapsed = resumed["elapsed"] if resumed else 0.0
        projection = _projection(config, first_step, step_seconds, elapsed)
    model_loss = launch.wrap(model, task)  # task.loss(model, ...), through DDP when distributed
    if launch.world_size > 1:  # dropout masks: each rank its own stream
        torch.manual_seed(distributed.rank_seed(config.seed, launch.rank))
    optimizer = _make_optimizer(model, config)
    plateau_scale = 1.0

    step, epoch, batch_index = 0, 0, 0
    best_nll, evals_since_best, bad_in_row, skipped = math.inf, 0, 0, 0
    tokens_seen, elapsed_before = 0, 0.0
    history: list[dict[str, float]] = []
    carry = None
    if resumed:
        optimizer.load_state_dict(resumed["optimizer"])
        if scaler.is_enabled() and resumed.get("scaler"):
            scaler.load_state_dict(resumed["scaler"])
        step, epoch, batch_index = resumed["step"], resumed["epoch"], resumed["batch_index"]
        best_nll = resumed["best_valid_nll"]
        evals_since_best = resumed["evals_since_best"]
        skipped, tokens_seen = resumed["skipped_steps"], resumed["tokens_seen"]
        elapsed_before, history = resumed["elapsed"], list(resumed["history"])
        plateau_scale = resumed["plateau_scale"]
        torch_rng, cuda_rng = resumed["torch_rng"], resumed.get("cuda_rng")
        if launch.world_size > 1:  # each rank its own stream (if the rank count is the same)
            ranks = resumed.get("rank_rng") or []
            if len(ranks) == launch.world_size:
                torch_rng, cuda_rng = ranks[launch.rank], resumed["rank_cuda_rng"][launch.rank]
            else:
                torch.manual_seed(distributed.rank_seed(config.seed, launch.rank, step))
                torch_rng, cuda_rng = torch.get_rng_state(), None
        torch.set_rng_state(torch_rng)
        if device.type == "cuda" and cuda_rng is not None:
            torch.cuda.set_rng_state(cuda_rng)
        lanes = launch.lanes(config.batch_size)  # the checkpoint holds every lane's state
        carry = distributed.split_lanes(resumed["carry"], lanes) if resumed["carry"] else None
        carry = tuple(s.to(device) for s in carry) if carry else None

    has_valid = bool(corpus.valid)
    valid_plan = None
    if has_valid and launch.is_main:  # rank 0 validates and tells the others the result
        valid_plan = task.plan(
            corpus.valid,
            tokenizer,
            task.valid_lanes(config.batch_size, len(corpus.valid)),
            config.seq_len,
            shuffle=False,
        )
    run_info = dict(info or {})
    baseline = task.baseline(corpus)
    if baseline is not None:
        run_info.setdefault("unigram_valid_nll", baseline)
    started = time.perf_counter()

    def train_state() -> dict[str, Any]:
        own = {  # every rank's random streams and lanes (a collective under torchrun)
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state(device) if device.type == "cuda" else None,
            "carry": [s.detach().cpu() for s in carry] if carry is not None else [],
        }
        ranks = launch.gather(own)
        state = {
            "train_config": config.to_dict(),
            "step": step,
            "epoch": epoch,
            "batch_index": batch_index,
            "best_valid_nll": best_nll,
            "evals_since_best": evals_since_best,
            "skipped_steps": skipped,
            "tokens_seen": tokens_seen,
            "elapsed": elapsed_before + time.perf_counter() - started,
            "history": history,
            "plateau_scale": plateau_scale,
            "optimizer": optimizer.state_dict(),
            "scaler": scaler.state_dict() if scaler.is_enabled() else None,
            "torch_rng": ranks[0]["torch_rng"],
            "cuda_rng": ranks[0]["cuda_rng"],
            "carry": distributed.join_lanes([r["carry"] for r in ranks]),
        }
        if launch.world_size > 1:
            state["rank_rng"] = [r["torch_rng"] for r in ranks]
            state["rank_cuda_rng"] = [r["cuda_rng"] for r in ranks]
        return state

    def checkpoint_info() -> dict[str, Any]:
        return {
            **run_info,
            "steps": step,
            "best_valid_nll": best_nll if math.isfinite(best_nll) else None,
            "wall_seconds": round(elapsed_before + time.perf_counter() - started, 1),
            "tokens_seen": tokens_seen,
        }

    def save_last() -> None:
        state = train_state()
        if not launch.is_main:
            return
        save_checkpoint(
            last,
            model,
            tokenizer,
            family=task.family,
            train_state=state,
            info=checkpoint_info(),
        )

    def save_best() -> None:
        if not launch.is_main:
            return
        save_checkpoint(
            out, model, tokenizer, family=task.family, train_state=None, info=checkpoint_info()
        )

    parameters = sum(p.numel() for p in model.parameters())
    log(
        f"model: {task.family} {getattr(model.config, 'cell', '')}, {parameters:,} parameters "
        f"on {device}; {task.describe(corpus)}"
    )
    if launch.world_size > 1:
        log(
            f"torchrun: {launch.world_size} processes, each trains "
            f"{config.batch_size // launch.world_size} of the {config.batch_size} lanes of a batch"
        )
    if baseline is not None:
        log(f"baseline (unigram): valid NLL {baseline:.3f} nats/{task.units}")

    stop_reason, interrupted = "max steps", False
    recent_loss, recent_tokens = 0.0, 0
    window_started, window_tokens = time.perf_counter(), 0
    for line in projection:
        log(line)
    # When the clock will end the run before its steps do, the bar counts the clock's seconds
    # (its ETA is then the time left, exactly) and shows the step beside them.
    budget_seconds = config.max_minutes * 60 - elapsed_before if config.max_minutes else 0.0
    steps_seconds = (config.max_steps - step) * step_seconds
    by_clock = bool(config.max_minutes) and steps_seconds > budget_seconds
    bar = tqdm(
        total=int(max(budget_seconds, 1)) if by_clock else config.max_steps,
        initial=0 if by_clock else step,
        disable=not progress,
        unit="s" if by_clock else "step",
        dynamic_ncols=True,
        file=sys.stderr,
        bar_format="{l_bar}{bar}| {n:.0f}/{total} s [{elapsed}<{remaining}{postfix}]"
        if by_clock
        else None,
    )
    speed_average = 0.0  # tokens/s, moving average over about the last 20 steps
    step_started = loop_started = time.perf_counter()
    loop_first_step = step
    try:
        while step < config.max_steps:
            if batch_index >= len(plan):
                epoch, batch_index = epoch + 1, 0
                plan = _epoch_plan(task, corpus, config, epoch)
            batch, weight = launch.take(plan, batch_index)  # this rank's share
            batch = batch.to(device)
            batch_index += 1
            minutes = (time.perf_counter() - started) / 60
            for param_group in optimizer.param_groups:
                param_group["lr"] = config.lr * _lr_factor(config, step, minutes) * plateau_scale
            with autocast():
                loss_sum, count, new_carry = model_loss(batch, carry)
            carry = model.detach_state(new_carry)
            # loss_sum / n_tokens over the whole (global) batch; distributed.py says how
            loss, n_tokens, mean_loss = launch.mean_loss(loss_sum, count, weight)
            if n_tokens == 0:
                continue
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.unscale_(optimizer)
            grad_norm = torch.nn.utils.clip_grad_norm_(
                model.parameters(), config.clip_norm if config.clip_norm > 0 else math.inf
            )
            loss_value = loss.item() if mean_loss is None else mean_loss
            norm_value = grad_norm.item()
            if scaler.is_enabled() and math.isfinite(loss_value) and not math.isfinite(norm_value):
                scaler.step(optimizer)  # fp16 overflow: the scaler skips the step, lowers the scale
                scaler.update()
                skipped += 1
                continue
            if not (math.isfinite(loss_value) and math.isfinite(norm_value)):
                skipped += 1
                bad_in_row += 1
                carry = None  # a NaN state would poison the lanes' next windows
                optimizer.zero_grad(set_to_none=True)
                log(f"step {step}: NaN/Inf loss or gradient; step skipped ({bad_in_row} in a row)")
                if bad_in_row >= config.max_bad_steps:
                    raise TrainingStopped(
                        f"{bad_in_row} steps in a row had NaN/Inf loss or gradients; stopped. "
                        f"The last good checkpoints are intact: {out}, {last}. Try a lower "
                        f"--lr or a smaller --clip-norm."
                    )
                continue
            bad_in_row = 0
            scaler.step(optimizer)
            scaler.update()
            step += 1
            tokens_seen += n_tokens
            window_tokens += n_tokens
            recent_loss += loss_value * n_tokens
            recent_tokens += n_tokens
            now = time.perf_counter()
            seconds_per_step, step_started = now - step_started, now
            rate = n_tokens / max(seconds_per_step, 1e-9)
            speed_average = rate if step == 1 else 0.95 * speed_average + 0.05 * rate
            if step - loop_first_step == RECHECK_STEPS:  # the probe may have met a busy machine
                measured = (now - loop_started) / RECHECK_STEPS
                if abs(measured / max(step_seconds, 1e-9) - 1) > 0.25:
                    lines = _projection(config, step, measured, elapsed_before + now - started)
                    lines[0] = f"after {RECHECK_STEPS} steps: " + lines[0]
                    for line in lines:
                        if progress:
                            tqdm.write(line, file=sys.stderr)
                        else:
                            log(line)
            if by_clock:
                bar.update(min(now - started, bar.total) - bar.n)
            else:
                bar.update(1)
            bar.set_postfix(
                step=step,
                loss=f"{recent_loss / max(recent_tokens, 1):.3f}",
                tok_s=f"{speed_average:,.0f}",
                refresh=False,
            )

            if step % config.log_every == 0 or step == config.max_steps:
                seconds = time.perf_counter() - window_started
                speed = window_tokens / max(seconds, 1e-9)
                train_nll = recent_loss / max(recent_tokens, 1)
                if not progress:
                    log(
                        f"step {step}: train {train_nll:.3f} nats/{task.units}, grad norm "
                        f"{norm_value:.2f}, lr {optimizer.param_groups[0]['lr']:.2e}, "
                        f"{speed:,.0f} tokens/s"
                    )
                history.append(
                    {
                        "step": step,
                        "train_nll": train_nll,
                        "grad_norm": norm_value,
                        "tokens_per_s": speed,
                    }
                )
                recent_loss, recent_tokens = 0.0, 0
                window_started, window_tokens = time.perf_counter(), 0

            minutes = (time.perf_counter() - started) / 60
            out_of_time, interrupted = launch.agree(
                bool(config.max_minutes) and minutes >= config.max_minutes, launch.interrupted
            )  # under torchrun: all ranks stop after the same step
            if interrupted:
                raise KeyboardInterrupt
            if has_valid and (
                step % config.eval_every == 0 or step == config.max_steps or out_of_time
            ):
                nll = launch.broadcast(
                    evaluate(model, valid_plan, device, config.eval_batches, task)
                    if launch.is_main
                    else 0.0
                )
                improved = nll < best_nll
                if improved:
                    best_nll, evals_since_best = nll, 0
                    save_best()
                else:
                    evals_since_best += 1
                    if config.schedule == "plateau":
                        plateau_scale *= 0.5
                history.append({"step": step, "valid_nll": nll})
                message = (
                    f"step {step}: valid {nll:.4f} nats/{task.units} ({nll / LN2:.4f} bits)"
                    f"{' — best, saved ' + str(out) if improved else ''}"
                )
                if progress:
                    tqdm.write(message, file=sys.stderr)
                else:
                    log(message)
                if config.patience and evals_since_best >= config.patience:
                    stop_reason = f"early stopping: no improvement in {config.patience} validations"
                    break
            if on_step is not None:
                report = {
                    "step": step,
                    "max_steps": config.max_steps,
                    "loss": loss_value,
                    "tokens_seen": tokens_seen,
                    "seconds": elapsed_before + time.perf_counter() - started,
                }
                if history and history[-1].get("step") == step and "valid_nll" in history[-1]:
                    report["valid_nll"] = history[-1]["valid_nll"]
                if launch.agree(bool(on_step(report)))[0]:
                    stop_reason = "stopped on request"
                    break
            if step % config.save_every == 0:
                save_last()
            if out_of_time:  # validated above, so the best model reflects the last steps
                stop_reason = f"time limit of {config.max_minutes} minutes"
                break
    except KeyboardInterrupt:
        stop_reason = "interrupted (Ctrl-C)"
        bar.close()
        if launch.world_size == 1 or interrupted:  # under torchrun: only when all ranks stopped
            save_last()
            if not has_valid or not out.exists():
                save_best()
            log(f"interrupted at step {step}: saved {last}; continue with --resume")
            launch.barrier()
        raise
    finally:
        bar.close()

    save_last()
    if not has_valid or not out.exists():
        save_best()  # no validation data: the last model is the best we know
    launch.barrier()  # under torchrun: no rank returns before rank 0 has written the files
    result = TrainResult(
        best_path=out,
        last_path=last,
        steps=step,
        best_valid_nll=best_nll if math.isfinite(best_nll) else None,
        train_nll=next((h["train_nll"] for h in reversed(history) if "train_nll" in h), None),
        wall_seconds=elapsed_before + time.perf_counter() - started,
        tokens_seen=tokens_seen,
        skipped_steps=skipped,
        stop_reason=stop_reason,
        history=history,
    )
    log(
        f"done ({stop_reason}): {step} steps, {result.wall_seconds:.0f} s, best valid "
        f"{_fmt(result.best_valid_nll)} nats/{task.units}; best model {out}, resumable state {last}"
    )
    return result


def _epoch_plan(task, corpus: TokenCorpus, config: TrainConfig, epoch: int):
    """The training batches of one epoch, rebuilt the same from (seed, epoch) on resume."""
    return task.plan(
        corpus.train,
        corpus.tokenizer,
        config.batch_size,
        config.seq_len,
        seed=config.seed,
        epoch=epoch,
        transpose=config.transpose,
        cond_dropout=config.style_dropout,
    )


def _probe_step_seconds(model, task, batch, carry, autocast, device: torch.device) -> float:
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


LONG_RUN_MINUTES = 60  # a projection above this, with no --max-minutes, gets a warning
RECHECK_STEPS = 20  # the projection is said again after this many steps if it was off by 25%


def _projection(config: TrainConfig, step: int, step_seconds: float, elapsed: float) -> list[str]:
    """What the measured step time means for this run: its wall time, and where it stops."""
    steps_left = config.max_steps - step
    minutes = steps_left * step_seconds / 60
    lines = [
        f"measured {step_seconds:.3f} s per step (forward and backward on one batch): "
        f"{steps_left:,} steps ≈ {_duration(minutes)}"
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
            f"warning: this run is projected to take {_duration(minutes)}; set --max-minutes "
            f"to bound it (the schedule then follows the clock), or train a smaller model "
            f"(--hidden-size, --layers) or fewer --max-steps"
        )
    return lines


def _duration(minutes: float) -> str:
    if minutes < 1:
        return f"{minutes * 60:.0f} s"
    if minutes < 90:
        return f"{minutes:.0f} min"
    return f"{minutes // 60:.0f} h {minutes % 60:02.0f} min"


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"
