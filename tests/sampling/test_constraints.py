"""Sampling inside the music: exact masks, pitch range, grid start, key, voices, meter, cost."""

from __future__ import annotations

import pretty_midi
import pytest
import torch
from torch import nn

from generator.checkpoint import load_checkpoint, save_checkpoint
from generator.cli import main
from generator.midi import Note, read_notes, write_midi
from generator.models import RNNGenerator
from generator.sampling import SamplingOptions, sample_tokens
from generator.sampling.music import (
    SCALES,
    MusicRequest,
    generate_music,
    music_limits,
    reduce_primer,
    scale_pitches,
    sequence_nll,
    temper_pitches,
    write_pieces,
)
from generator.sampling.processors import allow_only
from generator.tokenizers import MidiEventTokenizer
from tests.conftest import tiny_model_config


@pytest.fixture(scope="module")
def loaded(trained_checkpoint):
    return load_checkpoint(trained_checkpoint)


class FixedLogits(nn.Module):
    """A 'model' whose next-token logits are always the same: its distribution is known."""

    def __init__(self, logits: torch.Tensor):
        super().__init__()
        self.logits = nn.Parameter(logits, requires_grad=False)

    def start(self, cond):
        return self.logits.expand(cond.shape[0], -1).clone(), None

    def step(self, tokens, state):
        return self.logits.expand(tokens.shape[0], -1).clone(), None


@pytest.mark.parametrize("temperature", [1.0, 0.7])
def test_the_masked_distribution_is_the_renormalised_one(temperature):
    torch.manual_seed(0)
    logits = torch.randn(12) * 1.5
    allowed = torch.zeros(12, dtype=torch.bool)
    allowed[[3, 4, 7, 8, 10]] = True
    p = torch.softmax(logits / temperature, dim=-1)
    renormalised = torch.where(allowed, p, 0.0) / p[allowed].sum()

    # the processor, exactly
    masked = allow_only(allowed)(logits.unsqueeze(0) / temperature, torch.zeros(1, 0))
    assert torch.allclose(torch.softmax(masked, dim=-1)[0], renormalised, atol=1e-6)

    # and what the sampler draws through it: 40,000 draws, frequencies within 1 point
    model = FixedLogits(logits)
    draws = sample_tokens(
        model,
        torch.zeros(40_000, 4),
        SamplingOptions(temperature=temperature, seed=1),
        eos_id=2,
        never=(0, 1),
        max_tokens=1,
        processors=[allow_only(allowed)],
    )
    counts = torch.bincount(torch.tensor([d[0] for d in draws]), minlength=12).float()
    frequencies = counts / counts.sum()
    assert frequencies[~allowed].sum() == 0
    assert (frequencies - renormalised).abs().max() < 0.01


@pytest.mark.parametrize(("key", "scale"), [("D", "major"), ("A", "dorian"), ("Eb", "pentatonic")])
def test_every_note_is_in_the_scale(loaded, key, scale):
    request = MusicRequest(num=6, bars=4, key=key, scale=scale, options=SamplingOptions(seed=3))
    pitches = {n.pitch for notes in generate_music(loaded, request).pieces for n in notes}
    assert pitches and pitches <= scale_pitches(key, scale)


def test_key_auto_keeps_each_piece_in_one_diatonic_collection(loaded):
    request = MusicRequest(
        num=8, bars=4, key="auto", options=SamplingOptions(temperature=3.0, seed=0)
    )
    collections = [scale_pitches(key, "major") for key in "C C# D Eb E F F# G Ab A Bb B".split()]
    for notes in generate_music(loaded, request).pieces:
        pitches = {n.pitch for n in notes}
        assert any(pitches <= c for c in collections)
    # the same hot model without it strays (or the test above proves nothing)
    free = MusicRequest(num=8, bars=4, options=SamplingOptions(temperature=3.0, seed=0))
    pieces = generate_music(loaded, free).pieces
    assert any(not any({n.pitch for n in p} <= c for c in collections) for p in pieces)
    with pytest.raises(ValueError, match="key auto chooses its own scale"):
        MusicRequest(key="auto", scale="minor")


def test_pitch_temperature_tempers_the_notes_and_keeps_their_share():
    tokenizer = MidiEventTokenizer()
    torch.manual_seed(0)
    logits = torch.randn(2, tokenizer.vocab_size) * 2
    tempered = temper_pitches(tokenizer, 0.5)(logits, torch.zeros(2, 0, dtype=torch.long))
    notes = list(tokenizer.note_ids())
    before, after = torch.softmax(logits, -1), torch.softmax(tempered, -1)
    assert torch.allclose(after[:, notes].sum(-1), before[:, notes].sum(-1), atol=1e-5)
    others = [i for i in range(tokenizer.vocab_size) if i not in notes]
    assert torch.allclose(after[:, others], before[:, others], atol=1e-6)
    expected = torch.softmax(logits[:, notes] / 0.5, -1)
    assert torch.allclose(torch.softmax(tempered[:, notes], -1), expected, atol=1e-5)
    with pytest.raises(ValueError, match="pitch temperature must be a number in"):
        MusicRequest(pitch_temperature=0)


