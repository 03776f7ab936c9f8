"""Music from a model: pick how to start (style, seed note, primer or null), sample, write MIDI."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from generator.checkpoint import Loaded
from generator.midi.notes import Note, note_number, read_notes, write_midi
from generator.sampling.sampler import SamplingOptions, sample_tokens
from generator.tokenizers import MidiEventTokenizer
from generator.validation import (
    check_bars,
    check_beats_per_bar,
    check_bpm,
    check_program,
    check_seconds,
    check_variations,
)


@dataclass
class MusicRequest:
    """Everything a user chooses about a batch of generated pieces."""

    num: int = 1  # variations, generated as one batch
    style: str | None = None  # a style the model was trained with, or None
    seed_note: str | int | None = None  # first note, by name (D4, F#3) or number
    primer: Path | None = None  # a MIDI file to continue
    bars: float | None = 16  # length of the generated part in bars ...
    seconds: float | None = None  # ... or in seconds (at bpm)
    beats_per_bar: int = 4  # meter used to count bars
    bpm: float = 120.0  # tempo of the written file
    program: int = 0  # General MIDI program (0 = Acoustic Grand Piano)
    options: SamplingOptions = field(default_factory=SamplingOptions)

    def __post_init__(self) -> None:
        check_variations(self.num)
        check_beats_per_bar(self.beats_per_bar)
        check_bpm(self.bpm)
        check_program(self.program)
        if self.seconds is not None:
            check_seconds(self.seconds)
        elif self.bars is not None:
            check_bars(self.bars)
        else:
            raise ValueError("give a length in bars or in seconds")
        if self.seed_note is not None:
            self.seed_note = note_number(self.seed_note)

    @property
    def beats(self) -> float:
        if self.seconds is not None:
            return self.seconds * self.bpm / 60.0
        return float(self.bars) * self.beats_per_bar


@dataclass
class MusicResult:
    """Generated pieces (notes in beats) and how long sampling took."""

    pieces: list[list[Note]]
    sampling_seconds: float
    tokens: int


def force_first_note(tokenizer: MidiEventTokenizer, pitch: int):
    """Logits processor: a piece opens with ``pitch``. Until a sequence has played a note, only
    that note may come (after at most one velocity token): masking just the other notes would
    let a model that finds ``pitch`` unlikely shift time on in silence, starting late or never."""
    is_note = torch.zeros(tokenizer.vocab_size, dtype=torch.bool)
    is_note[list(tokenizer.note_ids())] = True
    velocity_ids = torch.arange(tokenizer.velocity_offset, tokenizer.vocab_size)
    seed_id = tokenizer.note_id(pitch)

    played = None  # (batch,) bool, updated from the newest token only: O(1) per step
    everyone = False  # every sequence has played a note: nothing left to do

    def process(logits: torch.Tensor, history: torch.Tensor) -> torch.Tensor:
        nonlocal played, everyone, is_note
        if everyone:
            return logits
        if played is None:
            played = torch.zeros(logits.shape[0], dtype=torch.bool, device=logits.device)
            is_note = is_note.to(logits.device)
        if history.shape[1]:
            played |= is_note[history[:, -1]]
            if bool(played.all()):
                everyone = True
                return logits
        allowed = torch.zeros_like(logits, dtype=torch.bool)
        allowed[:, seed_id] = True
        if history.shape[1] == 0:
            allowed[:, velocity_ids.to(logits.device)] = True
        return logits.masked_fill(~allowed & ~played.unsqueeze(1), float("-inf"))

    return process


def generate_music(loaded: Loaded, request: MusicRequest) -> MusicResult:
    """Sample ``request.num`` pieces; each ends once ``request.beats`` of music are generated."""
    tokenizer = loaded.tokenizer
    if not isinstance(tokenizer, MidiEventTokenizer):
        raise ValueError(f"{loaded.path}: this checkpoint is not a music model")
    model = loaded.model
    device = next(model.parameters()).device

    style_id = tokenizer.style_id(request.style)
    prefix, seed_pitch, primer_notes = None, request.seed_note, []
    if request.primer is not None:
        primer_notes = read_notes(request.primer)
        if not primer_notes:
            raise ValueError(f"{request.primer}: the primer has no notes")
        primer_ids = tokenizer.encode(primer_notes)
        prefix = torch.as_tensor(primer_ids, dtype=torch.long).repeat(request.num, 1)
        seed_pitch = tokenizer.first_pitch(primer_ids)
    seed_id = 0 if seed_pitch is None else seed_pitch + 1
    with torch.inference_mode():
        cond = model.condition(
            torch.full((request.num,), style_id, device=device),
            torch.full((request.num,), seed_id, device=device),
        )
    processors = []
    if request.seed_note is not None and request.primer is None:
        processors.append(force_first_note(tokenizer, request.seed_note))

    started = time.perf_counter()
    sequences = sample_tokens(
        model,
        cond,
        request.options,
        eos_id=tokenizer.eos_id,
        never=(tokenizer.pad_id, tokenizer.bos_id),
        prefix=prefix,
        max_tokens=int(request.beats * tokenizer.steps_per_beat * 8) + 64,
        length_cost=torch.from_numpy(tokenizer.length_cost("beats")),
        length_limit=request.beats,
        processors=processors,
    )
    elapsed = time.perf_counter() - started

    offset = _primer_clock(tokenizer, primer_ids) if primer_notes else 0.0
    end = offset + request.beats
    pieces = []
    for ids in sequences:
        generated = tokenizer.decode(ids)
        notes = list(primer_notes) + [
            Note(n.start + offset, min(n.duration, end - n.start - offset), n.pitch, n.velocity)
            for n in generated
            if n.start + offset < end
        ]
        pieces.append(notes)
    return MusicResult(pieces, elapsed, sum(len(s) for s in sequences))


def _primer_clock(tokenizer: MidiEventTokenizer, ids) -> float:
    """Where the primer's event clock stands after its last token (onset of its last notes)."""
    return float(tokenizer.length_cost("beats")[ids].sum())


def write_pieces(
    pieces: list[list[Note]], out_dir: str | Path, *, stem: str, bpm: float, program: int
) -> list[Path]:
    """Write each piece as ``out_dir/stem-N.mid``, never overwriting: an existing name gets a
    ``-2``, ``-3`` ... suffix on the stem."""
    out_dir = Path(out_dir)
    unique, k = stem, 1
    while any((out_dir / f"{unique}-{i + 1}.mid").exists() for i in range(len(pieces))):
        k += 1
        unique = f"{stem}-{k}"
    return [
        write_midi(notes, out_dir / f"{unique}-{i + 1}.mid", bpm=bpm, program=program, name=stem)
        for i, notes in enumerate(pieces)
    ]
