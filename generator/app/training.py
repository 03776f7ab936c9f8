"""Train: stage uploads, train in a worker process, stream progress, save a listed model.

The uploads decide the recipe (generator/families/) unless the user picks one: MIDI files
train the ``music`` recipe (listed in Compose), text files the ``text`` recipe (listed in
Write); the user may also pick ``pianoroll`` for MIDI files (whole chords per frame, listed in
Compose). The worker (generator.training.background) trains through generator.api.train, the
road the CLI takes."""

from __future__ import annotations

import dataclasses
import math
import re
import shutil
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from generator.app.models import COMPOSE
from generator.app.settings import (
    AppError,
    AppSettings,
    Notice,
    UserErrors,
    hide_paths,
    safe_name,
    user_error,
    visitor_folder,
)
from generator.app.uploads import MIDI, NOUN, TEXT, WHAT, StagedUpload, stage_uploads, upload_format
from generator.atomic import atomic_write
from generator.config import MODEL_SIZE_SPEEDS, MODEL_SIZES, ModelConfig, TrainConfig
from generator.data.midi_corpus import find_midi_files
from generator.families import Recipe, get_recipe
from generator.training.background import TrainingJob, TrainingSpec
from generator.validation import check_range

MAX_TRAIN_STEPS = 5_000
MAX_TRAIN_MINUTES = 30.0
MAX_TRAINED_BYTES = 2_000_000_000  # all trained models together; Train is refused beyond
MAX_MODELS_PER_VISITOR = 10  # a visitor's oldest models go beyond this
KEEP_VISITOR_MODELS_DAYS = 7  # a visitor's models untouched this long are deleted
EVAL_BATCHES = 64  # validation windows per evaluation: a 50 MB upload's held-out part is not
# read whole every eval_every steps

RECIPE_AUTO = "From the files"
RECIPE_CHOICES = {  # label → recipe (generator/families/)
    RECIPE_AUTO: None,
    "Music (MIDI)": "music",
    "Text": "text",
    "Piano roll (MIDI, chords)": "pianoroll",
}
FRAMES_PER_BEAT = 4  # the grid a piano roll's MIDI uploads are quantized to (sixteenths)
TOKENIZERS = {"Characters": "char", "SentencePiece subwords": "sentencepiece"}  # text only
DEFAULT_SUBWORDS = 1_000  # SentencePiece vocabulary (an upper bound: small texts give fewer)
MIN_SUBWORDS = 500  # its 256 byte pieces, the specials and the characters must fit
MAX_SUBWORDS = 16_000

# Model sizes: generator.config's MODEL_SIZES (train music --size), named with their measured
# speed; each family makes its own config of one (Family.from_preset).
SIZE_SPEEDS_WHERE = "one thread of a shared 2-core CPU"  # where MODEL_SIZE_SPEEDS was measured


def _size_label(size: str) -> str:
    config = ModelConfig(**MODEL_SIZES[size])
    return (
        f"{size.title()} — {config.cell.upper()} {config.num_layers} × {config.hidden_size}, "
        f"~{MODEL_SIZE_SPEEDS[size]:,} tokens/s"
    )


def _size_fields(size: str) -> dict:
    """A size as the fields Family.from_preset takes (the model's other defaults kept)."""
    config = ModelConfig(**MODEL_SIZES[size])
    names = ("cell", "embedding_size", "hidden_size", "num_layers", "dropout")
    return {name: getattr(config, name) for name in names}


PRESETS: dict[str, dict] = {_size_label(size): _size_fields(size) for size in MODEL_SIZES}
PRESET_SIZES = {_size_label(size): size for size in MODEL_SIZES}  # label → --size name

# How a music upload becomes a corpus: the fields styles, exclude and group_by of the music
# recipe's options (generator/families/token_rnn.py, MusicData), as the CLI's flags set them.
STYLE_CHOICES = {"From the zip's folders": "folders", "None": "none"}  # label → --styles
MAX_EXCLUDE_PATTERNS = 20
MAX_EXCLUDE_CHARS = 100  # one pattern