def test_scales_are_the_usual_ones():
    assert len(SCALES["pentatonic"]) == 5 and len(SCALES["locrian"]) == 7
    assert {p % 12 for p in scale_pitches("D", "dorian")} == {2, 4, 5, 7, 9, 11, 0}
    assert {p % 12 for p in scale_pitches("F#", "minor")} == {6, 8, 9, 11, 1, 2, 4}
    assert scale_pitches("Bb", "major") == scale_pitches("A#", "ionian")


def test_no_note_leaves_the_training_range_and_null_starts_begin_on_the_grid(loaded):
    low, high = music_limits(loaded).pitch_range
    assert (low, high) == (60, 79)  # the synthetic folder's training split: 60-79
    for temperature in (1.0, 3.0):  # a hot, barely trained model would stray without masks
        request = MusicRequest(
            num=16, bars=2, options=SamplingOptions(temperature=temperature, seed=5)
        )
        for notes in generate_music(loaded, request).pieces:
            assert all(low <= n.pitch <= high for n in notes)
            first = min(n.start for n in notes)
            assert (first * 2) == int(first * 2) and first <= 4  # an eighth-note step, ≤ a bar


def test_a_style_keeps_to_its_own_range_and_voices(loaded):
    low, high = music_limits(loaded).style_ranges["reel"]
    request = MusicRequest(num=8, bars=2, style="reel", options=SamplingOptions(seed=2))
    for notes in generate_music(loaded, request).pieces:
        assert all(low <= n.pitch <= high for n in notes)
        starts = [n.start for n in notes]  # and its one line: the reels are one line
        assert len(starts) == len(set(starts))


def test_lowest_and_highest(loaded):
    request = MusicRequest(num=6, bars=2, lowest="E4", highest=70, options=SamplingOptions(seed=1))
    pitches = {n.pitch for notes in generate_music(loaded, request).pieces for n in notes}
    assert pitches and min(pitches) >= 64 and max(pitches) <= 70


def test_one_line_and_a_voice_limit(loaded):
    one = MusicRequest(num=6, bars=2, style="chorale", voices=1, options=SamplingOptions(seed=0))
    for notes in generate_music(loaded, one).pieces:
        starts = [n.start for n in notes]
        assert len(starts) == len(set(starts))
        assert all(a.end <= b.start + 1e-9 for a, b in zip(notes, notes[1:], strict=False))
    two = MusicRequest(num=6, bars=2, style="chorale", voices=2, options=SamplingOptions(seed=0))
    for notes in generate_music(loaded, two).pieces:
        starts = [n.start for n in notes]
        assert max(starts.count(s) for s in starts) <= 2


def test_the_chorale_style_writes_several_voices(loaded):
    limits = music_limits(loaded)
    assert limits.style_voices == {"chorale": 4, "reel": 1}
    request = MusicRequest(num=4, bars=2, style="chorale", options=SamplingOptions(seed=0))
    pieces = generate_music(loaded, request).pieces
    assert any(max([n.start for n in p].count(n.start) for n in p) >= 2 for p in pieces)


def test_the_meter_is_drawn_or_given_and_written_into_the_file(loaded, tmp_path):
    drawn = generate_music(loaded, MusicRequest(num=2, bars=1, options=SamplingOptions(seed=0)))
    assert drawn.meters == ["4/4", "4/4"]  # the only meter the synthetic data has
    paths = write_pieces(drawn.pieces, tmp_path, stem="m", bpm=100, program=0, meters=["6/8", None])
    signatures = pretty_midi.PrettyMIDI(str(paths[0])).time_signature_changes
    assert [(s.numerator, s.denominator) for s in signatures] == [(6, 8)]
    with pytest.raises(ValueError, match="unknown meter '6/8'; this model knows: 4/4"):
        generate_music(loaded, MusicRequest(meter="6/8"))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"key": "H"}, "invalid key 'H': use a note name without octave"),
        ({"scale": "dorian"}, "scale 'dorian' needs a key"),
        ({"key": "D", "scale": "bebop"}, "unknown scale 'bebop': choose from major, minor"),
        ({"lowest": "C5", "highest": "C4"}, "the lowest note (72) is above the highest note (60)"),
        ({"voices": 0}, "voices must be a whole number of at least 1"),
        ({"meter": "6/7"}, "invalid meter '6/7'"),
    ],
)
def test_bad_constraints_are_refused_before_sampling(kwargs, message):
    with pytest.raises(ValueError) as error:
        MusicRequest(**kwargs)
    assert message in str(error.value)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"lowest": "C7"}, "no note is left: the model learned C4–G5, and lowest C7 excludes all"),
        ({"seed_note": "C3"}, "the seed note C3 is outside the allowed notes (C4–G5)"),
        ({"seed_note": "C#4", "key": "C"}, "the seed note C#4 is outside the allowed notes"),
    ],
)
def test_constraints_the_model_cannot_meet_are_refused(loaded, kwargs, message):
    with pytest.raises(ValueError) as error:
        generate_music(loaded, MusicRequest(**kwargs))
    assert message in str(error.value)


