"""Sampling speed: tokens/s of our sampler against plain-PyTorch stepping and the roofline.

Ours is ``generator.sampling.sample_tokens`` (what the CLI and the app run) on an RNNGenerator,
temperature 1, no top-k/top-p, a length limit that keeps every lane going for exactly
``--tokens`` tokens. References, on the same weights, batch and thread count:

  nn.<CELL> stepping   the sequence module called on one token at a time (embedding, module,
                       head, softmax, torch.multinomial): what plain PyTorch code writes
  nn.<Cell>Cell        the single-step cell modules, one per layer, same sampling
  roofline             a bare matrix-vector pass per token: embedding lookup, per layer
                       W_ih·x + b and W_hh·h (two addmm), output projection; no gates,
                       no state update, no sampling. The arithmetic a step cannot avoid.
                       Timed with the matrices in the module's (out, in) layout and in an
                       (in, out) copy; "roofline" is the faster of the two in each round.
  naive prefix re-run  (LSTM, batch 1) the whole prefix through nn.LSTM for every new token

    python benchmarks/sampling_speed.py                       # all cells, batch 1 and 16
    python benchmarks/sampling_speed.py --cells lstm --batches 1 --repeats 9
"""

from __future__ import annotations

import common  # noqa: I001  (puts the repository on sys.path)
import torch
from torch import nn

from generator.config import ModelConfig
from generator.models import RNNGenerator
from generator.sampling import SamplingOptions, sample_tokens

HEADERS = ["cell", "batch", "sampler", "tokens/s", "ours ÷ it"]
CELL_NAMES = {"rnn": ("RNN", "RNNCell"), "lstm": ("LSTM", "LSTMCell"), "gru": ("GRU", "GRUCell")}


def build(cell: str, args) -> RNNGenerator:
    torch.manual_seed(args.seed)
    config = ModelConfig(
        vocab_size=args.vocab,
        cell=cell,
        embedding_size=args.embedding_size,
        hidden_size=args.hidden_size,
        num_layers=args.layers,
        dropout=0.0,
    )
    return RNNGenerator(config).eval()


