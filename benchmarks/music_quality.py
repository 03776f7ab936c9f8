"""Musical quality of the shipped models against held-out real pieces (issue 12).

For each style (default: the three largest of --data), --num pieces are sampled from each model
and compared with the real pieces of that style that training held out (the validation split:
a hash of the path relative to --data, generator.data.pieces.is_valid_split, as `train music
--data` splits). Both sides are cut to their first --beats beats, so long real tunes are not
compared with short samples. Models:

- music:     the shipped music model (--music), conditioned on the style, nothing else;
- n-gram:    the floor: an interpolated Kneser-Ney n-gram (--ngram-order) over the music
             model's event tokens, one per style, trained on that style's pieces of the music
             model's training split;
- pianoroll: the shipped piano-roll model (--pianoroll), which knows only chorales: compared
             with the chorales its own training held out (its split is of --data/chorale),
             from its default opening chord.

Per style: each feature's overlap area with the held-out pieces, the ceiling (held-out half vs
half), the quality ratio (mean overlap / mean ceiling), stray notes, on-grid share, the copy
check against the music model's whole training split (the held-out pieces as yardstick), and
NLL per token on the held-out pieces (music model and n-gram). Samples are written as MIDI under
--out/MODEL/STYLE/ and read back, so `python -m generator evaluate quality` reproduces a row.

    python benchmarks/music_quality.py
    python benchmarks/music_quality.py --num 20 --styles reel --models music,ngram
"""

from __future__ import annotations

import json
import math
import sys
import time
from collections import Counter
from pathlib import Path

import common  # noqa: I001  (puts the repository on sys.path)
import torch

from generator.checkpoint import load_checkpoint
from generator.config import SHIPPED_DIR
from generator.data.midi_corpus import load_midi_corpus
from generator.data.pieces import is_valid_split
from generator.data.windows import EpochPlan
from generator.evaluation.ngram import NgramModel
from generator.evaluation.quality import (
    MidiFolder,
    QualityOptions,
    QualityReport,
    evaluate_quality,
    read_folder,
)
from generator.midi.notes import Note, write_midi
from generator.sampling import SamplingOptions
from generator.sampling.music import MusicRequest, generate_music
from generator.sampling.pianoroll import PianoRollRequest, generate_pianoroll
from generator.training import evaluate

MODELS = ("music", "ngram", "pianoroll")
BATCH = 16  # variations per sampling call (the samplers' limit)
BPM = 120.0


