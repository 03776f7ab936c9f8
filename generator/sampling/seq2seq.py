"""Decoding an encoder-decoder: greedy, sampling and beam search, with attention weights.

All sources of a call are decoded as one batch, one target token per decoder step (the model's
incremental ``step``; nothing is re-run). Every result carries the attention weights of each
output step over the source positions (its EOS included), or None for a model without
attention.

- greedy (``SamplingOptions.greedy``) and sampling (temperature / top-k / top-p, then a draw)
  run the one sampling loop (``generator.sampling.sampler.sample_loop``);
- beam search (``beam > 1``; the sampling options are then ignored) keeps the ``beam`` best
  partial targets per source by summed log-probability; a target ends when EOS is among the
  ``beam`` best candidates, and a source is done when it has ``beam`` ended targets (or at the
  length limit). The winner maximizes log p / length^``length_penalty`` (0 = raw
  log-probability, 1 = per-token average; the length counts EOS). Beam width 1 is exactly
  greedy decoding.

Lengths: ``lengths`` fixes each target's length (EOS impossible before it, forced at it), as
the harmonizer needs for a time grid; otherwise a target ends at EOS or after ``max_length``
tokens (the ``fixed_lengths`` processor).

Constraints: ``processors`` (LogitsProcessor, see generator.sampling.processors) run on every
step before the choice, in beam search on every beam, after ``never`` and before the lengths.
A result's log-probability is measured after the constraints, before temperature and truncation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from generator.data.pairs import collate
from generator.models.seq2seq import Memory, Seq2Seq
from generator.sampling.processors import LogitsProcessor, ban, fixed_lengths
from generator.sampling.sampler import (
    Ends,
    SamplingOptions,
    greedy_choice,
    multinomial_choice,
    sample_loop,
    seeded_generator,
)
from generator.tokenizers import TextTokenizer, Tokenizer


@dataclass
class Decoded:
    """One decoded target."""

    tokens: list[int]  # target ids, without BOS/EOS
    log_prob: float  # summed log-probability of the tokens and EOS under the model
    attention: np.ndarray | None  # (len(tokens) + 1, source length incl. EOS); None: no attention


@torch.inference_mode()
def decode(
    model: Seq2Seq,
    sources: list[np.ndarray],
    tokenizer: Tokenizer,
    *,
    options: SamplingOptions | None = None,
    beam: int = 1,
    length_penalty: float = 1.0,
    lengths: list[int] | None = None,
    max_length: int | None = None,
    never: tuple[int, ...] = (),
    processors: list[LogitsProcessor] | None = None,
) -> list[Decoded]:
    """Decode one target per source (ids without EOS); see the module docstring."""
    options = options or SamplingOptions(greedy=True)
    if beam < 1:
        raise ValueError(f"beam width must be at least 1, got {beam}")
    model.eval()
    device = next(model.parameters()).device
    batch = collate([(np.asarray(s), np.zeros(0, np.int64)) for s in sources], tokenizer)
    memory = model.encode(batch.sources.to(device), batch.lengths.to(device))
    exact = lengths is not None
    if exact:
        limits = torch.tensor(lengths, device=device)
    else:
        cap = max_length or 0
        default = [2 * len(s) + 10 for s in sources]
        limits = torch.tensor([cap or d for d in default], device=device)
    never = tuple(dict.fromkeys((tokenizer.pad_id, tokenizer.bos_id, *never)))
    # the same constraints for every way of decoding: never, the caller's, then the lengths
    rows = beam if beam > 1 else 1
    constraints = [
        ban(never),
        *(processors or []),
        fixed_lengths(limits.repeat_interleave(rows), tokenizer.eos_id, exact=exact),
    ]
    if beam > 1:
        return _beam_search(model, memory, tokenizer, limits, beam, length_penalty, constraints)
    return _one_at_a_time(model, memory, tokenizer, limits, options, constraints)


@torch.inference_mode()
def score_targets(
    model: Seq2Seq,
    sources: list[np.ndarray],
    targets: list[list[int]],
    tokenizer: Tokenizer,
    *,
    batch_size: int = 64,
) -> list[float]:
    """The model's own log-probability of each target (its tokens and EOS) given its source,
    teacher-forced: what best-of-N decoding ranks candidates by."""
    model.eval()
    device = next(model.parameters()).device
    scores: list[float] = []
    pairs = [
        (np.asarray(s), np.asarray(t, dtype=np.int64))
        for s, t in zip(sources, targets, strict=True)
    ]
    for start in range(0, len(pairs), batch_size):
        batch = collate(pairs[start : start + batch_size], tokenizer).to(device)
        logits, _ = model(batch.sources, batch.lengths, batch.target_inputs)
        log_probs = torch.log_softmax(logits.float(), dim=-1)
        picked = log_probs.gather(2, batch.target_outputs.unsqueeze(2)).squeeze(2)
        picked = picked.masked_fill(batch.target_outputs == tokenizer.pad_id, 0.0)
        scores.extend(picked.sum(1).tolist())
    return scores


def _one_at_a_time(
    model: Seq2Seq,
    memory: Memory,
    tokenizer: Tokenizer,
    limits: torch.Tensor,
    options: SamplingOptions,
    constraints: list[LogitsProcessor],
) -> list[Decoded]:
    """Greedy or sampled decoding, all sources side by side, by the one sampling loop."""
    batch, device = memory.mask.shape[0], memory.mask.device
    eos = tokenizer.eos_id
    state = model.start(memory)
    weights_per_step = []

    def step(tokens: torch.Tensor) -> torch.Tensor:
        nonlocal state
        logits, state, weights = model.step(tokens, state, memory)
        if weights is not None:
            weights_per_step.append(weights)
        return logits.float()

    if options.greedy:
        choose = greedy_choice
    else:
        choose = multinomial_choice(options, seeded_generator(options.seed, device))
    history = torch.full((int(limits.max()) + 1, batch), eos, dtype=torch.long, device=device)
    scores = torch.zeros(batch, device=device)
    bos = torch.full((batch,), tokenizer.bos_id, dtype=torch.long, device=device)
    taken = sample_loop(
        step(bos),
        step,
        choose,
        history,
        processors=constraints,
        ends=Ends(batch, device, eos),
        fill=eos,
        scores=scores,
    )
    ids = history[:taken].t().tolist()  # (batch, steps)
    attention = torch.stack(weights_per_step, 1).float().cpu() if weights_per_step else None
    results = []
    for row in range(batch):
        length = ids[row].index(eos) if eos in ids[row] else len(ids[row])
        source_length = int(memory.mask[row].sum())
        att = None
        if attention is not None:
            att = attention[row, : length + 1, :source_length].numpy()
        results.append(Decoded(ids[row][:length], float(scores[row]), att))
    return results


def _beam_search(
    model: Seq2Seq,
    memory: Memory,
    tokenizer: Tokenizer,
    limits: torch.Tensor,
    width: int,
    length_penalty: float,
    constraints: list[LogitsProcessor],
) -> list[Decoded]:
    """Beam search, every source's beams in one batch of batch × width rows.

    Row r of the decoder batch is beam r % width of source r // width. Each step, a source's
    2·width best continuations are ranked; EOS ones ranked within the first ``width`` end a
    target; the best ``width`` others continue."""
    batch, device = memory.mask.shape[0], memory.mask.device
    eos = tokenizer.eos_id
    rows = torch.arange(batch, device=device).repeat_interleave(width)
    memory = memory.select(rows)
    state = model.start(memory)
    tokens = torch.full((batch * width,), tokenizer.bos_id, dtype=torch.long, device=device)
    scores = torch.full((batch, width), float("-inf"), device=device)
    scores[:, 0] = 0.0  # all beams start identical: only the first one counts
    history = torch.zeros(batch * width, 0, dtype=torch.long, device=device)
    att_history: torch.Tensor | None = None
    finished: list[list[tuple[float, float, list[int], torch.Tensor | None]]] = [
        [] for _ in range(batch)
    ]
    done = [False] * batch
    source_lengths = memory.mask.sum(1)[::width].tolist()
    for _ in range(int(limits.max()) + 1):
        logits, state, weights = model.step(tokens, state, memory)
        logits = logits.float()
        for process in constraints:  # the sampling loop's constraints, on every beam's row
            logits = process(logits, history)
        log_probs = torch.log_softmax(logits, dim=-1).view(batch, width, -1)
        candidates = (scores.unsqueeze(2) + log_probs).view(batch, -1)  # (batch, width·vocab)
        top_scores, top_index = (x.tolist() for x in candidates.topk(2 * width, dim=1))
        vocab = log_probs.shape[-1]
        if weights is not None:
            weights = weights.float().unsqueeze(1)  # (rows, 1, src)
            att_now = weights if att_history is None else torch.cat([att_history, weights], 1)
        else:
            att_now = None
        next_rows, next_tokens, next_scores = [], [], []
        for b in range(batch):
            kept = 0
            for rank in range(2 * width):
                score = top_scores[b][rank]
                beam, token = divmod(top_index[b][rank], vocab)
                row = b * width + beam
                if done[b] or score == float("-inf"):
                    break
                if token == eos:
                    if rank < width:
                        length = history.shape[1] + 1
                        normalized = score / (length**length_penalty)
                        att = att_now[row].cpu() if att_now is not None else None
                        finished[b].append((normalized, score, history[row].tolist(), att))
                    continue
                if kept < width:
                    next_rows.append(row)
                    next_tokens.append(token)
                    next_scores.append(score)
                    kept += 1
            if len(finished[b]) >= width:
                done[b] = True
            # A done source (or one with too few live candidates) fills its rows with copies
            # of a dead beam; -inf scores keep them out of every later ranking.
            while kept < width:
                next_rows.append(b * width)
                next_tokens.append(eos)
                next_scores.append(float("-inf"))
                kept += 1
        if all(done):
            break
        index = torch.tensor(next_rows, device=device)
        tokens = torch.tensor(next_tokens, device=device)
        scores = torch.tensor(next_scores, device=device).view(batch, width)
        history = torch.cat([history.index_select(0, index), tokens.unsqueeze(1)], 1)
        if att_now is not None:
            att_history = att_now.index_select(0, index)
        state = state.select(index)
    results = []
    for b in range(batch):
        if not finished[b]:  # cannot happen with a length limit; kept for safety
            finished[b].append((float("-inf"), float("-inf"), [], None))
        _, score, ids, att = max(finished[b], key=lambda item: item[0])
        results.append(
            Decoded(ids, score, None if att is None else att[:, : source_lengths[b]].numpy())
        )
    return results


# -- text -------------------------------------------------------------------------------------
@dataclass
class Translation:
    """A source text, the generated target text and how it was produced."""

    source: str
    text: str
    decoded: Decoded


def translate(
    loaded,
    sources: list[str],
    *,
    options: SamplingOptions | None = None,
    beam: int = 1,
    length_penalty: float = 1.0,
    max_length: int | None = None,
) -> list[Translation]:
    """Map each source text to a target text with a text seq2seq checkpoint (one batch).
    Unknown source characters are read as UNK; UNK is never generated."""
    tokenizer = loaded.tokenizer
    if not isinstance(tokenizer, TextTokenizer) or not isinstance(loaded.model, Seq2Seq):
        raise ValueError(f"{loaded.path}: this checkpoint is not a text sequence-to-sequence model")
    if not sources:
        return []
    ids = [tokenizer.encode(text) for text in sources]
    results = decode(
        loaded.model,
        ids,
        tokenizer,
        options=options,
        beam=beam,
        length_penalty=length_penalty,
        max_length=max_length,
        never=(tokenizer.unk_id,),
    )
    return [
        Translation(text, tokenizer.decode(result.tokens), result)
        for text, result in zip(sources, results, strict=True)
    ]
