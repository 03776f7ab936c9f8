"""The evaluator on hand-computable cases: NLL per frame, pooled, first frame not predicted."""

from __future__ import annotations

import json
import math

import pytest
import torch

from generator.checkpoint import load_checkpoint, save_checkpoint
from generator.cli import main
from generator.config import PianoRollConfig
from generator.data.piano_roll import load_piano_roll_json
from generator.models.pianoroll import PianoRollRNN
from generator.training.frame_task import frame_nll, key_frequency_nll


def constant_model(probability: float) -> PianoRollRNN:
    """A sigmoid-head model whose every key is on with ``probability``, whatever the past."""
    model = PianoRollRNN(PianoRollConfig(hidden_size=8, dropout=0.0)).eval()
    with torch.no_grad():
        model.head.out.weight.zero_()
        model.head.out.bias.fill_(math.log(probability / (1 - probability)))
    return model


def test_half_everywhere_gives_88_ln2_per_frame(tiny_json) -> None:
    corpus = load_piano_roll_json(tiny_json)
    nll = frame_nll(constant_model(0.5), corpus.valid, seq_len=2)
    assert nll == pytest.approx(88 * math.log(2), rel=1e-6)


@pytest.mark.parametrize("seq_len", [1, 2, 64])
@pytest.mark.parametrize("batch_size", [1, 3])
def test_pooled_over_frames_first_frame_not_predicted(tmp_path, seq_len, batch_size) -> None:
    """Each frame with m keys on costs -m ln p - (88 - m) ln(1 - p); the first frames (full of
    notes here) are never scored, and frames are pooled, not averaged per piece."""
    pieces = [
        [list(range(21, 61)), [60], [60, 64], [], [60, 64, 67]],  # predicted: 1, 2, 0, 3 keys
        [list(range(61, 109)), [72, 76]],  # predicted: 2 keys
        [list(range(30, 50))],  # one frame: nothing predicted
    ]
    path = tmp_path / "hand.json"
    path.write_text(json.dumps({"train": pieces, "valid": pieces}))
    p = 0.1
    cost = [-m * math.log(p) - (88 - m) * math.log(1 - p) for m in (1, 2, 0, 3, 2)]
    corpus = load_piano_roll_json(path)
    nll = frame_nll(constant_model(p), corpus.valid, batch_size=batch_size, seq_len=seq_len)
    assert nll == pytest.approx(sum(cost) / 5, rel=1e-6)
    per_piece_mean = (sum(cost[:4]) / 4 + cost[4]) / 2  # the convention this is *not*
    assert nll != pytest.approx(per_piece_mean, rel=1e-4)


def test_state_is_carried_across_windows(tiny_json, config) -> None:
    """Window length must not change the NLL of a recurrent model (state carried, exact)."""
    corpus = load_piano_roll_json(tiny_json)
    model = PianoRollRNN(config("nade", "lstm")).eval()
    whole = frame_nll(model, corpus.train + corpus.valid, batch_size=2, seq_len=64)
    cut = frame_nll(model, corpus.train + corpus.valid, batch_size=2, seq_len=1)
    assert cut == pytest.approx(whole, rel=1e-5)


def test_key_frequency_baseline_by_hand(tmp_path) -> None:
    path = tmp_path / "freq.json"
    path.write_text(json.dumps({"train": [[[60], [60], []]], "valid": [[[], [60]]]}))
    # train frames: key 60 on in 2 of 3 (add-one: 3/5); every other key 0 of 3 (1/5)
    on, off = 3 / 5, 1 / 5
    expected = -math.log(on) - 87 * math.log(1 - off)
    assert key_frequency_nll(load_piano_roll_json(path)) == pytest.approx(expected)


def test_cli_evaluate_prints_nll_per_frame(tiny_json, tmp_path, capsys) -> None:
    corpus = load_piano_roll_json(tiny_json)
    checkpoint = save_checkpoint(
        tmp_path / "half.pt", constant_model(0.5), corpus.tokenizer, family="pianoroll"
    )
    assert load_checkpoint(checkpoint).family == "pianoroll"
    code = main(
        ["evaluate", "pianoroll", "--checkpoint", str(checkpoint), "--data", str(tiny_json)]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert f"NLL {88 * math.log(2):.4f} nats/frame" in out
    assert "on 3 predicted frames in 2 pieces" in out
