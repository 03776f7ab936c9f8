"""Harmonize a melody with a trained encoder-decoder: melody in, melody + new voices out.

The melody is cut into the windows the model was trained on (``segment_beats`` each, back to
back from beat 0), every window is decoded in one batch with its target length fixed to
(steps × voices) tokens, so each generated voice lines up with the melody step by step, and
the windows' voices are joined. The melody itself is passed through untouched.

Decoding: sampling at temperature 0.7 by default. The single most probable target is a poor
harmony here: at a note change the probability is spread over several pitches while HOLD is
one token, so beam search (and, less so, greedy decoding) writes long held notes.

Two helps on top of the model (the rules on by default, best of N off; figures for the model
alone and with them are reported apart):

- **voicing rules** (``rules``, ``voicing_rules``): at each step the tokens that would break
  a rule are forbidden before the choice: a note outside the voice's SATB range; the first
  voice at or above the melody (doubling or crossing it), a lower voice above the voice over it;
  on beats (of the melody's meter: ``beat``), a note dissonant with the melody, and parallel
  fifths or octaves with a part above from the previous beat (conventions of
  generator.midi.voicing); a rest while the melody sounds. HOLD is judged as the held pitch.
  A row where every token breaks a rule is left free. Windows are decoded side by side, so
  the rules do not reach across a window join.
- **best of N** (``candidates=N``): N samples per window; the one the model itself finds most
  likely (teacher-forced log-probability of its tokens, rules not counted) is kept.

The written file keeps the melody file's tempo changes, meters and key signatures
(``read_timing``, ``write_harmony``): notes are placed by beats through its tempo map.
"""

from __future__ import annotations

import copy
import math
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pretty_midi
import torch

from generator import validation as v
from generator.checkpoint import Loaded
from generator.data.harmony import source_ids
from generator.midi.notes import Note, read_midi
from generator.midi.parts import Part, parts_from_pretty_midi, split_melody
from generator.midi.voicing import (
    PERFECT,
    SATB_RANGES,
    beat_length,
    consonant_intervals,
    range_names,
)
from generator.models.seq2seq import Seq2Seq
from generator.sampling.sampler import SamplingOptions
from generator.sampling.seq2seq import Decoded, decode, score_targets
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
    harmonizer = isinstance(loaded.tokenizer, VoiceGridTokenizer)
    if not harmonizer or not isinstance(loaded.model, Seq2Seq):
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


def _sounding(history: torch.Tensor, num_voices: int, steps: int, tokenizer) -> torch.Tensor:
    """(rows, steps, voices) pitch each voice sounds at each of the first ``steps`` grid steps
    of interleaved ``history`` (-1 = silence; steps not yet written repeat the last one)."""
    rows = history.shape[0]
    padded = history.new_full((rows, steps * num_voices), tokenizer.hold_id)
    padded[:, : history.shape[1]] = history
    grid = padded.view(rows, steps, num_voices)
    index = torch.arange(steps, device=history.device).view(1, steps, 1).expand_as(grid)
    said = torch.where(grid != tokenizer.hold_id, index, torch.full_like(index, -1))
    last = said.cummax(dim=1).values  # (rows, steps, voices) step of the last NOTE or REST
    token = grid.gather(1, last.clamp(min=0))
    pitch = torch.where(token >= tokenizer.note_offset, token - tokenizer.note_offset, -1)
    return torch.where(last >= 0, pitch, torch.full_like(pitch, -1))


