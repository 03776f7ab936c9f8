"""A model card rendered from what a checkpoint records about itself."""

from __future__ import annotations

import math
from typing import Any

from generator.checkpoint import read_checkpoint


def _nll(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:.4f} nats/token ({value / math.log(2):.4f} bits/token)"


def model_card(path: str) -> str:
    """Markdown describing a checkpoint: data, command, training budget, validation loss."""
    payload = read_checkpoint(path)
    info: dict[str, Any] = payload.get("info") or {}
    config = payload["model_config"]
    tokenizer = payload["tokenizer"]
    parameters = sum(t.numel() for t in payload["model_state"].values())
    corpus = info.get("corpus") or {}
    lines = [
        f"# Model card: `{path}`",
        "",
        f"- **Family:** {payload['family']}, cell `{config.get('cell', '-')}`, "
        f"{config.get('num_layers', '-')} layers × {config.get('hidden_size', '-')} units, "
        f"embedding {config.get('embedding_size', '-')}, dropout {config.get('dropout', '-')}, "
        f"{parameters:,} parameters",
        f"- **Tokenizer:** `{tokenizer.get('kind')}`, vocabulary {config.get('vocab_size')} ids",
    ]
    if tokenizer.get("styles"):
        lines.append(f"- **Styles:** {', '.join(tokenizer['styles'])}")
    if corpus:
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
        f"tokens seen, {info.get('wall_seconds', 'n/a')} s wall time",
        f"- **Validation NLL (best):** {_nll(info.get('best_valid_nll'))}",
        f"- **Unigram baseline on the same validation set:** {_nll(info.get('unigram_valid_nll'))}",
    ]
    return "\n".join(lines) + "\n"
