"""Text training: the project's trainer against a plain PyTorch loop (and a small GPT).

Everything reads the same corpus, split the way ``train text`` splits it (``--valid-fraction``
of each file's end held out when there are fewer than 10 files, else whole files), as the
same character ids. Each case trains the same model for the same steps on the same batch and
window, and all of them are scored by one function: NLL in nats per character on the held-out
text read as contiguous streams with the state carried (``--eval-lanes`` lanes), plus, for
the project's models, the figure ``evaluate text`` prints (per segment of ``--segment-len``).

Cases (``--cases``, in this order, one after the other in one process):
    plain      the 30-line reference loop: LSTM, dropout between layers only, Adam, cosine to
               10% with no warmup, clip 1.0, ``--batch-size`` contiguous streams with the state
               carried through the whole text
    segments   the trainer as it was: text cut into segments of 16 windows, one segment per
               lane slot, state reset at each segment, dropout also on embeddings and outputs
    streams    the trainer reading text as streams (generator/data/streams.py), io dropout
    streams-between   streams, dropout between layers only
    streams-between-nowarmup   the same with no warmup: the reference's exact recipe
    streams-inorder   the same, training files in order and window boundaries unmoved (the
               plain loop's batches, but for the lane's first input: the conditioning vector)

``--same-init`` starts the project's model from the plain loop's initial weights and random
state (the plain loop's model is built with the same seed and copied in), so what is left
between the cases is the data order (and, with dropout, where the masks fall).
    gpt        nanoGPT's CPU recipe for characters (4 layers, 4 heads, 128 wide, context 64,
               batch 12, no dropout, lr 1e-3 with 100 warmup steps and cosine to 1e-4, AdamW
               betas 0.9/0.99, weight decay 0.1, GELU, pre-norm), built from torch.nn, trained
               for the wall time the plain loop took (or ``--gpt-seconds``); scored with a
               sliding context of 32 to 63 characters
    budget     what `train text --max-minutes` trains (the budget recipe, TEXT_BUDGET_RECIPE),
               run through the command line in this process for the wall time the plain loop
               took (or ``--budget-seconds``), validation and saving included; extra flags for
               that command in ``--budget-flags`` (one case per ``;``-separated set, to compare
               recipes); scored as the others, per character (SentencePiece models too)

    python benchmarks/text_vs_plain.py --data datasets/text --threads 2
    python benchmarks/text_vs_plain.py --data book.txt --steps 944 --threads 2 --curves curves.json
    python benchmarks/text_vs_plain.py --hidden-size 256 --steps 300 --cases plain,segments,streams
    python benchmarks/text_vs_plain.py --cases plain,gpt,budget --threads 2   # the budget table
    python benchmarks/text_vs_plain.py --cases budget --budget-seconds 300 \
        --budget-flags "--cell lstm;--tokenizer sentencepiece --vocab-size 1000"  # recipes
    python benchmarks/text_vs_plain.py --hidden-size 256 --steps 400 --seeds 0,1,2,3 \
        --cases plain,streams-between-nowarmup           # the seed spread: mean and sd per case
"""

from __future__ import annotations

import json
import math
import tempfile
import time
from pathlib import Path

import common  # noqa: I001  (puts the repository on sys.path)
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from generator.config import ModelConfig, TrainConfig
from generator.data.pieces import TokenCorpus
from generator.data.streams import StreamPlan, token_stream
from generator.data.text_corpus import load_text_corpus
from generator.data.windows import EpochPlan
from generator.models import RNNGenerator
from generator.training import train
from generator.training.tasks import TOKEN_TASK, TextTask
from generator.training.trainer import evaluate

CASES = (
    "plain",
    "segments",
    "streams",
    "streams-between",
    "streams-between-nowarmup",
    "streams-inorder",
    "gpt",
    "budget",
)


