"""Piano-roll pictures: time in beats across, pitch up, each part in its own colour.

Drawn with matplotlib's object API on the Agg canvas (no pyplot, no display, no global figure
state), so pictures can be drawn from several threads at once.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pretty_midi
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from generator.midi.notes import Note

# One colour per part, in order (colour-blind-safe "Okabe-Ito" palette, darkest first).
PART_COLOURS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442")
GRID_COLOUR = "#d0d4da"


def draw_pianoroll(
    parts: Mapping[str, Sequence[Note]] | Sequence[Note],
    out: str | Path | None = None,
    *,
    beats_per_bar: int = 4,
    title: str | None = None,
    size: tuple[float, float] = (10.0, 3.2),
    dpi: int = 100,
) -> Path | bytes:
    """Draw notes (one part, or {part name: notes}) as a PNG; returns ``out`` or the PNG bytes.

    Bar lines are drawn every ``beats_per_bar`` beats; a note's opacity follows its velocity."""
    if not isinstance(parts, Mapping):
        parts = {"": parts}
    figure = Figure(figsize=size, dpi=dpi, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    every = [n for notes in parts.values() for n in notes]
    end = max((n.end for n in every), default=float(beats_per_bar))
    end = max(beats_per_bar, np.ceil(end / beats_per_bar) * beats_per_bar)
    low = min((n.pitch for n in every), default=60) - 2
    high = max((n.pitch for n in every), default=72) + 2

    for bar in np.arange(0, end + 1e-9, beats_per_bar):
        axes.axvline(bar, color=GRID_COLOUR, linewidth=0.8, zorder=0)
    for octave_c in range((low // 12) * 12, high + 1, 12):
        axes.axhline(octave_c - 0.5, color=GRID_COLOUR, linewidth=0.5, zorder=0)

    for index, (name, notes) in enumerate(parts.items()):
        if not notes:
            continue
        colour = PART_COLOURS[index % len(PART_COLOURS)]
        velocity = np.array([n.velocity for n in notes], dtype=float)
        alpha = 0.45 + 0.55 * np.clip(velocity / 127.0, 0.0, 1.0)
        rgba = np.tile(_rgb(colour), (len(notes), 1))
        axes.barh(
            [n.pitch for n in notes],
            [n.duration for n in notes],
            left=[n.start for n in notes],
            height=0.8,
            color=np.column_stack([rgba, alpha]),
            edgecolor=colour,
            linewidth=0.4,
            label=name or None,
            zorder=2,
        )
    if not every:
        axes.text(0.5, 0.5, "no notes", ha="center", va="center", transform=axes.transAxes)

    axes.set_xlim(0, end)
    axes.set_ylim(low - 0.5, high + 0.5)
    c_notes = [p for p in range(low, high + 1) if p % 12 == 0]
    axes.set_yticks(c_notes, [pretty_midi.note_number_to_name(p) for p in c_notes])
    bar_step = max(1, int(end // beats_per_bar) // 16)  # at most ~16 bar labels
    bar_ticks = np.arange(0, end - 1e-9, beats_per_bar * bar_step)  # bar starts
    axes.set_xticks(bar_ticks, [str(int(t // beats_per_bar) + 1) for t in bar_ticks])
    axes.set_xlabel("bar")
    axes.tick_params(length=0, labelsize=8)
    for spine in axes.spines.values():
        spine.set_visible(False)
    if title:
        axes.set_title(title, fontsize=10, loc="left")
    if sum(1 for name in parts if name) > 1:
        axes.legend(loc="upper right", fontsize=8, frameon=False)

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    if out is None:
        return buffer.getvalue()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(buffer.getvalue())
    return out


def _rgb(colour: str) -> np.ndarray:
    return np.array([int(colour[i : i + 2], 16) / 255.0 for i in (1, 3, 5)])
