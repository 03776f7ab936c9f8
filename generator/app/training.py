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
from dataclasses import dataclass, field
from pathlib import Path

from generator.app.models import PIANOROLL
from generator.app.settings import (
    AppError,
    AppSettings,
    Notice,
    UserErrors,
    safe_name,
    user_error,
    visitor_folder,
)
from generator.app.uploads import MUSIC, TEXT, WHAT, StagedUpload, stage_uploads, upload_kind
from generator.config import TrainConfig
from generator.training.background import TrainingJob, TrainingSpec
from generator.validation import check_range

MAX_TRAIN_STEPS = 5_000
MAX_TRAIN_MINUTES = 30.0
MAX_TRAINED_BYTES = 2_000_000_000  # all trained models together; Train is refused beyond
MAX_MODELS_PER_VISITOR = 10  # a visitor's oldest models go beyond this
KEEP_VISITOR_MODELS_DAYS = 7  # a visitor's models untouched this long are deleted
EVAL_BATCHES = 64  # validation windows per evaluation: a 50 MB upload's held-out part is not
# read whole every eval_every steps

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
    the pitch skip (the recipe of generator/checkpoints/pianoroll.pt and the JSB benchmark)."""
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


@dataclass
class ActiveJob:
    """The app's one training job: who started it, what it trains, and how it ended."""

    job_id: str
    job: TrainingJob
    owner: str  # visitor_folder of the visitor who started it ("" without a visitor)
    settings: AppSettings
    visitor: str | None
    staged: StagedUpload
    job_dir: Path
    model_name: str
    kind: str  # the picker the model goes to: "music" or "text"
    unit: str  # "token" or "frame"
    final: TrainProgress | None = None  # how it ended, once saved (or failed)
    done: threading.Event = field(default_factory=threading.Event)