def _uploads(recipe: Recipe) -> str:
    """The format of the uploads a recipe trains on: MIDI or TEXT files."""
    return recipe.reads[0]


def takes_option(recipe: str | None, option: str) -> bool:
    """Whether the recipe's data has ``option`` (a field of its options dataclass): music has
    styles, text a tokenizer. True while no recipe is known."""
    if recipe is None:
        return True
    return option in {f.name for f in dataclasses.fields(get_recipe(recipe).options)}


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
    tab: str  # the tab whose picker the model goes to: models.COMPOSE or models.WRITE
    unit: str  # "token" or "frame"
    notes: list[str] = field(default_factory=list)  # the app's lines about the data
    loose: list[str] = field(default_factory=list)  # staged files outside style folders
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
    tab: str = COMPOSE  # the tab whose picker lists the model (piano rolls too: Compose)


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
    """The status line of a running job, and below it what the trainer measured and projects.
    When the time limit will end the run before its last step, the line counts the clock
    (elapsed of the limit) and the ETA is the time left, as the CLI's progress bar does."""
    sizing = "".join(f"\n\n{line}" for line in _projection(job))
    if not job.steps:
        if job.corpus_summary is None:
            return "Reading the uploaded files…"
        return "Starting…" + sizing
    last = job.steps[-1]
    speed, left = job.rates()
    valid = next((s["valid_nll"] for s in reversed(job.steps) if "valid_nll" in s), None)
    limit = job.spec.train.max_minutes
    if job.by_clock():
        where = (
            f"step {last['step']} (the {limit:g}-minute limit ends the run before step "
            f"{last['max_steps']:,})"
        )
        elapsed = f"elapsed {_clock(last['seconds'])} of {_clock(limit * 60)}"
    else:
        where = f"step {last['step']} / {last['max_steps']}"
        elapsed = f"elapsed {_clock(last['seconds'])}"
    parts = [
        where,
        f"loss {last['loss']:.3f}" + (f" (valid {valid:.3f})" if valid is not None else ""),
        f"{speed:,.0f} tokens/s" if speed else "– tokens/s",
        f"ETA {_clock(left)}",
        elapsed,
    ]
    return ("Stopping… " if job.stopping else "Training… ") + " · ".join(parts) + sizing


def _projection(job: TrainingJob) -> list[str]:
    """The trainer's sizing lines in the app's words (it has a time limit, not a flag); the
    latest measure only (a recheck after a few steps replaces the first)."""
    lines = job.projection
    rechecks = [i for i, line in enumerate(lines) if line.startswith("after ")]
    if rechecks:
        lines = lines[rechecks[-1] :]
    limit = job.spec.train.max_minutes
    return [_app_words(line, limit) for line in lines]


def _app_words(line: str, limit: float) -> str:
    """A trainer's line as the app says it: a time limit, not a flag; a status, not a bar."""
    line = line.replace(f"--max-minutes {limit:g}", f"the app's {limit:g}-minute limit")
    line = line.replace("the progress bar, its ETA", "the ETA")
    return line[:1].upper() + line[1:]


def _names(names: list[str], limit: int = 5) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def training_recipe(
    files: list[str] | None,
    choice: str = RECIPE_AUTO,
    found: tuple[str | None, dict[str, list[str]]] | None = None,
) -> str:
    """The recipe the uploads train, "music", "text" or "pianoroll": the user's choice, else
    what the files are (MIDI: "music", text: "text").

    An AppError when the files decide and they mix MIDI and text (naming both), or hold
    neither. ``found``: ``upload_format(files)`` when the caller has it (zips are read)."""
    if choice not in RECIPE_CHOICES:
        raise AppError(f"Pick what to train from the list, not {choice!r}.")
    if RECIPE_CHOICES[choice]:
        return RECIPE_CHOICES[choice]
    uploads, names = found or upload_format(files)
    if uploads:
        return {MIDI: "music", TEXT: "text"}[uploads]  # the recipe that reads them
    if names[MIDI] and names[TEXT]:
        raise AppError(
            f"These uploads mix music and text. MIDI: {_names(names[MIDI])}; text: "
            f"{_names(names[TEXT])}. Train one at a time: remove the files of the other "
            "format, or pick Music or Text under 'What to train' (the other files are skipped)."
        )
    raise AppError(
        "None of the uploads is a MIDI file (.mid, .midi), a text file (.txt, .md), or a .zip "
        "holding some."
    )


