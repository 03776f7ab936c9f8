"""Train: stage uploads, train in a worker process, stream progress, save a listed model."""

from __future__ import annotations

import math
import os
import shutil
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import gradio as gr

from app_handlers.settings import AppSettings, UserErrors, safe_name
from app_handlers.uploads import StagedUpload, stage_uploads
from generator.config import TrainConfig
from generator.training.background import TrainingJob, TrainingSpec
from generator.validation import check_range

MAX_TRAIN_STEPS = 5_000
MAX_TRAIN_MINUTES = 30.0

# Model sizes a user can train on a CPU in minutes; fields of generator.config.ModelConfig.
PRESETS: dict[str, dict] = {
    "Tiny — GRU, 128 units (fastest)": dict(
        cell="gru", embedding_size=64, hidden_size=128, num_layers=1, dropout=0.0
    ),
    "Small — LSTM, 256 units": dict(
        cell="lstm", embedding_size=96, hidden_size=256, num_layers=1, dropout=0.1
    ),
    "Medium — LSTM, 2 × 384 units (slow on a CPU)": dict(
        cell="lstm", embedding_size=128, hidden_size=384, num_layers=2, dropout=0.1
    ),
}


class TrainingJobs:
    """The app's training jobs by id (one process each); a lock guards the table."""

    def __init__(self) -> None:
        self._jobs: dict[str, TrainingJob] = {}
        self._lock = threading.Lock()

    def add(self, job: TrainingJob) -> str:
        job_id = uuid.uuid4().hex
        with self._lock:
            self._jobs[job_id] = job
        return job_id

    def get(self, job_id: str | None) -> TrainingJob | None:
        with self._lock:
            return self._jobs.get(job_id or "")

    def remove(self, job_id: str) -> None:
        with self._lock:
            self._jobs.pop(job_id, None)

    def stop_all(self) -> None:
        with self._lock:
            jobs = list(self._jobs.values())
        for job in jobs:
            job.kill()


@dataclass
class TrainProgress:
    """One update of the Train tab."""

    job_id: str | None
    status: str
    report: str
    curve: list[dict]  # {"step", "loss", "split"} points of the loss curve
    running: bool
    new_model_key: str | None = None  # set when a model was saved


