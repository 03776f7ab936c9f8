"""What sheet music adds to a default Generate: notation and engraving, timed in the same run
as the sampling, MIDI writing and audio rendering they sit beside.

A default Generate in the app's Compose tab: the shipped music model, its most common style
(folk), seed note D4, temperature 0.9, top-p 0.95, 8 bars at 120 BPM, 2 variations. Each
round runs the Compose path (sample both variations as one batch, write their MIDI files,
render their audio) and then, for each variation, what the score needs: ``notate`` (quantise,
lay out, build the music21 score), MusicXML export (written to a file: the download), and
Verovio's SVG (the picture). Round 0 is the process's first score: it pays for importing
music21 and Verovio and is reported apart (``generator.notation.warm_up`` moves that cost to
the app's start).

    python benchmarks/notation_speed.py
    python benchmarks/notation_speed.py --repeats 10 --no-audio --warm-up
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import common  # noqa: I001  (puts the repository on sys.path)

from generator.atomic import write_bytes_atomic
from generator.checkpoint import load_checkpoint
from generator.config import SHIPPED_DIR
from generator.notation import notate, score_svg, warm_up
from generator.render import write_audio
from generator.sampling import SamplingOptions
from generator.sampling.music import MusicRequest, generate_music, write_pieces

GENERATE = ("sample", "write MIDI", "render audio")
SCORE = ("notate", "MusicXML", "SVG")


def one_generate(loaded, round_: int, seed: int, out: Path, audio: bool) -> dict[str, float]:
    """Seconds per stage of one default Generate with its scores."""
    seconds: dict[str, float] = dict.fromkeys(GENERATE + SCORE, 0.0)
    request = MusicRequest(
        num=2,
        style="folk",
        seed_note="D4",
        bars=8,
        bpm=120,
        options=SamplingOptions(temperature=0.9, top_p=0.95, seed=seed + round_),
    )
    t0 = time.perf_counter()
    result = generate_music(loaded, request)
    t1 = time.perf_counter()
    paths = write_pieces(result.pieces, out, stem=f"round{round_}", bpm=120, program=0)
    t2 = time.perf_counter()
    if audio:
        for path in paths:
            write_audio(path, path.with_suffix(".wav"))
    t3 = time.perf_counter()
    seconds.update({"sample": t1 - t0, "write MIDI": t2 - t1, "render audio": t3 - t2})
    grid = loaded.tokenizer.steps_per_beat
    for path, notes in zip(paths, result.pieces, strict=True):
        a = time.perf_counter()
        notation = notate(notes, steps_per_beat=grid, meter="4/4", bpm=120)
        b = time.perf_counter()
        write_bytes_atomic(path.with_suffix(".musicxml"), notation.musicxml().encode("utf-8"))
        c = time.perf_counter()
        svg = score_svg(notation)
        d = time.perf_counter()
        assert svg.count('class="notehead"') >= len(notes) // 2  # a real score came out
        seconds["notate"] += b - a
        seconds["MusicXML"] += c - b
        seconds["SVG"] += d - c
    return seconds


def main() -> None:
    p = common.parser(__doc__.split("\n\n")[0], repeats=5)
    p.add_argument("--checkpoint", default=str(SHIPPED_DIR / "music.pt"))
    p.add_argument("--no-audio", action="store_true", help="leave out the audio rendering")
    p.add_argument(
        "--warm-up", action="store_true", help="call notation.warm_up() first, as an app would"
    )
    args = p.parse_args()
    common.setup(args)
    print(f"# Notation speed: {common.machine()}\n")
    loaded = load_checkpoint(args.checkpoint)
    if args.warm_up:
        print(f"warm_up(): {warm_up():.3f} s, before the rounds\n")
    rounds = []
    with tempfile.TemporaryDirectory() as tmp:
        for round_ in range(args.repeats + 1):  # round 0: the process's first scores
            rounds.append(one_generate(loaded, round_, args.seed, Path(tmp), not args.no_audio))
    first, rest = rounds[0], rounds[1:]
    stages = GENERATE + SCORE
    medians = {s: common.median([r[s] for r in rest]) for s in stages}
    generate = common.median([sum(r[s] for s in GENERATE) for r in rest])
    score = common.median([sum(r[s] for s in SCORE) for r in rest])
    rows = [[s, common.fmt(medians[s], 3), common.fmt(first[s], 3)] for s in stages]
    rows.append(["**Generate without scores**", common.fmt(generate, 3), ""])
    rows.append(
        [
            "**scores added (2 variations)**",
            common.fmt(score, 3),
            common.fmt(sum(first[s] for s in SCORE), 3),
        ]
    )
    print(common.table(["stage", f"median of {args.repeats} rounds (s)", "first round (s)"], rows))
    print(
        f"\nScores add {score:.3f} s to a {generate:.3f} s Generate "
        f"(+{score / generate:.0%}; target: at most 0.5 s)."
    )


if __name__ == "__main__":
    main()
