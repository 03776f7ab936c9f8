"""train music --size: presets named for their cost; shape flags given beside it win."""

from __future__ import annotations

import pytest

from generator.checkpoint import load_checkpoint
from generator.cli import main
from generator.config import MODEL_SIZE_SPEEDS, MODEL_SIZES, apply_model_size, model_size_help


def test_a_preset_fills_only_the_fields_not_given():
    given = {"hidden_size": 64, "num_layers": None, "embedding_size": None, "dropout": 0.2}
    assert apply_model_size(given, "large") == {
        "hidden_size": 64,
        "num_layers": 2,
        "embedding_size": 128,
        "dropout": 0.2,
    }
    with pytest.raises(ValueError, match="size must be one of small, medium, large"):
        apply_model_size(given, "huge")


def test_presets_grow_in_cost_and_the_help_states_each_ones_measured_speed():
    hidden = [MODEL_SIZES[s]["hidden_size"] for s in ("small", "medium", "large")]
    assert hidden == sorted(hidden) and len(set(hidden)) == 3
    speeds = [MODEL_SIZE_SPEEDS[s] for s in ("small", "medium", "large")]
    assert speeds == sorted(speeds, reverse=True) and speeds[-1] > 0
    text = model_size_help()
    assert all(f"{s}: 2x{MODEL_SIZES[s]['hidden_size']}" in text for s in MODEL_SIZES)
    assert f"~{MODEL_SIZE_SPEEDS['medium']:,} tokens/s" in text


@pytest.mark.parametrize(
    ("flags", "shape"),
    [
        ([], (128, 2, 64)),  # small as it is
        (["--hidden-size", "16", "--layers", "1"], (16, 1, 64)),  # the flags win
    ],
)
def test_train_music_size_small(midi_folder, tmp_path, flags, shape):
    out = tmp_path / "small.pt"
    command = ["train", "music", "--data", str(midi_folder.path), "--out", str(out)]
    command += ["--cache-dir", str(tmp_path / "cache"), "--size", "small", *flags]
    command += ["--max-steps", "1", "--batch-size", "2", "--seq-len", "16", "--eval-every", "1"]
    assert main([*command, "--warmup-steps", "0", "--device", "cpu", "--no-progress"]) == 0
    config = load_checkpoint(out).model.config
    assert (config.hidden_size, config.num_layers, config.embedding_size) == shape
