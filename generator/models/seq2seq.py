"""The encoder-decoder: an RNN encoder over the source, an RNN decoder with attention over it.

    source:   x1    x2    x3    EOS  PAD PAD         (padded positions are masked everywhere)
               │     │     │     │
    encoder: [RNN]⇄[RNN]⇄[RNN]⇄[RNN]                 both ways if bidirectional; the two
               │     │     │     │                    states of a position are projected to one
    memory:    m1    m2    m3    m4 ─────┐            final states → bridge → decoder's start
               └──┬──┴──┬──┴─────┘       │
            attention weights a(t)       │
                  ▼                      ▼
    decoder:   BOS ─▶ [RNN] ─▶ y1 ─▶ [RNN] ─▶ y2 ...  one step per target token

Attention kinds (``Seq2SeqConfig.attention``):

- ``additive`` (Bahdanau): the previous decoder state scores every memory position with
  v·tanh(W·m + U·s); the context (weighted sum of memory) goes into the RNN with the token.
- ``general`` / ``dot`` (Luong): the RNN runs first; its new state scores the memory with
  s·W·m or s·m; the previous output vector is fed back into the RNN ("input feeding").
- ``none``: no attention: the context at every step is the encoder's final state (bridged),
  as in an encoder-decoder without attention; the decoder must carry everything else.

Every kind forms the output vector tanh(W·[s; context]) and the logits from it. Scores at
padded source positions are −inf before the softmax, so their weights are exactly 0. With
``positions`` > 0, learned position embeddings are added to the source and target tokens.

Aligned input (``aligned_voices`` = N > 0, for voice grids whose target interleaves N voices per
source step): besides attending, the decoder step that predicts target token i reads the
embedding of source token i // N, the melody at its own grid step (the EOS step reads the
source's EOS). Attention is then free to look at the melody around it; with
``attention_window`` = K > 0, a learned bias per offset from that step (−K..K; farther
offsets share the end values) is added to every attention score, so that where to look
relative to "now" is learned once instead of from the states alone (0 at the start, or
−``attention_prior`` × |offset|, a locality prior: attention starts on the diagonal and learns
its offsets from there). ``aligned_read`` = ``encoder`` makes the aligned input the encoder's
state at that step (the melody there in its context, both ways) instead of the source token's
embedding; additive attention then also takes that state into its query, so that what to look
for can depend on the melody at "now". The fair baseline without attention reads the same
aligned state, with the encoder's summary as its context. ``attention_summary`` gives an
attention decoder that summary too, beside its context: the model without attention plus
attention, so that the two differ by the attention alone. ``encoder_residual`` adds each
source token's embedding (projected) to the encoder's state at its position, a residual path:
what attention reads there then names the note itself from the first step of training.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from generator.config import Seq2SeqConfig
from generator.models.rnn import State, recurrent_layer, run_recurrent, zero_state


@dataclass
class Memory:
    """The encoded source, ready for the decoder."""

    states: torch.Tensor  # (batch, src, hidden) encoder states, directions combined
    keys: torch.Tensor  # (batch, src, hidden) states as the attention scores them
    mask: torch.Tensor  # (batch, src) bool, True at real (unpadded) positions
    summary: torch.Tensor  # (batch, hidden) bridged final encoder state (the "none" context)
    aligned: torch.Tensor  # (batch, src, embed) source embeddings read in step (aligned input)

    def select(self, index: torch.Tensor) -> Memory:
        """Rows ``index`` (e.g. each source repeated once per beam)."""
        return Memory(*(t.index_select(0, index) for t in vars(self).values()))


@dataclass
class DecoderState:
    """What the decoder carries from one target step to the next."""

    rnn: State  # recurrent state, each (layers, batch, hidden)
    feed: torch.Tensor  # (batch, hidden) last output vector (Luong's input feeding)
    position: int = 0  # index of the next target token

    def select(self, index: torch.Tensor) -> DecoderState:
        """Rows ``index`` (beam search keeps the best continuations)."""
        rnn = tuple(s.index_select(1, index) for s in self.rnn)
        return DecoderState(rnn, self.feed.index_select(0, index), self.position)


class Attention(nn.Module):
    """Scores memory positions against a decoder state; softmax over the unpadded positions."""

    def __init__(self, kind: str, hidden_size: int, query_size: int | None = None):
        super().__init__()
        self.kind = kind
        if kind in ("additive", "general"):
            self.key = nn.Linear(hidden_size, hidden_size, bias=False)
        if kind == "additive":  # the query may hold more than the decoder state (query_size)
            self.query = nn.Linear(query_size or hidden_size, hidden_size)
            self.score = nn.Linear(hidden_size, 1, bias=False)

    def keys(self, states: torch.Tensor) -> torch.Tensor:
        """What the scores compare against, computed once per source: (batch, src, hidden)."""
        return states if self.kind == "dot" else self.key(states)

    def forward(
        self, query: torch.Tensor, memory: Memory, bias: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """query (batch, hidden) → context (batch, hidden), weights (batch, src); ``bias``
        (src,) is added to every row's scores."""
        if self.kind == "additive":
            hidden = torch.tanh(memory.keys + self.query(query).unsqueeze(1))  # (batch, src, hid)
            scores = self.score(hidden).squeeze(2)  # (batch, src)
        else:
            scores = torch.bmm(memory.keys, query.unsqueeze(2)).squeeze(2)  # (batch, src)
        if bias is not None:
            scores = scores + bias
        scores = scores.float().masked_fill(~memory.mask, float("-inf"))
        weights = torch.softmax(scores, dim=1).to(memory.states.dtype)  # 0 where masked
        context = torch.bmm(weights.unsqueeze(1), memory.states).squeeze(1)  # (batch, hidden)
        return context, weights


