"""Harmony of a harmonizer's voices: held-out chorales (next to Bach's own) and folk tunes.

    python benchmarks/harmonizer.py --checkpoint generator/checkpoints/harmonizer.pt \
        [--checkpoint ...]

For each checkpoint, the whole melody of every held-out chorale of its split (the benchmark
split of generator.data.harmony, --valid-fraction 0.1) is harmonized, and so is a fixed set of
folk tunes built from music21's corpus (every 60th of the O'Neill's and Ryan's tunes of
datasets/music/folk then datasets/music/jig, in sorted order: 4/4, 2/4, 3/4, 6/8 and 9/8).
Each is decoded at temperature 0.7 (seed 0) by the model alone, with the voicing rules, and
with the rules and best of 8; metrics as in generator/evaluation/harmony.py. Bach's own voices
on the same chorales are the yardstick. One JSON line per checkpoint and setting.
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--checkpoint", type=Path, action="append", required=True)
    parser.add_argument("--music", type=Path, default=ROOT / "datasets" / "music")
    parser.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    folk = folk_tunes(args.music)
    for checkpoint in args.checkpoint:
        loaded = load_checkpoint(checkpoint)
        corpus = load_harmony_corpus(args.music / "chorale", loaded.tokenizer)
        chorales = [args.music / "chorale" / name for name in corpus.extra["valid_files"]]
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
