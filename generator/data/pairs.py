"""Source → target pairs for the encoder-decoder: the corpus, padded batches, and TSV files.

    sources (encoder):     x1 x2 x3 EOS PAD PAD      lengths: 4
    target inputs:         BOS y1 y2 y3 y4 PAD       (what the decoder reads)
    target outputs:        y1  y2 y3 y4 EOS PAD      (what it predicts; PAD = no loss)

Every source ends with EOS (so none is empty and the encoder sees where it ends). Each epoch the
pairs are shuffled, then sorted by length within chunks of 50 batches (less padding), and the
batches shuffled again, all from a generator seeded by (seed, epoch): any epoch can be rebuilt
when a run resumes. Transposition (music) shifts a pair's source and target together.

TSV rules (``load_tsv_pairs``; also in docs/seq2seq.md): one pair per line,
``source<TAB>target``; the first tab splits (the target may hold more tabs); blank lines are
ignored; lines without a tab and pairs longer than ``max_length`` tokens on either side are
skipped and counted in the report. Train/valid split by a hash of the source text, so repeated
sources land on the same side.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from generator.data.pieces import is_valid_split
from generator.data.report import ReadReport
from generator.data.text_corpus import build_tokenizer, decode_text
from generator.tokenizers import TextTokenizer, Tokenizer

SORT_CHUNK_BATCHES = 50


@dataclass
class Pair:
    """One source sequence and its target, as ids without BOS/EOS."""

    name: str  # where it came from (file and segment, or TSV line)
    source: np.ndarray  # int32 ids
    target: np.ndarray  # int32 ids


@dataclass
class PairCorpus:
    """Tokenized pairs split into train and valid, with the report of how they were read."""

    tokenizer: Tokenizer
    train: list[Pair]
    valid: list[Pair]
    report: Any = None  # an object with .summary() and .to_dict()
    valid_files: list[str] = field(default_factory=list)  # MIDI pairs: the held-out files

    @property
    def num_train_tokens(self) -> int:
        """Target predictions in train (tokens + EOS)."""
        return int(sum(len(p.target) + 1 for p in self.train))

    @property
    def num_valid_tokens(self) -> int:
        return int(sum(len(p.target) + 1 for p in self.valid))


@dataclass
class PairBatch:
    """Padded sources and targets of a batch of pairs."""

    sources: torch.Tensor  # (batch, src) int64, EOS-terminated, PAD after
    lengths: torch.Tensor  # (batch,) int64 source lengths (EOS included)
    target_inputs: torch.Tensor  # (batch, tgt) int64: BOS + target, PAD after
    target_outputs: torch.Tensor  # (batch, tgt) int64: target + EOS, PAD after

    def to(self, device: torch.device) -> PairBatch:
        return PairBatch(*(t.to(device, non_blocking=True) for t in vars(self).values()))


def collate(pairs: list[tuple[np.ndarray, np.ndarray]], tokenizer: Tokenizer) -> PairBatch:
    """(source ids, target ids) pairs → one padded PairBatch."""
    pad, bos, eos = tokenizer.pad_id, tokenizer.bos_id, tokenizer.eos_id
    src_len = max(len(s) for s, _ in pairs) + 1
    tgt_len = max(len(t) for _, t in pairs) + 1
    sources = np.full((len(pairs), src_len), pad, dtype=np.int64)
    target_inputs = np.full((len(pairs), tgt_len), pad, dtype=np.int64)
    target_outputs = np.full((len(pairs), tgt_len), pad, dtype=np.int64)
    lengths = np.zeros(len(pairs), dtype=np.int64)
    for row, (source, target) in enumerate(pairs):
        sources[row, : len(source)] = source
        sources[row, len(source)] = eos
        lengths[row] = len(source) + 1
        target_inputs[row, 0] = bos
        target_inputs[row, 1 : len(target) + 1] = target
        target_outputs[row, : len(target)] = target
        target_outputs[row, len(target)] = eos
    return PairBatch(
        torch.from_numpy(sources),
        torch.from_numpy(lengths),
        torch.from_numpy(target_inputs),
        torch.from_numpy(target_outputs),
    )


class PairPlan:
    """An epoch of pairs as padded batches: ``len(plan)``, ``plan.batch(i)``."""

    def __init__(
        self,
        pairs: list[Pair],
        tokenizer: Tokenizer,
        batch_size: int,
        *,
        seed: int = 0,
        epoch: int = 0,
        shuffle: bool = True,
        transpose: int = 0,
    ):
        if not pairs:
            raise ValueError("no pairs to train on")
        self.tokenizer = tokenizer
        rng = np.random.default_rng([seed, epoch])
        order = rng.permutation(len(pairs)) if shuffle else np.arange(len(pairs))
        items = []
        for index in order:
            pair = pairs[index]
            source, target = pair.source, pair.target
            if transpose:
                shift = int(rng.integers(-transpose, transpose + 1))
                moved = tokenizer.transpose(source, shift), tokenizer.transpose(target, shift)
                if moved[0] is not None and moved[1] is not None:
                    source, target = moved
            items.append((source, target))
        if shuffle:
            chunk = batch_size * SORT_CHUNK_BATCHES
            items = [
                item
                for start in range(0, len(items), chunk)
                for item in sorted(items[start : start + chunk], key=lambda p: len(p[1]))
            ]
        self._batches = [items[i : i + batch_size] for i in range(0, len(items), batch_size)]
        if shuffle:
            self._batches = [self._batches[i] for i in rng.permutation(len(self._batches))]

    def __len__(self) -> int:
        return len(self._batches)

    def batch(self, index: int) -> PairBatch:
        return collate(self._batches[index], self.tokenizer)

    def __iter__(self):
        for index in range(len(self)):
            yield self.batch(index)


# -- TSV files ----------------------------------------------------------------------------------
@dataclass
class PairReport(ReadReport):
    """What a TSV file held and what was skipped (by line: ``no_tab``, ``too_long``)."""

    path: str
    tokenizer: str = ""
    vocab_size: int = 0
    lines: int = 0
    pairs: int = 0
    no_tab: list[int] = field(default_factory=list)  # line numbers without a tab
    too_long: int = 0
    train_pairs: int = 0
    valid_pairs: int = 0

    NOT_SAVED = ("skipped", "no_tab", "too_long")

    def describe(self, split: bool) -> list[str]:
        lines = [
            f"pairs {self.path}: {self.lines} lines, {self.pairs} pairs used "
            f"({self.read_seconds:.1f} s); vocabulary {self.vocab_size} ids ({self.tokenizer})",
        ]
        if split:
            lines.append(f"  split: {self.train_pairs} train, {self.valid_pairs} valid pairs")
        if self.no_tab:
            shown = ", ".join(map(str, self.no_tab[:10]))
            lines.append(f"  skipped {len(self.no_tab)} lines without a tab (lines {shown} ...)")
        if self.too_long:
            lines.append(f"  skipped {self.too_long} pairs longer than the length cap")
        return lines

    def derived(self) -> dict[str, Any]:
        return {"skipped_no_tab": len(self.no_tab), "skipped_too_long": self.too_long}


def read_tsv(path: str | Path, encoding: str = "utf-8") -> tuple[list[tuple[str, str]], list[int]]:
    """(source, target) texts of a TSV file, and the numbers of lines that had no tab."""
    path = Path(path).expanduser()
    text = decode_text(path.read_bytes(), encoding, str(path))
    pairs, no_tab = [], []
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        source, tab, target = line.partition("\t")
        if not tab:
            no_tab.append(number)
            continue
        pairs.append((source, target))
    return pairs, no_tab


def load_tsv_pairs(
    path: str | Path,
    *,
    tokenizer: TextTokenizer | str = "char",
    vocab_size: int = 4000,
    sp_model_type: str = "unigram",
    encoding: str = "utf-8",
    valid_fraction: float = 0.1,
    max_length: int = 512,
) -> PairCorpus:
    """Read a TSV of pairs; the tokenizer (given, or trained here on both sides) encodes them."""
    started = time.perf_counter()
    texts, no_tab = read_tsv(path, encoding)
    report = PairReport(path=str(path), lines=len(texts) + len(no_tab), no_tab=no_tab)
    if not texts:
        raise ValueError(f"{path}: no source<TAB>target lines")
    if isinstance(tokenizer, str):
        tokenizer = build_tokenizer(
            tokenizer,
            (side for pair in texts for side in pair),
            vocab_size=vocab_size,
            sp_model_type=sp_model_type,
        )
    if not isinstance(tokenizer, TextTokenizer):
        raise ValueError(f"a {tokenizer.kind} tokenizer cannot read text pairs")
    train, valid = [], []
    for number, (source_text, target_text) in enumerate(texts):
        source, target = tokenizer.encode(source_text), tokenizer.encode(target_text)
        if max(len(source), len(target)) > max_length:
            report.too_long += 1
            continue
        pair = Pair(f"pair {number + 1}", source, target)
        (valid if is_valid_split(source_text, valid_fraction) else train).append(pair)
    if valid_fraction > 0 and not valid and len(train) >= 2:
        valid.append(train.pop())
    report.tokenizer, report.vocab_size = tokenizer.kind, tokenizer.vocab_size
    report.pairs = len(train) + len(valid)
    report.train_pairs, report.valid_pairs = len(train), len(valid)
    report.read_seconds = time.perf_counter() - started
    return PairCorpus(tokenizer=tokenizer, train=train, valid=valid, report=report)
