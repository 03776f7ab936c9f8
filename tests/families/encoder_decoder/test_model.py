"""The encoder-decoder's shapes, masks and attention weights, for every cell and attention."""

from __future__ import annotations

import pytest
import torch

from generator.checkpoint import load_checkpoint, save_checkpoint
from generator.config import ATTENTION_KINDS, CELLS, Seq2SeqConfig
from generator.models.seq2seq import Seq2Seq
from generator.tokenizers import CharTokenizer

VOCAB = 12


def _batch(lengths: list[int], target_len: int = 5, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    sources = torch.zeros(len(lengths), max(lengths), dtype=torch.long)
    for row, length in enumerate(lengths):
        sources[row, :length] = torch.randint(3, VOCAB, (length,), generator=generator)
    targets = torch.randint(3, VOCAB, (len(lengths), target_len), generator=generator)
    return sources, torch.tensor(lengths), targets


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("attention", ATTENTION_KINDS)
@pytest.mark.parametrize("bidirectional", [True, False])
def test_shapes_for_every_cell_and_attention(tiny_config, cell, attention, bidirectional):
    torch.manual_seed(0)
    model = Seq2Seq(tiny_config(VOCAB, cell=cell, attention=attention, bidirectional=bidirectional))
    sources, lengths, targets = _batch([4, 7, 2])
    logits, weights = model(sources, lengths, targets, return_attention=True)
    assert logits.shape == (3, 5, VOCAB)
    if attention == "none":
        assert weights is None
    else:
        assert weights.shape == (3, 5, 7)
    memory = model.encode(sources, lengths)
    assert memory.states.shape == (3, 7, 32)
    assert memory.mask.tolist() == [[i < n for i in range(7)] for n in (4, 7, 2)]


@pytest.mark.parametrize("attention", ["additive", "general", "dot"])
def test_attention_sums_to_one_over_real_positions_and_is_zero_on_padding(tiny_config, attention):
    torch.manual_seed(1)
    model = Seq2Seq(tiny_config(VOCAB, cell="lstm", attention=attention, num_layers=2)).eval()
    sources, lengths, targets = _batch([3, 6, 1, 5])
    _, weights = model(sources, lengths, targets, return_attention=True)  # (batch, tgt, src)
    for row, length in enumerate(lengths.tolist()):
        real = weights[row, :, :length]
        torch.testing.assert_close(real.sum(-1), torch.ones(5))
        assert (real > 0).all()
        assert (weights[row, :, length:] == 0).all()


@pytest.mark.parametrize("attention", ATTENTION_KINDS)
def test_padding_does_not_change_a_pairs_logits(tiny_config, attention):
    """A source scores the same alone and padded inside a batch of longer ones."""
    torch.manual_seed(2)
    model = Seq2Seq(tiny_config(VOCAB, cell="lstm", attention=attention)).eval()
    sources, lengths, targets = _batch([3, 8])
    together, _ = model(sources, lengths, targets)
    alone, _ = model(sources[:1, :3], lengths[:1], targets[:1])
    torch.testing.assert_close(together[:1], alone, atol=1e-5, rtol=1e-5)


def test_teacher_forcing_ratio_feeds_the_models_guesses_in_training_only(tiny_config):
    torch.manual_seed(3)
    config = tiny_config(VOCAB, teacher_forcing=0.0)
    model = Seq2Seq(config)
    sources, lengths, targets = _batch([4, 4])
    other = targets.clone()
    other[:, 1:] = (other[:, 1:] - 3 + 1) % (VOCAB - 3) + 3  # different true previous tokens
    model.train()
    torch.manual_seed(4)
    free_a, _ = model(sources, lengths, targets)
    torch.manual_seed(4)
    free_b, _ = model(sources, lengths, other)
    torch.testing.assert_close(free_a, free_b)  # ratio 0: the true tokens after BOS are unused
    model.eval()
    forced_a, _ = model(sources, lengths, targets)
    forced_b, _ = model(sources, lengths, other)
    assert not torch.allclose(forced_a[:, 1:], forced_b[:, 1:])  # evaluation: always forced


def test_incremental_steps_match_the_full_forward(tiny_config):
    torch.manual_seed(5)
    model = Seq2Seq(tiny_config(VOCAB, attention="general")).eval()
    sources, lengths, targets = _batch([5, 2])
    full, weights = model(sources, lengths, targets, return_attention=True)
    memory = model.encode(sources, lengths)
    state = model.start(memory)
    for t in range(targets.shape[1]):
        logits, state, step_weights = model.step(targets[:, t], state, memory)
        torch.testing.assert_close(logits, full[:, t])
        torch.testing.assert_close(step_weights, weights[:, t])


def test_config_rejects_bad_values():
    with pytest.raises(ValueError, match="attention"):
        Seq2SeqConfig(vocab_size=5, attention="cosine")
    with pytest.raises(ValueError, match="teacher_forcing"):
        Seq2SeqConfig(vocab_size=5, teacher_forcing=1.5)
    with pytest.raises(ValueError, match="vocab_size"):
        Seq2Seq(Seq2SeqConfig())


def test_checkpoint_round_trip_is_exact(tiny_config, tmp_path):
    torch.manual_seed(6)
    tokenizer = CharTokenizer("abcdefgh")
    model = Seq2Seq(tiny_config(tokenizer.vocab_size, cell="lstm", num_layers=2)).eval()
    path = save_checkpoint(tmp_path / "s2s.pt", model, tokenizer, family="seq2seq")
    loaded = load_checkpoint(path)
    assert loaded.family == "seq2seq" and loaded.model.config == model.config
    sources, lengths, targets = _batch([4, 2])
    torch.testing.assert_close(
        loaded.model(sources, lengths, targets)[0], model(sources, lengths, targets)[0]
    )


def test_position_embeddings_keep_masks_and_cover_long_sequences(tiny_config):
    """Past ``positions`` the last embedding repeats, so any length still runs."""
    torch.manual_seed(7)
    model = Seq2Seq(tiny_config(VOCAB, attention="additive", positions=4)).eval()
    sources, lengths, targets = _batch([3, 9], target_len=7)
    logits, weights = model(sources, lengths, targets, return_attention=True)
    assert logits.shape == (2, 7, VOCAB)
    assert (weights[0, :, 3:] == 0).all()
    alone, _ = model(sources[:1, :3], lengths[:1], targets[:1])
    torch.testing.assert_close(logits[:1], alone, atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match="positions"):
        Seq2SeqConfig(vocab_size=5, positions=-1)


@pytest.mark.parametrize("attention", ["additive", "none"])
def test_aligned_input_reads_the_source_token_of_its_own_step(tiny_config, attention):
    """With aligned_voices = 2, target tokens 2s and 2s + 1 read source token s."""
    torch.manual_seed(8)
    model = Seq2Seq(tiny_config(VOCAB, attention=attention, aligned_voices=2)).eval()
    sources, lengths, targets = _batch([5], target_len=8)
    logits, _ = model(sources, lengths, targets)

    def run(memory):
        state, out = model.start(memory), []
        for t in range(targets.shape[1]):
            step_logits, state, _ = model.step(targets[:, t], state, memory)
            out.append(step_logits)
        return torch.stack(out, 1)

    memory = model.encode(sources, lengths)
    torch.testing.assert_close(run(memory), logits)  # incremental steps = the full forward
    memory.aligned = memory.aligned.clone()
    memory.aligned[:, 3] += 1.0  # what source step 3 says: read by target tokens 6 and 7
    moved = run(memory)
    torch.testing.assert_close(moved[:, :6], logits[:, :6])
    assert not torch.allclose(moved[:, 6], logits[:, 6])


def test_old_configs_load_without_aligned_input():
    old = {"vocab_size": 9, "cell": "gru", "hidden_size": 8, "embedding_size": 4}
    config = Seq2SeqConfig.from_dict(old)
    assert config.aligned_voices == 0
    model = Seq2Seq(config)
    assert model.decoder.input_size == 4 + 8  # embedding + context, as before
    assert Seq2Seq(Seq2SeqConfig(**old, aligned_voices=3)).decoder.input_size == 4 + 4 + 8
    with pytest.raises(ValueError, match="aligned_voices"):
        Seq2SeqConfig(vocab_size=5, aligned_voices=-1)


@pytest.mark.parametrize("attention", ["additive", "general"])
def test_attention_window_biases_scores_by_offset_from_the_own_step(tiny_config, attention):
    torch.manual_seed(9)
    config = tiny_config(VOCAB, attention=attention, aligned_voices=2, attention_window=1)
    model = Seq2Seq(config).eval()
    assert model.offset_bias.shape == (3,) and not model.offset_bias.any()  # 0 at the start
    with torch.no_grad():
        model.offset_bias.copy_(torch.tensor([-50.0, 50.0, -50.0]))  # only offset 0
    sources, lengths, targets = _batch([5], target_len=8)
    _, weights = model(sources, lengths, targets, return_attention=True)
    own_step = torch.arange(8) // 2
    assert torch.allclose(weights[0, torch.arange(8), own_step], torch.ones(8), atol=1e-4)
    with pytest.raises(ValueError, match="attention_window"):
        Seq2SeqConfig(vocab_size=5, attention_window=2)  # needs aligned_voices
