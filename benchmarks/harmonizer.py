"""Harmony of a harmonizer's voices: held-out chorales (next to Bach's own) and folk tunes.

    python benchmarks/harmonizer.py --checkpoint generator/checkpoints/harmonizer.pt \
        [--checkpoint ...]

For each checkpoint, the whole melody of every held-out chorale of its split (the benchmark
split of generator.data.harmony, --valid-fraction 0.1) is harmonized, and so is a fixed set of
folk tunes built from music21's corpus (every 60th of the O'Neill's and Ryan's tunes of
datasets/music/folk then datasets/music/jig, in sorted order: 4/4, 2/4, 3/4, 6/8 and 9/8).
Each is decoded at temperature 0.7 (seed 0) by the model alone, with the voicing rules, and
with the rules and best of 8; metrics as in generator/evaluation/harmony.py. Bach's own voices
on the same chorales are the yardstick. One JSON line per checkpoint and setting, with the
checkpoint's own validation NLL and token accuracy (``train``'s final report on the held-out
windows) and, for a model with attention, where it looks: on the held-out windows with teacher
forcing, the mean attention weight by offset from each output token's own melody step (own
step = 0; ±1 = the next or previous eighth), the share within one beat of it (|offset| ≤ 1)
and the mean |offset| of the most-weighted position (``attention_locality``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as `python benchmarks/harmonizer.py` from a checkout
    sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from generator.checkpoint import load_checkpoint  # noqa: E402
from generator.data.harmony import load_harmony_corpus  # noqa: E402
from generator.data.pairs import PairPlan  # noqa: E402
from generator.evaluation.harmony import evaluate_harmonizer  # noqa: E402
from generator.sampling.sampler import SamplingOptions  # noqa: E402

SETTINGS = {"model": (False, 1), "rules": (True, 1), "rules-best8": (True, 8)}


def folk_tunes(music: Path, every: int = 60) -> list[Path]:
    """The fixed folk set: every ``every``-th music21 tune of folk/ and of jig/, sorted."""
    return [
        path
        for style in ("folk", "jig")
        for path in sorted((music / style).glob("*.mid"))
        if path.name.startswith(("oneills", "ryans"))
    ][::every]


def attention_locality(loaded, pairs, *, reach: int = 4) -> dict | None:
    """Where a harmonizer's attention looks, relative to each output token's own melody step
    (teacher forcing on ``pairs``); None for a model without attention."""
    model, tokenizer = loaded.model, loaded.tokenizer
    if model.attention is None:
        return None
    voices = len(tokenizer.voices)
    model.eval()
    by_offset = torch.zeros(2 * reach + 1, dtype=torch.float64)
    near = rows = peak_distance = 0.0
    with torch.no_grad():
        for batch in PairPlan(pairs, tokenizer, 64, shuffle=False):
            _, weights = model(
                batch.sources, batch.lengths, batch.target_inputs, return_attention=True
            )  # (batch, tgt, src)
            real = (batch.target_outputs != 0).double()  # (batch, tgt)
            tgt, src = weights.shape[1:]
            own = (torch.arange(tgt) // voices).clamp(max=src - 1)
            offset = torch.arange(src).view(1, src) - own.view(tgt, 1)  # (tgt, src)
            w = weights.double() * real.unsqueeze(2)
            for k in range(-reach, reach + 1):
                by_offset[k + reach] += float(w[:, offset == k].sum())
            near += float(w[:, offset.abs() <= 1].sum())
            peak = weights.argmax(2)  # (batch, tgt)
            distance = (peak - own.view(1, tgt)).abs().double()
            peak_distance += float((distance * real).sum())
            rows += float(real.sum())
    return {
        "weight_by_offset": {
            str(k): round(float(v) / rows, 4)
            for k, v in zip(range(-reach, reach + 1), by_offset, strict=True)
        },
        "within_one_step": round(near / rows, 4),
        "peak_mean_abs_offset": round(peak_distance / rows, 3),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--checkpoint", type=Path, action="append", required=True)
    parser.add_argument("--music", type=Path, default=ROOT / "datasets" / "music")
    parser.add_argument(
        "--settings", nargs="*", default=list(SETTINGS), choices=list(SETTINGS),
        help="decodings to measure (none: only NLL and attention)",
    )  # fmt: skip
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    folk = folk_tunes(args.music)
    for checkpoint in args.checkpoint:
        loaded = load_checkpoint(checkpoint)
        corpus = load_harmony_corpus(args.music / "chorale", loaded.tokenizer)
        chorales = [args.music / "chorale" / name for name in corpus.valid_files]
        scores = loaded.info.get("valid_scores") or {}
        model_row = {
            "checkpoint": str(checkpoint),
            "valid_nll": scores.get("nll"),
            "valid_accuracy": scores.get("accuracy"),
            "attention": attention_locality(loaded, corpus.valid),
        }
        print(json.dumps(model_row), flush=True)
        for setting in args.settings:
            rules, candidates = SETTINGS[setting]
            row = {"checkpoint": str(checkpoint), "setting": setting}
            for name, files in (("chorales", chorales), ("folk", folk)):
                started = time.perf_counter()
                report = evaluate_harmonizer(
                    loaded,
                    files,
                    options=SamplingOptions(temperature=0.7, seed=0),
                    rules=rules,
                    candidates=candidates,
                )
                row[name] = report.model.to_dict()
                row[f"{name}_seconds"] = round(time.perf_counter() - started, 1)
                if name == "chorales":
                    row["bach"] = report.reference.to_dict()
            print(json.dumps(row), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
