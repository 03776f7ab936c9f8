"""Seeded outputs stay what they were: every family's generation, recorded before the sampling
loops were merged into one core (``seeded_outputs.json``), must come out the same.

Each case is a tiny model with fixed random weights (scaled up, so that its distributions are
peaked and constraints bite) and a fixed seed. Rewrite the file only for a change of output that
is meant, and say so in the commit:

    PYTHONPATH=$PWD python3 -m tests.sampling.test_seeded_outputs --write
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

from generator.checkpoint import Loaded
from generator.config import ModelConfig, PianoRollConfig, Seq2SeqConfig
from generator.midi.notes import Note
from generator.midi.parts import Part
from generator.models import RNNGenerator
from generator.models.pianoroll import PianoRollRNN
from generator.models.seq2seq import Seq2Seq
from generator.sampling import SamplingOptions, sample_tokens
from generator.sampling.harmonize import harmonize
from generator.sampling.music import MusicRequest, generate_music
from generator.sampling.pianoroll import sample_frames
from generator.sampling.processors import allow_only
from generator.sampling.seq2seq import decode, translate
from generator.sampling.text import generate_text
from generator.tokenizers import CharTokenizer, MidiEventTokenizer
from generator.tokenizers.voice_grid import VoiceGridTokenizer

RECORD = Path(__file__).with_name("seeded_outputs.json")


def _sharpen(model: torch.nn.Module, factor: float) -> torch.nn.Module:
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.mul_(factor)
    return model.eval()


def _token_model(vocab_size: int, cell: str, **extra) -> RNNGenerator:
    torch.manual_seed(0)
    config = ModelConfig(
        vocab_size=vocab_size,
        cell=cell,
        embedding_size=16,
        hidden_size=32,
        num_layers=2,
        dropout=0.0,
        **extra,
    )
    return _sharpen(RNNGenerator(config), 2.5)


def _music_loaded() -> Loaded:
    tokenizer = MidiEventTokenizer(
        steps_per_beat=4,
        max_shift=16,
        max_duration=16,
        styles=["one", "three"],
        meters=["3/4", "6/8"],
        pitch_range=(48, 84),
        style_voices={"one": 1, "three": 3},
    )
    model = _token_model(tokenizer.vocab_size, "gru", num_styles=2, num_seed_tokens=128)
    return Loaded(model, tokenizer, "rnn")


def _text_loaded() -> Loaded:
    tokenizer = CharTokenizer("abcdefgh .")
    return Loaded(_token_model(tokenizer.vocab_size, "lstm"), tokenizer, "rnn")


def _notes(notes: list[Note]) -> list[list[float]]:
    return [[round(n.start, 6), round(n.duration, 6), n.pitch, n.velocity] for n in notes]


# -- token RNN: the sampler itself and its music and text front-ends ---------------------------
def tokens_direct() -> dict:
    model = _token_model(40, "gru")
    cond = torch.randn(3, 16, generator=torch.Generator().manual_seed(1))
    allowed = torch.ones(40, dtype=torch.bool)
    allowed[10:20] = False
    cost = torch.rand(40, generator=torch.Generator().manual_seed(2))
    out = {}
    runs = {
        "plain": dict(options=SamplingOptions(seed=0)),
        "temperature": dict(options=SamplingOptions(temperature=0.6, seed=1)),
        "top_k": dict(options=SamplingOptions(temperature=1.3, top_k=5, seed=2)),
        "top_p": dict(options=SamplingOptions(top_p=0.8, seed=3)),
        "top_k_top_p": dict(options=SamplingOptions(top_k=8, top_p=0.9, seed=4)),
        "greedy": dict(options=SamplingOptions(greedy=True)),
        "mask": dict(options=SamplingOptions(seed=5), processors=[allow_only(allowed)]),
        "mask_greedy": dict(options=SamplingOptions(greedy=True), processors=[allow_only(allowed)]),
        "prefix": dict(
            options=SamplingOptions(temperature=0.8, seed=6),
            prefix=torch.tensor([[5, 6, 7]] * 3),
        ),
        "lengths": dict(
            options=SamplingOptions(seed=7), length_cost=cost, length_limit=[2.0, 4.0, 6.5]
        ),
        "length_mask": dict(
            options=SamplingOptions(top_p=0.95, seed=8),
            length_cost=cost,
            length_limit=3.0,
            processors=[allow_only(allowed)],
        ),
    }
    for name, kwargs in runs.items():
        streamed: list[list[int]] = []
        rows = sample_tokens(
            model,
            cond,
            kwargs.pop("options"),
            eos_id=2,
            max_tokens=30,
            on_tokens=lambda t, streamed=streamed: streamed.append(t.tolist()),
            **kwargs,
        )
        out[name] = {"rows": rows, "streamed": streamed}
    return out


def music() -> dict:
    loaded = _music_loaded()
    requests = {
        "auto_key_one_line": MusicRequest(
            num=3,
            style="one",
            seed_note=60,
            bars=4,
            key="auto",
            options=SamplingOptions(temperature=0.9, seed=3),
        ),
        "dorian_range_tempered": MusicRequest(
            num=2,
            style="three",
            bars=1,
            key="D",
            scale="dorian",
            lowest=50,
            highest=80,
            pitch_temperature=0.5,
            score=True,
            options=SamplingOptions(top_k=10, top_p=0.9, seed=4),
        ),
        "greedy_meter": MusicRequest(
            num=2, meter="6/8", bars=1, voices=2, options=SamplingOptions(greedy=True)
        ),
        "null_start": MusicRequest(num=2, bars=3, options=SamplingOptions(seed=11)),
    }
    out = {}
    for name, request in requests.items():
        result = generate_music(loaded, request)
        out[name] = {
            "pieces": [_notes(p) for p in result.pieces],
            "meters": result.meters,
            "tokens": result.tokens,
            "nll": result.nll,
        }
    return out


def text() -> dict:
    loaded = _text_loaded()
    runs = {
        "characters": dict(prime="abc", length=20, options=SamplingOptions(seed=5), num=2),
        "tokens_top_p": dict(
            prime="", length=12, unit="tokens", options=SamplingOptions(top_p=0.9, seed=6)
        ),
        "until_eos": dict(prime="h", length=None, max_tokens=15, options=SamplingOptions(seed=7)),
        "greedy": dict(prime="bad", length=10, options=SamplingOptions(greedy=True), num=2),
    }
    out = {}
    for name, kwargs in runs.items():
        streamed: list[list] = []
        result = generate_text(loaded, on_text=lambda r, t, s=streamed: s.append([r, t]), **kwargs)
        out[name] = {"texts": result.texts, "tokens": result.tokens, "streamed": streamed}
    return out


# -- the encoder-decoder: free decoding, beam search and the harmonizer ------------------------
SOURCES = [np.array(s, dtype=np.int32) for s in ([4, 5, 6], [7, 8, 9, 10, 11, 12], [13])]


def _decoded(results) -> list:
    return [
        {
            "tokens": r.tokens,
            "log_prob": r.log_prob,
            "attention": None if r.attention is None else np.round(r.attention, 5).tolist(),
        }
        for r in results
    ]


def seq2seq() -> dict:
    tokenizer = CharTokenizer("abcdefghij")
    torch.manual_seed(0)
    config = Seq2SeqConfig(tokenizer.vocab_size, "lstm", 16, 32, dropout=0.0, attention="additive")
    model = _sharpen(Seq2Seq(config), 2.0)
    no_c = torch.ones(tokenizer.vocab_size, dtype=torch.bool)
    no_c[tokenizer.encode("c")[0]] = False
    runs = {
        "greedy": dict(),
        "sampled": dict(options=SamplingOptions(temperature=0.8, seed=1)),
        "top_k": dict(options=SamplingOptions(temperature=1.5, top_k=3, seed=2)),
        "top_p_lengths": dict(options=SamplingOptions(top_p=0.9, seed=3), lengths=[5, 2, 7]),
        "masked": dict(options=SamplingOptions(seed=4), processors=[allow_only(no_c)]),
        "beam": dict(beam=3),
        "beam_lengths": dict(beam=2, lengths=[4, 6, 3], length_penalty=0.5),
        "beam_masked": dict(beam=3, max_length=5, processors=[allow_only(no_c)]),
    }
    out = {name: _decoded(decode(model, SOURCES, tokenizer, **kw)) for name, kw in runs.items()}
    loaded = Loaded(model, tokenizer, "seq2seq")
    translated = translate(loaded, ["abc", "jihg"], options=SamplingOptions(seed=9))
    out["translate"] = [t.text for t in translated]
    return out


TUNE = Part(
    "Melody",
    0,
    [
        Note(0.0, 1.0, 67, 80),
        Note(1.0, 0.5, 69, 80),
        Note(1.5, 1.5, 71, 80),
        Note(3.0, 1.0, 72, 80),
        Note(4.0, 2.0, 71, 80),
        Note(6.0, 1.0, 69, 80),
        Note(7.0, 1.0, 67, 80),
        Note(8.0, 4.0, 65, 80),
    ],
)


def harmony() -> dict:
    torch.manual_seed(0)
    tokenizer = VoiceGridTokenizer(2, ("Alto", "Tenor", "Bass"), segment_beats=8)
    config = Seq2SeqConfig(
        tokenizer.vocab_size, "gru", 16, 32, dropout=0.0, aligned_voices=3, positions=40
    )
    loaded = Loaded(_sharpen(Seq2Seq(config), 1.5), tokenizer, "seq2seq")
    runs = {
        "default": dict(options=SamplingOptions(temperature=0.7, seed=1)),
        "free": dict(options=SamplingOptions(seed=2), rules=False),
        "greedy": dict(options=SamplingOptions(greedy=True)),
        "beam": dict(beam=2),
        "best_of_3": dict(options=SamplingOptions(temperature=0.7, seed=3), candidates=3),
        "six_eight": dict(options=SamplingOptions(temperature=0.7, seed=4), beat=1.5),
    }
    out = {}
    for name, kwargs in runs.items():
        result = harmonize(loaded, TUNE, **kwargs)
        out[name] = {voice: _notes(notes) for voice, notes in result.voices.items()}
        out[name]["log_probs"] = [d.log_prob for d in result.decoded]
    return out


# -- the piano roll ----------------------------------------------------------------------------
def pianoroll() -> dict:
    out = {}
    for head, span in (("sigmoid", 0), ("nade", 0), ("nade", 2)):
        torch.manual_seed(0)
        config = PianoRollConfig(
            num_keys=24,
            cell="gru",
            hidden_size=16,
            num_layers=1,
            dropout=0.0,
            head=head,
            nade_hidden=8,
            pitch_span=span,
            pitch_channels=3 if span > 1 else 0,
        )
        model = _sharpen(PianoRollRNN(config), 2.0)
        with torch.no_grad():  # keys near even odds, not the sparse start: frames with notes
            bias = model.head.out.bias if head == "sigmoid" else model.head.key_bias.bias
            bias.fill_(-0.5)
        start = torch.zeros(3, 2, 24)
        start[:, 0, [0, 4, 7]] = 1
        start[:, 1, [2, 5, 9]] = 1
        for name, options in (
            ("sampled", SamplingOptions(seed=1)),
            ("cool", SamplingOptions(temperature=0.5, seed=2)),
            ("greedy", SamplingOptions(greedy=True)),
        ):
            frames = sample_frames(model, start, 12, options)
            out[f"{head}{span}_{name}"] = [
                [row.nonzero().squeeze(1).tolist() for row in roll] for roll in frames
            ]
    return out


CASES: dict[str, Callable[[], dict]] = {
    "tokens": tokens_direct,
    "music": music,
    "text": text,
    "seq2seq": seq2seq,
    "harmony": harmony,
    "pianoroll": pianoroll,
}


def _close(got, want, where: str) -> None:
    """Equal structure and ids; floats equal to 1e-4 (relative) for log-probabilities."""
    if isinstance(want, float) and isinstance(got, float):
        assert got == pytest.approx(want, rel=1e-4, abs=1e-5), where
    elif isinstance(want, dict):
        assert isinstance(got, dict) and sorted(got) == sorted(want), where
        for key in want:
            _close(got[key], want[key], f"{where}.{key}")
    elif isinstance(want, list):
        assert isinstance(got, list) and len(got) == len(want), where
        for i, (g, w) in enumerate(zip(got, want, strict=True)):
            _close(g, w, f"{where}[{i}]")
    else:
        assert got == want, where


def _jsonable(value):
    return json.loads(json.dumps(value))


@pytest.mark.parametrize("case", CASES)
def test_seeded_outputs_are_unchanged(case: str) -> None:
    recorded = json.loads(RECORD.read_text())[case]
    _close(_jsonable(CASES[case]()), recorded, case)


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        sys.exit("usage: python3 -m tests.sampling.test_seeded_outputs --write")
    torch.set_num_threads(1)
    record = {name: _jsonable(make()) for name, make in CASES.items()}
    RECORD.write_text(json.dumps(record, indent=None, separators=(",", ":")) + "\n")
    print(f"wrote {RECORD} ({RECORD.stat().st_size} bytes)")
