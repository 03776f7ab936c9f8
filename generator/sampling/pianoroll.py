"""Piano-roll generation: read the starting frame(s), then draw one frame at a time.

The model's ``step`` carries the hidden state, so each new frame costs one step of the network
(plus, for the NADE head, one pass over the keys). All variations run as one batch.
The first frame of a piece is never predicted (models are trained that way), so a piece starts
from given frames: a chord (``first_frame``, default C3 G3 E4 C5) or a primer MIDI file.
Temperature divides each key's logit; ``greedy`` turns on every key whose probability is > 0.5.
Written MIDI: each frame lasts 1/frames_per_beat beats (a quarter note for the benchmark
data); a key held over consecutive frames is one note unless ``restrike``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from generator.checkpoint import Loaded
from generator.midi.notes import note_number, read_notes, write_midi
from generator.models.pianoroll import PianoRollRNN
from generator.sampling.sampler import SamplingOptions, sample_loop, seeded_generator
from generator.tokenizers.piano_roll import PianoRollTokenizer
from generator.validation import (
    WrongType,
    check_bpm,
    check_number,
    check_path,
    check_program,
    check_range,
    check_type,
    check_variations,
)

DEFAULT_FIRST_FRAME = ("C3", "G3", "E4", "C5")
MAX_FRAMES = 10_000


@dataclass
class PianoRollRequest:
    """Everything a user chooses about a batch of generated piano rolls."""

    num: int = 1  # variations, generated as one batch
    frames: int = 64  # frames to generate after the starting frame(s)
    first_frame: tuple[str | int, ...] = DEFAULT_FIRST_FRAME  # notes of the starting frame
    primer: Path | None = None  # a MIDI file whose frames start the piece (replaces first_frame)
    bpm: float = 100.0  # tempo of the written file, in beats (quarter notes) per minute
    program: int = 0  # General MIDI program (0 = Acoustic Grand Piano)
    restrike: bool = False  # strike held keys again on every frame instead of merging them
    options: SamplingOptions = field(default_factory=SamplingOptions)

    def __post_init__(self) -> None:
        """Each field's type and range (WrongType, a TypeError, or ValueError naming it)."""
        self.num = check_variations(check_number("num", self.num, whole=True))
        frames = check_number("frames", self.frames, whole=True)
        self.frames = check_range("frames", frames, 1, MAX_FRAMES, integer=True)
        if isinstance(self.first_frame, (str, bytes)) or not hasattr(self.first_frame, "__iter__"):
            raise WrongType(
                f"first_frame must be a sequence of notes such as ('C3', 'G3'), got "
                f"{self.first_frame!r} ({type(self.first_frame).__name__})"
            )
        self.first_frame = tuple(note_number(n) for n in self.first_frame)
        self.primer = check_path("primer", self.primer, optional=True)
        check_bpm(check_number("bpm", self.bpm))
        self.program = check_program(check_number("program", self.program, whole=True))
        check_type("restrike", self.restrike, bool, "True or False")
        check_type("options", self.options, SamplingOptions, "a SamplingOptions")


class FrameChoice:
    """The piano roll's choice: the model's frame head draws the next frame (keys on at the
    temperature, or greedy: every key whose probability is > 0.5)."""

    def __init__(self, model: PianoRollRNN, options: SamplingOptions, generator: torch.Generator):
        self.model, self.options, self.generator = model, options, generator

    def __call__(self, features: torch.Tensor, out: torch.Tensor) -> None:
        options = self.options
        out.copy_(
            self.model.sample_frame(features, options.temperature, options.greedy, self.generator)
        )


@torch.inference_mode()
def sample_frames(
    model: PianoRollRNN,
    start: torch.Tensor,
    num_frames: int,
    options: SamplingOptions,
) -> torch.Tensor:
    """Continue ``start`` (batch, p ≥ 1, keys) by ``num_frames`` sampled frames, by the one
    sampling loop.

    Returns (batch, p + num_frames, keys) 0/1 frames, the starting frames included."""
    model.eval()
    generator = seeded_generator(options.seed, start.device)
    features, state = model(start.float())  # read the starting frames from a zero state

    def step(frame: torch.Tensor) -> torch.Tensor:
        nonlocal state
        next_features, state = model.step(frame, state)
        return next_features

    batch, _, keys = start.shape
    frames = torch.zeros(num_frames, batch, keys, device=start.device)  # (time, batch, keys)
    # features[:, -1] (batch, hidden) predicts the first new frame
    sample_loop(features[:, -1], step, FrameChoice(model, options, generator), frames)
    return torch.cat([start.float(), frames.transpose(0, 1)], dim=1)


@dataclass
class PianoRollResult:
    """Generated rolls ((frames, keys) uint8 each) and how long sampling took."""

    rolls: list[np.ndarray]
    sampling_seconds: float


def generate_pianoroll(loaded: Loaded, request: PianoRollRequest) -> PianoRollResult:
    """Sample ``request.num`` piano rolls of ``request.frames`` new frames each."""
    tokenizer = loaded.tokenizer
    if not isinstance(tokenizer, PianoRollTokenizer) or not isinstance(loaded.model, PianoRollRNN):
        raise ValueError(f"{loaded.path}: this checkpoint is not a piano-roll model")
    model = loaded.model
    device = next(model.parameters()).device
    if request.primer is not None:
        primer_notes = read_notes(request.primer)
        start, _ = tokenizer.from_notes(primer_notes)
        if not len(start):
            raise ValueError(f"{request.primer}: the primer has no notes on the keyboard")
    else:
        start = tokenizer.encode([request.first_frame])
    start_tensor = torch.as_tensor(start, device=device).unsqueeze(0).repeat(request.num, 1, 1)
    started = time.perf_counter()
    rolls = sample_frames(model, start_tensor, request.frames, request.options)
    elapsed = time.perf_counter() - started
    return PianoRollResult([r.to(torch.uint8).cpu().numpy() for r in rolls], elapsed)


def write_rolls(
    rolls: list[np.ndarray],
    tokenizer: PianoRollTokenizer,
    out_dir: str | Path,
    *,
    stem: str,
    bpm: float,
    program: int = 0,
    restrike: bool = False,
) -> list[Path]:
    """Write each roll as ``out_dir/stem-N.mid`` (frames → notes by PianoRollTokenizer)."""
    out_dir = Path(out_dir)
    return [
        write_midi(
            tokenizer.to_notes(roll, restrike=restrike),
            out_dir / f"{stem}-{i + 1}.mid",
            bpm=bpm,
            program=program,
            name=stem,
        )
        for i, roll in enumerate(rolls)
    ]
