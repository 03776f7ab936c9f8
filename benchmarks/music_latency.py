"""End-to-end latency of 30 s of music: sample, write MIDI, render audio (as the app does).

From a loaded checkpoint (loading is reported once, apart: the app loads a model once and
keeps it), each round runs the path of the app's Compose tab for one variation: sample
``--seconds`` of music at ``--bpm`` (generate_music), write the MIDI file (write_pieces),
render it to audio through the General MIDI SoundFont (write_audio, WAV by default as in the
app). The reference is the music's own duration: the ratio says how many times faster than
real time a piece is ready.

    python benchmarks/music_latency.py
    python benchmarks/music_latency.py --checkpoint generator/checkpoints/music.pt --seconds 30 \
        --format ogg
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import common  # noqa: I001  (puts the repository on sys.path)

from generator.checkpoint import load_checkpoint
from generator.config import SHIPPED_DIR
from generator.render import write_audio
from generator.sampling import SamplingOptions
from generator.sampling.music import MusicRequest, generate_music, write_pieces

STAGES = ("sample", "write MIDI", "render audio")


def main() -> None:
    p = common.parser(__doc__.split("\n\n")[0])
    p.add_argument("--checkpoint", default=str(SHIPPED_DIR / "music.pt"))
    p.add_argument("--seconds", type=float, default=30.0, help="length of music to make")
    p.add_argument("--bpm", type=float, default=120.0, help="tempo, beats per minute")
    p.add_argument("--style", default="reel", help="style to condition on ('' for none)")
    p.add_argument("--seed-note", default="D4", help="first note ('' for none)")
    p.add_argument("--num", type=int, default=1, help="variations per request")
    p.add_argument("--format", default="wav", choices=["wav", "ogg"], help="audio format")
    args = p.parse_args()
    common.setup(args)
    print(f"# Music latency: {common.machine()}\n")

    started = time.perf_counter()
    loaded = load_checkpoint(args.checkpoint)
    load_seconds = time.perf_counter() - started
    config = loaded.model.config
    print(
        f"checkpoint {args.checkpoint}: {config.cell} {config.num_layers} × "
        f"{config.hidden_size}, loaded in {load_seconds:.2f} s (once, not in the rounds)"
    )
    times: dict[str, list[float]] = {stage: [] for stage in STAGES}
    tokens: list[int] = []
    with tempfile.TemporaryDirectory() as tmp:
        for round_ in range(args.repeats + 1):  # round 0 warms up
            request = MusicRequest(
                num=args.num,
                style=args.style or None,
                seed_note=args.seed_note or None,
                seconds=args.seconds,
                bpm=args.bpm,
                options=SamplingOptions(temperature=0.9, seed=args.seed + round_),
            )
            t0 = time.perf_counter()
            result = generate_music(loaded, request)
            t1 = time.perf_counter()
            paths = write_pieces(
                result.pieces, Path(tmp), stem=f"round{round_}", bpm=args.bpm, program=0
            )
            t2 = time.perf_counter()
            for path in paths:
                write_audio(path, path.with_suffix(f".{args.format}"))
            t3 = time.perf_counter()
            if round_:
                for stage, seconds in zip(STAGES, (t1 - t0, t2 - t1, t3 - t2), strict=True):
                    times[stage].append(seconds)
                tokens.append(result.tokens)
    medians = {stage: common.median(v) for stage, v in times.items()}
    totals = [sum(times[s][i] for s in STAGES) for i in range(args.repeats)]
    total = common.median(totals)
    rows = [
        [stage, f"{medians[stage] * 1000:,.0f} ms", f"{medians[stage] / total:.0%}"]
        for stage in STAGES
    ]
    rows.append(["**total**", f"**{total * 1000:,.0f} ms**", "100%"])
    print(
        f"{args.num} × {args.seconds:g} s at {args.bpm:g} bpm, {args.format}; "
        f"{common.median(tokens) / args.num:,.0f} tokens per piece; median of {args.repeats}\n"
    )
    print(common.table(["stage", "latency", "share"], rows))
    sampled = common.median([t / s for t, s in zip(tokens, times["sample"], strict=True)])
    print(
        f"\nsampling: {sampled:,.0f} tokens/s; total: {args.seconds / total:.0f}× faster than "
        f"real time ({args.seconds:g} s of music in {total:.2f} s)"
    )
    print(f"(load average now {common.load_average()})")


if __name__ == "__main__":
    main()