def voicing_rules(
    tokenizer: VoiceGridTokenizer,
    sources: list[np.ndarray],
    *,
    starts: list[int] | None = None,
    beat_steps: int | None = None,
):
    """Logits processor forbidding what the module docstring lists, for decoding ``sources``
    (one row per source, or a whole number of rows per source, in order: beam search).
    ``starts``: each source's first grid step in the piece (default 0), so that beats every
    ``beat_steps`` steps (default: a quarter note) are counted from the piece's start."""
    num_voices = len(tokenizer.voices)
    beat_steps = max(1, beat_steps or tokenizer.steps_per_beat)
    first = torch.tensor(starts if starts is not None else [0] * len(sources))
    melodies = [tokenizer.sounding(source, 1)[:, 0] for source in sources]
    width = max(len(m) for m in melodies) + 1
    melody = torch.full((len(sources), width), -1, dtype=torch.long)
    for row, pitches in enumerate(melodies):
        melody[row, : len(pitches)] = torch.from_numpy(pitches)
    ranges = [SATB_RANGES[name] for name in range_names(tokenizer.voices)]
    pitches = torch.arange(128)
    offset = tokenizer.note_offset

    def process(logits: torch.Tensor, history: torch.Tensor) -> torch.Tensor:
        rows, t = logits.shape[0], history.shape[1]
        step, voice = divmod(t, num_voices)
        if step >= width - 1:
            return logits  # the EOS step
        copies = rows // len(sources)
        tune = melody.to(logits.device).repeat_interleave(copies, 0)  # (rows, w)
        on_beat = ((first.to(logits.device) + step) % beat_steps == 0).repeat_interleave(copies)
        sound = _sounding(history, num_voices, step + 1, tokenizer)  # (rows, step + 1, voices)
        now = tune[:, step]  # (rows,) melody pitch, -1 = silent
        above = now if voice == 0 else sound[:, step, voice - 1]
        held = sound[:, step - 1, voice] if step > 0 else torch.full_like(now, -1)
        q = pitches.to(logits.device).unsqueeze(0)  # (1, 128) candidate pitches
        low, high = ranges[voice]
        fits = ((q >= low) & (q <= high)).expand(rows, -1)
        ceiling = above.unsqueeze(1) - (1 if voice == 0 else 0)  # below the melody, ≤ voice over
        fits = fits & ((above.unsqueeze(1) < 0) | (q <= ceiling))
        strict = fits.clone()
        beat = on_beat.unsqueeze(1)  # (rows, 1)
        allowed = consonant_intervals(lowest=voice == num_voices - 1)
        interval = (now.unsqueeze(1) - q).abs() % 12
        good = torch.zeros_like(fits)
        for k in allowed:
            good |= interval == k
        strict &= ~beat | (now.unsqueeze(1) < 0) | good
        previous = step - beat_steps
        if previous >= 0:  # parallels with every part above, from the previous beat
            mine = sound[:, previous, voice].unsqueeze(1)
            uppers = [(tune[:, previous], now)] + [
                (sound[:, previous, u], sound[:, step, u]) for u in range(voice)
            ]
            for before, after in uppers:
                before, after = before.unsqueeze(1), after.unsqueeze(1)
                was = (before - mine) % 12
                sounding = (before >= 0) & (after >= 0) & (mine >= 0)
                perfect = (was == PERFECT[0]) | (was == PERFECT[1])
                parallel = sounding & perfect & (after != before) & (q != mine)
                strict &= ~(beat & parallel & ((after - q) % 12 == was))
        notes = strict
        hold_ok = torch.where(
            held >= 0,
            strict.gather(1, held.clamp(min=0).unsqueeze(1)).squeeze(1),
            now < 0,
        )
        if step == 0:
            hold_ok = torch.zeros_like(hold_ok)
        rest_ok = now < 0
        stuck = ~(notes.any(1) | hold_ok | rest_ok)  # nothing fits: leave the row free
        logits = logits.clone()
        note_logits = logits[:, offset : offset + 128]
        logits[:, offset : offset + 128] = torch.where(
            notes | stuck.unsqueeze(1), note_logits, float("-inf")
        )
        logits[:, tokenizer.hold_id] = torch.where(
            hold_ok | stuck, logits[:, tokenizer.hold_id], float("-inf")
        )
        logits[:, tokenizer.rest_id] = torch.where(
            rest_ok | stuck, logits[:, tokenizer.rest_id], float("-inf")
        )
        return logits

    return process


MELODY_HIGHEST_LOW_NOTE = 96  # C7: a melody whose lowest note is above this is out of reach


def _check_melody_range(pitches: list[int]) -> None:
    """A melody the voices can go under: not below the alto's range, not far above the
    soprano's (the voices would sit octaves away from it). Says how many octaves to move."""
    low, high = min(pitches), max(pitches)
    alto_low, soprano_low, soprano_high = (
        SATB_RANGES["Alto"][0],
        SATB_RANGES["Soprano"][0],
        SATB_RANGES["Soprano"][1],
    )
    if high < alto_low:
        octaves = math.ceil((soprano_low - high) / 12)
        raise ValueError(
            f"the melody (MIDI {low}-{high}) lies below the voices added under it (the alto "
            f"starts at MIDI {alto_low}): move it up {octaves} octave{'s' * (octaves != 1)}"
        )
    if low > MELODY_HIGHEST_LOW_NOTE:
        octaves = math.ceil((low - soprano_high) / 12)
        raise ValueError(
            f"the melody (MIDI {low}-{high}) lies far above the voices added under it (the "
            f"soprano ends at MIDI {soprano_high}): move it down {octaves} "
            f"octave{'s' * (octaves != 1)}"
        )


