"""Piano-roll pictures: a PNG of the right size, each part in its own colour."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from generator.midi import Note
from generator.render import draw_pianoroll
from generator.render.pianoroll import PART_COLOURS


def _pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)


def _count(pixels: np.ndarray, colour: str) -> int:
    rgb = np.array([int(colour[i : i + 2], 16) for i in (1, 3, 5)])
    return int((np.abs(pixels - rgb).sum(axis=-1) < 30).sum())


def test_parts_in_their_own_colours(tmp_path):
    melody = [Note(i * 1.0, 1.0, 72 + i % 5, 127) for i in range(16)]
    bass = [Note(i * 2.0, 2.0, 48 + i % 3, 127) for i in range(8)]

    path = draw_pianoroll({"melody": melody, "bass": bass}, tmp_path / "roll.png", dpi=50)

    pixels = _pixels(path.read_bytes())
    assert pixels.shape == (160, 500, 3)  # 10 × 3.2 inches at 50 dpi
    assert _count(pixels, PART_COLOURS[0]) > 100
    assert _count(pixels, PART_COLOURS[1]) > 100
    one_part = _pixels(draw_pianoroll(melody, dpi=50))
    assert _count(one_part, PART_COLOURS[1]) == 0


@pytest.mark.parametrize("notes", [[], [Note(0.0, 0.25, 60, 1)]], ids=["empty", "one-note"])
def test_edge_cases_still_draw(notes):
    png = draw_pianoroll(notes, title="edge", dpi=50)
    assert png.startswith(b"\x89PNG")
    pixels = _pixels(png)
    dark = int((pixels.sum(axis=-1) < 200).sum())  # axes, tick labels, the title, "no notes"
    assert dark > 30, "a blank picture"
    coloured = int((pixels.max(axis=-1) - pixels.min(axis=-1) > 40).sum())  # notes, not greys
    assert (coloured > 20) == bool(notes), coloured  # the one quiet note is drawn, else none