def describe_upload(
    files: list[str] | None, choice: str = RECIPE_AUTO
) -> tuple[str | None, str, Notice | None]:
    """On upload: (the recipe the files train or None, a line for the page, a notice or None).
    Never raises: a mixed upload gets a warning now, and an error only if the user presses
    Train."""
    if not files:
        return None, "", None
    found = upload_format(files)
    try:
        name = training_recipe(files, choice, found)
    except AppError as error:
        return None, f"⚠ {error.message}", Notice("warning", error.message)
    recipe = get_recipe(name)
    _, names = found
    uploads = _uploads(recipe)
    count = len(names[uploads])
    if not count:
        return None, f"⚠ None of the uploads is a {WHAT[uploads]} or a zip holding some.", None
    other = names[TEXT if uploads == MIDI else MIDI]
    line = (
        f"{count} {NOUN[uploads]} upload{'s' if count != 1 else ''}: "
        f"trains a **{recipe.title}** model (it appears in the {recipe.tab.title()} tab)."
    )
    if other:
        line += f" Skipped as not {NOUN[uploads]}: {_names(other)}."
    return name, line, None


def start_training(
    settings: AppSettings,
    jobs: TrainingJobs,
    files: list[str] | None,
    style: str = "",
    preset: str = next(iter(PRESETS)),
    steps: int = 300,
    name: str = "",
    recipe: str = RECIPE_AUTO,
    tokenizer: str = next(iter(TOKENIZERS)),
    vocab_size: int = DEFAULT_SUBWORDS,
    styles: str = next(iter(STYLE_CHOICES)),
    exclude: str = "",
    group_versions: bool = True,
    poll_seconds: float = 1.0,
    visitor: str | None = None,
) -> Iterator[TrainProgress]:
    """Stage the uploads, train in a worker process, and yield progress until it ends.

    ``recipe`` is a RECIPE_CHOICES label: what to train, or "From the files". ``preset`` is a
    PRESETS label (a size of generator.config.MODEL_SIZES). Music models take ``style`` (of
    loose files), ``styles`` (a STYLE_CHOICES label: a zip's folders name styles, or nothing
    does), ``exclude`` (globs of staged paths to leave out, separated by commas or lines) and
    ``group_versions`` (the same file name in several folders is one tune, kept on one side of
    the split); text models take ``tokenizer`` (a TOKENIZERS label) and, for SentencePiece,
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
    if styles not in STYLE_CHOICES:
        raise AppError(f"Pick where styles come from in the list, not {styles!r}.")
    with UserErrors("Invalid setting"):
        steps = check_range("training steps", steps, 10, MAX_TRAIN_STEPS, integer=True)
        vocab_size = check_range(
            "subword vocabulary", vocab_size, MIN_SUBWORDS, MAX_SUBWORDS, integer=True
        )
    chosen = get_recipe(training_recipe(files, recipe))
    fields = {f.name for f in dataclasses.fields(chosen.options)}
    patterns = exclude_patterns(exclude) if "exclude" in fields else ()  # music only
    owner = visitor_folder(visitor) if visitor else ""
    jobs.refuse_if_busy(owner)
    _check_disk(settings)
    model_name = safe_name(name or "", f"my-{chosen.name}")
    job_dir = settings.training_dir / uuid.uuid4().hex
    uploads = _uploads(chosen)
    staged = stage_uploads(files, job_dir / "data", style or "", uploads)
    if staged.files == 0:
        shutil.rmtree(job_dir, ignore_errors=True)
        raise AppError(
            f"None of the uploads is a {WHAT[uploads]} or a zip holding some.\n" + staged.summary()
        )
    rules = dict(  # how files become pieces (music): the CLI's --styles, --exclude, --group-by
        styles=STYLE_CHOICES[styles],
        exclude=patterns,
        group_by="name" if group_versions else "none",
    )
    rules = {k: v for k, v in rules.items() if k in fields}
    try:
        notes, loose = _data_notes(job_dir / "data", rules)
    except AppError:
        shutil.rmtree(job_dir, ignore_errors=True)
        raise
    settings_here = dict(  # what the app decides; each recipe takes the fields it has
        # one file is enough where the end of each file is held out (text)
        valid_fraction=0.1 if staged.files >= 2 or chosen.holds_out_within_files else 0.0,
        cache_dir=job_dir / "cache",  # the visitor's tokens: removed with the job
        skip_bad_files=True,  # an upload that does not decode is listed, not fatal
        tokenizer=TOKENIZERS[tokenizer],
        vocab_size=vocab_size,
        frames_per_beat=FRAMES_PER_BEAT,
        **rules,
    )
    spec = TrainingSpec(
        data=job_dir / "data",
        out=job_dir / "model.pt",
        model=chosen.family.from_preset(dict(PRESETS[preset])),
        train=train_config_for(steps),
        recipe=chosen.name,
        data_options={k: v for k, v in settings_here.items() if k in fields},
        info={"trained_in": "app", "size": PRESET_SIZES[preset], "name": model_name},
    )
    active = ActiveJob(
        uuid.uuid4().hex, TrainingJob(spec), owner, settings, visitor, staged, job_dir,
        model_name, chosen.tab, chosen.family.unit, notes, loose,
    )  # fmt: skip
    try:
        jobs.begin(active)
    except AppError:
        shutil.rmtree(job_dir, ignore_errors=True)
        raise
    yield TrainProgress(
        active.job_id, "Reading the uploaded files…", _report(active), [], True, tab=active.tab
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


def exclude_patterns(text: str | None) -> tuple[str, ...]:
    """The exclude globs a user typed (separated by commas or lines), in the names the staged
    files have (spaces and other signs become ``-``, ``.midi`` becomes ``.mid``); an AppError
    naming a pattern that cannot match a staged path (absolute, ``..``, control characters)."""
    patterns = []
    for raw in re.split(r"[,\n]", text or ""):
        pattern = raw.strip()
        if not pattern:
            continue
        shown = pattern[:MAX_EXCLUDE_CHARS]
        if len(pattern) > MAX_EXCLUDE_CHARS:
            raise AppError(f"Exclude pattern {shown!r}…: at most {MAX_EXCLUDE_CHARS} characters.")
        if not pattern.isprintable():
            raise AppError(f"Exclude pattern {shown!r}: it holds control characters.")
        if pattern.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", pattern):
            raise AppError(
                f"Exclude pattern {shown!r}: patterns match paths inside your uploads, such as "
                "'melody' or 'melody/*' (a folder) or '*-draft.mid', not absolute paths."
            )
        parts = [part for part in pattern.replace("\\", "/").split("/") if part]
        if ".." in parts:
            raise AppError(f"Exclude pattern {shown!r}: '..' leads out of your uploads.")
        staged = "/".join(re.sub(r"[^A-Za-z0-9_*?\[\]!.-]+", "-", part) for part in parts)
        patterns.append(re.sub(r"\.midi$", ".mid", staged, flags=re.IGNORECASE))
    if len(patterns) > MAX_EXCLUDE_PATTERNS:
        raise AppError(f"At most {MAX_EXCLUDE_PATTERNS} exclude patterns, not {len(patterns)}.")
    return tuple(dict.fromkeys(patterns))


def _data_notes(data: Path, rules: dict) -> tuple[list[str], list[str]]:
    """Before a music upload trains: a line per exclude pattern saying what it leaves out, and
    the staged files outside style folders (styles from folders). An AppError when the
    patterns leave no file."""
    if "styles" not in rules:  # not music: no styles, no patterns
        return [], []
    patterns = rules["exclude"]
    every = find_midi_files(data)
    kept = find_midi_files(data, patterns) if patterns else every
    notes = []
    for pattern in patterns:
        left_out = len(every) - len(find_midi_files(data, (pattern,)))
        what = f"{left_out} file{'s' if left_out != 1 else ''}" if left_out else "no file"
        notes.append(f"exclude {pattern}: leaves out {what}")
    if every and not kept:
        raise AppError(
            f"The files to leave out ({', '.join(patterns)}) are every uploaded MIDI file "
            f"({len(every)}): nothing is left to train on."
        )
    loose = [path.name for path in kept if path.parent == data]
    return notes, loose if rules["styles"] == "folders" else []


def _unstyled(active: ActiveJob) -> str | None:
    """The files read without a style while others have one, by name (the corpus report
    counts them): the loose uploads without a style typed, and a zip's top-level files."""
    report = active.job.corpus_report or {}
    if not report.get("unstyled") or not report.get("styles") or not active.loose:
        return None
    gone = {entry[0] for entry in report.get("skipped", []) + report.get("duplicates", [])}
    names = [name for name in active.loose if name not in gone]
    if not names:
        return None
    return (
        f"without a style ({len(names)}: loose uploads without a style typed in 'Style of the "
        f"loose files', and files at a zip's top level): {_names(names)}"
    )


