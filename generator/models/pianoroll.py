"""Piano-roll model: the shared recurrent core over multi-hot frames, with a per-frame head.

    input:    v0        v1        v2               v(T-1)      v = (keys,) multi-hot frame
              │         │         │                │
            [RNN] ──▶ [RNN] ──▶ [RNN] ──▶ ...    [RNN]        state carried left to right
              │ s1      │ s2      │ s3             │ sT
            [head]    [head]    [head]           [head]       p(v_t | v_<t) from s_t
              │         │         │                │
    target:   v1        v2        v3               vT          (v0 itself is not predicted)

Heads, each giving an exact, normalized distribution over the 2^keys frames:

    sigmoid  p(v | s) = Π_i σ(b_i(s))^v_i (1 − σ(b_i(s)))^(1 − v_i)     keys independent given s
    nade     p(v | s) = Π_i p(v_i | v_<i, s), keys in pitch order, low to high (NADE,
             Larochelle & Murray 2011; the RNN-NADE of Boulanger-Lewandowski et al. 2012):
                 h_i = σ(c(s) + Σ_{j<i} W_j v_j)        (nade_hidden,)
                 p(v_i = 1 | v_<i, s) = σ(b_i(s) + U_i · h_i)

Optional pitch skip (``pitch_span`` > 0): the input frame v_t also reaches the key logits of
v_(t+1) directly, through convolutions over pitch reaching ±pitch_span semitones: interval
patterns ("a note stays, or moves by a step") learnt once for every key rather than per key.
With ``pitch_channels`` = C > 0 there are C such kernels and the recurrent state mixes them,
so the pattern can follow the harmony:

    prior_k(t) = Σ_c g_c(s_t) · (kernel_c ∗ v_t)_k        g = Linear(hidden → C)

(with C = 0, one fixed kernel). Both heads add the prior to b(s), so their distributions stay
exact and normalized. The features a head reads are then [recurrent output, prior]: (…,
hidden + keys).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from generator.config import PianoRollConfig
from generator.models.rnn import (
    State,
    detach_state,
    recurrent_layer,
    reset_state,
    run_recurrent,
    zero_state,
)

# Frames are sparse (a chord is a few keys out of 88): keys start near p = 0.05, not 0.5, so
# the first steps are not spent unlearning 88·ln 2 ≈ 61 nats per frame.
SPARSE_KEY_BIAS = -3.0


class SigmoidHead(nn.Module):
    """Independent Bernoulli per key, given the recurrent state."""

    def __init__(self, hidden_size: int, num_keys: int):
        super().__init__()
        self.out = nn.Linear(hidden_size, num_keys)
        nn.init.constant_(self.out.bias, SPARSE_KEY_BIAS)

    def frame_nll(
        self, features: torch.Tensor, frames: torch.Tensor, prior: torch.Tensor | float = 0.0
    ) -> torch.Tensor:
        """(n, hidden) features, (n, keys) 0/1 targets → (n,) NLL in nats, summed over keys.

        ``prior``: (n, keys) logits added to every key's logit (the pitch skip)."""
        logits = (self.out(features) + prior).float()  # (n, keys)
        return F.binary_cross_entropy_with_logits(logits, frames.float(), reduction="none").sum(-1)

    def sample(
        self,
        features: torch.Tensor,
        prior: torch.Tensor | float = 0.0,
        temperature: float = 1.0,
        greedy: bool = False,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """(n, hidden) → (n, keys) 0/1 float frame."""
        logits = (self.out(features) + prior).float()
        if greedy:
            return (logits > 0).float()
        return torch.bernoulli(torch.sigmoid(logits / temperature), generator=generator)


class NADEHead(nn.Module):
    """Autoregressive over the keys of one frame (low to high), conditioned on the RNN state."""

    def __init__(self, hidden_size: int, num_keys: int, nade_hidden: int):
        super().__init__()
        self.key_bias = nn.Linear(hidden_size, num_keys)  # b(s)
        nn.init.constant_(self.key_bias.bias, SPARSE_KEY_BIAS)
        self.hidden_bias = nn.Linear(hidden_size, nade_hidden)  # c(s)
        self.in_weight = nn.Parameter(torch.randn(num_keys, nade_hidden) * 0.01)  # W
        self.out_weight = nn.Parameter(torch.randn(num_keys, nade_hidden) * 0.01)  # U

    def frame_logits(
        self, features: torch.Tensor, frames: torch.Tensor, prior: torch.Tensor | float = 0.0
    ) -> torch.Tensor:
        """Logit of each key given the keys below it (teacher forcing): (n, keys).

        h_i only changes after a key that is on, so a frame with m keys on has m + 1 distinct
        hidden vectors ("segments"); computing those instead of one per key saves a
        (n, keys, nade_hidden) tensor (frames hold a handful of notes out of 88 keys).
        """
        dtype = self.in_weight.dtype
        on = frames.to(dtype)  # (n, keys)
        segment = (on.cumsum(dim=1) - on).long()  # keys on below key i, (n, keys)
        num_segments = int(on.sum(dim=1).max().item()) + 1 if len(on) else 1
        levels = torch.arange(num_segments, device=on.device).view(1, -1, 1)
        # included[n, s, j]: key j is on and among the s lowest keys that are on
        included = on.unsqueeze(1) * (segment.unsqueeze(1) < levels).to(dtype)  # (n, m+1, keys)
        hidden = torch.sigmoid(
            self.hidden_bias(features).unsqueeze(1) + included @ self.in_weight
        )  # (n, m+1, nade_hidden)
        per_segment = hidden @ self.out_weight.t()  # (n, m+1, keys)
        chosen = per_segment.gather(1, segment.unsqueeze(1)).squeeze(1)  # (n, keys)
        return self.key_bias(features) + prior + chosen

    def frame_nll(
        self, features: torch.Tensor, frames: torch.Tensor, prior: torch.Tensor | float = 0.0
    ) -> torch.Tensor:
        """(n, hidden) features, (n, keys) 0/1 targets → (n,) exact NLL in nats of the frame."""
        logits = self.frame_logits(features, frames, prior).float()
        return F.binary_cross_entropy_with_logits(logits, frames.float(), reduction="none").sum(-1)

    def sample(
        self,
        features: torch.Tensor,
        prior: torch.Tensor | float = 0.0,
        temperature: float = 1.0,
        greedy: bool = False,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """(n, hidden) → (n, keys) 0/1 frame, drawn key by key from the lowest.

        Exactly the sequential draw, done a note at a time rather than a key at a time: every
        key gets its uniform u_i up front, and the hidden units only change when a key turns on,
        so from the last key turned on, every key's probability is known until the next key
        turns on, which is the first key above with u_i < p_i. A frame of m notes costs m + 1
        passes over the keys instead of 88 steps.
        """
        key_bias = (self.key_bias(features) + prior).float()  # (n, keys)
        running = self.hidden_bias(features).float()  # (n, nade_hidden)
        in_weight, out_weight = self.in_weight.float(), self.out_weight.float()
        n, keys = key_bias.shape
        if greedy:  # on where p > 1/2
            uniform = torch.full_like(key_bias, 0.5)
        else:
            uniform = torch.rand(key_bias.shape, generator=generator, device=key_bias.device)
        frame = torch.zeros_like(key_bias)
        key = torch.arange(keys, device=key_bias.device)
        undecided = torch.zeros(n, 1, dtype=torch.long, device=key_bias.device)  # lowest open key
        rows = torch.arange(n, device=key_bias.device)
        scale = 1.0 if greedy else temperature
        while len(rows):
            logits = key_bias[rows] + torch.sigmoid(running[rows]) @ out_weight.t()
            on = (torch.sigmoid(logits / scale) > uniform[rows]) & (key >= undecided[rows])
            found = on.any(dim=1)
            rows, first = rows[found], on[found].float().argmax(dim=1)  # the next key that is on
            frame[rows, first] = 1.0
            running[rows] += in_weight[first]
            undecided[rows] = first.unsqueeze(1) + 1
        return frame


class PianoRollRNN(nn.Module):
    """Frames → stacked tanh RNN / LSTM / GRU → a sigmoid or NADE head over the next frame."""

    def __init__(self, config: PianoRollConfig):
        super().__init__()
        self.config = config
        k, h = config.num_keys, config.hidden_size
        self.input_drop = nn.Dropout(config.input_dropout)
        self.rnn = recurrent_layer(config.cell, k, h, config.num_layers, config.dropout)
        self.drop = nn.Dropout(config.dropout)
        self.pitch_skip = self.pitch_gate = None
        if config.pitch_span:
            span, channels = config.pitch_span, max(config.pitch_channels, 1)
            self.pitch_skip = nn.Conv1d(1, channels, 2 * span + 1, padding=span, bias=False)
            if config.pitch_channels:
                self.pitch_gate = nn.Linear(h, channels)
        if config.head == "nade":
            self.head = NADEHead(h, k, config.nade_hidden)
        else:
            self.head = SigmoidHead(h, k)

    def initial_state(self, batch_size: int, device: torch.device | None = None) -> State:
        """All-zero recurrent state."""
        return zero_state(self.rnn, batch_size, device)

    detach_state = staticmethod(detach_state)

    def forward(
        self,
        frames: torch.Tensor,
        state: State | None = None,
        starts: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, State]:
        """Features that predict the frame after each input frame.

        frames: (batch, time, keys) 0/1 inputs; state: carried from the previous window or None;
        starts: (batch,) bool, True where this window begins a new piece (state reset to zero).
        Returns (batch, time, hidden [+ keys with the pitch skip]) features for the head, and
        the new state.
        """
        if state is None:
            state = self.initial_state(frames.shape[0], frames.device)
        if starts is not None:
            state = reset_state(state, starts)
        frames = frames.to(self.rnn.weight_ih_l0.dtype)
        x = self.input_drop(frames)  # (batch, time, keys)
        output, state = run_recurrent(self.rnn, x, state)  # (batch, time, hidden)
        features = self.drop(output)
        if self.pitch_skip is not None:
            b, t, k = frames.shape
            kernels = self.pitch_skip(frames.reshape(b * t, 1, k))  # (b·t, channels, keys)
            if self.pitch_gate is None:
                prior = kernels.reshape(b, t, k)
            else:  # the state picks a mix of interval patterns: (b·t, 1, channels) @ kernels
                gate = self.pitch_gate(features).reshape(b * t, 1, -1)
                prior = (gate @ kernels).reshape(b, t, k)
            features = torch.cat([features, prior], dim=-1)  # (batch, time, hidden + keys)
        return features, state

    def _split(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | float]:
        """Features → (recurrent output for the head, pitch-skip logits or 0)."""
        if self.pitch_skip is None:
            return features, 0.0
        h = self.config.hidden_size
        return features[..., :h], features[..., h:]

    def frame_nll(self, features: torch.Tensor, frames: torch.Tensor) -> torch.Tensor:
        """(n, hidden) features and (n, keys) target frames → (n,) NLL in nats per frame."""
        hidden, prior = self._split(features)
        return self.head.frame_nll(hidden, frames, prior)

    def step(self, frame: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        """One incremental step: (batch, keys) frame and the carried state → (batch, hidden)."""
        features, state = self(frame.unsqueeze(1), state)
        return features[:, 0], state

    def sample_frame(
        self,
        features: torch.Tensor,
        temperature: float = 1.0,
        greedy: bool = False,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Draw the next frame from the head: (batch, hidden) → (batch, keys) 0/1."""
        return self.head.sample(*self._split(features), temperature, greedy, generator)