def main() -> None:
    p = common.parser(__doc__.split("\n\n")[0], repeats=1)
    p.add_argument("--data", type=Path, default=common.ROOT / "datasets" / "music")
    p.add_argument("--music", type=Path, default=SHIPPED_DIR / "music.pt")
    p.add_argument("--pianoroll", type=Path, default=SHIPPED_DIR / "pianoroll.pt")
    p.add_argument("--models", default=",".join(MODELS), help="comma-separated subset")
    p.add_argument("--styles", nargs="*", default=None, help="default: the three largest")
    p.add_argument("--pianoroll-style", default="chorale", help="the piano-roll model's style")
    p.add_argument("--num", type=int, default=100, help="samples per model and style")
    p.add_argument(
        "--null-num", type=int, default=100, help="null-start samples (any style; 0: none)"
    )
    p.add_argument("--beats", type=float, default=64.0, help="length compared, quarter notes")
    p.add_argument("--temperature", type=float, default=1.0, help="sampling temperature")
    p.add_argument("--ngram-order", type=int, default=7, help="n of the n-gram baseline")
    p.add_argument("--valid-fraction", type=float, default=0.1, help="as in training")
    p.add_argument("--out", type=Path, default=common.ROOT / "out" / "music_quality")
    p.add_argument("--json", type=Path, default=None, help="default: OUT/report.json")
    args = p.parse_args()
    common.setup(args)
    models = [m for m in args.models.split(",") if m]
    unknown = set(models) - set(MODELS)
    if unknown:
        sys.exit(f"error: unknown models {sorted(unknown)}; choose from {', '.join(MODELS)}")
    started = time.perf_counter()
    print(f"# Musical quality: {common.machine()}\n")
    print("command: python " + " ".join(sys.argv) + "\n")

    folder = read_folder(args.data, "--data")
    styles = args.styles or [s for s, _ in _style_sizes(folder).most_common(3)]
    train_pieces = list(folder.select(None, "train", args.valid_fraction).values())
    options = QualityOptions(max_beats=args.beats, seed=args.seed)
    print(
        f"data {args.data}: {len(folder.pieces)} pieces ({len(folder.skipped)} skipped), "
        f"{len(train_pieces)} in the training split; styles {', '.join(styles)}; "
        f"{args.num} samples per model and style, first {args.beats:g} beats compared\n"
    )

    music = load_checkpoint(args.music) if {"music", "ngram"} & set(models) else None
    corpus = None
    if "ngram" in models:
        corpus = load_midi_corpus(
            args.data,
            tokenizer=music.tokenizer,
            valid_fraction=args.valid_fraction,
            progress=False,
        )
    results: dict[str, dict] = {}
    sections = [(style, args.num) for style in styles]
    if args.null_num:
        sections.append((None, args.null_num))  # null start, against every held-out piece
    for style, num in sections if set(models) - {"pianoroll"} else []:
        reference = list(folder.select(style, "valid", args.valid_fraction).values())
        if not reference:
            sys.exit(f"error: no held-out pieces of style {style!r} in {args.data}")
        reports: dict[str, QualityReport] = {}
        nll: dict[str, float] = {}
        for model in models:
            if model == "pianoroll":
                continue
            samples = (
                _sample_music(music, style, num, args)
                if model == "music"
                else _sample_ngram(corpus, music.tokenizer, style, num, args, nll)
            )
            pieces = _write_and_reread(samples, args.out / model / (style or "null"))
            reports[model] = evaluate_quality(pieces, reference, train_pieces, options)
        if "music" in models and corpus is not None:
            held_out = [p for p in corpus.valid if style is None or p.style == style]
            nll["music"] = _neural_nll(music, held_out)
        label = style or "any style, null start"
        results[label] = _section(label, f"{len(reference)} held-out pieces", reports, nll)

    if "pianoroll" in models:
        roll, reference, train = _pianoroll_sets(folder, args)
        pieces = _write_and_reread(
            _sample_pianoroll(roll, args), args.out / "pianoroll" / args.pianoroll_style
        )
        report = evaluate_quality(pieces, reference, train, options)
        label = f"{args.pianoroll_style}, piano-roll model's own split"
        results[label] = _section(
            label, f"{len(reference)} held-out pieces of its split", {"pianoroll": report}, {}
        )

    print("Reproduce one row (samples written by this run):\n")
    print(
        f"    python -m generator evaluate quality --samples {args.out}/music "
        f"--reference {args.data} --style {styles[0]} --reference-split valid "
        f"--train {args.data} --train-split train --max-beats {args.beats:g}\n"
    )
    print(f"total {time.perf_counter() - started:.0f} s")
    path = args.json or args.out / "report.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2) + "\n")
    print(f"report: {path}")


def _style_sizes(folder: MidiFolder) -> Counter:
    return Counter(name.split("/")[0] for name in folder.pieces if "/" in name)


def _batches(num: int):
    for start in range(0, num, BATCH):
        yield start, min(BATCH, num - start)


def _sample_music(loaded, style: str | None, num: int, args) -> list[list[Note]]:
    """Style-conditioned pieces, or null starts for ``style`` None."""
    pieces = []
    for start, size in _batches(num):
        options = SamplingOptions(temperature=args.temperature, seed=args.seed * 10_000 + start)
        request = MusicRequest(
            num=size, style=style, seconds=args.beats * 60 / BPM, bpm=BPM, options=options
        )
        pieces += generate_music(loaded, request).pieces
    return pieces


def _sample_ngram(
    corpus, tokenizer, style: str | None, num: int, args, nll: dict
) -> list[list[Note]]:
    """Pieces from an n-gram model of one style's training pieces (all of them for None)."""
    train = [p.tokens for p in corpus.train if style is None or p.style == style]
    valid = [p.tokens for p in corpus.valid if style is None or p.style == style]
    model = NgramModel(
        tokenizer.vocab_size, args.ngram_order, tokenizer.bos_id, tokenizer.eos_id
    ).fit(train)
    nll["ngram"] = model.nll(valid)
    sequences = model.sample(
        num,
        max_tokens=int(args.beats * tokenizer.steps_per_beat * 8) + 64,
        length_cost=tokenizer.length_cost("beats"),
        length_limit=args.beats,
        never=(tokenizer.pad_id, tokenizer.bos_id),
        temperature=args.temperature,
        seed=args.seed,
    )
    return [tokenizer.decode(ids) for ids in sequences]


def _neural_nll(loaded, pieces) -> float:
    """The music model's NLL per token (EOS included) on whole pieces, in nats."""
    plan = EpochPlan(pieces, loaded.tokenizer, min(16, len(pieces)), 256, shuffle=False)
    with torch.inference_mode():
        return evaluate(loaded.model, plan, torch.device("cpu"))


