"""Text models scored on held-out text: nats per token and bits per character, read as training
reads text (contiguous streams, state carried through each file) and per segment."""

from __future__ import annotations

import math
from dataclasses import dataclass

from generator.checkpoint import Loaded
from generator.data.pieces import Piece, TokenCorpus
from generator.data.streams import VALID_LANE_WINDOWS, StreamPlan
from generator.data.windows import EpochPlan
from generator.sampling.text import text_tokenizer
from generator.training import evaluate


@dataclass
class TextScore:
    """Loss of a text model on some text, per token and per character: read as contiguous
    streams with the state carried through each file (as training reads text), and per segment
    with the state reset every ``segment_len`` tokens (how it was scored before)."""

    nats_per_token: float  # streams, state carried
    bits_per_character: float
    tokens: int  # predicted tokens (text tokens plus one EOS per file)
    characters: int
    segment_nats_per_token: float = float("nan")  # state reset at every segment
    segment_bits_per_character: float = float("nan")


def prediction_count(pieces: list[Piece]) -> int:
    """Targets the trainer scores in ``pieces``: every token, plus EOS where a piece ends."""
    return int(sum(len(p.tokens) + p.ends for p in pieces))


def bits_per_character(nats_per_token: float, pieces: list[Piece], characters: int) -> float:
    """Total nats over the text / ln 2 / characters: one scale for characters and subwords."""
    return nats_per_token * prediction_count(pieces) / math.log(2) / max(characters, 1)


SPLITS = ("all", "train", "valid")  # which part of a corpus evaluate_text scores


def evaluate_text(
    loaded: Loaded,
    corpus: TokenCorpus,
    *,
    batch_size: int = 16,
    seq_len: int = 256,
    split: str = "all",
) -> TextScore:
    """Score ``corpus`` with the loaded model, both ways: all of it (train and valid alike), or
    one side of its split ("train", or "valid": the text ``train text`` held out)."""
    text_tokenizer(loaded)
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    pieces = {"all": corpus.train + corpus.valid, "train": corpus.train, "valid": corpus.valid}[
        split
    ]
    if not pieces:
        raise ValueError(f"the corpus has no {split} text to score")
    device = next(loaded.model.parameters()).device
    streams = StreamPlan(
        pieces,
        loaded.tokenizer,
        batch_size,
        seq_len,
        shuffle=False,
        min_lane_windows=VALID_LANE_WINDOWS,
    )
    nll = evaluate(loaded.model, streams, device)
    per_segment = EpochPlan(
        pieces, loaded.tokenizer, min(batch_size, len(pieces)), seq_len, shuffle=False
    )
    segment_nll = evaluate(loaded.model, per_segment, device)
    report = corpus.report
    characters = {
        "all": report.train_characters + report.valid_characters,
        "train": report.train_characters,
        "valid": report.valid_characters,
    }[split]
    return TextScore(
        nats_per_token=nll,
        bits_per_character=bits_per_character(nll, pieces, characters),
        tokens=prediction_count(pieces),
        characters=characters,
        segment_nats_per_token=segment_nll,
        segment_bits_per_character=bits_per_character(segment_nll, pieces, characters),
    )