def flags():
    p = common.parser(__doc__.split("\n")[0], repeats=1)
    p.add_argument("--data", type=Path, default=common.ROOT / "datasets" / "text")
    p.add_argument(
        "--cases", default=",".join(CASES), help="comma-separated, from: " + ", ".join(CASES)
    )
    p.add_argument("--steps", type=int, default=944)
    p.add_argument("--hidden-size", type=int, default=512)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--embedding-size", type=int, default=128)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--seq-len", type=int, default=128)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--dropout", type=float, default=0.1)
    p.add_argument("--valid-fraction", type=float, default=0.1)
    p.add_argument("--segment-len", type=int, default=0, help="0 = 16 windows of --seq-len")
    p.add_argument("--eval-lanes", type=int, default=32)
    p.add_argument("--gpt-seconds", type=float, default=0.0, help="0 = the plain loop's time")
    p.add_argument("--budget-seconds", type=float, default=0.0, help="0 = the plain loop's time")
    p.add_argument(
        "--budget-flags",
        default="",
        help="';'-separated sets of extra `train text` flags: one budget case each",
    )
    p.add_argument(
        "--seeds",
        default="",
        help="comma-separated seeds, every case for each (default: --seed)",
    )
    p.add_argument(
        "--same-init", action="store_true", help="the project starts from the plain loop's weights"
    )
    p.add_argument("--curves", type=Path, help="write every case's per-step losses as JSON")
    return p.parse_args()


# -- one scale for everything: nats per character on the held-out streams ------------------------
def stream_nll(model_step, corpus: TokenCorpus, lanes: int, seq_len: int) -> float:
    """Mean NLL of the held-out text read as ``lanes`` contiguous streams, state carried."""
    plan = StreamPlan(corpus.valid, corpus.tokenizer, lanes, seq_len, shuffle=False)
    total, count, state = 0.0, 0, None
    with torch.no_grad():
        for index in range(len(plan)):
            batch = plan.batch(index)
            logits, state = model_step(batch, state)
            total += float(
                F.cross_entropy(
                    logits.reshape(-1, logits.shape[-1]),
                    batch.targets.reshape(-1),
                    ignore_index=0,
                    reduction="sum",
                )
            )
            count += int((batch.targets != 0).sum())
    return total / count


def train_stream(corpus: TokenCorpus) -> np.ndarray:
    """The training text as one id stream, files in order, EOS at each real end."""
    return token_stream(corpus.train, corpus.tokenizer)


# -- the reference: a plain loop ------------------------------------------------------------------
class PlainLSTM(nn.Module):
    def __init__(self, vocab: int, args):
        super().__init__()
        self.embed = nn.Embedding(vocab, args.embedding_size)
        self.rnn = nn.LSTM(
            args.embedding_size,
            args.hidden_size,
            args.layers,
            batch_first=True,
            dropout=args.dropout if args.layers > 1 else 0.0,
        )
        self.head = nn.Linear(args.hidden_size, vocab)

    def forward(self, x, state=None):
        output, state = self.rnn(self.embed(x), state)
        return self.head(output), state