def _pianoroll_sets(folder: MidiFolder, args):
    """The piano-roll model, and the held-out and training chorales of its own split (it was
    trained on --data/STYLE, so names are relative to that folder)."""
    roll = load_checkpoint(args.pianoroll)
    prefix = args.pianoroll_style + "/"
    own = {n[len(prefix) :]: v for n, v in folder.pieces.items() if n.startswith(prefix)}
    reference = [v for n, v in own.items() if is_valid_split(n, args.valid_fraction)]
    train = [v for n, v in own.items() if not is_valid_split(n, args.valid_fraction)]
    return roll, reference, train


def _sample_pianoroll(loaded, args) -> list[list[Note]]:
    tokenizer = loaded.tokenizer
    frames = int(args.beats * tokenizer.frames_per_beat) - 1  # plus the opening chord
    rolls = []
    for start, size in _batches(args.num):
        options = SamplingOptions(temperature=args.temperature, seed=args.seed * 10_000 + start)
        request = PianoRollRequest(num=size, frames=frames, bpm=BPM, options=options)
        rolls += generate_pianoroll(loaded, request).rolls
    return [tokenizer.to_notes(roll) for roll in rolls]


def _write_and_reread(pieces: list[list[Note]], folder: Path) -> list[list[Note]]:
    """Write the samples as MIDI files (replacing earlier ones) and read them back, so the
    figures are those of the files."""
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.mid"):
        old.unlink()
    for i, notes in enumerate(pieces):
        if notes:
            write_midi(notes, folder / f"{i + 1:03d}.mid", bpm=BPM)
    read = read_folder(folder, str(folder)).pieces
    return list(read.values()) + [[] for _ in range(len(pieces) - len(read))]


def _section(title: str, what: str, reports: dict[str, QualityReport], nll: dict) -> dict:
    """Print one style's Markdown table and return its JSON."""
    names = list(reports)
    first = reports[names[0]]
    print(f"### {title} ({what})\n")
    rows = []
    for i, row in enumerate(first.rows):
        cells = [reports[m].rows[i] for m in names]
        rows.append([row.name, _f(row.ceiling)] + [_f(c.overlap) for c in cells])
    rows.append(["**mean**", _f(first.mean_ceiling)] + [_f(reports[m].mean_overlap) for m in names])
    rows.append(["**quality ratio**", "1"] + [f"**{_f(reports[m].quality_ratio)}**" for m in names])
    rows.append(
        ["lowest overlap", ""]
        + [
            f"{reports[m].lowest_overlap.name} {_f(reports[m].lowest_overlap.overlap)}"
            for m in names
        ]
    )
    on_grid = {m: reports[m].rows[[r.name for r in first.rows].index("on_grid")] for m in names}
    rows.append(
        ["on-grid share (eighths)", _f(on_grid[names[0]].reference_mean)]
        + [_f(on_grid[m].generated_mean) for m in names]
    )
    rows.append(
        ["stray notes / pieces", "0"]
        + [f"{reports[m].stray_notes} / {reports[m].stray_pieces}" for m in names]
    )
    if first.train_range is not None:
        rows.append(
            [f"notes outside training range {first.train_range[0]}-{first.train_range[1]}", ""]
            + [str(reports[m].train_stray_notes) for m in names]
        )
    copy_ref = first.copy_reference.to_dict() if first.copy_reference else None
    if copy_ref:
        copies = {m: reports[m].copy_samples.to_dict() for m in names}
        rows.append(
            ["copied 8-note share", f"{100 * copy_ref['copied_share']:.1f}%"]
            + [f"{100 * copies[m]['copied_share']:.1f}%" for m in names]
        )
        rows.append(
            ["longest copied run (median)", _run(copy_ref)] + [_run(copies[m]) for m in names]
        )
    if nll:
        rows.append(
            ["NLL nats/token (held out)", ""] + [_f(nll[m]) if m in nll else "" for m in names]
        )
    print(common.table(["feature (overlap)", "ceiling (real)"] + names, rows))
    print()
    return {
        "held_out": first.reference,
        "models": {m: reports[m].to_dict() for m in names},
        "nll": nll,
    }


def _f(value: float) -> str:
    return "-" if value is None or math.isnan(value) else f"{value:.3f}"


def _run(copy: dict) -> str:
    return f"{copy['longest_copied_run']} ({copy['median_longest_copied_run']:g})"


if __name__ == "__main__":
    main()
