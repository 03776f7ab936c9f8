"""Training throughput: our trainer against a minimal plain-PyTorch loop, same model, same batches.

Ours is ``generator.training.train`` as the CLI runs it: Adam, warmup and cosine schedule,
gradient clipping (global norm 1.0), NaN/Inf checks, logging every ``--log-every`` steps,
validation every ``--eval-every`` steps on ``--valid-batches`` held-out windows with the best
model saved, the resumable checkpoint (model, optimizer, RNG states) every ``--save-every``
steps and at the end. The reference is the shortest correct loop on the identical model and
batches: forward, cross-entropy, backward, Adam step, state detached between windows.
Both time the whole run, set-up included; tokens/s counts the trained (non-padding) tokens.

    python benchmarks/training_throughput.py                 # 2 × 512 LSTM, batch 32 × 128
    python benchmarks/training_throughput.py --steps 250 --eval-every 250 --save-every 250
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import common  # noqa: I001  (puts the repository on sys.path)
import numpy as np
import torch
import torch.nn.functional as F

from generator.config import ModelConfig, TrainConfig
from generator.data.pieces import Piece, TokenCorpus
from generator.data.windows import EpochPlan
from generator.models import RNNGenerator
from generator.tokenizers.characters import CharTokenizer
from generator.training import train

ALPHABET = "".join(chr(c) for c in range(32, 124))  # 92 characters + 4 specials = 96 ids


def corpus(args) -> TokenCorpus:
    """Random text in segments of 16 windows: enough for the run, and a small valid split."""
    rng = np.random.default_rng(args.seed)
    tokenizer = CharTokenizer(ALPHABET)
    length = 16 * args.seq_len - 1
    lanes_windows = args.batch_size * (args.steps + 16)
    n_train = -(-lanes_windows // 16)
    n_valid = -(-args.batch_size * args.valid_batches // 16)

    def pieces(n: int, tag: str) -> list[Piece]:
        ids = rng.integers(4, tokenizer.vocab_size, size=(n, length), dtype=np.int32)
        return [Piece(f"{tag}{i}", row, None, ends=False) for i, row in enumerate(ids)]

    return TokenCorpus(tokenizer, pieces(n_train, "train"), pieces(n_valid, "valid"))


def model_config(args, vocab: int) -> ModelConfig:
    return ModelConfig(
        vocab_size=vocab,
        cell=args.cell,
        embedding_size=args.embedding_size,
        hidden_size=args.hidden_size,
        num_layers=args.layers,
        dropout=0.1,
    )


def ours(args, data: TokenCorpus, out: Path) -> float:
    config = TrainConfig(
        batch_size=args.batch_size,
        seq_len=args.seq_len,
        max_steps=args.steps,
        eval_every=args.eval_every,
        save_every=args.save_every,
        log_every=args.log_every,
        seed=args.seed,
        device="cpu",
    )
    lines = []
    started = time.perf_counter()
    result = train(
        model_config(args, data.tokenizer.vocab_size),
        config,
        data,
        out,
        progress=False,
        log=lines.append,
    )
    return result.tokens_seen / (time.perf_counter() - started)


def plain(args, data: TokenCorpus) -> float:
    started = time.perf_counter()
    torch.manual_seed(args.seed)
    model = RNNGenerator(model_config(args, data.tokenizer.vocab_size)).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    plan = EpochPlan(data.train, data.tokenizer, args.batch_size, args.seq_len, seed=args.seed)
    state, tokens = None, 0
    for index in range(args.steps):
        batch = plan.batch(index)
        cond = model.condition(batch.style_ids, batch.seed_ids)
        logits, state = model(batch.inputs, state, cond=cond, starts=batch.starts)
        loss = F.cross_entropy(
            logits.reshape(-1, logits.shape[-1]), batch.targets.reshape(-1), ignore_index=0
        )
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        state = model.detach_state(state)
        tokens += int((batch.targets != 0).sum())
    return tokens / (time.perf_counter() - started)


def main() -> None:
    p = common.parser(__doc__.split("\n\n")[0], repeats=3)
    p.add_argument("--cell", default="lstm", choices=["rnn", "lstm", "gru"])
    p.add_argument("--hidden-size", type=int, default=512)
    p.add_argument("--embedding-size", type=int, default=128)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--seq-len", type=int, default=128)
    p.add_argument("--steps", type=int, default=100, help="optimizer steps per timed run")
    p.add_argument("--eval-every", type=int, default=100, help="ours: validate every N steps")
    p.add_argument("--valid-batches", type=int, default=4, help="held-out windows per lane")
    p.add_argument("--save-every", type=int, default=100, help="ours: resumable checkpoint")
    p.add_argument("--log-every", type=int, default=50, help="ours: log line every N steps")
    args = p.parse_args()
    common.setup(args)
    print(f"# Training throughput: {common.machine()}")
    data = corpus(args)
    print(
        f"{args.cell} {args.layers} × {args.hidden_size}, embedding {args.embedding_size}, "
        f"vocabulary {data.tokenizer.vocab_size}; batch {args.batch_size} × {args.seq_len}, "
        f"{args.steps} steps per run; ours validates every {args.eval_every} steps on "
        f"{args.valid_batches} windows per lane, checkpoints every {args.save_every}, logs "
        f"every {args.log_every}; {args.repeats} rounds\n"
    )
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "bench.pt"
        plain(argparse.Namespace(**{**vars(args), "steps": 2}), data)  # first-call costs
        results = common.interleave(
            {
                "ours (generator.training.train)": lambda: ours(args, data, out),
                "plain PyTorch loop": lambda: plain(args, data),
            },
            args.repeats,
            warmup=0,
        )
    names = list(results)
    ratio = common.ratio(results, names[0], names[1])
    rows = [
        [name, common.fmt(common.median(v)), ", ".join(common.fmt(x) for x in v)]
        for name, v in results.items()
    ]
    print(common.table(["loop", "tokens/s (median)", "rounds"], rows))
    verdict = "met" if ratio >= 0.95 else "NOT met"
    print(f"\nours ÷ plain: {ratio:.3f} (target ≥ 0.95: {verdict})")
    print(f"(load average now {common.load_average()})")


if __name__ == "__main__":
    main()
