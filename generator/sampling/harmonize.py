"""Harmonize a melody with a trained encoder-decoder: melody in, melody + new voices out.

The melody is cut into the windows the model was trained on (``segment_beats`` each, back to
back from beat 0), every window is decoded in one batch with its target length fixed to
(steps × voices) tokens, so each generated voice lines up with the melody step by step, and
the windows' voices are joined. The melody itself is passed through untouched.

Decoding: sampling at temperature 0.7 by default. The single most probable target is a poor
harmony here: at a note change the probability is spread over several pitches while HOLD is
one token, so beam search (and, less so, greedy decoding) writes long held notes.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from generator.checkpoint import Loaded
from generator.data.harmony import source_ids
from generator.midi.notes import Note, read_midi
from generator.midi.parts import Part, parts_from_pretty_midi, split_melody, write_parts
from generator.sampling.sampler import SamplingOptions
from generator.sampling.seq2seq import Decoded, decode
from generator.tokenizers.voice_grid import VoiceGridTokenizer

DEFAULT_TEMPERATURE = 0.7


@dataclass
class HarmonyResult:
    """The generated voices, and per window what the model read, wrote and looked at."""

    melody: Part
    voices: dict[str, list[Note]]  # voice name → generated notes (beats), in the model's order
    sources: list[np.ndarray]  # per window: the melody's tokens (EOS not included)
    decoded: list[Decoded]  # per window: target tokens, log-probability, attention weights
    sampling_seconds: float
    settings: dict = field(default_factory=dict)


def harmony_tokenizer(loaded: Loaded) -> VoiceGridTokenizer:
    """The checkpoint's tokenizer, or a ValueError saying this is not a harmonizer."""
    if not isinstance(loaded.tokenizer, VoiceGridTokenizer) or loaded.family != "seq2seq":
        raise ValueError(f"{loaded.path}: this checkpoint is not a harmonizer (melody → voices)")
    return loaded.tokenizer


def read_melody(path: str | Path, melody_track: str | None = None) -> tuple[Part, float]:
    """The melody track of a MIDI file (by the melody rule, or the named track) and the file's
    first tempo in beats per minute."""
    midi = read_midi(path)  # MidiReadError (a ValueError) naming a file that cannot be read
    melody, _ = split_melody(parts_from_pretty_midi(midi), melody_track)
    _, tempi = midi.get_tempo_changes()
    return melody, float(tempi[0]) if len(tempi) else 120.0


def window_start_rule(tokenizer: VoiceGridTokenizer):
    """Logits processor: a window's first step says what each voice does (a NOTE or REST,
    never HOLD), as in every training window."""
    num_voices = len(tokenizer.voices)

    def process(logits: torch.Tensor, history: torch.Tensor) -> torch.Tensor:
        if history.shape[1] < num_voices:
            logits = logits.clone()
            logits[:, tokenizer.hold_id] = float("-inf")
        return logits

    return process


def harmonize(
    loaded: Loaded,
    melody: Part,
    *,
    options: SamplingOptions | None = None,
    beam: int = 1,
    length_penalty: float = 1.0,
) -> HarmonyResult:
    """Generate the checkpoint's voices under ``melody`` (``options``: sampling, by default at
    temperature 0.7, or greedy; or beam search with ``beam`` > 1), aligned with it on the
    model's time grid."""
    tokenizer = harmony_tokenizer(loaded)
    if not melody.notes:
        raise ValueError("the melody has no notes")
    sources = source_ids(tokenizer, melody.notes)
    num_voices = len(tokenizer.voices)
    started = time.perf_counter()
    decoded = decode(
        loaded.model,
        sources,
        tokenizer,
        options=options or SamplingOptions(temperature=DEFAULT_TEMPERATURE),
        beam=beam,
        length_penalty=length_penalty,
        lengths=[len(s) * num_voices for s in sources],
        processors=[window_start_rule(tokenizer)],
    )
    elapsed = time.perf_counter() - started
    velocity = int(statistics.median(n.velocity for n in melody.notes))
    voices: dict[str, list[Note]] = {name: [] for name in tokenizer.voices}
    step = 1.0 / tokenizer.steps_per_beat
    for index, result in enumerate(decoded):
        offset = index * tokenizer.segment_steps * step
        window = tokenizer.decode_voices(result.tokens, num_voices, velocity)
        for name, notes in zip(tokenizer.voices, window, strict=True):
            voices[name].extend(
                Note(n.start + offset, n.duration, n.pitch, n.velocity) for n in notes
            )
    return HarmonyResult(
        melody=melody,
        voices=voices,
        sources=sources,
        decoded=decoded,
        sampling_seconds=elapsed,
        settings={"beam": beam, "length_penalty": length_penalty, "windows": len(sources)},
    )


def write_harmony(result: HarmonyResult, path: str | Path, *, bpm: float) -> Path:
    """The melody (as read, under its own track name) and the generated voices, one track each,
    all with the melody's General MIDI program."""
    name = result.melody.name or "Melody"
    parts = {name: result.melody.notes}
    parts.update({voice: notes for voice, notes in result.voices.items() if voice != name})
    programs = dict.fromkeys(parts, result.melody.program)
    return write_parts(parts, path, bpm=bpm, programs=programs)
