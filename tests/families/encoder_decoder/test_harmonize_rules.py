"""Harmonizing: the voicing rules, best of N, and the written file keeping the melody's timing."""

from __future__ import annotations

from pathlib import Path

import mido
import numpy as np
import pretty_midi
import pytest
import torch

from generator.checkpoint import load_checkpoint, save_checkpoint
from generator.cli import main
from generator.config import Seq2SeqConfig
from generator.data.pairs import collate
from generator.evaluation.harmony import harmony_metrics
from generator.midi.notes import Note
from generator.midi.parts import Part
from generator.models.seq2seq import Seq2Seq
from generator.sampling.harmonize import harmonize
from generator.sampling.sampler import SamplingOptions
from generator.sampling.seq2seq import score_targets
from generator.tokenizers.voice_grid import VoiceGridTokenizer


@pytest.fixture(scope="module")
def untrained(tmp_path_factory):
    """A random (untrained) harmonizer: its voices break every rule unless the rules stop it.
    Windows of 8 beats: TUNE is one window (the rules do not reach across window joins)."""
    torch.manual_seed(0)
    tokenizer = VoiceGridTokenizer(2, ("Alto", "Tenor", "Bass"), segment_beats=8)
    config = Seq2SeqConfig(
        tokenizer.vocab_size, "gru", 16, 32, dropout=0.0, aligned_voices=3, positions=40
    )
    path = tmp_path_factory.mktemp("untrained") / "h.pt"
    save_checkpoint(path, Seq2Seq(config), tokenizer, family="seq2seq")
    return load_checkpoint(path)


TUNE = Part(
    "Melody",
    0,
    [
        Note(0.0, 1.0, 67, 80),
        Note(1.0, 0.5, 69, 80),
        Note(1.5, 1.5, 71, 80),  # held over beat 2
        Note(3.0, 1.0, 72, 80),
        Note(4.0, 2.0, 71, 80),
        Note(6.0, 1.0, 69, 80),
        Note(7.0, 1.0, 67, 80),
    ],
)


@pytest.mark.parametrize(("beam", "beat"), [(1, 1.0), (2, 1.0), (1, 1.5)])
def test_rules_keep_voices_in_range_under_the_melody_and_consonant_on_beats(untrained, beam, beat):
    """Beats of 1.5 quarter notes: a 6/8 meter, judged on its dotted-quarter beats."""
    options = SamplingOptions(temperature=1.0, seed=1)
    free = harmonize(untrained, TUNE, options=options, rules=False)
    free_metrics = harmony_metrics(TUNE.notes, free.voices, beat=beat)
    assert free_metrics.out_of_range > 0 or free_metrics.consonance < 1  # the model alone
    ruled = harmonize(untrained, TUNE, options=options, beam=beam, rules=True, beat=beat)
    metrics = harmony_metrics(TUNE.notes, ruled.voices, beat=beat)
    assert metrics.out_of_range == 0
    assert metrics.consonance == 1.0
    assert metrics.crossings == 0 and metrics.parallels == 0
    assert all(v.doubled == 0 and v.above_melody == 0 for v in metrics.voices)
    assert all(v.beats == metrics.beats for v in metrics.voices)  # no rest under the melody
    assert ruled.settings["rules"] is True


def test_best_of_n_is_repeatable_and_scores_are_the_models_nll(untrained):
    options = SamplingOptions(temperature=1.0, seed=3)
    tune = Part(
        "Melody",
        0,
        [*TUNE.notes, *(Note(n.start + 8, n.duration, n.pitch, 80) for n in TUNE.notes)],
    )
    first = harmonize(untrained, tune, options=options, candidates=4)
    again = harmonize(untrained, tune, options=options, candidates=4)
    assert first.voices == again.voices and len(first.decoded) == len(first.sources) == 2
    model, tokenizer = untrained.model, untrained.tokenizer
    target = np.array(first.decoded[0].tokens)
    score = score_targets(model, [first.sources[0]], [target.tolist()], tokenizer)[0]
    batch = collate([(first.sources[0], target)], tokenizer)
    with torch.no_grad():
        loss, count, _ = model.loss(
            batch.sources, batch.lengths, batch.target_inputs, batch.target_outputs
        )
    assert score == pytest.approx(-float(loss), rel=1e-5)
    assert int(count) == len(target) + 1


def _six_eight_melody(path: Path) -> list[Note]:
    """A 6/8 tune in D major with an eighth-note pickup and a tempo change in bar 2."""
    ticks = 480
    track = mido.MidiTrack()
    track.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(120), time=0))
    track.append(mido.MetaMessage("time_signature", numerator=6, denominator=8, time=0))
    track.append(mido.MetaMessage("key_signature", key="D", time=0))
    track.append(mido.MetaMessage("track_name", name="Melody", time=0))
    pitches = [69, 74, 76, 78, 74, 76, 78, 79, 81, 78, 74]
    notes = [Note(2.5, 0.5, pitches[0], 90)]  # the pickup: the last eighth of an empty bar
    notes += [Note(3.0 + 0.5 * k, 0.5, p, 90) for k, p in enumerate(pitches[1:])]
    events = []
    for note in notes:
        events.append((round(note.start * ticks), 1, mido.Message("note_on", note=note.pitch)))
        events.append((round(note.end * ticks), 0, mido.Message("note_off", note=note.pitch)))
    events.append((6 * ticks, 2, mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(90))))
    now = 0
    for tick, _, message in sorted(events, key=lambda e: (e[0], e[1])):
        track.append(message.copy(time=tick - now))
        now = tick
    midi = mido.MidiFile(ticks_per_beat=ticks)
    midi.tracks.append(track)
    midi.save(str(path))
    return notes


def test_the_harmonized_file_keeps_meter_key_tempo_changes_and_pickup(untrained, tmp_path):
    melody_path = tmp_path / "jig.mid"
    _six_eight_melody(melody_path)
    source = pretty_midi.PrettyMIDI(str(melody_path))
    out = tmp_path / "jig-harmonized.mid"
    common = ["harmonize", "--checkpoint", str(untrained.path), "--melody", str(melody_path)]
    assert main([*common, "--out", str(out), "--seed", "0"]) == 0
    written = pretty_midi.PrettyMIDI(str(out))
    meters = [(m.numerator, m.denominator, m.time) for m in written.time_signature_changes]
    assert meters == [(6, 8, 0.0)]
    assert [k.key_number for k in written.key_signature_changes] == [2]  # D major
    for got, expected in zip(written.get_tempo_changes(), source.get_tempo_changes(), strict=True):
        np.testing.assert_allclose(got, expected, rtol=1e-4)
    assert [(n.start, n.end, n.pitch) for n in written.instruments[0].notes] == pytest.approx(
        [(n.start, n.end, n.pitch) for n in source.instruments[0].notes]
    )  # the pickup and the melody where they were
    assert written.instruments[0].notes[0].start == pytest.approx(1.25)  # 2.5 beats at 120
    # One tempo when --bpm is given, the meter still 6/8 and the pickup still on beat 2.5.
    assert main([*common, "--out", str(out), "--bpm", "60"]) == 0
    single = pretty_midi.PrettyMIDI(str(out))
    assert len(single.get_tempo_changes()[0]) == 1
    assert [(m.numerator, m.denominator) for m in single.time_signature_changes] == [(6, 8)]
    assert single.instruments[0].notes[0].start == pytest.approx(2.5)
