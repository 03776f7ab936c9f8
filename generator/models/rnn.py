"""The one-to-many RNN generator: tanh RNN, LSTM or GRU, conditioned once at the first step.

    step:      0        1        2              T
    input:     x        y1       y2      ...    y(T-1)      x = style + first-note vector,
               │        │        │              │               or the null zero vector
             [RNN] ──▶ [RNN] ──▶ [RNN] ──▶ ... [RNN]        state carried left to right
               │        │        │              │
    output:    y1       y2       y3      ...    yT = EOS

The conditioning vector x enters only at step 0 (where the input token is BOS); afterwards the
network reads back its own previous output. In training, y are the real tokens (teacher forcing);
in sampling, they are the model's samples, fed one at a time through ``step``.
"""

from __future__ import annotations

import torch
from torch import nn

from generator.config import ModelConfig

State = tuple[torch.Tensor, ...]  # (h,) for rnn/gru, (h, c) for lstm; each (layers, batch, hidden)

_RNN_CLASSES = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}


# -- the recurrent core, shared by every family built on these cells --------------------------
def recurrent_layer(
    cell: str,
    input_size: int,
    hidden_size: int,
    num_layers: int,
    dropout: float,
    bidirectional: bool = False,
) -> nn.RNNBase:
    """Stacked tanh RNN / LSTM / GRU, batch first, with dropout between layers."""
    kwargs = {"nonlinearity": "tanh"} if cell == "rnn" else {}
    return _RNN_CLASSES[cell](
        input_size,
        hidden_size,
        num_layers=num_layers,
        dropout=dropout if num_layers > 1 else 0.0,
        batch_first=True,
        bidirectional=bidirectional,
        **kwargs,
    )


def zero_state(rnn: nn.RNNBase, batch_size: int, device: torch.device | None = None) -> State:
    """All-zero state for ``rnn``: (h,) or (h, c), each (layers × directions, batch, hidden)."""
    shape = (rnn.num_layers * (2 if rnn.bidirectional else 1), batch_size, rnn.hidden_size)
    zeros = torch.zeros(shape, device=device or rnn.weight_ih_l0.device)
    return (zeros, zeros.clone()) if isinstance(rnn, nn.LSTM) else (zeros,)