def draw(logits: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """The usual plain-PyTorch sampling step: softmax, then torch.multinomial."""
    return torch.multinomial(torch.softmax(logits, dim=-1), 1, generator=generator).squeeze(1)


def ours(model: RNNGenerator, batch: int, tokens: int, seed: int):
    cond = torch.zeros(batch, model.config.embedding_size)
    no_cost = torch.zeros(model.config.vocab_size)

    def run():
        sample_tokens(
            model,
            cond,
            SamplingOptions(seed=seed),
            eos_id=2,
            max_tokens=tokens,
            length_cost=no_cost,
            length_limit=1.0,  # never reached: every lane runs for `tokens` tokens
        )

    return run


def module_stepping(model: RNNGenerator, batch: int, tokens: int, seed: int):
    rnn, generator = model.rnn, torch.Generator().manual_seed(seed)

    def run():
        token = torch.zeros(batch, dtype=torch.long)
        state = None
        for _ in range(tokens):
            output, state = rnn(model.embed(token).unsqueeze(1), state)  # (batch, 1, hidden)
            token = draw(model.head(output[:, 0]), generator)

    return run


def cell_stepping(model: RNNGenerator, batch: int, tokens: int, seed: int):
    rnn, generator = model.rnn, torch.Generator().manual_seed(seed)
    kind = {nn.LSTM: nn.LSTMCell, nn.GRU: nn.GRUCell}.get(type(rnn), nn.RNNCell)
    cells = []
    for k in range(rnn.num_layers):
        cell = kind(rnn.input_size if k == 0 else rnn.hidden_size, rnn.hidden_size)
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(cell, name).data = getattr(rnn, f"{name}_l{k}").data  # the same weights
        cells.append(cell.eval())
    lstm = isinstance(rnn, nn.LSTM)

    def run():
        token = torch.zeros(batch, dtype=torch.long)
        states = [None] * len(cells)
        for _ in range(tokens):
            x = model.embed(token)
            for k, cell in enumerate(cells):
                states[k] = cell(x, states[k])
                x = states[k][0] if lstm else states[k]
            token = draw(model.head(x), generator)

    return run


def roofline(model: RNNGenerator, batch: int, tokens: int, seed: int, *, rows: bool):
    """Bare matrix-vector passes. rows=False reads each matrix in the module's own (out, in)
    layout; rows=True from an (in, out) copy, faster at batch 1 on some CPUs (this one)."""
    rnn = model.rnn

    def layout(weight: torch.Tensor) -> torch.Tensor:  # used as weight.t() below
        return weight.t().contiguous().t() if rows else weight

    weights = [
        tuple(layout(getattr(rnn, f"{name}_l{k}")) for name in ("weight_ih", "weight_hh"))
        + (getattr(rnn, f"bias_ih_l{k}"),)
        for k in range(rnn.num_layers)
    ]
    hidden = [torch.randn(batch, rnn.hidden_size) for _ in weights]
    head_weight, head_bias, table = layout(model.head.weight), model.head.bias, model.embed.weight
    hidden_size = rnn.hidden_size

    def run():
        token = torch.zeros(batch, dtype=torch.long)
        for _ in range(tokens):
            x = table.index_select(0, token)
            for (w_ih, w_hh, b_ih), h in zip(weights, hidden, strict=True):
                gates = torch.addmm(b_ih, x, w_ih.t())
                gates.addmm_(h, w_hh.t())
                x = gates[:, :hidden_size]
            torch.addmm(head_bias, x, head_weight.t())

    return run


def naive_prefix(model: RNNGenerator, tokens: int, seed: int):
    rnn, generator = model.rnn, torch.Generator().manual_seed(seed)

    def run():
        sequence = torch.zeros(1, 1, dtype=torch.long)
        for _ in range(tokens):
            output, _ = rnn(model.embed(sequence))  # the whole prefix, every time
            token = draw(model.head(output[:, -1]), generator)
            sequence = torch.cat([sequence, token.view(1, 1)], dim=1)

    return run


def timer(run, work: int):
    """The case as interleave runs it: tokens/s of one run, in inference mode."""

    def timed() -> float:
        with torch.inference_mode():
            return common.rate(work, run)

    return timed


def main() -> None:
    p = common.parser(__doc__.split("\n\n")[0])
    p.add_argument("--cells", nargs="+", default=["rnn", "lstm", "gru"], choices=list(CELL_NAMES))
    p.add_argument("--batches", nargs="+", type=int, default=[1, 16], help="lanes sampled at once")
    p.add_argument("--tokens", type=int, default=200, help="tokens per lane per timed run")
    p.add_argument("--naive-tokens", type=int, default=128, help="tokens for the prefix re-run")
    p.add_argument("--vocab", type=int, default=96)
    p.add_argument("--embedding-size", type=int, default=128)
    p.add_argument("--hidden-size", type=int, default=512)
    p.add_argument("--layers", type=int, default=2)
    args = p.parse_args()
    common.setup(args)
    print(f"# Sampling speed: {common.machine()}")
    print(
        f"model: {args.layers} × {args.hidden_size}, embedding {args.embedding_size}, vocabulary "
        f"{args.vocab}; {args.tokens} tokens per lane per run, {args.repeats} rounds\n"
    )
    rows, per_lane = [], {}
    for cell in args.cells:
        model = build(cell, args)
        module_name, cell_name = CELL_NAMES[cell]
        for batch in args.batches:
            work = batch * args.tokens
            cases = {
                "ours": ours(model, batch, args.tokens, args.seed),
                f"nn.{module_name} stepping": module_stepping(model, batch, args.tokens, args.seed),
                f"nn.{cell_name} stepping": cell_stepping(model, batch, args.tokens, args.seed),
                "roofline (out, in)": roofline(model, batch, args.tokens, args.seed, rows=False),
                "roofline (in, out)": roofline(model, batch, args.tokens, args.seed, rows=True),
            }
            if cell == "lstm" and batch == 1 and args.naive_tokens:
                cases["naive prefix re-run"] = naive_prefix(model, args.naive_tokens, args.seed)
            timed = {
                name: timer(run, args.naive_tokens if name == "naive prefix re-run" else work)
                for name, run in cases.items()
            }
            results = common.interleave(timed, args.repeats)
            # the roofline is the faster of the two layouts, round by round
            layouts = zip(results["roofline (out, in)"], results["roofline (in, out)"], strict=True)
            results["roofline"] = [max(pair) for pair in layouts]
            ours_rate = common.median(results["ours"])
            per_lane[(cell, batch)] = ours_rate
            for name in results:
                figure = common.median(results[name])
                mark = "" if name == "ours" else f"{common.ratio(results, 'ours', name):.2f}×"
                rows.append([cell, batch, name, common.fmt(figure), mark])
            print(common.table(HEADERS, rows[-len(results) :]))
            print(f"(load average now {common.load_average()})\n", flush=True)
    print(f"## All figures ({common.machine()})\n")
    print(common.table(HEADERS, rows))
    if len(args.batches) > 1:
        low, high = min(args.batches), max(args.batches)
        print(f"\nBatch scaling of ours, tokens/s at batch {high} ÷ at batch {low}:")
        for cell in args.cells:
            print(f"  {cell}: {per_lane[(cell, high)] / per_lane[(cell, low)]:.1f}×")


if __name__ == "__main__":
    main()