def run_plain(corpus: TokenCorpus, args) -> dict:
    torch.manual_seed(args.seed)
    vocab = corpus.tokenizer.vocab_size
    model = PlainLSTM(vocab, args)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    stream = torch.from_numpy(train_stream(corpus).astype(np.int64))
    per_lane = (len(stream) - 1) // args.batch_size
    inputs = stream[: per_lane * args.batch_size].view(args.batch_size, per_lane)
    targets = stream[1 : per_lane * args.batch_size + 1].view(args.batch_size, per_lane)
    windows = per_lane // args.seq_len
    losses, state, started = [], None, time.perf_counter()
    for step in range(args.steps):
        w = step % windows
        if w == 0:
            state = None
        for group in optimizer.param_groups:
            group["lr"] = args.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * step / args.steps)))
        x = inputs[:, w * args.seq_len : (w + 1) * args.seq_len]
        y = targets[:, w * args.seq_len : (w + 1) * args.seq_len]
        logits, state = model(x, state)
        state = tuple(s.detach() for s in state)
        loss = F.cross_entropy(logits.reshape(-1, vocab), y.reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        losses.append(loss.item())
    seconds = time.perf_counter() - started
    model.eval()
    valid = stream_nll(
        lambda batch, state: model(batch.inputs, state), corpus, args.eval_lanes, args.seq_len
    )
    return {"valid_streams": valid, "seconds": seconds, "losses": losses}


# -- the project's trainer ---------------------------------------------------------------------
class SameStart(TextTask):
    """TextTask whose model starts from PlainLSTM's initial weights (and leaves torch's random
    state where building PlainLSTM leaves it); ``in_order``: training reads the files in order,
    window boundaries unmoved, as the plain loop does."""

    def __init__(self, args, same_init: bool, in_order: bool):
        self.args, self.same_init, self.in_order = args, same_init, in_order

    def build_model(self, config) -> nn.Module:
        model = RNNGenerator(config)
        if self.same_init:
            torch.manual_seed(self.args.seed)
            plain = PlainLSTM(config.vocab_size, self.args)
            model.load_state_dict(plain.state_dict(), strict=False)  # all but the style tables
        return model

    def plan(self, *args, **options):
        if self.in_order and options.get("shuffle", True):
            options = {**options, "shuffle": False, "min_lane_windows": 0}
        return super().plan(*args, **options)


def run_project(corpus: TokenCorpus, args, case: str) -> dict:
    streams = case.startswith("streams")
    in_order = "inorder" in case
    model_config = ModelConfig(
        vocab_size=corpus.tokenizer.vocab_size,
        cell="lstm",
        embedding_size=args.embedding_size,
        hidden_size=args.hidden_size,
        num_layers=args.layers,
        dropout=args.dropout,
        io_dropout="between" not in case and not in_order,
    )
    train_config = TrainConfig(
        batch_size=args.batch_size,
        seq_len=args.seq_len,
        lr=args.lr,
        warmup_steps=0 if "nowarmup" in case or in_order else 100,
        clip_norm=1.0,
        max_steps=args.steps,
        eval_every=args.steps,
        save_every=args.steps,
        log_every=args.steps,
        seed=args.seed,
        style_dropout=0.0,
        device="cpu",
    )
    losses: list[float] = []

    def on_step(event: dict) -> None:
        losses.append(event["loss"])

    with tempfile.TemporaryDirectory() as folder:
        result = train(
            model_config,
            train_config,
            corpus,
            Path(folder) / "model.pt",
            progress=False,
            log=lambda message: None,
            task=(SameStart(args, args.same_init, in_order) if streams else TOKEN_TASK),
            on_step=on_step,
        )
        from generator.checkpoint import load_checkpoint

        model = load_checkpoint(Path(folder) / "model.pt").model  # best = last: one validation
    model.eval()

    def step(batch, state):
        cond = model.condition(batch.style_ids, batch.seed_ids)
        return model(batch.inputs, state, cond=cond, starts=batch.starts)

    segments = EpochPlan(
        corpus.valid,
        corpus.tokenizer,
        max(1, min(16, len(corpus.valid))),
        256,
        shuffle=False,
    )
    return {
        "valid_streams": stream_nll(step, corpus, args.eval_lanes, args.seq_len),
        "valid_segments": evaluate(model, segments, torch.device("cpu")),
        "seconds": result.wall_seconds,
        "losses": losses,
    }


# -- what `train text --max-minutes` does --------------------------------------------------------
def run_budget(args, seconds: float, extra: str) -> dict:
    """`train text --max-minutes` on the same files, through the command line, then the held-out
    text (as that run split it) scored per character with the state carried."""
    from generator import api
    from generator.cli import main as cli
    from generator.evaluation.text import prediction_count
    from generator.sampling.text import text_tokenizer

    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "model.pt"
        command = [
            "train", "text", "--data", str(args.data), "--out", str(out),
            "--max-minutes", f"{seconds / 60:.6f}", "--threads", str(args.threads),
            "--valid-fraction", str(args.valid_fraction), "--seed", str(args.seed),
            "--no-progress", "--device", "cpu", *extra.split(),
        ]  # fmt: skip
        started = time.perf_counter()
        if cli(command) != 0:
            raise SystemExit(f"train text failed: {' '.join(command)}")
        wall = time.perf_counter() - started
        loaded = api.load(out)
        state = torch.load(out.with_suffix(".last.pt"), weights_only=True)["train_state"]
    held_out = api.read_data(
        "text",
        args.data,
        {"valid_fraction": args.valid_fraction, "max_valid_tokens": 0},
        tokenizer=text_tokenizer(loaded),
    )
    model = loaded.model.eval()

    def step(batch, state):
        cond = model.condition(batch.style_ids, batch.seed_ids)
        return model(batch.inputs, state, cond=cond, starts=batch.starts)

    per_token = stream_nll(step, held_out, args.eval_lanes, args.seq_len)
    per_char = per_token * prediction_count(held_out.valid) / held_out.report.valid_characters
    return {
        "valid_streams": per_char,
        "seconds": wall,
        "losses": [],  # the command line keeps no per-step losses
        "steps": state["step"],
        "recipe": {
            k: v
            for k, v in loaded.model.config.to_dict().items()
            if k in ("cell", "hidden_size", "num_layers", "embedding_size", "dropout")
        },
    }


# -- a small GPT, as a user would pick instead --------------------------------------------------
class TinyGPT(nn.Module):
    def __init__(self, vocab: int, width=128, layers=4, heads=4, context=64):
        super().__init__()
        self.context = context
        self.embed = nn.Embedding(vocab, width)
        self.position = nn.Embedding(context, width)
        layer = nn.TransformerEncoderLayer(
            width, heads, 4 * width, 0.0, "gelu", batch_first=True, norm_first=True
        )
        self.blocks = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(width)
        self.head = nn.Linear(width, vocab)

    def forward(self, x):
        t = x.shape[1]
        mask = nn.Transformer.generate_square_subsequent_mask(t)
        h = self.embed(x) + self.position(torch.arange(t))
        return self.head(self.norm(self.blocks(h, mask=mask, is_causal=True)))


def run_gpt(corpus: TokenCorpus, args, seconds: float) -> dict:
    torch.manual_seed(args.seed)
    vocab = corpus.tokenizer.vocab_size
    model = TinyGPT(vocab)
    # nanoGPT's shakespeare_char settings: AdamW betas (0.9, 0.99), weight decay 0.1, 100
    # warmup steps, then cosine from 1e-3 to 1e-4, here over the wall-time budget
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.99), weight_decay=0.1)
    stream = torch.from_numpy(train_stream(corpus).astype(np.int64))
    rng = torch.Generator().manual_seed(args.seed)
    losses, started = [], time.perf_counter()
    while (elapsed := time.perf_counter() - started) < seconds:
        progress = min(1.0, elapsed / seconds)
        for group in optimizer.param_groups:
            warm = min(1.0, (len(losses) + 1) / 100)
            group["lr"] = 1e-3 * warm * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))
        starts = torch.randint(len(stream) - 65, (12,), generator=rng)
        x = torch.stack([stream[s : s + 64] for s in starts])
        y = torch.stack([stream[s + 1 : s + 65] for s in starts])
        loss = F.cross_entropy(model(x).reshape(-1, vocab), y.reshape(-1))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    seconds = time.perf_counter() - started
    model.eval()
    valid = torch.from_numpy(token_stream(corpus.valid, corpus.tokenizer).astype(np.int64))
    return {
        "valid_streams": gpt_nll(model, valid),
        "seconds": seconds,
        "losses": losses,
        "steps": len(losses),
    }