class TrainingJobs:
    """The app's training: one job at a time (a second Train is refused, naming whose job
    runs). The job belongs to the visitor who started it: only that visitor sees its progress
    and may stop it, also after reloading the page. A thread of the app watches each job to
    its end and saves the model, whether or not a page is watching."""

    def __init__(self) -> None:
        self._active: ActiveJob | None = None
        self._lock = threading.Lock()

    def refuse_if_busy(self, owner: str) -> None:
        """An AppError when a job runs, saying whose."""
        with self._lock:
            self._refuse_if_busy(owner)

    def _refuse_if_busy(self, owner: str) -> None:
        running = self._active
        if running is not None and not running.done.is_set():
            whose = "Your" if running.owner == owner else "Another visitor's"
            raise AppError(
                f"{whose} training is running; one runs at a time. Train again when it ends "
                f"(at most {MAX_TRAIN_MINUTES:.0f} minutes)."
            )

    def begin(self, active: ActiveJob) -> None:
        """Make ``active`` the running job and start it, or an AppError if one runs already."""
        with self._lock:
            self._refuse_if_busy(active.owner)
            self._active = active
        try:
            active.job.start()
        except BaseException:
            active.done.set()  # never started: the server is free again
            raise
        threading.Thread(target=_finish, args=(active,), daemon=True).start()

    def get(self, job_id: str | None) -> TrainingJob | None:
        """The running job with this id, else None."""
        with self._lock:
            active = self._active
        if active and job_id and active.job_id == job_id and not active.done.is_set():
            return active.job
        return None

    def of(self, owner: str) -> ActiveJob | None:
        """The latest job of a visitor (running or ended), else None."""
        with self._lock:
            active = self._active
        return active if active is not None and active.owner == owner else None

    def running(self) -> bool:
        with self._lock:
            return self._active is not None and not self._active.done.is_set()

    def stop_all(self) -> None:
        with self._lock:
            active = self._active
        if active is not None:
            active.job.kill()


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
        eval_batches=EVAL_BATCHES,
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

    An AppError when the files decide and they mix MIDI and text (naming both), or hold
    neither. ``found``: ``upload_kind(files)`` when the caller has it already (zips are read)."""
    if choice not in KIND_CHOICES:
        raise AppError(f"Pick what to train from the list, not {choice!r}.")
    if KIND_CHOICES[choice]:
        return KIND_CHOICES[choice]
    kind, names = found or upload_kind(files)
    if kind:
        return kind
    if names[MUSIC] and names[TEXT]:
        raise AppError(
            f"These uploads mix music and text. MIDI: {_names(names[MUSIC])}; text: "
            f"{_names(names[TEXT])}. Train one kind at a time: remove the files of the other "
            "kind, or pick Music or Text under 'What to train' (the other files are skipped)."
        )
    raise AppError(
        "None of the uploads is a MIDI file (.mid, .midi), a text file (.txt, .md), or a .zip "
        "holding some."
    )


def describe_upload(
    files: list[str] | None, choice: str = KIND_AUTO
) -> tuple[str | None, str, Notice | None]:
    """On upload: (the kind the files train or None, a line for the page, a notice or None).
    Never raises: a mixed upload gets a warning now, and an error only if the user presses
    Train."""
    if not files:
        return None, "", None
    found = upload_kind(files)
    try:
        kind = training_kind(files, choice, found)
    except AppError as error:
        return None, f"⚠ {error.message}", Notice("warning", error.message)
    _, names = found
    files_kind = _files_kind(kind)
    count = len(names[files_kind])
    if not count:
        return None, f"⚠ None of the uploads is a {WHAT[files_kind]} or a zip holding some.", None
    where = "the Compose tab" if _picker(kind) == MUSIC else "the Write tab"
    other = names[TEXT if files_kind == MUSIC else MUSIC]
    what = "piano-roll" if kind == PIANOROLL else kind
    line = (
        f"{count} {'MIDI' if files_kind == MUSIC else 'text'} upload{'s' if count != 1 else ''}: "
        f"trains a **{what}** model (it appears in {where})."
    )
    if other:
        line += f" Skipped as not {files_kind}: {_names(other)}."
    return kind, line, None


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
    visitor: str | None = None,
) -> Iterator[TrainProgress]:
    """Stage the uploads, train in a worker process, and yield progress until it ends.

    ``kind`` is a KIND_CHOICES label: what to train, or "From the files". Music models take
    ``style``; text models take ``tokenizer`` (a TOKENIZERS label) and, for SentencePiece,
    ``vocab_size``. One job runs at a time. The finished (or stopped) model is saved in the
    ``visitor``'s models (``AppSettings.visitor_models_dir``) and listed in that visitor's
    pickers. Closing or reloading the page leaves the job running; ``watch_training`` shows it
    again, and the model is saved when it ends."""
    if not files:
        raise AppError(
            "Upload MIDI files (.mid, .midi) or text files (.txt, .md), or a .zip of them, first."
        )
    if preset not in PRESETS:
        raise AppError(f"Pick a model size from the list, not {preset!r}.")
    if tokenizer not in TOKENIZERS:
        raise AppError(f"Pick a tokenizer from the list, not {tokenizer!r}.")
    with UserErrors("Invalid setting"):
        steps = check_range("training steps", steps, 10, MAX_TRAIN_STEPS, integer=True)
        vocab_size = check_range(
            "subword vocabulary", vocab_size, MIN_SUBWORDS, MAX_SUBWORDS, integer=True
        )
    kind = training_kind(files, kind)
    owner = visitor_folder(visitor) if visitor else ""
    jobs.refuse_if_busy(owner)
    _check_disk(settings)
    model_name = safe_name(name or "", f"my-{kind}")
    job_dir = settings.training_dir / uuid.uuid4().hex
    files_kind = _files_kind(kind)
    staged = stage_uploads(files, job_dir / "data", style or "", files_kind)
    if staged.files == 0:
        shutil.rmtree(job_dir, ignore_errors=True)
        raise AppError(
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
        cache_dir=job_dir / "cache",  # the visitor's tokens: removed with the job
        info={"trained_in": "app", "preset": preset, "name": model_name},
        kind=kind,
        **options,
    )
    unit = "frame" if kind == PIANOROLL else "token"
    active = ActiveJob(
        uuid.uuid4().hex, TrainingJob(spec), owner, settings, visitor, staged, job_dir,
        model_name, _picker(kind), unit,
    )  # fmt: skip
    try:
        jobs.begin(active)
    except AppError:
        shutil.rmtree(job_dir, ignore_errors=True)
        raise
    yield TrainProgress(
        active.job_id, "Reading the uploaded files…", staged.summary(), [], True, kind=active.kind
    )
    yield from _watch(active, poll_seconds, announce=True)


def watch_training(
    jobs: TrainingJobs, visitor: str | None, poll_seconds: float = 1.0
) -> Iterator[TrainProgress]:
    """For a page that opens (or reloads): the visitor's training as it goes on, to its end;
    else one update saying that none runs (or that another visitor's does)."""
    active = jobs.of(visitor_folder(visitor) if visitor else "")
    if active is None or (active.done.is_set() and active.final is None):
        busy = jobs.running()
        status = (
            "Another visitor's model is training (one job at a time); you can train when it ends."
            if busy
            else "No training running."
        )
        yield TrainProgress(None, status, "", [], False)
        return
    yield from _watch(active, poll_seconds, announce=not active.done.is_set())


def _watch(active: ActiveJob, poll_seconds: float, announce: bool) -> Iterator[TrainProgress]:
    """Progress of a job until it ends, then how it ended. ``announce``: this page saw it run,
    so a saved model is selected in its picker and a failure is raised as an error too."""
    job = active.job
    while not active.done.wait(poll_seconds):
        yield TrainProgress(
            active.job_id, _job_status(job), _report(active.staged, job), _curve(job), True,
            kind=active.kind,
        )  # fmt: skip
    final = active.final or TrainProgress(
        None, "Training ended without a result (the server stopped it).", "", [], False
    )
    if announce:
        yield final
        if final.new_model_key is None:
            raise user_error(final.status)
    else:
        yield TrainProgress(None, final.status, final.report, final.curve, False, kind=final.kind)


def _finish(active: ActiveJob) -> None:
    """The app's watcher of a job: poll it to its end, save the model, record the outcome."""
    job = active.job
    try:
        while not job.finished:
            job.poll(timeout=1.0)
        report = _report(active.staged, job)
        target = _save_trained(active)
        if target is None:
            message = f"Training failed: {_hide_paths(job, job.error)}"
            active.final = TrainProgress(
                None, message, report, _curve(job), False, kind=active.kind
            )
            return
        result = job.result
        valid = result.get("best_valid_nll")
        tab = "Compose" if active.kind == MUSIC else "Write"
        status = (
            f"Saved **{target.stem}**: trained {result['steps']} steps in "
            f"{_clock(result['wall_seconds'])} ({result['stop_reason']})"
            + (
                f"; kept the best, valid loss {valid:.3f} nats/{active.unit}"
                if valid is not None
                else ""
            )
            + f". It is selected in the {tab} tab."
        )
        key = _model_key(active, target)
        active.final = TrainProgress(None, status, report, _curve(job), False, key, active.kind)
    except OSError as error:  # the model could not be saved (disk full, ...)
        message = f"Training failed: the model could not be saved ({error.strerror or error})"
        active.final = TrainProgress(None, message, "", _curve(job), False, kind=active.kind)
    finally:
        shutil.rmtree(active.job_dir, ignore_errors=True)
        active.done.set()


def _model_key(active: ActiveJob, target: Path) -> str:
    """The picker key of a saved model (models.list_models makes the same)."""
    if target.parent == active.settings.models_dir:
        return f"trained:{target.stem}"
    return f"mine:{target.parent.name}:{target.stem}"


def _check_disk(settings: AppSettings) -> None:
    """Clean up visitors' old models, then refuse to train when trained models fill the cap."""
    cutoff = time.time() - KEEP_VISITOR_MODELS_DAYS * 86400
    if settings.visitors_dir.is_dir():
        for path in settings.visitors_dir.glob("*/*.pt"):
            try:
                if path.stat().st_mtime < cutoff:
                    path.unlink()
            except OSError:
                pass
    used = sum(p.stat().st_size for p in settings.models_dir.rglob("*.pt") if p.is_file())
    if used > MAX_TRAINED_BYTES:
        raise AppError(
            f"The trained models fill this server's space ({used / 1e6:,.0f} MB of "
            f"{MAX_TRAINED_BYTES / 1e6:,.0f} MB); ask its owner to clear some."
        )


def _hide_paths(job: TrainingJob, text: str | None) -> str:
    """The job's messages without the server's folders in them."""
    return (text or "").replace(str(job.spec.data), "your uploads")


def _report(staged: StagedUpload, job: TrainingJob) -> str:
    if not job.corpus_summary:
        return staged.summary()
    return f"{staged.summary()}\n\n{_hide_paths(job, job.corpus_summary)}"


def _save_trained(active: ActiveJob) -> Path | None:
    """Copy a finished job's best model into the visitor's models (atomically), keeping at
    most MAX_MODELS_PER_VISITOR there; None on error."""
    job = active.job
    if job.result is None:
        return None
    folder = active.settings.visitor_models_dir(active.visitor)
    folder.mkdir(parents=True, exist_ok=True)
    target = _unique_path(folder, active.model_name)
    temporary = target.with_name(f".{target.name}.tmp")
    shutil.copyfile(job.result["best_path"], temporary)
    os.replace(temporary, target)
    if folder != active.settings.models_dir:
        models = sorted(folder.glob("*.pt"), key=lambda p: p.stat().st_mtime)
        for old in models[:-MAX_MODELS_PER_VISITOR]:
            old.unlink(missing_ok=True)
    return target


def stop_training(jobs: TrainingJobs, job_id: str | None = None, visitor: str | None = None) -> str:
    """Ask a running job to stop after its current step; it still saves the model. The job is
    named by its id, or by the visitor who started it."""
    job = jobs.get(job_id)
    if job is None and visitor:
        active = jobs.of(visitor_folder(visitor))
        job = active.job if active is not None and not active.done.is_set() else None
    if job is None:
        return "No training is running."
    job.stop()
    return "Stopping after the current step; the model learned so far will be saved…"


def _unique_path(folder: Path, stem: str) -> Path:
    path, number = folder / f"{stem}.pt", 2
    while path.exists():
        path, number = folder / f"{stem}-{number}.pt", number + 1
    return path
