"""A model card rendered from what a checkpoint records about itself; the lines that differ
between families come from the family (generator/families/)."""

from __future__ import annotations

import math
from typing import Any

from generator.checkpoint import CheckpointError, read_checkpoint
from generator.families import get_family


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
    family = get_family(payload["family"])
    unit = family.unit
    lines = [
        f"# Model card: `{path}`",
        "",
        f"- **Family:** {family.name}, cell `{config.get('cell', '-')}`, "
        f"{config.get('num_layers', '-')} layers × {config.get('hidden_size', '-')} units, "
        f"embedding {config.get('embedding_size', '-')}, dropout {config.get('dropout', '-')}, "
        f"{parameters:,} parameters",
        *family.card_lines(config, tokenizer, info.get("corpus") or {}),
    ]
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
