"""Attention heat maps: which source position each output step looked at.

Drawn with matplotlib's object API on the Agg canvas (no pyplot, no display), like the
piano-roll pictures.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

MAX_LABELS = 60  # more tick labels than this on an axis are thinned out


def attention_labels(tokenizer, source, target) -> tuple[list[str], list[str]]:
    """Axis labels of a heat map: the source ids' names, and each output step's name (for a
    harmonizer, "bar-step voice-initial name"), both ending with EOS."""
    voices = list(getattr(tokenizer, "voices", []))
    source_labels = [tokenizer.token_name(int(t)) for t in source] + ["EOS"]
    target_labels = []
    for i, token in enumerate([*target, tokenizer.eos_id]):
        name = tokenizer.token_name(int(token))
        if voices and token != tokenizer.eos_id:
            name = f"{i // len(voices)} {voices[i % len(voices)][0]} {name}"
        target_labels.append(name)
    return source_labels, target_labels


def attention_by_step(tokenizer, weights: np.ndarray, target) -> tuple[np.ndarray, list[str]]:
    """A harmonizer's attention with one row per grid step instead of per token: the weights
    of the step's voice tokens averaged (EOS dropped), each row labelled with its beat and
    the voices' tokens ("2.5 F4 HOLD D3"). A third of the rows: large enough to read."""
    voices = len(tokenizer.voices)
    weights = np.asarray(weights, dtype=np.float32)
    steps = len(target) // voices
    by_step = weights[: steps * voices].reshape(steps, voices, -1).mean(axis=1)
    labels = []
    for step in range(steps):
        names = [tokenizer.token_name(int(t)) for t in target[step * voices : (step + 1) * voices]]
        labels.append(f"{step / tokenizer.steps_per_beat + 1:g} {' '.join(names)}")
    return by_step, labels


def draw_attention(
    weights: np.ndarray,
    out: str | Path | None = None,
    *,
    source_labels: Sequence[str] | None = None,
    target_labels: Sequence[str] | None = None,
    title: str | None = None,
    dpi: int = 120,
    fontsize: float = 6.0,
) -> Path | bytes:
    """Draw (target steps, source positions) weights as a PNG; returns ``out`` or the bytes.

    Rows are output steps (top to bottom), columns source positions (left to right). The
    picture stays within a screen (at most 12 × 9 inches); the colour scale runs from 0 to the
    largest weight (at least 0.05), so that a spread-out attention still shows its shape;
    ``fontsize`` is the tick labels' size in points."""
    weights = np.asarray(weights, dtype=np.float32)
    rows, cols = weights.shape
    width = min(12.0, 3.0 + 0.22 * cols)
    height = min(9.0, 2.5 + 0.1 * rows)
    figure = Figure(figsize=(width, height), dpi=dpi, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    top = max(0.05, float(weights.max())) if weights.size else 1.0
    image = axes.imshow(weights, aspect="auto", cmap="viridis", vmin=0.0, vmax=top)
    figure.colorbar(image, ax=axes, fraction=0.04, pad=0.01, label="attention weight")
    for labels, count, set_ticks, set_labels, rotation in (
        (source_labels, cols, axes.set_xticks, axes.set_xticklabels, 90),
        (target_labels, rows, axes.set_yticks, axes.set_yticklabels, 0),
    ):
        if labels is None:
            continue
        every = max(1, -(-count // MAX_LABELS))
        positions = list(range(0, count, every))
        set_ticks(positions)
        set_labels([str(labels[i]) for i in positions], rotation=rotation, fontsize=fontsize)
    axes.set_xlabel("source position")
    axes.set_ylabel("output step")
    if title:
        axes.set_title(title, fontsize=9)
    if out is None:
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png")
        return buffer.getvalue()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, format="png")
    return out
