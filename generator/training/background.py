"""Training in a worker process, for programs that must stay responsive while a model trains.

    parent (e.g. the app)                     child (spawned, lower priority, few torch threads)
    job = TrainingJob(...); job.start()  ──►  generator.api.train(recipe, data, ..., on_step)
    job.poll()   ◄── events on a queue ─────  {"event": "corpus" | "log" | "step" | "done" |
                                               "error", ...}
    job.stop()   ── stop flag (an Event) ──►  on_step returns True: both checkpoints are written

A separate process keeps the trainer's Python loop from competing for the parent's GIL, runs at
a lower scheduling priority, and takes its memory with it when it ends. Events are plain dicts.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import queue
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from generator.config import TrainConfig

MAX_MESSAGES = 1_000  # log lines a job keeps (the first ones, which set the run up, always)
# The trainer's sizing lines (generator/training/progress.py: projection): the measured step
# time and the projected wall time, where a time limit stops the run, a long-run warning.
_PROJECTION = re.compile(r"^(after \d+ steps: )?measured |^--max-minutes |^warning: ")


@dataclass
class TrainingSpec:
    """What to train: the recipe and its data, the model's shape, how to train, and where to
    write it. The worker hands it to generator.api.train, the road the CLI takes too."""

    data: Path  # folder of MIDI files (style = first-level subfolder), or of .txt/.md files
    out: Path  # best checkpoint; the resumable state goes next to it
    model: dict[str, Any]  # the family's config fields except those the data sets
    train: TrainConfig = field(default_factory=TrainConfig)
    recipe: str = "music"  # what to train: a recipe of generator/families/ (music, text, ...)
    data_options: dict[str, Any] = field(default_factory=dict)  # fields of the recipe's options
    threads: int = 1  # torch threads in the worker
    nice: int = 10  # scheduling priority added to the worker (0 = same as the parent)
    info: dict[str, Any] = field(default_factory=dict)  # extra facts stored in the checkpoint


def _run(spec: TrainingSpec, events, stop) -> None:
    """The worker: read the corpus, report it, train, report the result (never raises)."""
    import torch

    from generator import api

    if spec.nice:
        try:
            os.nice(spec.nice)
        except OSError:
            pass  # not allowed here: run at normal priority
    torch.set_num_threads(spec.threads)

    def on_corpus(corpus) -> None:
        report = corpus.report
        events.put({"event": "corpus", "summary": report.summary(), "report": report.to_dict()})

    def on_step(progress: dict[str, float]) -> bool:
        events.put({"event": "step", **progress})
        return stop.is_set()

    try:
        result = api.train(
            spec.recipe,
            spec.data,
            spec.out,
            model=spec.model,
            training=spec.train,
            options=spec.data_options,
            progress=False,
            log=lambda message: events.put({"event": "log", "message": message}),
            on_step=on_step,
            info=spec.info,
            on_corpus=on_corpus,
        )
        events.put(
            {
                "event": "done",
                "best_path": str(result.best_path),
                "steps": result.steps,
                "best_valid_nll": result.best_valid_nll,
                "train_nll": result.train_nll,
                "wall_seconds": result.wall_seconds,
                "stop_reason": result.stop_reason,
            }
        )
    except KeyboardInterrupt:
        events.put({"event": "error", "message": "interrupted"})
    except api.NothingToTrain as error:  # the message without the server's folder
        events.put({"event": "error", "message": f"no usable {error.what}: nothing to train on"})
    except ValueError as error:  # a text corpus with no text (it lists the skipped files)
        events.put({"event": "error", "message": str(error)})
    except Exception as error:  # reported to the parent, which shows it to the user
        events.put({"event": "error", "message": f"{type(error).__name__}: {error}"})


class TrainingJob:
    """One training run in a worker process; ``poll()`` collects its progress."""

    def __init__(self, spec: TrainingSpec):
        self.spec = spec
        context = multiprocessing.get_context("spawn")  # fork is unsafe in threaded servers
        self._events = context.Queue()
        self._stop = context.Event()
        self._process = context.Process(
            target=_run, args=(spec, self._events, self._stop), daemon=True
        )
        self.corpus_summary: str | None = None
        self.corpus_report: dict[str, Any] | None = None  # CorpusReport.to_dict() or alike
        self.messages: list[str] = []  # the worker's log lines, in order (MAX_MESSAGES)
        self.steps: list[dict[str, float]] = []  # every "step" event, in order
        self.result: dict[str, Any] | None = None  # the "done" event
        self.error: str | None = None
        self.started_at: float | None = None

    def start(self) -> TrainingJob:
        self.started_at = time.time()
        self._process.start()
        return self

    def stop(self) -> None:
        """Ask the worker to stop after its current step (it still writes its checkpoints)."""
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    @property
    def finished(self) -> bool:
        return self.result is not None or self.error is not None

    def poll(self, timeout: float = 0.0) -> list[dict[str, Any]]:
        """Take the events that have arrived (waiting up to ``timeout`` s for the first)."""
        new: list[dict[str, Any]] = []
        try:
            while True:
                event = self._events.get(timeout=timeout) if timeout else self._events.get_nowait()
                timeout = 0.0
                new.append(event)
                self._apply(event)
        except queue.Empty:
            pass
        if not self.finished and not self._process.is_alive() and self.started_at is not None:
            try:  # the last events may still be in the pipe
                while True:
                    event = self._events.get(timeout=0.5)
                    new.append(event)
                    self._apply(event)
            except queue.Empty:
                pass
            if not self.finished:
                self.error = (
                    f"the training process ended unexpectedly (exit code {self._process.exitcode})"
                )
        return new

    def _apply(self, event: dict[str, Any]) -> None:
        name = event["event"]
        if name == "corpus":
            self.corpus_summary = event["summary"]
            self.corpus_report = event.get("report")
        elif name == "log":
            if len(self.messages) < MAX_MESSAGES:
                self.messages.append(event["message"])
        elif name == "step":
            self.steps.append(event)
        elif name == "done":
            self.result = event
        elif name == "error":
            self.error = event["message"]

    @property
    def projection(self) -> list[str]:
        """The trainer's sizing lines so far: the step time measured before step 1 and the
        projected wall time, where the time limit stops the run, warnings (and the same again
        after a few steps if the first measure was off)."""
        return [m for m in self.messages if _PROJECTION.match(m)]

    def rates(self, window_seconds: float = 10.0) -> tuple[float | None, float | None]:
        """Recent speed in tokens per second, and the estimated seconds left (None if
        unknown): to the last step, or to the time limit (``max_minutes``) when the clock ends
        the run first."""
        tokens_per_s, steps_left = self._speeds(window_seconds)
        clock = self.clock()
        if steps_left is None or clock is None:
            return tokens_per_s, steps_left
        return tokens_per_s, min(steps_left, clock)

    def clock(self) -> float | None:
        """Seconds left before the time limit stops the run (None without one), as of the last
        step."""
        limit = self.spec.train.max_minutes * 60
        if not limit:
            return None
        done = self.steps[-1]["seconds"] if self.steps else 0.0
        return max(limit - done, 0.0)

    def by_clock(self) -> bool:
        """Whether the time limit will end the run before its last step, at the recent speed
        (as the CLI's bar decides; it then counts the clock's seconds, not steps). Before a
        speed is known, the trainer's projection says."""
        clock = self.clock()
        if clock is None:
            return False
        _, steps_left = self._speeds()
        if steps_left is None:
            return any(line.startswith("--max-minutes ") for line in self.projection)
        return steps_left > clock

    def _speeds(self, window_seconds: float = 10.0) -> tuple[float | None, float | None]:
        """Tokens per second over the last ``window_seconds`` of steps, and the seconds the
        remaining steps take at that pace (None, None before two steps)."""
        if len(self.steps) < 2:
            return None, None
        last = self.steps[-1]
        first = next(
            (s for s in self.steps if last["seconds"] - s["seconds"] <= window_seconds),
            self.steps[0],
        )
        if first is last:
            first = self.steps[-2]
        seconds = last["seconds"] - first["seconds"]
        if seconds <= 0:
            return None, None
        tokens_per_s = (last["tokens_seen"] - first["tokens_seen"]) / seconds
        steps_per_s = (last["step"] - first["step"]) / seconds
        left = (last["max_steps"] - last["step"]) / steps_per_s if steps_per_s > 0 else math.inf
        return tokens_per_s, left

    def join(self, timeout: float | None = None) -> None:
        self._process.join(timeout)

    def kill(self) -> None:
        """End the worker at once (no checkpoint is written); for shutdown and tests."""
        if self._process.is_alive():
            self._process.terminate()
            self._process.join(5)
