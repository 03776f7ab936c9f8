"""Train: stage uploads, train in a worker process, stream progress, save a listed model.

The uploads decide what is trained (``upload_kind``): MIDI files make a music model (listed in
Compose), text files a text model (listed in Write); the user may also say which, or pick a
piano-roll model of MIDI files (whole chords per frame, listed in Compose). All go through the
package's corpus readers and trainer (generator.training.background)."""

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

from app_handlers.models import PIANOROLL
from app_handlers.settings import AppSettings, UserErrors, safe_name
from app_handlers.uploads import MUSIC, TEXT, WHAT, StagedUpload, stage_uploads, upload_kind
from generator.config import TrainConfig
from generator.training.background import TrainingJob, TrainingSpec
from generator.validation import check_range

MAX_TRAIN_STEPS = 5_000
MAX_TRAIN_MINUTES = 30.0

KIND_AUTO = "From the files"
KIND_CHOICES = {  # label → kind
    KIND_AUTO: None,
    "Music (MIDI)": MUSIC,
    "Text": TEXT,
    "Piano roll (MIDI, chords)": PIANOROLL,
}
PIANOROLL_FRAMES_PER_BEAT = 4  # the grid uploaded MIDI files are quantized to (sixteenths)
TOKENIZERS = {"Characters": "char", "SentencePiece subwords": "sentencepiece"}  # text only
DEFAULT_SUBWORDS = 1_000  # SentencePiece vocabulary (an upper bound: small texts give fewer)
MIN_SUBWORDS = 500  # its 256 byte pieces, the specials and the characters must fit
MAX_SUBWORDS = 16_000

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