def train_config_for(steps: int) -> TrainConfig:
    """Training settings for a run of ``steps`` steps in the app."""
    every = max(25, steps // 10)
    return TrainConfig(
        batch_size=16,
        seq_len=128,
        max_steps=steps,
        warmup_steps=min(50, steps // 10),
        eval_every=every,
        save_every=every,
        log_every=max(10, steps // 20),
        max_minutes=MAX_TRAIN_MINUTES,
        device="auto",
    )


def _curve(job: TrainingJob, max_points: int = 300) -> list[dict]:
    """Smoothed training loss (an exponential average) and validation loss against step."""
    points, average = [], None
    stride = max(1, len(job.steps) // max_points)
    for index, event in enumerate(job.steps):
        loss = event["loss"]
        average = loss if average is None else 0.9 * average + 0.1 * loss
        if index % stride == 0 or index == len(job.steps) - 1:
            points.append({"step": event["step"], "loss": average, "split": "train"})
        if "valid_nll" in event:
            points.append({"step": event["step"], "loss": event["valid_nll"], "split": "valid"})
    return points


def _clock(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "–"
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}:{secs:02d}"


def _job_status(job: TrainingJob) -> str:
    if not job.steps:
        return "Reading the uploaded files…" if job.corpus_summary is None else "Starting…"
    last = job.steps[-1]
    speed, left = job.rates()
    valid = next((s["valid_nll"] for s in reversed(job.steps) if "valid_nll" in s), None)
    parts = [
        f"step {last['step']} / {last['max_steps']}",
        f"loss {last['loss']:.3f}" + (f" (valid {valid:.3f})" if valid is not None else ""),
        f"{speed:,.0f} tokens/s" if speed else "– tokens/s",
        f"ETA {_clock(left)}",
        f"elapsed {_clock(last['seconds'])}",
    ]
    return ("Stopping… " if job.stopping else "Training… ") + " · ".join(parts)


def start_training(
    settings: AppSettings,
    jobs: TrainingJobs,
    files: list[str] | None,
    style: str = "",
    preset: str = next(iter(PRESETS)),
    steps: int = 300,
    name: str = "my-music",
    poll_seconds: float = 1.0,
) -> Iterator[TrainProgress]:
    """Stage the uploads, train in a worker process, and yield progress until it ends.

    The finished (or stopped) model is saved as ``models/<name>.pt`` and listed in the pickers.
    Closing the page stops the run (what it learned so far is still saved)."""
    if not files:
        raise gr.Error("Upload MIDI files (.mid, .midi) or one .zip of them first.")
    if preset not in PRESETS:
        raise gr.Error(f"Pick a model size from the list, not {preset!r}.")
    with UserErrors("Invalid setting"):
        steps = check_range("training steps", steps, 10, MAX_TRAIN_STEPS, integer=True)
    model_name = safe_name(name or "", "my-music")
    job_dir = settings.training_dir / f"{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:8]}"
    staged = stage_uploads(files, job_dir / "data", style or "")
    if staged.midi_files == 0:
        shutil.rmtree(job_dir, ignore_errors=True)
        raise gr.Error(
            "None of the uploads is a MIDI file (.mid, .midi) or a zip holding some.\n"
            + staged.summary()
        )
    spec = TrainingSpec(
        data=job_dir / "data",
        out=job_dir / "model.pt",
        model=dict(PRESETS[preset]),
        train=train_config_for(steps),
        valid_fraction=0.1 if staged.midi_files >= 2 else 0.0,
        cache_dir=settings.cache_dir,
        info={"trained_in": "app", "preset": preset, "name": model_name},
    )
    job = TrainingJob(spec).start()
    job_id = jobs.add(job)
    finished = False
    try:
        yield TrainProgress(job_id, "Reading the uploaded files…", staged.summary(), [], True)
        while not job.finished:
            job.poll(timeout=poll_seconds)
            if not job.finished:
                yield TrainProgress(
                    job_id, _job_status(job), _report(staged, job), _curve(job), True
                )
        finished = True
        target = _save_trained(settings, job, job_dir, model_name)
        if target is None:
            message = f"Training failed: {job.error}"
            yield TrainProgress(None, message, _report(staged, job), _curve(job), False)
            raise gr.Error(message)
        result = job.result
        valid = result.get("best_valid_nll")
        status = (
            f"Saved **{target.stem}**: trained {result['steps']} steps in "
            f"{_clock(result['wall_seconds'])} ({result['stop_reason']})"
            + (f"; kept the best, valid loss {valid:.3f} nats/token" if valid is not None else "")
            + ". It is selected in the Compose tab."
        )
        key = f"trained:{target.stem}"
        yield TrainProgress(None, status, _report(staged, job), _curve(job), False, key)
    finally:
        jobs.remove(job_id)
        if not finished:  # the page went away: stop, and save what was learned when it ends
            job.stop()
            threading.Thread(
                target=_finish_later, args=(settings, job, job_dir, model_name), daemon=True
            ).start()


def _report(staged: StagedUpload, job: TrainingJob) -> str:
    if not job.corpus_summary:
        return staged.summary()
    corpus = job.corpus_summary.replace(str(job.spec.data), "your uploads")  # no server paths
    return f"{staged.summary()}\n\n{corpus}"


def _save_trained(settings: AppSettings, job: TrainingJob, job_dir: Path, name: str) -> Path | None:
    """Copy a finished job's best model to ``models/<name>.pt`` (atomically); None on error."""
    shutil.rmtree(job_dir / "data", ignore_errors=True)
    if job.result is None:
        return None
    target = _unique_path(settings.models_dir, name)
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.tmp")
    shutil.copyfile(job.result["best_path"], temporary)
    os.replace(temporary, target)
    return target


def _finish_later(settings: AppSettings, job: TrainingJob, job_dir: Path, name: str) -> None:
    while not job.finished:
        job.poll(timeout=1.0)
    _save_trained(settings, job, job_dir, name)


def stop_training(jobs: TrainingJobs, job_id: str | None) -> str:
    """Ask a running job to stop after its current step; it still saves the model."""
    job = jobs.get(job_id)
    if job is None:
        return "No training is running."
    job.stop()
    return "Stopping after the current step; the model learned so far will be saved…"


def _unique_path(folder: Path, stem: str) -> Path:
    path, number = folder / f"{stem}.pt", 2
    while path.exists():
        path, number = folder / f"{stem}-{number}.pt", number + 1
    return path
