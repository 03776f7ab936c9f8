"""The quality report and ``python -m generator evaluate quality`` end to end on tiny folders."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pretty_midi
import pytest

from generator.cli import main
from generator.data.midi_corpus import load_midi_corpus
from generator.data.pieces import is_valid_split
from generator.evaluation.quality import QualityOptions, evaluate_quality, read_folder
from generator.midi.notes import Note, to_pretty_midi, write_midi

SCALE = [62, 64, 66, 67, 69, 71, 73, 74]  # D major


def tune(shift: int, offset: float = 0.0, length: int = 16) -> list[Note]:
    """Eighth notes up and down the D major scale, rotated by ``shift`` steps."""
    pitches = [SCALE[(i + shift) % len(SCALE)] for i in range(length)]
    return [Note(offset + i * 0.5, 0.5, p, 80) for i, p in enumerate(pitches)]


def write_set(folder: Path, pieces: list[list[Note]]) -> Path:
    for i, notes in enumerate(pieces):
        write_midi(notes, folder / f"piece{i}.mid")
    return folder


def test_report_counts_strays_and_copies():
    reference = [tune(k) for k in range(8)]
    samples = [tune(0), tune(1, offset=0.25) + [Note(8, 1, 100, 80)]]
    options = QualityOptions(ceiling_splits=5)
    report = evaluate_quality(samples, reference, train=[tune(0, length=24)], options=options)
    assert report.samples == 2 and report.reference == 8
    assert report.reference_range == (62, 74)
    assert (report.stray_notes, report.stray_pieces) == (1, 1)
    assert report.train_range == (62, 74) and report.train_stray_notes == 1
    rows = {r.name: r for r in report.rows}
    # tune(0) is all on the eighth grid; the shifted tune has only its last note (beat 8) on it
    assert rows["on_grid"].generated_mean == pytest.approx((1 + 1 / 17) / 2)
    assert rows["polyphony"].overlap == pytest.approx(1.0, abs=1e-6)  # all single lines
    assert report.copy_samples.pitches.copied >= 9  # tune(0) is in the training piece
    data = report.to_dict()
    assert set(data["features"]) == {r.name for r in report.rows}
    ratio = data["mean_overlap"] / data["mean_ceiling"]
    assert data["quality_ratio"] == pytest.approx(ratio, abs=1e-3)
    assert "quality ratio" in report.table()


def test_samples_like_the_reference_score_near_the_ceiling():
    reference = [tune(k % 8, length=12 + k) for k in range(40)]
    alike = [tune((k + 3) % 8, length=12 + (k * 7) % 40) for k in range(40)]
    off_beat = [tune(k % 8, offset=0.3, length=12 + k) for k in range(40)]
    options = QualityOptions(ceiling_splits=10)
    good = evaluate_quality(alike, reference, options=options)
    bad = evaluate_quality(off_beat, reference, options=options)
    assert good.quality_ratio > 0.9
    assert {r.name: r for r in bad.rows}["on_grid"].overlap < 0.05
    assert bad.quality_ratio < good.quality_ratio


def test_empty_inputs_are_clear_errors():
    with pytest.raises(ValueError, match="reference set has no pieces"):
        evaluate_quality([tune(0)], [[]])
    with pytest.raises(ValueError, match="samples have no notes"):
        evaluate_quality([[]], [tune(0)])
    report = evaluate_quality([tune(0), []], [tune(0), tune(1)], options=QualityOptions())
    # fewer than four reference pieces: no halves to compare, so no ceiling
    assert report.empty_samples == 1 and math.isnan(report.rows[0].ceiling)


def test_read_folder_skips_bad_files_and_selects_splits(tmp_path):
    write_set(tmp_path / "music" / "reel", [tune(k) for k in range(20)])
    write_set(tmp_path / "music" / "jig", [tune(k) for k in range(3)])
    (tmp_path / "music" / "bad.mid").write_bytes(b"not midi")
    folder = read_folder(tmp_path / "music")
    assert len(folder.pieces) == 23 and [s[0] for s in folder.skipped] == ["bad.mid"]
    valid = folder.select("reel", "valid", 0.3)
    train = folder.select("reel", "train", 0.3)
    assert len(valid) + len(train) == 20 and valid and train
    assert all(is_valid_split(name, 0.3) and name.startswith("reel/") for name in valid)
    with pytest.raises(ValueError, match="no such folder"):
        read_folder(tmp_path / "missing", "--samples")
    (tmp_path / "void").mkdir()
    with pytest.raises(ValueError, match="--reference .*void: no .mid or .midi files"):
        read_folder(tmp_path / "void", "--reference")


def test_cli_table_json_and_plots(tmp_path, capsys):
    write_set(tmp_path / "real" / "reel", [tune(k) for k in range(10)])
    write_set(tmp_path / "real" / "jig", [tune(k, length=12) for k in range(6)])
    write_set(tmp_path / "gen" / "reel", [tune(k, offset=0.25) for k in range(5)])
    write_set(tmp_path / "train", [tune(0, length=30)])
    status = main(
        [
            "evaluate",
            "quality",
            "--samples",
            str(tmp_path / "gen"),
            "--reference",
            str(tmp_path / "real"),
            "--train",
            str(tmp_path / "train"),
            "--style",
            "reel",
            "--json",
            str(tmp_path / "report.json"),
            "--plots",
            str(tmp_path / "plots"),
            "--ceiling-splits",
            "5",
        ]
    )
    out = capsys.readouterr().out
    assert status == 0
    assert "== style reel ==" in out and "quality ratio" in out and "copy check" in out
    data = json.loads((tmp_path / "report.json").read_text())["styles"]["reel"]
    assert data["samples"] == 5 and data["reference"] == 10
    assert data["features"]["on_grid"]["samples_mean"] == 0.0
    assert data["copy_check"]["reference"]["copied_share"] > 0
    assert len(list((tmp_path / "plots" / "reel").glob("*.png"))) == len(data["features"])


def test_cli_names_the_missing_folder(tmp_path, capsys):
    write_set(tmp_path / "real", [tune(0)])
    status = main(
        ["evaluate", "quality", "--samples", str(tmp_path / "nope"), "--reference", str(tmp_path)]
    )
    assert status == 2
    assert f"--samples {tmp_path / 'nope'}: no such folder" in capsys.readouterr().err


@pytest.mark.parametrize("fraction", [0.3, 0.01])
def test_splits_are_the_training_codes(midi_folder, fraction):
    # 0.01 holds out no file by the hash, so the training code moves one over: so must we
    corpus = load_midi_corpus(
        midi_folder.path, cache_dir=None, progress=False, valid_fraction=fraction
    )
    folder = read_folder(midi_folder.path)
    assert sorted(folder.select(None, "valid", fraction)) == sorted(p.name for p in corpus.valid)
    assert sorted(folder.select(None, "train", fraction)) == sorted(p.name for p in corpus.train)
    reels = folder.select("reel", "valid", fraction)
    assert sorted(reels) == sorted(p.name for p in corpus.valid if p.style == "reel")


def test_cli_names_a_folder_with_no_readable_piece(tmp_path, capsys):
    write_set(tmp_path / "real", [tune(0), tune(1)])
    (tmp_path / "gen").mkdir()
    (tmp_path / "gen" / "broken.mid").write_bytes(b"MThd broken")
    args = ["evaluate", "quality", "--samples", str(tmp_path / "gen")]
    assert main([*args, "--reference", str(tmp_path / "real")]) == 2
    assert f"--samples {tmp_path / 'gen'}: no readable pieces" in capsys.readouterr().err
    assert main([*args, "--reference", str(tmp_path / "real"), "--style", "jig"]) == 2
    assert "no readable pieces (style 'jig', all split)" in capsys.readouterr().err


def jig(shift: int, bars: int = 6) -> list[Note]:
    """A 6/8 jig rhythm (quarter + eighth, twice a bar; times in quarter notes)."""
    rhythm = [(0.0, 1.0), (1.0, 0.5), (1.5, 1.0), (2.5, 0.5)]
    return [
        Note(3 * bar + t, d, SCALE[(bar + i + shift) % len(SCALE)], 80)
        for bar in range(bars)
        for i, (t, d) in enumerate(rhythm)
    ]


def write_meter_set(folder: Path, pieces: list[list[Note]], meter: tuple[int, int]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i, notes in enumerate(pieces):
        midi = to_pretty_midi(notes)
        midi.time_signature_changes = [pretty_midi.TimeSignature(*meter, 0.0)]
        midi.write(str(folder / f"piece{i}.mid"))
    return folder


def test_each_piece_is_measured_in_its_own_meter(tmp_path, capsys):
    write_meter_set(tmp_path / "real" / "jig", [jig(k) for k in range(6)], (6, 8))
    write_meter_set(tmp_path / "real" / "reel", [tune(k, length=32) for k in range(6)], (2, 2))
    write_meter_set(tmp_path / "gen" / "jig", [jig(k) for k in range(4)], (6, 8))
    folder = read_folder(tmp_path / "real")
    assert folder.meters_of(["jig/piece0.mid", "reel/piece0.mid"]) == ["6/8", "2/2"]
    argv = ["evaluate", "quality", "--samples", str(tmp_path / "gen"), "--reference"]
    argv += [str(tmp_path / "real"), "--style", "jig", "--style", "reel", "--ceiling-splits", "5"]
    assert main([*argv, "--json", str(tmp_path / "report.json")]) == 0
    out = capsys.readouterr().out
    assert "samples 6/8 ×4; reference 6/8 ×6" in out and "reference 2/2 ×6" in out
    data = json.loads((tmp_path / "report.json").read_text())["styles"]
    groove = data["jig"]["features"]["groove_consistency"]
    assert groove["reference_mean"] == 1.0 and groove["samples_mean"] == 1.0  # bars of 6 eighths
    assert data["jig"]["meters"] == {"samples": {"6/8": 4}, "reference": {"6/8": 6}}
    # the same jigs counted in 4/4 bars (no meters given) look irregular
    four_four = evaluate_quality([jig(0)], [jig(k) for k in range(6)])
    assert {r.name: r for r in four_four.rows}["groove_consistency"].reference_mean < 0.9