class Seq2Seq(nn.Module):
    """Bidirectional (or not) RNN encoder → RNN decoder with additive, multiplicative or no
    attention. Source and target share one vocabulary but have their own embeddings."""

    def __init__(self, config: Seq2SeqConfig):
        super().__init__()
        if config.vocab_size < 1:
            raise ValueError("Seq2SeqConfig.vocab_size must be set from the tokenizer")
        self.config = config
        v, e, h = config.vocab_size, config.embedding_size, config.hidden_size
        directions = 2 if config.bidirectional else 1
        self.source_embed = nn.Embedding(v, e, padding_idx=0)
        self.target_embed = nn.Embedding(v, e, padding_idx=0)
        if config.positions:
            self.source_positions = nn.Embedding(config.positions, e)
            self.target_positions = nn.Embedding(config.positions, e)
        self.encoder = recurrent_layer(
            config.cell, e, h, config.num_layers, config.dropout, config.bidirectional
        )
        # Both directions' states of a position (or of a layer's final step) → one vector.
        self.memory_proj = nn.Linear(directions * h, h) if directions > 1 else nn.Identity()
        if config.encoder_residual:  # the token's own embedding, added to its state
            self.residual = nn.Linear(e, h, bias=False)
        self.bridge = nn.Linear(directions * h, h)  # final states → decoder's first h (c = 0)
        reads_state = bool(config.aligned_voices) and config.aligned_read == "encoder"
        self.attention = None
        if config.attention != "none":
            query = 2 * h if reads_state and config.attention == "additive" else h
            self.attention = Attention(config.attention, h, query)
        if config.attention_window and self.attention is not None:  # offsets -K..K
            window = config.attention_window
            offsets = torch.arange(-window, window + 1, dtype=torch.float32)
            self.offset_bias = nn.Parameter(-config.attention_prior * offsets.abs())
        aligned = (h if reads_state else e) if config.aligned_voices else 0
        summary = h if config.attention_summary and self.attention is not None else 0
        self.decoder = recurrent_layer(
            config.cell, e + aligned + h + summary, h, config.num_layers, config.dropout
        )
        self.combine = nn.Linear(2 * h, h)
        self.head = nn.Linear(h, v)
        self.drop = nn.Dropout(config.dropout)

    # -- encoder -------------------------------------------------------------------------------
    def encode(self, sources: torch.Tensor, lengths: torch.Tensor) -> Memory:
        """sources (batch, src) ids, PAD after ``lengths`` (batch,) (each at least 1)."""
        batch, src = sources.shape
        x = self.source_embed(sources)  # (batch, src, embed)
        if self.config.positions:
            where = torch.arange(src, device=sources.device).clamp(max=self.config.positions - 1)
            x = x + self.source_positions(where)
        x = self.drop(x)
        packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        output, final = run_recurrent(
            self.encoder, packed, zero_state(self.encoder, batch, sources.device)
        )
        output, _ = pad_packed_sequence(output, batch_first=True, total_length=src)
        states = self.memory_proj(output)  # (batch, src, hidden)
        if self.config.encoder_residual:
            states = states + self.residual(x)
        mask = torch.arange(src, device=sources.device).unsqueeze(0) < lengths.unsqueeze(1)
        summary = torch.tanh(self.bridge(self._by_layer(final[0])))  # (layers, batch, hidden)
        keys = self.attention.keys(states) if self.attention is not None else states
        if not self.config.aligned_voices:
            aligned = states[:, :, :0]
        elif self.config.aligned_read == "encoder":
            aligned = states
        else:
            aligned = self.source_embed(sources)
        summary = summary.transpose(0, 1).reshape(batch, -1)
        return Memory(states, keys, mask, summary, aligned)

    def _by_layer(self, state: torch.Tensor) -> torch.Tensor:
        """(layers × directions, batch, hidden) → (layers, batch, directions × hidden)."""
        layers, directions = self.config.num_layers, 2 if self.config.bidirectional else 1
        _, batch, hidden = state.shape
        state = state.view(layers, directions, batch, hidden).permute(0, 2, 1, 3)
        return state.reshape(layers, batch, directions * hidden)

    # -- decoder -------------------------------------------------------------------------------
    def start(self, memory: Memory) -> DecoderState:
        """The decoder's state before the first target token, from the encoder's final states.

        ``memory.summary`` holds the bridged final state of every layer, (batch, layers·hidden)
        flattened so that ``Memory.select`` can reorder it like the other fields."""
        batch = memory.states.shape[0]
        layers, h = self.config.num_layers, self.config.hidden_size
        hidden = memory.summary.view(batch, layers, h).transpose(0, 1).contiguous()
        state: State = (hidden,)
        if self.config.cell == "lstm":
            state = (hidden, torch.zeros_like(hidden))
        return DecoderState(state, torch.zeros(batch, h, device=hidden.device, dtype=hidden.dtype))

    def step(
        self, tokens: torch.Tensor, state: DecoderState, memory: Memory
    ) -> tuple[torch.Tensor, DecoderState, torch.Tensor | None]:
        """One target step: (batch,) previous ids → (batch, vocab) logits, the new state and
        the attention weights (batch, src) (None without attention)."""
        rnn_state, feed = state.rnn, state.feed
        x = self.target_embed(tokens)  # (batch, embed)
        if self.config.positions:
            where = min(state.position, self.config.positions - 1)
            x = x + self.target_positions.weight[where]
        here = None
        if self.config.aligned_voices:  # the source at this target token's grid step
            where = min(state.position // self.config.aligned_voices, memory.aligned.shape[1] - 1)
            here = memory.aligned[:, where]  # (batch, embed or hidden)
            x = torch.cat([x, here], 1)
        x = self.drop(x)
        if self.config.attention_summary and self.attention is not None:
            x = torch.cat([x, self._top_summary(memory)], 1)  # what "none" reads, as well
        kind = self.config.attention
        weights = None
        bias = self._offset_bias(state.position, memory)
        if kind == "additive":  # Bahdanau: the previous state looks, the context goes in
            query = rnn_state[0][-1]
            if self.attention.query.in_features > query.shape[1]:  # the aligned state as well
                query = torch.cat([query, here], 1)
            context, weights = self.attention(query, memory, bias)
            output, rnn_state = run_recurrent(
                self.decoder, torch.cat([x, context], 1).unsqueeze(1), rnn_state
            )
        elif kind == "none":  # the context is always the encoder's final state
            context = self._top_summary(memory)
            output, rnn_state = run_recurrent(
                self.decoder, torch.cat([x, context], 1).unsqueeze(1), rnn_state
            )
        else:  # Luong: the new state looks; the last output vector is fed back in
            output, rnn_state = run_recurrent(
                self.decoder, torch.cat([x, feed], 1).unsqueeze(1), rnn_state
            )
            context, weights = self.attention(output[:, 0], memory, bias)
        feed = torch.tanh(self.combine(torch.cat([output[:, 0], context], 1)))  # (batch, hid)
        next_state = DecoderState(rnn_state, feed, state.position + 1)
        return self.head(self.drop(feed)), next_state, weights

    def _offset_bias(self, position: int, memory: Memory) -> torch.Tensor | None:
        """(src,) the learned score bias of each source position's offset from this target
        token's own step, or None without an attention window."""
        if not self.config.attention_window or self.attention is None:
            return None
        window = self.config.attention_window
        here = position // self.config.aligned_voices
        offsets = torch.arange(memory.states.shape[1], device=memory.states.device) - here
        return self.offset_bias[offsets.clamp(-window, window) + window]

    def _top_summary(self, memory: Memory) -> torch.Tensor:
        return memory.summary[:, -self.config.hidden_size :]  # top layer's bridged final state

    # -- training ------------------------------------------------------------------------------
    def forward(
        self,
        sources: torch.Tensor,
        lengths: torch.Tensor,
        target_inputs: torch.Tensor,
        *,
        return_attention: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Logits (batch, tgt, vocab) for every target step, and (optionally) the attention
        weights (batch, tgt, src).

        target_inputs: (batch, tgt) = BOS + target (PAD after the end). In training mode, each
        step after the first feeds the true previous token with probability
        ``config.teacher_forcing`` and otherwise the model's own most likely one."""
        memory = self.encode(sources, lengths)
        state = self.start(memory)
        ratio = self.config.teacher_forcing if self.training else 1.0
        logits_per_step, weights_per_step = [], []
        tokens = target_inputs[:, 0]
        for t in range(target_inputs.shape[1]):
            if t > 0:
                tokens = target_inputs[:, t]
                if ratio < 1.0:
                    guess = logits_per_step[-1].detach().argmax(dim=-1)
                    keep = torch.rand(tokens.shape, device=tokens.device) < ratio
                    tokens = torch.where(keep | (tokens == 0), tokens, guess)
            logits, state, weights = self.step(tokens, state, memory)
            logits_per_step.append(logits)
            if return_attention and weights is not None:
                weights_per_step.append(weights)
        logits = torch.stack(logits_per_step, dim=1)  # (batch, tgt, vocab)
        attention = torch.stack(weights_per_step, dim=1) if weights_per_step else None
        return logits, attention

    def loss(
        self,
        sources: torch.Tensor,
        lengths: torch.Tensor,
        target_inputs: torch.Tensor,
        target_outputs: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Summed NLL (nats) over non-PAD targets, their count, and the logits."""
        logits, _ = self(sources, lengths, target_inputs)
        loss_sum = F.cross_entropy(
            logits.reshape(-1, logits.shape[-1]).float(),
            target_outputs.reshape(-1),
            ignore_index=0,
            reduction="sum",
        )
        return loss_sum, (target_outputs != 0).sum(), logits
