"""Peak training memory against sequence length: truncated BPTT against full backprop.

Each setting runs in a fresh Python process (peak RSS, ru_maxrss, is a per-process high-water
mark; tracemalloc does not see torch's allocations), which trains with our trainer on one batch
of sequences of the given length: either in truncated-BPTT windows of ``--window`` tokens (the
state carried, detached, from window to window: length ÷ window optimizer steps), or as one
window holding the whole sequence (full backpropagation through time, the reference: one step).
Both train on the same tokens. The figure is the peak RSS during training above the RSS
before it started (imports, data and Python itself excluded).

    python benchmarks/training_memory.py
    python benchmarks/training_memory.py --lengths 64 256 1024 --window 64 --batch-size 32
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import common  # noqa: I001  (puts the repository on sys.path)
import numpy as np

from generator.config import ModelConfig, TrainConfig
from generator.data.pieces import Piece, TokenCorpus
from generator.tokenizers.characters import CharTokenizer
from generator.training import train

ALPHABET = "".join(chr(c) for c in range(32, 124))  # 92 characters + 4 specials = 96 ids


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def child(args) -> None:
    """Train on one batch of ``--length``-token sequences; print the peak RSS as JSON."""
    common.setup(args)
    rng = np.random.default_rng(args.seed)
    tokenizer = CharTokenizer(ALPHABET)
    ids = rng.integers(4, tokenizer.vocab_size, size=(args.batch_size + 1, args.length - 1))
    pieces = [Piece(f"p{i}", row.astype(np.int32)) for i, row in enumerate(ids)]
    corpus = TokenCorpus(tokenizer, pieces[:-1], pieces[-1:])
    window = args.length if args.full else args.window
    steps = -(-args.length // window)  # BOS + length-1 tokens = length inputs per lane
    model = ModelConfig(
        vocab_size=tokenizer.vocab_size,
        cell=args.cell,
        embedding_size=args.embedding_size,
        hidden_size=args.hidden_size,
        num_layers=args.layers,
    )
    config = TrainConfig(
        batch_size=args.batch_size,
        seq_len=window,
        max_steps=steps,
        eval_every=10**6,
        save_every=10**6,
        warmup_steps=0,
        device="cpu",
        seed=args.seed,
    )
    before = peak_rss_mb()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        train(model, config, corpus, Path(tmp) / "m.pt", progress=False, log=lambda line: None)
    seconds = time.perf_counter() - started
    print(json.dumps({"peak_mb": peak_rss_mb() - before, "steps": steps, "seconds": seconds}))


def run_child(args, length: int, full: bool) -> dict:
    command = [sys.executable, __file__, "--child", "--length", str(length)]
    for name in ("threads", "seed", "cell", "hidden_size", "embedding_size", "layers"):
        command += [f"--{name.replace('_', '-')}", str(getattr(args, name))]
    command += ["--batch-size", str(args.batch_size), "--window", str(args.window)]
    if full:
        command.append("--full")
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def main() -> None:
    p = common.parser(__doc__.split("\n\n")[0], repeats=1)
    p.add_argument("--lengths", nargs="+", type=int, default=[64, 128, 256, 512, 1024])
    p.add_argument("--window", type=int, default=64, help="truncated-BPTT window (tokens)")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--cell", default="lstm", choices=["rnn", "lstm", "gru"])
    p.add_argument("--hidden-size", type=int, default=512)
    p.add_argument("--embedding-size", type=int, default=128)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--length", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--full", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        child(args)
        return
    print(f"# Peak training memory: {common.machine(args.threads)}")
    print(
        f"{args.cell} {args.layers} × {args.hidden_size}, embedding {args.embedding_size}, "
        f"batch {args.batch_size}; truncated BPTT in {args.window}-token windows vs one "
        f"window of the whole sequence; peak RSS above the pre-training RSS, fresh process "
        f"each, median of {args.repeats}\n"
    )
    rows = []
    for length in args.lengths:
        figures = {}
        for full in (False, True):
            runs = [run_child(args, length, full) for _ in range(args.repeats)]
            figures[full] = common.median([r["peak_mb"] for r in runs])
        rows.append(
            [
                length,
                f"{figures[False]:,.0f} MB",
                f"{figures[True]:,.0f} MB",
                f"{figures[False] / max(figures[True], 1e-9):.2f}",
            ]
        )
        print(f"  length {length}: done (load average {common.load_average()})", flush=True)
    print()
    headers = ["sequence length", "truncated BPTT", "full backprop", "TBPTT ÷ full"]
    print(common.table(headers, rows))
    print(f"(load average now {common.load_average()})")


if __name__ == "__main__":
    main()