def gpt_nll(model: TinyGPT, ids: torch.Tensor, context: int = 64) -> float:
    """Held-out NLL with a sliding context: windows of ``context`` tokens every context / 2,
    each scoring its second half (the first window all of it), so every character is predicted
    from at least 32 characters before it (up to 63)."""
    xs, ys, half = ids[:-1], ids[1:], context // 2
    n = len(xs)
    starts = list(range(0, max(1, n - context + 1), half))
    if starts[-1] + context < n:
        starts.append(n - context)
    total, covered = 0.0, 0
    with torch.no_grad():
        for chunk in range(0, len(starts), 256):
            group = starts[chunk : chunk + 256]
            x = torch.stack([xs[s : s + context] for s in group])
            y = torch.stack([ys[s : s + context] for s in group])
            nll = F.cross_entropy(model(x).transpose(1, 2), y, reduction="none")  # (rows, context)
            for row, s in enumerate(group):
                first = max(0, covered - s)  # score only what no earlier window scored
                total += float(nll[row, first:].sum())
                covered = s + context
    return total / n


def print_case(case: str, seed: int, r: dict) -> None:
    """One line per finished case."""
    extra = f", per segment {r['valid_segments']:.4f}" if "valid_segments" in r else ""
    tail = f"; train loss last 50 steps {np.mean(r['losses'][-50:]):.4f}" if r["losses"] else ""
    print(
        f"{case:26s} seed {seed}: held-out {r['valid_streams']:.4f} nats/char "
        f"(streams{extra}){tail}; {r['seconds']:.0f} s"
        + (f", {r['steps']} steps" if "steps" in r else "")
        + (f"; {r['recipe']}" if "recipe" in r else "")
        + f"; load {common.load_average()}",
        flush=True,
    )