def pianoroll_preset(fields: dict) -> dict:
    """A PRESETS entry as a piano-roll model of the same cell and size, with the NADE head and
    the pitch skip (the recipe of checkpoints/pianoroll.pt and the JSB benchmark)."""
    hidden = fields["hidden_size"]
    return dict(
        cell=fields["cell"],
        hidden_size=hidden,
        num_layers=fields["num_layers"],
        dropout=max(fields["dropout"], 0.3),
        head="nade",
        nade_hidden=max(32, hidden // 2),
        pitch_span=12,
        pitch_channels=16,
    )


def _files_kind(kind: str) -> str:
    """What files a kind trains on: piano-roll models read MIDI files, like music models."""
    return MUSIC if kind == PIANOROLL else kind


def _picker(kind: str) -> str:
    """The picker a trained model appears in: Compose ("music") or Write ("text")."""
    return TEXT if kind == TEXT else MUSIC


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
    kind: str = MUSIC  # the picker of the model: "music" (Compose, piano rolls too) or "text"


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


def _names(names: list[str], limit: int = 5) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def training_kind(
    files: list[str] | None,
    choice: str = KIND_AUTO,
    found: tuple[str | None, dict[str, list[str]]] | None = None,
) -> str:
    """What the uploads train, "music", "text" or "pianoroll": the user's choice, else what the
    files are ("music" or "text").

    A gr.Error when the files decide and they mix MIDI and text (naming both), or hold
    neither. ``found``: ``upload_kind(files)`` when the caller has it already (zips are read)."""
    if choice not in KIND_CHOICES:
        raise gr.Error(f"Pick what to train from the list, not {choice!r}.")
    if KIND_CHOICES[choice]:
        return KIND_CHOICES[choice]
    kind, names = found or upload_kind(files)
    if kind:
        return kind
    if names[MUSIC] and names[TEXT]:
        raise gr.Error(
            f"These uploads mix music and text. MIDI: {_names(names[MUSIC])}; text: "
            f"{_names(names[TEXT])}. Train one kind at a time: remove the files of the other "
            "kind, or pick Music or Text under 'What to train' (the other files are skipped)."
        )
    raise gr.Error(
        "None of the uploads is a MIDI file (.mid, .midi), a text file (.txt, .md), or a .zip "
        "holding some."
    )


def describe_upload(files: list[str] | None, choice: str = KIND_AUTO) -> tuple[str | None, str]:
    """On upload: (the kind the files train or None, a line for the page). Never raises: a
    mixed upload gets a warning now, and an error only if the user presses Train."""
    if not files:
        return None, ""
    found = upload_kind(files)
    try:
        kind = training_kind(files, choice, found)
    except gr.Error as error:
        gr.Warning(error.message)
        return None, f"⚠ {error.message}"
    _, names = found
    files_kind = _files_kind(kind)
    count = len(names[files_kind])
    if not count:
        return None, f"⚠ None of the uploads is a {WHAT[files_kind]} or a zip holding some."
    where = "the Compose tab" if _picker(kind) == MUSIC else "the Write tab"
    other = names[TEXT if files_kind == MUSIC else MUSIC]
    what = "piano-roll" if kind == PIANOROLL else kind
    line = (
        f"{count} {'MIDI' if files_kind == MUSIC else 'text'} upload{'s' if count != 1 else ''}: "
        f"trains a **{what}** model (it appears in {where})."
    )
    if other:
        line += f" Skipped as not {files_kind}: {_names(other)}."
    return kind, line


def start_training(
    settings: AppSettings,
    jobs: TrainingJobs,
    files: list[str] | None,
    style: str = "",
    preset: str = next(iter(PRESETS)),
    steps: int = 300,
    name: str = "",
    kind: str = KIND_AUTO,
    tokenizer: str = next(iter(TOKENIZERS)),
    vocab_size: int = DEFAULT_SUBWORDS,
    poll_seconds: float = 1.0,
) -> Iterator[TrainProgress]:
    """Stage the uploads, train in a worker process, and yield progress until it ends.

    ``kind`` is a KIND_CHOICES label: what to train, or "From the files". Music models take
    ``style``; text models take ``tokenizer`` (a TOKENIZERS label) and, for SentencePiece,
    ``vocab_size``. The finished (or stopped) model is saved as ``models/<name>.pt`` and listed
    in the pickers. Closing the page stops the run (what it learned so far is still saved)."""
    if not files:
        raise gr.Error(
            "Upload MIDI files (.mid, .midi) or text files (.txt, .md), or a .zip of them, first."
        )
    if preset not in PRESETS:
        raise gr.Error(f"Pick a model size from the list, not {preset!r}.")
    if tokenizer not in TOKENIZERS:
        raise gr.Error(f"Pick a tokenizer from the list, not {tokenizer!r}.")
    with UserErrors("Invalid setting"):
        steps = check_range("training steps", steps, 10, MAX_TRAIN_STEPS, integer=True)
        vocab_size = check_range(
            "subword vocabulary", vocab_size, MIN_SUBWORDS, MAX_SUBWORDS, integer=True
        )
    kind = training_kind(files, kind)
    model_name = safe_name(name or "", f"my-{kind}")
    job_dir = settings.training_dir / f"{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:8]}"
    files_kind = _files_kind(kind)
    staged = stage_uploads(files, job_dir / "data", style or "", files_kind)
    if staged.files == 0:
        shutil.rmtree(job_dir, ignore_errors=True)
        raise gr.Error(
            f"None of the uploads is a {WHAT[files_kind]} or a zip holding some.\n"
            + staged.summary()
        )
    options, model = {}, dict(PRESETS[preset])
    if kind == TEXT:
        options = dict(tokenizer=TOKENIZERS[tokenizer], vocab_size=vocab_size)
    elif kind == PIANOROLL:
        options = dict(frames_per_beat=PIANOROLL_FRAMES_PER_BEAT)
        model = pianoroll_preset(model)
    spec = TrainingSpec(
        data=job_dir / "data",
        out=job_dir / "model.pt",
        model=model,
        train=train_config_for(steps),
        # text: fewer than 10 files hold out the last 10% of each, so one file is enough
        valid_fraction=0.1 if staged.files >= 2 or kind == TEXT else 0.0,
        cache_dir=settings.cache_dir,
        info={"trained_in": "app", "preset": preset, "name": model_name},
        kind=kind,
        **options,
    )
    unit = "frame" if kind == PIANOROLL else "token"
    kind = _picker(kind)  # from here on: where the model is listed
    job = TrainingJob(spec).start()
    job_id = jobs.add(job)
    finished = False
    try:
        yield TrainProgress(
            job_id, "Reading the uploaded files…", staged.summary(), [], True, kind=kind
        )
        while not job.finished:
            job.poll(timeout=poll_seconds)
            if not job.finished:
                yield TrainProgress(
                    job_id, _job_status(job), _report(staged, job), _curve(job), True, kind=kind
                )
        finished = True
        target = _save_trained(settings, job, job_dir, model_name)
        if target is None:
            message = f"Training failed: {_hide_paths(job, job.error)}"
            yield TrainProgress(None, message, _report(staged, job), _curve(job), False, kind=kind)
            raise gr.Error(message)
        result = job.result
        valid = result.get("best_valid_nll")
        status = (
            f"Saved **{target.stem}**: trained {result['steps']} steps in "
            f"{_clock(result['wall_seconds'])} ({result['stop_reason']})"
            + (f"; kept the best, valid loss {valid:.3f} nats/{unit}" if valid is not None else "")
            + f". It is selected in the {'Compose' if kind == MUSIC else 'Write'} tab."
        )
        key = f"trained:{target.stem}"
        yield TrainProgress(None, status, _report(staged, job), _curve(job), False, key, kind)
    finally:
        jobs.remove(job_id)
        if not finished:  # the page went away: stop, and save what was learned when it ends
            job.stop()
            threading.Thread(
                target=_finish_later, args=(settings, job, job_dir, model_name), daemon=True
            ).start()


def _hide_paths(job: TrainingJob, text: str | None) -> str:
    """The job's messages without the server's folders in them."""
    return (text or "").replace(str(job.spec.data), "your uploads")


def _report(staged: StagedUpload, job: TrainingJob) -> str:
    if not job.corpus_summary:
        return staged.summary()
    return f"{staged.summary()}\n\n{_hide_paths(job, job.corpus_summary)}"


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