def _watch(active: ActiveJob, poll_seconds: float, announce: bool) -> Iterator[TrainProgress]:
    """Progress of a job until it ends, then how it ended. ``announce``: this page saw it run,
    so a saved model is selected in its picker and a failure is raised as an error too."""
    job = active.job
    while not active.done.wait(poll_seconds):
        yield TrainProgress(
            active.job_id, _job_status(job), _report(active), _curve(job), True,
            tab=active.tab,
        )  # fmt: skip
    final = active.final or TrainProgress(
        None, "Training ended without a result (the server stopped it).", "", [], False
    )
    if announce:
        yield final
        if final.new_model_key is None:
            raise user_error(final.status)
    else:
        yield TrainProgress(None, final.status, final.report, final.curve, False, tab=final.tab)


def _finish(active: ActiveJob) -> None:
    """The app's watcher of a job: poll it to its end, save the model, record the outcome."""
    job = active.job
    try:
        while not job.finished:
            job.poll(timeout=1.0)
        report = _report(active)
        target = _save_trained(active)
        if target is None:
            message = f"Training failed: {_hide_paths(job, job.error)}"
            active.final = TrainProgress(None, message, report, _curve(job), False, tab=active.tab)
            return
        result = job.result
        valid = result.get("best_valid_nll")
        tab = active.tab.title()
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
        active.final = TrainProgress(None, status, report, _curve(job), False, key, active.tab)
    except OSError as error:  # the model could not be saved (disk full, ...)
        message = f"Training failed: the model could not be saved ({error.strerror or error})"
        active.final = TrainProgress(None, message, "", _curve(job), False, tab=active.tab)
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
    return hide_paths((text or "").replace(str(job.spec.data), "your uploads"))