def run_recurrent(rnn: nn.RNNBase, x: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
    """(batch, time, input) through ``rnn`` from ``state`` → (batch, time, hidden), new state."""
    if isinstance(rnn, nn.LSTM):
        output, (h, c) = rnn(x, (state[0], state[1]))
        return output, (h, c)
    output, h = rnn(x, state[0])
    return output, (h,)


_CELL_FUNCTIONS = {nn.LSTM: torch.lstm_cell, nn.GRU: torch.gru_cell}
_WEIGHT_NAMES = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")


def layer_weights(rnn: nn.RNNBase) -> list[tuple[torch.Tensor, ...]]:
    """Each layer's (W_ih, W_hh, b_ih, b_hh), gathered once: parameter look-up by name is slow."""
    return [
        tuple(getattr(rnn, f"{name}_l{k}") for name in _WEIGHT_NAMES) for k in range(rnn.num_layers)
    ]


def _rows(weight: torch.Tensor) -> torch.Tensor:
    """(out, in) weight → the same values stored (in, out), seen again as (out, in)."""
    return weight.detach().t().contiguous().t()


class Decoder:
    """Token-by-token inference for an RNNGenerator in eval mode (what the sampler runs).

    The arithmetic of the recurrent module on a length-1 sequence, with the fused single-step
    cell kernels (torch.lstm_cell ...; no inter-layer dropout), minus the per-token costs that
    dominate at small batches: the weights are gathered once, each layer's state stays its own
    tensor (no stacking per token) and the embedding is read by index. With ``copy_weights``
    (for many steps: sampling) the matrices are copied once into their fastest layout and a
    tied output (projection, then the embedding transposed) is folded into one matrix.
    ``state`` gives the usual (layers, batch, hidden) form whenever it is wanted.
    """

    def __init__(self, model: RNNGenerator, state: State, *, copy_weights: bool = True):
        rnn = model.rnn
        self.cell = _CELL_FUNCTIONS.get(type(rnn), torch.rnn_tanh_cell)
        self.lstm = isinstance(rnn, nn.LSTM)
        self.layers = [tuple(s[k] for s in state) for k in range(rnn.num_layers)]  # (h,) | (h, c)
        self.embedding = model.embed.weight  # (vocab, embed)
        self.weights = layer_weights(rnn)
        self.logits = model._logits  # (batch, hidden) → (batch, vocab)
        if copy_weights:
            # Each (out, in) matrix copied once as (in, out) rows and used through a transposed
            # view: the kernels then read x·W^T from contiguous (in, out) memory, which at
            # batch 1 runs up to twice as fast as the (out, in) layout (BENCHMARKS.md).
            with torch.no_grad():
                self.weights = [
                    (_rows(w_ih), _rows(w_hh), b_ih, b_hh)
                    for w_ih, w_hh, b_ih, b_hh in self.weights
                ]
                if model.config.tie_weights:  # projection, then the embedding: one matrix
                    weight = model.embed.weight @ model.project.weight  # (vocab, hidden)
                    bias = model.embed.weight @ model.project.bias + model.out_bias
                else:
                    weight, bias = model.head.weight, model.head.bias
                weight_t = weight.detach().t().contiguous()  # (hidden, vocab)
            self.logits = lambda x: torch.addmm(bias, x, weight_t)

    def feed(self, x: torch.Tensor) -> torch.Tensor:
        """Feed one input vector per lane (batch, embed), e.g. the conditioning: (batch, vocab)."""
        for k, w in enumerate(self.weights):
            if self.lstm:
                self.layers[k] = self.cell(x, self.layers[k], *w)  # (h, c): (batch, hidden)
            else:
                self.layers[k] = (self.cell(x, self.layers[k][0], *w),)
            x = self.layers[k][0]
        return self.logits(x)

    def step(self, tokens: torch.Tensor) -> torch.Tensor:
        """Feed (batch,) token ids; the state moves on one step: (batch, vocab) logits."""
        return self.feed(self.embedding.index_select(0, tokens))  # (batch, embed) in

    @property
    def state(self) -> State:
        """(h,) or (h, c), each (layers, batch, hidden), as ``RNNGenerator.step`` returns it."""
        return tuple(torch.stack(part) for part in zip(*self.layers, strict=True))


def reset_state(state: State, starts: torch.Tensor) -> State:
    """Zero the state of the lanes where ``starts`` (batch,) is True (a new piece begins)."""
    reset = starts.view(1, -1, 1)
    return tuple(torch.where(reset, torch.zeros_like(s), s) for s in state)


def detach_state(state: State) -> State:
    """Cut the graph between truncated-BPTT windows; the values carry on."""
    return tuple(s.detach() for s in state)


class RNNGenerator(nn.Module):
    """Token embedding → stacked recurrent cell → vocabulary logits, with one-off conditioning."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        if config.vocab_size < 1:
            raise ValueError("ModelConfig.vocab_size must be set from the tokenizer")
        self.config = config
        e, h = config.embedding_size, config.hidden_size
        self.embed = nn.Embedding(config.vocab_size, e)
        # Index 0 of each conditioning table is "absent" and stays a zero vector.
        self.style_embed = nn.Embedding(config.num_styles + 1, e, padding_idx=0)
        self.seed_embed = nn.Embedding(config.num_seed_tokens + 1, e, padding_idx=0)
        self.rnn = recurrent_layer(config.cell, e, h, config.num_layers, config.dropout)
        self.drop = nn.Dropout(config.dropout if config.io_dropout else 0.0)
        if config.tie_weights:
            # Output logits reuse the input embedding: hidden → embedding space → vocabulary.
            self.project = nn.Linear(h, e)
            self.out_bias = nn.Parameter(torch.zeros(config.vocab_size))
        else:
            self.head = nn.Linear(h, config.vocab_size)

    # -- conditioning and state ----------------------------------------------------------------
    def condition(self, style_ids: torch.Tensor, seed_ids: torch.Tensor) -> torch.Tensor:
        """The first-step input x: style vector + first-note vector; ids 0 give the zero vector."""
        return self.style_embed(style_ids) + self.seed_embed(seed_ids)  # (batch, embed)

    def initial_state(self, batch_size: int, device: torch.device | None = None) -> State:
        """All-zero recurrent state."""
        return zero_state(self.rnn, batch_size, device or self.embed.weight.device)

    detach_state = staticmethod(detach_state)

    # -- forward -------------------------------------------------------------------------------
    def forward(
        self,
        tokens: torch.Tensor,
        state: State | None = None,
        cond: torch.Tensor | None = None,
        starts: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, State]:
        """Logits for a window of inputs.

        tokens: (batch, time) input ids; state: carried from the previous window or None;
        cond: (batch, embed) conditioning vectors; starts: (batch,) bool, True where this window
        begins a new piece: there the state is reset and the step-0 input is ``cond``.
        """
        batch = tokens.shape[0]
        x = self.embed(tokens)  # (batch, time, embed)
        if state is None:
            state = self.initial_state(batch, tokens.device)
        if starts is not None:
            state = reset_state(state, starts)
            if cond is not None:
                first = torch.where(starts.view(batch, 1), cond, x[:, 0])
                x = torch.cat([first.unsqueeze(1), x[:, 1:]], dim=1)
        output, state = self._run(self.drop(x), state)  # (batch, time, hidden)
        return self._logits(self.drop(output)), state  # (batch, time, vocab)

    def start(self, cond: torch.Tensor) -> tuple[torch.Tensor, State]:
        """Feed the conditioning vector at step 0 from a zero state: (batch, vocab) logits."""
        state = self.initial_state(cond.shape[0], cond.device)
        if not self.training:
            decoder = Decoder(self, state, copy_weights=False)
            return decoder.feed(cond), decoder.state
        output, state = self._run(cond.unsqueeze(1), state)
        return self._logits(output[:, 0]), state

    def step(self, tokens: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        """One incremental step: (batch,) ids and the carried state → (batch, vocab) logits."""
        if self.training:  # keep the inter-layer dropout of the full module
            output, state = self._run(self.embed(tokens).unsqueeze(1), state)
            return self._logits(output[:, 0]), state
        decoder = Decoder(self, state, copy_weights=False)  # one step: no copies
        return decoder.step(tokens), decoder.state

    def decoder(self, state: State) -> Decoder:
        """A Decoder that carries ``state`` on, token by token (eval mode: no dropout). It
        copies the weights once (into their fastest layout): for many steps, not one."""
        return Decoder(self, state)

    def _run(self, x: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        return run_recurrent(self.rnn, x, state)

    def _logits(self, output: torch.Tensor) -> torch.Tensor:
        if self.config.tie_weights:
            return self.project(output) @ self.embed.weight.t() + self.out_bias
        return self.head(output)
