"""A short seeded run of every family gives the same weights as the trainer before its split.

The reference (tests/training/same_weights.json) was recorded with the trainer as it was before
``trainer._train`` was split into parts (issue 15): a SHA-256 of the best and last checkpoints'
weights, the validation figures and the carried data position. Float results of CPU kernels can
differ between builds and CPU instruction sets, so the hash is compared exactly on the platform
that recorded it (same torch version and CPU capability) and elsewhere the weights' sums must
agree to 1e-5.

Record again (only when a change is *meant* to alter training):
    RECORD_SAME_WEIGHTS=1 python3 -m pytest tests/training/test_same_weights.py
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest
import torch

from generator.checkpoint import read_checkpoint
from generator.config import TrainConfig
from generator.training import train

REFERENCE = Path(__file__).with_name("same_weights.json")
RECORD = os.environ.get("RECORD_SAME_WEIGHTS") == "1"

torch.set_num_threads(1)


def _config(max_steps: int, **options) -> TrainConfig:
    fields = dict(
        batch_size=3, seq_len=8, lr=1e-2, warmup_steps=0, max_steps=max_steps, eval_every=3,
        save_every=2, log_every=2, clip_norm=0.5, seed=7, device="cpu",
    )  # fmt: skip
    return TrainConfig(**{**fields, **options})


def _fingerprint(result) -> dict:
    """SHA-256 of what a run leaves behind (weights, optimizer moments, validation figures, data
    position) and the sum of the last weights (the portable check)."""
    digest = hashlib.sha256()
    best, last = read_checkpoint(result.best_path), read_checkpoint(result.last_path)
    for payload in (best, last):
        for name, tensor in sorted(payload["model_state"].items()):
            digest.update(name.encode())
            digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    state = last["train_state"]
    for moments in state["optimizer"]["state"].values():
        for key, value in sorted(moments.items()):
            digest.update(key.encode() + torch.as_tensor(value).numpy().tobytes())
    figures = [
        (h["step"], h.get("train_nll"), h.get("valid_nll"), h.get("grad_norm"))
        for h in result.history
    ]
    position = (state["step"], state["epoch"], state["batch_index"], state["tokens_seen"])
    digest.update(repr((figures, position, state["best_valid_nll"])).encode())
    weight_sum = sum(float(t.double().abs().sum()) for t in last["model_state"].values())
    return {"sha256": digest.hexdigest(), "weight_sum": weight_sum, "steps": result.steps}


def _platform() -> str:
    return f"torch {torch.__version__}, cpu {torch.backends.cpu.get_cpu_capability()}"


@pytest.mark.parametrize("family", ["frame", "seq2seq", "text", "token"])
def test_a_short_seeded_run_gives_the_recorded_weights(family, tiny_families, tmp_path):
    corpus, model_config, task, options = tiny_families[family]
    torch.manual_seed(0)
    whole = train(
        model_config, _config(9, **options), corpus, tmp_path / "whole.pt", progress=False,
        log=len, task=task,
    )  # fmt: skip
    # stopped on request after step 5, resumed to 9: the same run
    stopped = train(
        model_config, _config(9, **options), corpus, tmp_path / "split.pt", progress=False,
        log=len, task=task, on_step=lambda report: report["step"] == 5,
    )  # fmt: skip
    assert stopped.steps == 5 and stopped.stop_reason == "stopped on request"
    resumed = train(
        model_config, _config(9, **options), corpus, tmp_path / "split.pt", progress=False,
        log=len, task=task, resume=True,
    )  # fmt: skip
    got = _fingerprint(whole)
    recorded = json.loads(REFERENCE.read_text()) if REFERENCE.exists() else {}
    if RECORD:
        recorded["platform"] = _platform()
        recorded[family] = got
        REFERENCE.write_text(json.dumps(recorded, indent=2, sort_keys=True) + "\n")
    reference = recorded[family]
    assert got["steps"] == reference["steps"] == 9
    resumed_weights = read_checkpoint(resumed.last_path)["model_state"]
    whole_weights = read_checkpoint(whole.last_path)["model_state"]
    assert all(torch.equal(resumed_weights[k], v) for k, v in whole_weights.items())
    if recorded["platform"] == _platform():
        assert got["sha256"] == reference["sha256"]
    else:
        assert got["weight_sum"] == pytest.approx(reference["weight_sum"], rel=1e-5)
