"""The trainer: learning a toy pattern, clipping, exact resume, NaN handling, Ctrl-C."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import generator.training.progress as progress
import generator.training.step as step
import generator.training.trainer as trainer
import generator.training.validate as validate
from generator.checkpoint import load_checkpoint, read_checkpoint
from generator.config import ModelConfig, TrainConfig
from generator.data.pieces import Piece, TokenCorpus
from generator.data.windows import EpochPlan
from generator.midi import Note
from generator.models import RNNGenerator
from generator.tokenizers import MidiEventTokenizer
from generator.training import TokenTask, TrainingStopped, train, unigram_nll


def toy_corpus(pieces: int = 6, repeats: int = 12) -> TokenCorpus:
    """Pieces that repeat one four-note figure: NOTE DUR SHIFT, over and over."""
    tokenizer = MidiEventTokenizer(styles=["a", "b"])
    figure = [60, 64, 67, 72]
    notes = [Note(i * 0.5, 0.5, figure[i % 4], 80) for i in range(4 * repeats)]
    tokens = tokenizer.encode(notes)
    made = [Piece(f"toy{i}", tokens.copy(), "ab"[i % 2]) for i in range(pieces)]
    return TokenCorpus(tokenizer=tokenizer, train=made[:-2], valid=made[-2:])


def model_config(corpus: TokenCorpus, cell: str = "gru", **overrides) -> ModelConfig:
    fields = dict(
        vocab_size=corpus.tokenizer.vocab_size,
        cell=cell,
        embedding_size=16,
        hidden_size=32,
        num_layers=1,
        dropout=0.0,
        num_styles=2,
        num_seed_tokens=128,
    )
    return ModelConfig(**{**fields, **overrides})


def train_config(**overrides) -> TrainConfig:
    fields = dict(
        batch_size=2,
        seq_len=16,
        lr=1e-2,
        warmup_steps=0,
        schedule="constant",
        max_steps=10,
        eval_every=1000,
        save_every=1000,
        log_every=5,
        device="cpu",
    )
    return TrainConfig(**{**fields, **overrides})


def run(corpus, mconfig, tconfig, out, **kwargs):
    return train(
        mconfig, tconfig, corpus, out, progress=False, log=kwargs.pop("log", _quiet), **kwargs
    )


def _quiet(message: str) -> None:
    pass


def states_equal(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_loss_falls_far_below_the_unigram_baseline(tmp_path):
    corpus = toy_corpus()
    baseline = unigram_nll(corpus)
    result = run(
        corpus,
        model_config(corpus),
        train_config(max_steps=150, eval_every=50, batch_size=4, log_every=25),
        tmp_path / "toy.pt",
    )
    assert result.steps == 150 and result.stop_reason == "max steps"
    assert baseline > 1.0
    assert result.best_valid_nll < 0.25 * baseline
    train_curve = [h["train_nll"] for h in result.history if "train_nll" in h]
    assert train_curve[-1] < 0.5 * train_curve[0]
    assert [h["step"] for h in result.history if "valid_nll" in h] == [50, 100, 150]
    loaded = load_checkpoint(result.best_path)
    assert loaded.info["unigram_valid_nll"] == pytest.approx(baseline)
    assert loaded.info["best_valid_nll"] == pytest.approx(result.best_valid_nll)
    assert loaded.train_state is None  # the best model is for sampling; state is in .last.pt
    assert read_checkpoint(result.last_path)["train_state"]["step"] == 150


def test_unigram_baseline_is_the_entropy_of_a_uniform_toy():
    tok = MidiEventTokenizer()
    ids = np.asarray([tok.note_id(60 + i) for i in range(3)] * 1000, dtype=np.int32)
    corpus = TokenCorpus(tok, [Piece("t", ids)], [Piece("v", ids)])
    # add-one counts over the whole vocabulary: each note 1001, EOS 2, every other id 1
    total = tok.vocab_size + 3000 + 1
    expected = (3000 * -math.log(1001 / total) - math.log(2 / total)) / 3001
    assert unigram_nll(corpus) == pytest.approx(expected, rel=1e-9)


def test_gradient_norm_is_logged_and_clipping_bounds_the_update(tmp_path):
    corpus = toy_corpus()
    mconfig = model_config(corpus)
    tconfig = train_config(
        optimizer="sgd", momentum=0.0, lr=1.0, clip_norm=0.01, max_steps=1, log_every=1
    )
    torch.manual_seed(tconfig.seed)
    initial = RNNGenerator(mconfig).state_dict()  # the trainer seeds the same way
    result = run(corpus, mconfig, tconfig, tmp_path / "clip.pt")
    logged = [h["grad_norm"] for h in result.history if "grad_norm" in h]
    assert len(logged) == 1 and logged[0] > 0.01  # the norm before clipping
    after = read_checkpoint(result.last_path)["model_state"]
    change = torch.sqrt(sum(((after[k] - initial[k]) ** 2).sum() for k in initial))
    assert 0.0099 < float(change) <= 0.01 + 1e-6  # one SGD step of lr 1 moved by the clip norm


def _last_states(path):
    payload = read_checkpoint(path)
    return payload["model_state"], payload["train_state"]


def _assert_same_run(a_path, b_path):
    model_a, state_a = _last_states(a_path)
    model_b, state_b = _last_states(b_path)
    assert states_equal(model_a, model_b)
    assert state_a["step"] == state_b["step"]
    assert (state_a["epoch"], state_a["batch_index"]) == (state_b["epoch"], state_b["batch_index"])
    assert torch.equal(state_a["torch_rng"], state_b["torch_rng"])
    assert all(torch.equal(x, y) for x, y in zip(state_a["carry"], state_b["carry"], strict=True))
    opt_a, opt_b = state_a["optimizer"]["state"], state_b["optimizer"]["state"]
    assert opt_a.keys() == opt_b.keys()
    for key in opt_a:
        assert all(
            torch.equal(torch.as_tensor(opt_a[key][n]), torch.as_tensor(opt_b[key][n]))
            for n in opt_a[key]
        )


def test_resume_continues_bit_exactly(tmp_path):
    corpus = toy_corpus(pieces=5, repeats=5)  # short epochs: the runs cross several
    # dropout and style dropout draw random numbers, so RNG states must be restored too
    mconfig = model_config(corpus, cell="lstm", num_layers=2, dropout=0.2)
    tconfig = train_config(max_steps=12, eval_every=4, transpose=2)
    whole = run(corpus, mconfig, tconfig, tmp_path / "whole.pt")

    half = run(
        corpus, mconfig, train_config(max_steps=6, eval_every=4, transpose=2), tmp_path / "split.pt"
    )
    assert half.steps == 6
    # a different model config on the command line is ignored when resuming
    resumed = run(
        corpus,
        model_config(corpus),
        train_config(max_steps=12, eval_every=4, transpose=2),
        tmp_path / "split.pt",
        resume=True,
    )
    assert resumed.steps == whole.steps == 12
    assert resumed.tokens_seen == whole.tokens_seen

    def validations(result):  # the split run also validated at its end, step 6
        return [
            (h["step"], h["valid_nll"])
            for h in result.history
            if "valid_nll" in h and h["step"] % 4 == 0
        ]

    assert validations(resumed) == validations(whole)
    assert [step for step, _ in validations(whole)] == [4, 8, 12]
    _assert_same_run(whole.last_path, resumed.last_path)


def test_ctrl_c_saves_a_resumable_checkpoint(tmp_path, monkeypatch):
    corpus = toy_corpus(pieces=5, repeats=5)
    mconfig = model_config(corpus, dropout=0.1, num_layers=2)
    tconfig = train_config(max_steps=10, schedule="cosine", warmup_steps=2)
    whole = run(corpus, mconfig, tconfig, tmp_path / "whole.pt")

    real_batch = EpochPlan.batch
    calls = {"n": 0}

    def interrupt_after_four(self, index):
        calls["n"] += 1
        if calls["n"] > 5:  # the first batch is read twice: the step-time probe, then step 1
            raise KeyboardInterrupt
        return real_batch(self, index)

    monkeypatch.setattr(EpochPlan, "batch", interrupt_after_four)
    messages = []
    out = tmp_path / "stopped.pt"
    with pytest.raises(KeyboardInterrupt):
        run(corpus, mconfig, tconfig, out, log=messages.append)
    monkeypatch.undo()

    assert any("interrupted at step 4" in m and "--resume" in m for m in messages)
    assert out.exists() and load_checkpoint(out).info["steps"] == 4
    _, state = _last_states(trainer.last_path_for(out))
    assert state["step"] == 4
    resumed = run(corpus, mconfig, tconfig, out, resume=True)
    assert resumed.steps == 10
    _assert_same_run(whole.last_path, resumed.last_path)


class PoisonedTask(TokenTask):
    """Next-token prediction whose training loss is NaN on the chosen calls (1-based)."""

    def __init__(self, poisoned_calls: set[int]):
        self.poisoned_calls, self.calls = poisoned_calls, 0

    def loss(self, model, batch, state):
        loss, count, state = super().loss(model, batch, state)
        if model.training:
            self.calls += 1
            if self.calls in self.poisoned_calls:
                loss = loss * float("nan")
        return loss, count, state


def test_nan_steps_are_skipped_and_training_goes_on(tmp_path):
    corpus = toy_corpus()
    messages = []
    result = run(
        corpus,
        model_config(corpus),
        train_config(max_steps=6),
        tmp_path / "m.pt",
        log=messages.append,
        task=PoisonedTask({6, 8}),  # calls 1-3 are the step-time probe
    )
    assert result.steps == 6 and result.skipped_steps == 2
    assert sum("step skipped" in m for m in messages) == 2
    state = read_checkpoint(result.last_path)["model_state"]
    assert all(torch.isfinite(v).all() for v in state.values())


def test_persistent_nan_stops_training_and_keeps_the_last_good_checkpoint(tmp_path):
    corpus = toy_corpus()
    out = tmp_path / "m.pt"
    with pytest.raises(TrainingStopped) as error:
        run(
            corpus,
            model_config(corpus),
            train_config(max_steps=50, save_every=2, eval_every=2, max_bad_steps=3),
            out,
            task=PoisonedTask(set(range(8, 100))),  # calls 1-3: the step-time probe
        )
    assert "3 steps in a row" in str(error.value) and str(out) in str(error.value)
    last = load_checkpoint(trainer.last_path_for(out))
    assert last.train_state["step"] == 4 and last.train_state["skipped_steps"] == 0
    assert all(torch.isfinite(p).all() for p in last.model.parameters())
    assert load_checkpoint(out).info["steps"] in (2, 4)


def test_best_checkpoint_keeping_and_early_stopping(tmp_path, monkeypatch):
    corpus = toy_corpus()
    scores = iter([3.0, 2.0, 2.5, 2.6, 1.0])
    monkeypatch.setattr(validate, "evaluate", lambda *args: next(scores))
    result = run(
        corpus,
        model_config(corpus),
        train_config(max_steps=50, eval_every=2, patience=2),
        tmp_path / "m.pt",
    )
    assert result.stop_reason == "early stopping: no improvement in 2 validations"
    assert result.steps == 8 and result.best_valid_nll == 2.0
    assert load_checkpoint(result.best_path).info["steps"] == 4
    assert read_checkpoint(result.last_path)["train_state"]["step"] == 8


def test_learning_rate_warmup_and_cosine_schedule():
    config = train_config(warmup_steps=4, schedule="cosine", max_steps=104)
    factors = [step.lr_factor(config, s) for s in (0, 3, 4, 54, 104, 200)]
    assert factors[:2] == [0.25, 1.0]
    assert factors[2] == pytest.approx(1.0)
    assert factors[3] == pytest.approx(0.55)
    assert factors[4] == pytest.approx(0.1) and factors[5] == pytest.approx(0.1)
    assert step.lr_factor(train_config(), 77) == 1.0


def test_useless_runs_are_refused(tmp_path):
    corpus = toy_corpus()
    empty = TokenCorpus(corpus.tokenizer, [], corpus.valid)
    with pytest.raises(TrainingStopped, match="training split is empty"):
        run(empty, model_config(corpus), train_config(), tmp_path / "m.pt")
    with pytest.raises(TrainingStopped, match="nothing to resume"):
        run(corpus, model_config(corpus), train_config(), tmp_path / "m.pt", resume=True)


def test_device_choice():
    assert trainer.resolve_device("cpu") == torch.device("cpu")
    assert trainer.resolve_device("auto").type in ("cpu", "cuda", "mps")
    assert trainer.last_path_for(trainer.Path("ck/model.pt")).name == "model.last.pt"
    assert trainer.last_path_for(trainer.Path("ck/model")).name == "model.last.pt"


def test_the_projection_says_where_the_clock_stops_the_run_and_warns_of_long_runs():
    timed = progress.projection(TrainConfig(max_steps=5000, max_minutes=10), 0, 0.5, 0.0)
    assert "2,500 steps" not in timed[0] and "5,000 steps ≈ 42 min" in timed[0]
    assert "stop the run at about step 1,200 of 5,000" in timed[1]  # 600 s / 0.5 s
    assert "follow the clock" in timed[1]
    long = progress.projection(TrainConfig(max_steps=5000), 0, 1.5, 0.0)
    assert "2 h 05 min" in long[0] and long[1].startswith("warning:")
    short = progress.projection(TrainConfig(max_steps=100, max_minutes=10), 0, 0.5, 0.0)
    assert len(short) == 1  # the steps end first: nothing to warn about
    resumed = progress.projection(TrainConfig(max_steps=5000, max_minutes=10), 4000, 0.5, 300.0)
    assert "1,000 steps" in resumed[0] and "about step 4,600" in resumed[1]


def test_training_logs_the_measured_step_time_before_the_first_step(tmp_path):
    corpus = toy_corpus()
    messages = []
    run(
        corpus,
        model_config(corpus),
        train_config(max_steps=3),
        tmp_path / "m.pt",
        log=messages.append,
    )
    probe = next(i for i, m in enumerate(messages) if m.startswith("measured "))
    first_step = next(i for i, m in enumerate(messages) if m.startswith("step "))
    assert probe < first_step and "s per step" in messages[probe]


def test_a_probe_that_met_a_busy_machine_is_corrected_after_20_steps(tmp_path, monkeypatch):
    monkeypatch.setattr(trainer, "probe_step_seconds", lambda *args: 100.0)  # far too slow
    corpus = toy_corpus()
    messages = []
    run(
        corpus,
        model_config(corpus),
        train_config(max_steps=25),
        tmp_path / "m.pt",
        log=messages.append,
    )
    assert any(m.startswith("measured 100.000 s per step") for m in messages)
    assert any(m.startswith("after 20 steps: measured") for m in messages)
