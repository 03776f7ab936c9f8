"""Engraving: MusicXML → SVG with Verovio (the ``verovio`` wheel; no system libraries).

The page is ``width`` CSS pixels wide at 100% and as tall as the music needs: Verovio breaks
the music into systems that fit the width, so a long piece grows downwards, never sideways.
The SVG has a viewBox, so a page narrower than ``width`` shrinks it evenly.
"""

from __future__ import annotations

import re
from pathlib import Path

from generator.atomic import write_bytes_atomic
from generator.notation.score import Music, Notation, built

DEFAULT_WIDTH = 900  # CSS pixels: about four bars of a folk tune per system
STAFF_SCALE = 40  # Verovio's zoom in percent: staves of about 7 px between lines
MAX_PAGE_HEIGHT = 60_000  # Verovio's limit, in its units (one page holds ~80 systems)


def score_svg(music: Music | Notation, *, width: int = DEFAULT_WIDTH, **options) -> str:
    """The engraved score of ``music`` (options as for ``notate``) as one SVG document,
    ``width`` pixels wide, all systems one under the other."""
    import verovio

    notation = built(music, options)
    toolkit = verovio.toolkit()  # one per call: a toolkit is not safe to share between threads
    # Outside the main thread (a web server's workers) a new toolkit looks for its fonts in
    # the path the wheel was built at; the fonts ship in the package's data folder.
    toolkit.setResourcePath(str(Path(verovio.__file__).parent / "data"))
    toolkit.setOptions(
        {
            "pageWidth": int(width * 100 / STAFF_SCALE),
            "pageHeight": MAX_PAGE_HEIGHT,
            "adjustPageHeight": True,
            "scale": STAFF_SCALE,
            "breaks": "auto",
            "pageMarginLeft": 20,
            "pageMarginRight": 20,
            "pageMarginTop": 20,
            "pageMarginBottom": 20,
            "svgViewBox": True,
            "footer": "none",
            "header": "auto" if notation.score.metadata.title else "none",
        }
    )
    if not toolkit.loadData(notation.musicxml()):
        raise ValueError("Verovio could not read the MusicXML it was given")
    pages = [toolkit.renderToSVG(page) for page in range(1, toolkit.getPageCount() + 1)]
    return pages[0] if len(pages) == 1 else _stack(pages)


def warm_up() -> float:
    """Import music21 and Verovio and engrave a one-note score, so that the first real score
    costs no more than later ones (an app calls this at start); returns the seconds taken."""
    import time

    from generator.midi.notes import Note

    started = time.perf_counter()
    score_svg([Note(0.0, 1.0, 60, 64)])
    return time.perf_counter() - started


def write_svg(
    music: Music | Notation, path: str | Path, *, width: int = DEFAULT_WIDTH, **options
) -> Path:
    """Write the engraved score of ``music`` (options as for ``notate``) as an SVG file."""
    path = Path(path)
    if path.suffix.lower() != ".svg":
        raise ValueError(f"{path}: an SVG file ends in .svg")
    write_bytes_atomic(path, score_svg(music, width=width, **options).encode("utf-8"))
    return path


_VIEW_BOX = re.compile(r'<svg viewBox="0 0 ([\d.]+) ([\d.]+)"')


def _stack(pages: list[str]) -> str:
    """Several Verovio pages (each an <svg viewBox=...>) as one SVG, one under the other."""
    sizes = []
    for page in pages:
        match = _VIEW_BOX.search(page)
        if match is None:
            raise ValueError("an engraved page without a viewBox")
        sizes.append((float(match[1]), float(match[2])))
    width = max(w for w, _ in sizes)
    body, y = [], 0.0
    for page, (w, h) in zip(pages, sizes, strict=True):
        inner = page[page.index("<svg") :]
        body.append(inner.replace("<svg ", f'<svg x="0" y="{y}" width="{w}" height="{h}" ', 1))
        y += h
    return (
        f'<svg viewBox="0 0 {width} {y}" version="1.1" xmlns="http://www.w3.org/2000/svg" '
        f'xmlns:xlink="http://www.w3.org/1999/xlink">' + "".join(body) + "</svg>"
    )
