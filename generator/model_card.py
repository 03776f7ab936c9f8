"""A model card rendered from what a checkpoint records about itself."""

from __future__ import annotations

import math
from typing import Any

from generator.checkpoint import CheckpointError, read_checkpoint


def _nll(value: float | None, unit: str = "token") -> str:
    if value is None:
        return "n/a"
    return f"{value:.4f} nats/{unit} ({value / math.log(2):.4f} bits/{unit})"


def model_card(path: str) -> str:
    """Markdown describing a checkpoint: data, command, training budget, validation loss.

    A CheckpointError naming the file when an entry has a shape or type it cannot print."""
    payload = read_checkpoint(path)
    try:
        return _card(path, payload)
    except (TypeError, ValueError, KeyError, AttributeError, IndexError) as error:
        raise CheckpointError(
            f"{path}: cannot describe it: a recorded entry has the wrong type "
            f"({type(error).__name__}: {error})"
        ) from None


def _card(path: str, payload: dict[str, Any]) -> str:
    info: dict[str, Any] = payload.get("info") or {}
    config = payload["model_config"]
    tokenizer = payload["tokenizer"]
    parameters = sum(t.numel() for t in payload["model_state"].values())
    corpus = info.get("corpus") or {}
    unit = "frame" if payload["family"] == "pianoroll" else "token"
    lines = [
        f"# Model card: `{path}`",
        "",
        f"- **Family:** {payload['family']}, cell `{config.get('cell', '-')}`, "
        f"{config.get('num_layers', '-')} layers × {config.get('hidden_size', '-')} units, "
        f"embedding {config.get('embedding_size', '-')}, dropout {config.get('dropout', '-')}, "
        f"{parameters:,} parameters",
    ]
    if payload["family"] == "pianoroll":
        lines.append(_pianoroll_line(config, tokenizer))
    else:
        lines.append(
            f"- **Tokenizer:** `{tokenizer.get('kind')}`, vocabulary {config.get('vocab_size')} ids"
        )
    if tokenizer.get("styles"):
        lines.append(f"- **Styles:** {', '.join(tokenizer['styles'])}")
    if payload["family"] == "seq2seq":
        lines += _seq2seq_lines(config, tokenizer, corpus)
    elif payload["family"] == "pianoroll" and corpus:
        low, high = corpus.get("pitch_range", ["?", "?"])
        lines.append(
            f"- **Data:** `{corpus.get('source')}`: {corpus.get('pieces_found')} pieces, "
            f"{len(corpus.get('skipped', []))} skipped; {corpus.get('frames', 0):,} frames, "
            f"pitches {low}-{high}; split {corpus.get('train_pieces')} train / "
            f"{corpus.get('valid_pieces')} valid pieces"
        )
    elif corpus:
        lines.append(
            f"- **Data:** `{corpus.get('folder')}`: {corpus.get('files_read')} files read, "
            f"{len(corpus.get('skipped', []))} skipped; {corpus.get('notes', 0):,} notes, "
            f"{corpus.get('tokens', 0):,} tokens; split {corpus.get('train_pieces')} train / "
            f"{corpus.get('valid_pieces')} valid pieces (by file)"
        )
    if info.get("command"):
        lines.append(f"- **Command:** `{info['command']}`")
    lines += [
        f"- **Training:** {info.get('steps', 'n/a')} steps, {info.get('tokens_seen', 0):,} "
        f"{unit}s seen, {info.get('wall_seconds', 'n/a')} s wall time",
        f"- **Validation NLL (best):** {_nll(info.get('best_valid_nll'), unit)}",
        "- **Unigram baseline on the same validation set:** "
        f"{_nll(info.get('unigram_valid_nll'), unit)}",
    ]
    lines += _scores_lines(info.get("valid_scores"))
    return "\n".join(lines) + "\n"


def _pianoroll_line(config: dict, tokenizer: dict) -> str:
    """The frame format and the output head of a piano-roll model."""
    head = config.get("head")
    if head == "nade":
        head = f"nade ({config.get('nade_hidden')} hidden units)"
    span = config.get("pitch_span") or 0
    skip = f", pitch skip ±{span} semitones" if span else ""
    return (
        f"- **Frames:** {config.get('num_keys')} keys from MIDI {tokenizer.get('lowest_pitch')}, "
        f"{tokenizer.get('frames_per_beat')} per beat; head {head}{skip}"
    )


def _seq2seq_lines(config: dict, tokenizer: dict, corpus: dict) -> list[str]:
    """Encoder-decoder specifics: attention, encoder, what maps to what, and the data."""
    encoder = "bidirectional" if config.get("bidirectional") else "forward-only"
    lines = [
        f"- **Encoder-decoder:** {encoder} encoder, attention `{config.get('attention')}`, "
        f"position embeddings {config.get('positions') or 'none'}, "
        f"teacher forcing {config.get('teacher_forcing')}"
    ]
    if tokenizer.get("kind") == "voice_grid":
        lines.append(
            f"- **Task:** melody → {' + '.join(tokenizer['voices'])}, "
            f"{tokenizer['steps_per_beat']} grid steps per beat, windows of "
            f"{tokenizer['segment_beats']} beats"
        )
    if corpus.get("folder"):
        lines.append(
            f"- **Data:** `{corpus['folder']}`: {corpus.get('files_read')} files read, "
            f"{len(corpus.get('skipped', []))} skipped; split by melody "
            f"{corpus.get('train_files')} train / {corpus.get('valid_files')} valid files "
            f"({corpus.get('train_pairs')} / {corpus.get('valid_pairs')} windows)"
        )
    elif corpus.get("path"):
        lines.append(
            f"- **Data:** `{corpus['path']}`: {corpus.get('train_pairs')} train / "
            f"{corpus.get('valid_pairs')} valid pairs"
        )
    return lines


def _scores_lines(scores: dict | None) -> list[str]:
    """Teacher-forced accuracy of the best model on the validation pairs, if recorded."""
    if not scores:
        return []
    lines = [
        f"- **Validation token accuracy:** {scores['accuracy']:.2%} of "
        f"{scores['tokens']:,} target tokens ({scores['pairs']} pairs)"
    ]
    for name, voice in (scores.get("voices") or {}).items():
        lines.append(
            f"  - {name}: NLL {voice['nll']:.4f} nats/token, accuracy {voice['accuracy']:.2%}, "
            f"onset accuracy {voice['onset_accuracy']:.2%}"
        )
    return lines