def _report(active: ActiveJob) -> str:
    """The staged uploads, the app's notes on them, the corpus as read, and how the trainer
    set the run up: the model, the baseline, the measured step time and the projection."""
    job = active.job
    parts = [active.staged.summary()]
    if active.notes:
        parts.append("\n".join(f"  {line}" for line in active.notes))
    if job.corpus_summary:
        unstyled = _unstyled(active)
        parts.append(_hide_paths(job, job.corpus_summary) + (f"\n  {unstyled}" if unstyled else ""))
    set_up = [
        _app_words(line, job.spec.train.max_minutes)
        for line in job.messages
        if line != job.corpus_summary and not line.startswith(("step ", "done ("))
    ]
    if set_up:
        parts.append("training:\n" + "\n".join(f"  {_hide_paths(job, line)}" for line in set_up))
    return "\n\n".join(parts)


def _save_trained(active: ActiveJob) -> Path | None:
    """Copy a finished job's best model into the visitor's models (atomically), keeping at
    most MAX_MODELS_PER_VISITOR there; None on error."""
    job = active.job
    if job.result is None:
        return None
    folder = active.settings.visitor_models_dir(active.visitor)
    folder.mkdir(parents=True, exist_ok=True)
    target = _unique_path(folder, active.model_name)
    with open(job.result["best_path"], "rb") as source, atomic_write(target, "wb") as handle:
        shutil.copyfileobj(source, handle)
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
