"""Training in a worker process, for programs that must stay responsive while a model trains.

    parent (e.g. the app)                     child (spawned, lower priority, few torch threads)
    job = TrainingJob(...); job.start()  ──►  read the corpus of data → train(..., on_step)
    job.poll()   ◄── events on a queue ─────  {"kind": "corpus" | "log" | "step" | "done" | "error"}
    job.stop()   ── stop flag (an Event) ──►  on_step returns True: both checkpoints are written

A separate process keeps the trainer's Python loop from competing for the parent's GIL, runs at
a lower scheduling priority, and takes its memory with it when it ends. Events are plain dicts.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import queue
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from generator.config import ModelConfig, PianoRollConfig, TrainConfig


@dataclass
class TrainingSpec:
    """What to train: the data, the model's shape, how to train, and where to write it."""

    data: Path  # folder of MIDI files (style = first-level subfolder), or of .txt/.md files
    out: Path  # best checkpoint; the resumable state goes next to it
    model: dict[str, Any]  # config fields except those the data sets (vocabulary, styles, keys):
    # ModelConfig's for music and text, PianoRollConfig's for piano rolls
    train: TrainConfig = field(default_factory=TrainConfig)
    valid_fraction: float = 0.1  # share of files held out for validation
    cache_dir: Path | None = None  # token cache; None = no cache
    threads: int = 1  # torch threads in the worker
    nice: int = 10  # scheduling priority added to the worker (0 = same as the parent)
    info: dict[str, Any] = field(default_factory=dict)  # extra facts stored in the checkpoint
    kind: str = "music"  # "music" (MIDI folder), "text" (text files) or "pianoroll" (MIDI folder)
    tokenizer: str = "char"  # text only: "char" or "sentencepiece" (trained on the data)
    vocab_size: int = 4000  # text only: SentencePiece's vocabulary (an upper bound)
    frames_per_beat: int = 4  # piano roll only: the grid the MIDI files are quantized to


def _run(spec: TrainingSpec, events, stop) -> None:
    """The worker: read the corpus, report it, train, report the result (never raises)."""
    import torch

    from generator.data.midi_corpus import load_midi_corpus
    from generator.data.piano_roll import load_piano_roll_midi
    from generator.data.text_corpus import TextCorpusError, load_text_corpus
    from generator.tokenizers.piano_roll import PianoRollTokenizer
    from generator.training.frame_task import FRAME_TASK
    from generator.training.tasks import TEXT_TASK, TOKEN_TASK
    from generator.training.trainer import train

    if spec.nice:
        try:
            os.nice(spec.nice)
        except OSError:
            pass  # not allowed here: run at normal priority
    torch.set_num_threads(spec.threads)
    try:
        if spec.kind == "text":
            corpus = load_text_corpus(
                spec.data,
                tokenizer=spec.tokenizer,
                vocab_size=spec.vocab_size,
                skip_bad_files=True,
                valid_fraction=spec.valid_fraction,
                segment_len=16 * spec.train.seq_len - 1,
            )
        elif spec.kind == "pianoroll":
            corpus = load_piano_roll_midi(
                spec.data,
                PianoRollTokenizer(frames_per_beat=spec.frames_per_beat),
                valid_fraction=spec.valid_fraction,
            )
        else:
            corpus = load_midi_corpus(
                spec.data,
                valid_fraction=spec.valid_fraction,
                cache_dir=spec.cache_dir,
                progress=False,
            )
        report = corpus.report
        events.put({"kind": "corpus", "summary": report.summary(), "report": report.to_dict()})
        if not corpus.train or (spec.kind == "pianoroll" and not corpus.num_train_frames):
            what = "text files" if spec.kind == "text" else "MIDI files"
            events.put({"kind": "error", "message": f"no usable {what}: nothing to train on"})
            return
        tokenizer, task = corpus.tokenizer, TEXT_TASK if spec.kind == "text" else TOKEN_TASK
        if spec.kind == "pianoroll":
            model_config = PianoRollConfig(**spec.model, num_keys=tokenizer.num_keys)
            task = FRAME_TASK
        else:
            conditioning = {}  # text models start from nothing: no styles, no seed notes
            if spec.kind == "music":
                conditioning = dict(num_styles=len(tokenizer.styles), num_seed_tokens=128)
            vocab = tokenizer.vocab_size
            model_config = ModelConfig(**spec.model, vocab_size=vocab, **conditioning)

        def on_step(progress: dict[str, float]) -> bool:
            events.put({"kind": "step", **progress})
            return stop.is_set()

        result = train(
            model_config,
            spec.train,
            corpus,
            spec.out,
            progress=False,
            log=lambda message: events.put({"kind": "log", "message": message}),
            info={**spec.info, "corpus": report.to_dict()},
            on_step=on_step,
            task=task,
        )
        events.put(
            {
                "kind": "done",
                "best_path": str(result.best_path),
                "steps": result.steps,
                "best_valid_nll": result.best_valid_nll,
                "train_nll": result.train_nll,
                "wall_seconds": result.wall_seconds,
                "stop_reason": result.stop_reason,
            }
        )
    except KeyboardInterrupt:
        events.put({"kind": "error", "message": "interrupted"})
    except TextCorpusError as error:  # no text at all; the message lists the skipped files
        events.put({"kind": "error", "message": str(error)})
    except Exception as error:  # reported to the parent, which shows it to the user
        events.put({"kind": "error", "message": f"{type(error).__name__}: {error}"})


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
        self.corpus_report: dict[str, Any] | None = None
        self.steps: list[dict[str, float]] = []  # every "step" event, in order
        self.logs: list[str] = []
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
        kind = event["kind"]
        if kind == "corpus":
            self.corpus_summary, self.corpus_report = event["summary"], event["report"]
        elif kind == "step":
            self.steps.append(event)
        elif kind == "log":
            self.logs.append(event["message"])
        elif kind == "done":
            self.result = event
        elif kind == "error":
            self.error = event["message"]

    def rates(self, window_seconds: float = 10.0) -> tuple[float | None, float | None]:
        """Recent speed in tokens per second, and the estimated seconds left (None if unknown)."""
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
