"""MusicXML round trip on many samples of each shipped model (tests/notation runs 3 each).

For every piece: notate it, write MusicXML, read it back with music21, and compare with the
notes (generator/notation/check.py). Reported per model: pieces whose score holds exactly
the quantised notes, notes, how many quantising moved and by how much at most.

    python benchmarks/notation_roundtrip.py                 # 100 samples per model
    python benchmarks/notation_roundtrip.py --samples 10
"""

from __future__ import annotations

import time

import common  # noqa: I001  (puts the repository on sys.path)

from generator.checkpoint import load_checkpoint
from generator.config import SHIPPED_DIR
from generator.midi.parts import Part
from generator.notation.check import round_trip
from generator.sampling import SamplingOptions
from generator.sampling.harmonize import harmonize, read_melody
from generator.sampling.music import MusicRequest, generate_music
from generator.sampling.pianoroll import PianoRollRequest, generate_pianoroll

CHECKPOINTS = SHIPPED_DIR
CHORALES = common.ROOT / "datasets" / "music" / "chorale"


def music_pieces(samples: int, seed: int):
    """8-bar pieces from the music model, the styles taken in turn, in batches of 10."""
    loaded = load_checkpoint(CHECKPOINTS / "music.pt")
    styles = loaded.tokenizer.styles or [None]
    pieces = []
    for batch, start in enumerate(range(0, samples, 10)):
        request = MusicRequest(
            num=min(10, samples - start),
            style=styles[batch % len(styles)],
            bars=8,
            options=SamplingOptions(temperature=1.0, seed=seed + batch),
        )
        pieces += generate_music(loaded, request).pieces
    return loaded.tokenizer.steps_per_beat, pieces


def pianoroll_pieces(samples: int, seed: int):
    loaded = load_checkpoint(CHECKPOINTS / "pianoroll.pt")
    rolls = []
    for batch, start in enumerate(range(0, samples, 10)):
        options = SamplingOptions(seed=seed + batch)
        request = PianoRollRequest(num=min(10, samples - start), frames=64, options=options)
        rolls += generate_pianoroll(loaded, request).rolls
    return loaded.tokenizer.frames_per_beat, [loaded.tokenizer.to_notes(r) for r in rolls]


def harmonies(samples: int, seed: int, melodies: list[Part]):
    loaded = load_checkpoint(CHECKPOINTS / "harmonizer.pt")
    pieces = []
    for index, melody in enumerate(melodies[:samples]):
        options = SamplingOptions(temperature=0.7, seed=seed + index)
        result = harmonize(loaded, melody, options=options)
        pieces.append({"Soprano": melody.notes, **result.voices})
    return 12, pieces  # the melody as read: sixteenths and triplets; the voices on eighths


def chorale_melodies(samples: int, seed: int) -> tuple[str, list[Part]]:
    """Soprano lines of the chorales in datasets/music (if built), else music-model pieces."""
    files = sorted(CHORALES.glob("*.mid"))[:samples]
    if len(files) >= samples:
        return f"{samples} chorale sopranos from {CHORALES}", [read_melody(f)[0] for f in files]
    _, pieces = music_pieces(samples, seed)
    return f"{samples} music-model pieces", [Part("Melody", 0, sorted(p)) for p in pieces]


def report(name: str, steps_per_beat: int, pieces) -> None:
    started = time.perf_counter()
    checks = [round_trip(p, steps_per_beat=steps_per_beat) for p in pieces]
    seconds = time.perf_counter() - started
    exact = sum(c.exact for c in checks)
    notes = sum(c.notes for c in checks)
    moved = sum(c.moved for c in checks)
    print(
        f"| {name} | {steps_per_beat} | {len(checks)} | {exact}/{len(checks)} | {notes:,} | "
        f"{sum(c.shown for c in checks):,} | {sum(c.missing for c in checks)} | "
        f"{sum(c.extra for c in checks)} | {moved:,} ({moved / max(notes, 1):.1%}) | "
        f"{max(c.max_onset_shift for c in checks):.3f} | "
        f"{max(c.max_end_shift for c in checks):.3f} | {seconds:.1f} s |"
    )


def main() -> None:
    p = common.parser(__doc__.split("\n\n")[0], repeats=1)
    p.add_argument("--samples", type=int, default=100, help="pieces per model")
    args = p.parse_args()
    common.setup(args)
    print(f"# MusicXML round trip: {common.machine()}\n")
    source, melodies = chorale_melodies(args.samples, args.seed)
    print(f"harmonizer melodies: {source}\n")
    print(
        "| Model | Grid (steps/beat) | Pieces | Exact | Notes | Shown | Missing | Extra | "
        "Moved by quantising | Max onset move (beats) | Max end move (beats) | Check time |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    report("music.pt", *music_pieces(args.samples, args.seed))
    report("pianoroll.pt", *pianoroll_pieces(args.samples, args.seed))
    report("harmonizer.pt (melody + ATB)", *harmonies(args.samples, args.seed, melodies))


if __name__ == "__main__":
    main()
