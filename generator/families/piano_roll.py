"""The piano-roll family: PianoRollRNN over frames of keys (sigmoid or NADE output head).

One recipe, ``pianoroll``: a piano-roll JSON benchmark (its own train/valid splits) or a
folder of MIDI files quantized to a grid of frames. Losses are in nats per frame.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from generator.config import PianoRollConfig
from generator.data.piano_roll import FrameCorpus, load_piano_roll
from generator.families import Family, Recipe
from generator.models.pianoroll import PianoRollRNN
from generator.sampling.pianoroll import PianoRollRequest, generate_pianoroll
from generator.tokenizers.piano_roll import PianoRollTokenizer
from generator.training.frame_task import FRAME_TASK, frame_nll


@dataclass
class PianoRollData:
    """How a JSON benchmark or a MIDI folder becomes frames (generator/data/piano_roll.py)."""

    valid_fraction: float = 0.1  # share of MIDI files held out (a JSON file has its splits)
    frames_per_beat: int = 4  # grid a MIDI folder is quantized to (frames per quarter note)
    splits: tuple[str, str] = ("train", "valid")  # a JSON file's keys read as train and valid


def read(
    data: Path,
    options: PianoRollData,
    tokenizer: PianoRollTokenizer | None = None,
    seq_len: int = 64,
    progress: bool = False,
) -> FrameCorpus:
    """Piano-roll pieces of a JSON file or a MIDI folder."""
    return load_piano_roll(
        data,
        tokenizer,
        frames_per_beat=options.frames_per_beat,
        valid_fraction=options.valid_fraction,
        splits=tuple(options.splits),
    )


def data_fields(tokenizer: PianoRollTokenizer) -> dict[str, Any]:
    return {"num_keys": tokenizer.num_keys}


def describe_data(tokenizer: PianoRollTokenizer) -> str:
    return (
        f"from the data: {tokenizer.num_keys} keys (MIDI {tokenizer.lowest_pitch}-"
        f"{tokenizer.highest_pitch}), {tokenizer.frames_per_beat} frame(s) per beat"
    )


def evaluate(loaded: Any, corpus: FrameCorpus, *, batch_size: int = 32, seq_len: int = 256):
    """NLL in nats per predicted frame of the corpus's first split, pooled over its pieces."""
    return frame_nll(loaded.model, corpus.train, batch_size=batch_size, seq_len=seq_len)


def card_lines(config: dict, tokenizer: dict, corpus: dict) -> list[str]:
    """The frame format, the output head and the data of a piano-roll model."""
    head = config.get("head")
    if head == "nade":
        head = f"nade ({config.get('nade_hidden')} hidden units)"
    span = config.get("pitch_span") or 0
    skip = f", pitch skip ±{span} semitones" if span else ""
    lines = [
        f"- **Frames:** {config.get('num_keys')} keys from MIDI {tokenizer.get('lowest_pitch')}, "
        f"{tokenizer.get('frames_per_beat')} per beat; head {head}{skip}"
    ]
    if corpus:
        low, high = corpus.get("pitch_range", ["?", "?"])
        lines.append(
            f"- **Data:** `{corpus.get('source')}`: {corpus.get('pieces_found')} pieces, "
            f"{len(corpus.get('skipped', []))} skipped; {corpus.get('frames', 0):,} frames, "
            f"pitches {low}-{high}; split {corpus.get('train_pieces')} train / "
            f"{corpus.get('valid_pieces')} valid pieces"
        )
    return lines


def from_preset(fields: dict) -> dict:
    """A token model's size preset as a piano-roll model of the same cell and size, with the
    NADE head and the pitch skip (the recipe of checkpoints/pianoroll.pt and the JSB
    benchmark)."""
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


def settings(config: Any, tokenizer: Any) -> list[str]:
    """What a model picker says about a piano-roll model."""
    fpb = getattr(tokenizer, "frames_per_beat", 1)
    return [f"piano roll, {config.head} head, {fpb} frame{'s' if fpb != 1 else ''} per beat"]


PIANOROLL = Recipe(
    name="pianoroll",
    title="piano-roll",
    data="pieces of two or more frames",
    reads=("midi", "json"),
    tokenizers=(PianoRollTokenizer,),
    options=PianoRollData,
    read=read,
    data_sets=("num_keys",),
    data_fields=data_fields,
    task=FRAME_TASK,
    describe_data=describe_data,
    empty=lambda corpus: not corpus.num_train_frames,
    evaluate=evaluate,
)

FAMILY = Family(
    name="pianoroll",
    title="piano roll",
    model_class=PianoRollRNN,
    config_class=PianoRollConfig,
    unit="frame",
    recipes=(PIANOROLL,),
    generate=generate_pianoroll,
    requests=(PianoRollRequest,),
    card_lines=card_lines,
    uses={PianoRollTokenizer: "compose"},
    settings=settings,
    from_preset=from_preset,
)