def harmonize(
    loaded: Loaded,
    melody: Part,
    *,
    options: SamplingOptions | None = None,
    beam: int = 1,
    length_penalty: float = 1.0,
    rules: bool = True,
    candidates: int = 1,
    beat: float = 1.0,
) -> HarmonyResult:
    """Generate the checkpoint's voices under ``melody`` (``options``: sampling, by default at
    temperature 0.7, or greedy; or beam search with ``beam`` > 1), aligned with it on the
    model's time grid; ``rules`` and ``candidates`` as in the module docstring. ``beat``:
    quarter notes per beat of the melody's meter (``melody_beat``), where the rules judge
    consonance and parallels."""
    tokenizer = harmony_tokenizer(loaded)
    if not melody.notes:
        raise ValueError("the melody has no notes")
    v.check_candidates(candidates)
    _check_melody_range([note.pitch for note in melody.notes])
    end = max(note.end for note in melody.notes)
    if end > v.MAX_HARMONIZE_BEATS:
        raise ValueError(
            f"the melody is too long: {end:,.0f} beats (at most {v.MAX_HARMONIZE_BEATS:,}); "
            "harmonize it in parts"
        )
    windows = source_ids(tokenizer, melody.notes)
    sources = [source for source in windows for _ in range(candidates)]
    num_voices = len(tokenizer.voices)
    processors = [window_start_rule(tokenizer)]
    if rules:
        starts = [
            k * tokenizer.segment_steps for k in range(len(windows)) for _ in range(candidates)
        ]
        beat_steps = round(beat * tokenizer.steps_per_beat)
        processors.append(voicing_rules(tokenizer, sources, starts=starts, beat_steps=beat_steps))
    started = time.perf_counter()
    decoded = decode(
        loaded.model,
        sources,
        tokenizer,
        options=options or SamplingOptions(temperature=DEFAULT_TEMPERATURE),
        beam=beam,
        length_penalty=length_penalty,
        lengths=[len(s) * num_voices for s in sources],
        processors=processors,
    )
    if candidates > 1:  # keep each window's candidate the model finds most likely
        scores = score_targets(loaded.model, sources, [d.tokens for d in decoded], tokenizer)
        decoded = [
            decoded[max(range(k, k + candidates), key=lambda i: scores[i])]
            for k in range(0, len(decoded), candidates)
        ]
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
        sources=windows,
        decoded=decoded,
        sampling_seconds=elapsed,
        settings={
            "beam": beam,
            "length_penalty": length_penalty,
            "windows": len(windows),
            "rules": rules,
            "candidates": candidates,
        },
    )


def melody_beat(timing: pretty_midi.PrettyMIDI | None) -> float:
    """Quarter notes per beat of a file's first meter (1.0 without one)."""
    if timing is None or not timing.time_signature_changes:
        return 1.0
    first = timing.time_signature_changes[0]
    return beat_length(first.numerator, first.denominator)


def read_timing(path: str | Path) -> pretty_midi.PrettyMIDI:
    """A MIDI file's tempo map, time signatures and key signatures (its notes left out), for
    ``write_harmony``."""
    midi = read_midi(path)
    midi.instruments = []
    return midi


def write_harmony(
    result: HarmonyResult,
    path: str | Path,
    *,
    bpm: float | None = None,
    timing: pretty_midi.PrettyMIDI | None = None,
) -> Path:
    """The melody (as read, under its own track name) and the generated voices, one track each,
    all with the melody's General MIDI program. With ``timing`` (``read_timing`` of the melody's
    file) the file keeps its meters and key signatures, and its tempo changes unless ``bpm``
    sets one tempo; without it, one tempo (``bpm``, default 120) and no meter."""
    name = result.melody.name or "Melody"
    parts = {name: result.melody.notes}
    parts.update({voice: notes for voice, notes in result.voices.items() if voice != name})
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    midi = _timed_midi(timing, bpm)
    for part, notes in parts.items():
        instrument = pretty_midi.Instrument(program=result.melody.program, name=part)
        for note in notes:
            start, end = (midi.tick_to_time(_tick(midi, t)) for t in (note.start, note.end))
            instrument.notes.append(pretty_midi.Note(note.velocity, note.pitch, start, end))
        midi.instruments.append(instrument)
    midi.write(str(path))
    return path


def _tick(midi: pretty_midi.PrettyMIDI, beats: float) -> int:
    return int(round(beats * midi.resolution))


def _timed_midi(timing: pretty_midi.PrettyMIDI | None, bpm: float | None) -> pretty_midi.PrettyMIDI:
    """An empty file with ``timing``'s tempo map (or one tempo, ``bpm``), meters and keys."""
    if timing is not None and bpm is None:
        midi = copy.deepcopy(timing)
        midi.instruments = []
        return midi
    midi = pretty_midi.PrettyMIDI(initial_tempo=bpm or 120.0)
    if timing is None:
        return midi

    def moved(seconds: float) -> float:  # same beat, the new tempo
        return midi.tick_to_time(
            int(timing.time_to_tick(seconds)) * midi.resolution // timing.resolution
        )

    for meter in timing.time_signature_changes:
        midi.time_signature_changes.append(
            pretty_midi.TimeSignature(meter.numerator, meter.denominator, moved(meter.time))
        )
    for key in timing.key_signature_changes:
        midi.key_signature_changes.append(pretty_midi.KeySignature(key.key_number, moved(key.time)))
    return midi
