"""The command line end to end: train a tiny harmonizer and a tiny text model, then use them."""

from __future__ import annotations

import json
from pathlib import Path

import pretty_midi
import pytest

from generator.cli import main
from generator.midi.notes import Note
from generator.midi.parts import read_parts, write_parts

TINY = [
    "--embedding-size", "8", "--hidden-size", "16", "--batch-size", "4", "--lr", "1e-2",
    "--warmup-steps", "0", "--max-steps", "6", "--eval-every", "3", "--log-every", "3",
    "--device", "cpu", "--no-progress",
]  # fmt: skip


@pytest.fixture(scope="module")
def harmonizer(chorale_folder, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("harmonizer") / "harmonizer.pt"
    code = main(
        ["train", "seq2seq", "--data", str(chorale_folder), "--out", str(out), "--voices", "atb",
         "--segment-beats", "4", "--valid-fraction", "0.3", "--transpose", "2", *TINY,
         "--max-steps", "40", "--eval-every", "20"]
    )  # fmt: skip
    assert code == 0 and out.exists()
    return out


def _melody_file(path: Path) -> list[Note]:
    """A one-track tune (an unseen melody, not on the grid everywhere) with a pickup rest."""
    notes = [
        Note(0.5, 0.5, 67, 90),
        Note(1.0, 1.0, 72, 70),
        Note(2.0, 0.75, 71, 70),
        Note(2.75, 0.25, 69, 70),
        Note(3.0, 2.0, 67, 70),
        Note(5.5, 1.5, 64, 70),
        Note(7.0, 3.0, 65, 70),
    ]
    write_parts({"Flute": notes}, path, bpm=72, programs={"Flute": 73})
    return notes


def _ticks(notes, midi: pretty_midi.PrettyMIDI) -> list[tuple[int, int, int, int]]:
    return [
        (midi.time_to_tick(n.start), midi.time_to_tick(n.end), n.pitch, n.velocity) for n in notes
    ]


def test_harmonize_keeps_the_melody_and_adds_aligned_voices(harmonizer, tmp_path, capsys):
    melody_path = tmp_path / "tune.mid"
    _melody_file(melody_path)
    out = tmp_path / "harmonized.mid"
    heatmap = tmp_path / "attention.png"
    code = main(
        ["harmonize", "--checkpoint", str(harmonizer), "--melody", str(melody_path),
         "--out", str(out), "--beam", "2", "--heatmap", str(heatmap)]
    )  # fmt: skip
    assert code == 0
    assert heatmap.read_bytes().startswith(b"\x89PNG")
    source = pretty_midi.PrettyMIDI(str(melody_path))
    written = pretty_midi.PrettyMIDI(str(out))
    assert [i.name for i in written.instruments] == ["Flute", "Alto", "Tenor", "Bass"]
    melody = written.instruments[0]
    assert _ticks(melody.notes, written) == _ticks(source.instruments[0].notes, source)
    assert melody.program == 73
    assert written.get_tempo_changes()[1][0] == pytest.approx(72)
    parts = {p.name: p.notes for p in read_parts(out)}
    end = 10.0  # the melody's last beat: the voices fill the same grid, no further
    for name in ("Alto", "Tenor", "Bass"):
        assert parts.get(name), f"no {name} notes"
        assert max(n.end for n in parts[name]) <= end + 1e-6
        assert all((n.start * 2).is_integer() for n in parts[name])  # on the eighth-note grid
    assert "harmonized.mid" in capsys.readouterr().out


def test_harmonize_refuses_a_text_model_and_a_missing_track(harmonizer, text_model, tmp_path):
    melody_path = tmp_path / "tune.mid"
    _melody_file(melody_path)
    out = str(tmp_path / "x.mid")
    common = ["harmonize", "--melody", str(melody_path), "--out", out]
    assert main([*common, "--checkpoint", str(text_model)]) == 2
    assert main([*common, "--checkpoint", str(harmonizer), "--melody-track", "Oboe"]) == 2


def test_evaluate_prints_per_voice_scores_and_describe_works(harmonizer, chorale_folder, capsys):
    code = main(
        ["evaluate", "seq2seq", "--checkpoint", str(harmonizer), "--data", str(chorale_folder),
         "--valid-fraction", "0.3", "--json", "--decode", "2"]
    )  # fmt: skip
    assert code == 0
    scores = json.loads(capsys.readouterr().out)
    assert set(scores["voices"]) == set(scores["pitch_agreement"]) == {"Alto", "Tenor", "Bass"}
    assert all(0 <= share <= 1 for share in scores["pitch_agreement"].values())
    assert 0 <= scores["accuracy"] <= 1 and scores["nll"] > 0
    assert main(["describe", str(harmonizer)]) == 0
    card = capsys.readouterr().out
    assert "seq2seq" in card and "additive" in card and "Bass" in card


@pytest.fixture(scope="module")
def text_model(pairs_tsv, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("text") / "reverse.pt"
    code = main(["train", "seq2seq", "--data", str(pairs_tsv), "--out", str(out), *TINY])
    assert code == 0
    return out


def test_sample_maps_a_source_and_lines_of_stdin(text_model, tmp_path, capsys, monkeypatch):
    assert main(["sample", "seq2seq", "--checkpoint", str(text_model), "--source", "abc",
                 "--greedy", "--max-length", "7"]) == 0  # fmt: skip
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1 and len(lines[0]) <= 7
    monkeypatch.setattr("sys.stdin", __import__("io").StringIO("abc\n\ncab\nfed\n"))
    heatmap = tmp_path / "text.png"
    code = main(["sample", "seq2seq", "--checkpoint", str(text_model), "--source", "-",
                 "--beam", "3", "--json", "--heatmap", str(heatmap)])  # fmt: skip
    assert code == 0
    results = json.loads(capsys.readouterr().out)["results"]
    assert [r["source"] for r in results] == ["abc", "cab", "fed"]
    assert heatmap.read_bytes().startswith(b"\x89PNG")


def test_sample_refuses_a_harmonizer(harmonizer, capsys):
    assert main(["sample", "seq2seq", "--checkpoint", str(harmonizer), "--source", "x"]) == 2
    assert "not a text" in capsys.readouterr().err


def test_harmonize_samples_by_default_and_repeats_with_a_seed(harmonizer, tmp_path):
    melody_path = tmp_path / "tune.mid"
    _melody_file(melody_path)
    outs = [tmp_path / f"take{i}.mid" for i in range(3)]
    for out, seed in zip(outs, (3, 3, 4), strict=True):
        common = ["--melody", str(melody_path), "--out", str(out), "--seed", str(seed)]
        assert main(["harmonize", "--checkpoint", str(harmonizer), *common]) == 0
    voices = [{p.name: p.notes for p in read_parts(out)} for out in outs]
    assert voices[0] == voices[1]
    assert voices[0] != voices[2]


def test_evaluate_harmony_gives_the_model_and_the_files_own_voices(
    harmonizer, chorale_folder, capsys
):
    args = ["evaluate", "seq2seq", "--checkpoint", str(harmonizer), "--data", str(chorale_folder)]
    code = main([*args, "--valid-fraction", "0.3", "--harmony", "--json"])
    assert code == 0
    lines = capsys.readouterr().out.strip().splitlines()
    harmony = json.loads(lines[-1])["harmony"]
    model, reference = harmony["model"], harmony["reference"]
    assert model["pieces"] == reference["pieces"] == len(harmony["files"]) >= 1
    assert set(model["voices"]) == set(reference["voices"]) == {"Alto", "Tenor", "Bass"}
    assert model["out_of_range_notes"] == 0  # the voicing rules are on by default
    assert reference["consonance"] == 1.0  # the fixture's voices: a third, sixth, octave below
    assert harmony["settings"]["rules"] is True


def test_evaluate_harmony_command_reads_files_and_folders(chorale_folder, tmp_path, capsys):
    code = main(["evaluate", "harmony", "--files", str(chorale_folder), "--json"])
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert len(report["files"]) == 6  # the single-track file has no voices: skipped
    assert report["total"]["consonance"] == 1.0
    assert main(["evaluate", "harmony", "--files", str(tmp_path / "none.mid")]) == 2