def main() -> None:
    args = flags()
    common.setup(args)
    segment_len = args.segment_len or 16 * args.seq_len - 1
    corpus = load_text_corpus(
        args.data, tokenizer="char", valid_fraction=args.valid_fraction, segment_len=segment_len
    )
    report = corpus.report
    print(common.machine(args.threads), flush=True)
    print(
        f"corpus {args.data}: {report.train_characters:,} train, {report.valid_characters:,} "
        f"held-out characters ({report.split}); model LSTM {args.layers}x{args.hidden_size}, "
        f"embedding {args.embedding_size}, batch {args.batch_size} x {args.seq_len}, "
        f"{args.steps} steps, lr {args.lr}, {args.threads} threads",
        flush=True,
    )
    seeds = [int(x) for x in args.seeds.split(",")] if args.seeds else [args.seed]
    for case in args.cases.split(","):
        if case not in CASES:
            raise SystemExit(f"unknown case {case!r}; choose from {', '.join(CASES)}")
    runs: dict[str, dict[int, dict]] = {}
    for seed in seeds:  # every case for one seed, then the next seed: load falls on all alike
        args.seed = seed
        for case in args.cases.split(","):
            if case == "plain":
                r = run_plain(corpus, args)
            elif case == "gpt":
                budget = args.gpt_seconds or runs.get("plain", {}).get(seed, {}).get("seconds", 60)
                r = run_gpt(corpus, args, budget)
            elif case == "budget":
                budget = args.budget_seconds or runs.get("plain", {}).get(seed, {}).get("seconds")
                if not budget:
                    raise SystemExit("the budget case needs --budget-seconds or the plain case")
                for extra in args.budget_flags.split(";"):
                    name = f"budget {extra}".strip()
                    r = run_budget(args, budget, extra)
                    runs.setdefault(name, {})[seed] = r
                    print_case(name, seed, r)
                continue
            else:
                r = run_project(corpus, args, case)
            runs.setdefault(case, {})[seed] = r
            print_case(case, seed, r)
    if len(seeds) > 1:
        for case, by_seed in runs.items():
            values = [r["valid_streams"] for r in by_seed.values()]
            print(
                f"{case:26s} over seeds {','.join(map(str, by_seed))}: mean "
                f"{np.mean(values):.4f}, sd {np.std(values, ddof=1):.4f} nats/char",
                flush=True,
            )
    if args.curves:
        curves = {
            f"{case}/{seed}": r["losses"] for case, by in runs.items() for seed, r in by.items()
        }
        args.curves.write_text(json.dumps(curves))


if __name__ == "__main__":
    main()
