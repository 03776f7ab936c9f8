"""A harmonizer's heat map by grid step: the voices' rows averaged, labelled by beat."""

from __future__ import annotations

import numpy as np

from generator.render.attention import attention_by_step, draw_attention
from generator.tokenizers.voice_grid import VoiceGridTokenizer


def test_attention_by_step_averages_each_steps_voices(tmp_path):
    tokenizer = VoiceGridTokenizer(steps_per_beat=2, voices=["Alto", "Tenor", "Bass"])
    note = tokenizer.note_offset
    target = [note + 64, note + 60, note + 48, tokenizer.hold_id, tokenizer.hold_id, note + 50]
    weights = np.zeros((len(target) + 1, 3), dtype=np.float32)  # + EOS row
    weights[[0, 1, 2], 0] = 1.0  # step 0: every voice on source 0
    weights[[3, 4], 1] = 1.0  # step 1: two voices on source 1, one on source 2
    weights[5, 2] = 1.0
    weights[6, 2] = 1.0  # EOS: dropped
    by_step, labels = attention_by_step(tokenizer, weights, target)
    np.testing.assert_allclose(by_step, [[1, 0, 0], [0, 2 / 3, 1 / 3]], atol=1e-6)
    assert labels[0].startswith("1 ") and labels[1].startswith("1.5 HOLD HOLD ")
    picture = draw_attention(by_step, tmp_path / "a.png", target_labels=labels, fontsize=9)
    assert picture.read_bytes().startswith(b"\x89PNG")