def test_the_cost_is_the_nll_under_the_unconstrained_model(loaded):
    request = MusicRequest(num=2, bars=1, key="C", score=True, options=SamplingOptions(seed=0))
    result = generate_music(loaded, request)
    assert result.nll is not None and result.nll > 0
    # sequence_nll against step-by-step scoring of the same tokens
    model, tokenizer = loaded.model, loaded.tokenizer
    cond = model.condition(torch.zeros(1, dtype=torch.long), torch.zeros(1, dtype=torch.long))
    prefix = torch.tensor([[tokenizer.meter_id("4/4")]])
    tokens = tokenizer.encode([Note(0, 1, 64, 80), Note(1, 1, 67, 80)]).tolist()
    with torch.inference_mode():
        logits, state = model.start(cond)
        logits, state = model.step(prefix[:, 0], state)
        total = 0.0
        for token in tokens:
            total -= float(torch.log_softmax(logits, dim=-1)[0, token])
            logits, state = model.step(torch.tensor([token]), state)
    assert sequence_nll(model, cond, prefix, [tokens]) == pytest.approx(total / len(tokens))


def test_an_old_checkpoint_loads_and_keeps_to_its_corpus_range(tmp_path):
    tokenizer = MidiEventTokenizer(styles=["reel"])  # saved before meters and ranges
    data = tokenizer.to_dict()
    for name in ("meters", "pitch_range", "style_ranges", "style_voices"):
        del data[name]
    torch.manual_seed(0)
    model = RNNGenerator(tiny_model_config(tokenizer))
    path = save_checkpoint(
        tmp_path / "old.pt", model, tokenizer, info={"corpus": {"pitch_range": [55, 67]}}
    )
    payload = torch.load(path, weights_only=True)
    payload["tokenizer"] = data
    torch.save(payload, path)
    old = load_checkpoint(path)
    assert old.tokenizer.meters == [] and old.tokenizer.pitch_range is None
    result = generate_music(old, MusicRequest(num=8, bars=2, options=SamplingOptions(seed=0)))
    assert result.meters == [None] * 8
    for notes in result.pieces:  # an untrained model: only the mask keeps it in range
        assert notes and all(55 <= n.pitch <= 67 for n in notes)
    with pytest.raises(ValueError, match="learned no meter"):
        generate_music(old, MusicRequest(meter="4/4"))


def test_the_primer_rule_keeps_melody_and_bass_and_moves_stray_octaves():
    chord = [Note(0, 1, p, 80) for p in (48, 55, 64, 72)] + [Note(1, 1, 11, 80)]
    one = reduce_primer(chord, 1, (40, 80), steps_per_beat=12)
    assert [n.pitch for n in one] == [72, 47]  # top note; B-1 moved up by octaves into range
    two = reduce_primer(chord, 2, None, steps_per_beat=12)
    assert sorted(n.pitch for n in two if n.start == 0) == [48, 72]
    three = reduce_primer(chord, 3, None, steps_per_beat=12)
    assert sorted(n.pitch for n in three if n.start == 0) == [48, 64, 72]
    assert reduce_primer(chord, None, None, steps_per_beat=12) == sorted(chord)


def test_a_two_part_primer_for_a_one_line_style(loaded, tmp_path):
    primer = write_midi([Note(0, 1, 74, 80), Note(0, 1, 11, 80)], tmp_path / "two.mid")
    request = MusicRequest(num=4, bars=1, style="reel", primer=primer)
    for notes in generate_music(loaded, request).pieces:
        assert notes[:2] == read_notes(primer)  # the file keeps the primer as it was
        assert all(62 <= n.pitch <= 74 for n in notes[2:])  # the continuation: reel's range


def test_the_cli_constraints_end_to_end(trained_checkpoint, tmp_path, capsys):
    argv = ["sample", "music", "--checkpoint", str(trained_checkpoint), "--out", str(tmp_path)]
    flags = ["--key", "G", "--scale", "mixolydian", "--monophonic", "--meter", "4/4", "--cost"]
    flags += ["--pitch-temperature", "0.8"]
    assert main([*argv, *flags, "--num", "3", "--bars", "2", "--seed", "0"]) == 0
    captured = capsys.readouterr()
    assert "constraint cost: the samples score" in captured.err and "nats/token" in captured.err
    files = sorted(tmp_path.glob("*.mid"))
    assert len(files) == 3
    for path in files:
        notes = read_notes(path)
        assert {n.pitch for n in notes} <= scale_pitches("G", "mixolydian")
        assert len({n.start for n in notes}) == len(notes)
        signature = pretty_midi.PrettyMIDI(str(path)).time_signature_changes[0]
        assert (signature.numerator, signature.denominator) == (4, 4)
    assert main([*argv, "--key", "G", "--scale", "bebop"]) == 2
    assert "unknown scale 'bebop'" in capsys.readouterr().err
    assert main([*argv, "--monophonic", "--voices", "2"]) == 2
    assert "--monophonic means --voices 1" in capsys.readouterr().err
