"""Piano-roll end to end: checkpoint round trip, sampling, and the CLI on a tiny JSON."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from generator.checkpoint import load_checkpoint, read_checkpoint, save_checkpoint
from generator.cli import main
from generator.midi import read_notes
from generator.models.pianoroll import PianoRollRNN
from generator.sampling import SamplingOptions
from generator.sampling.pianoroll import PianoRollRequest, generate_pianoroll
from generator.tokenizers.piano_roll import PianoRollTokenizer


@pytest.mark.parametrize("head", ["sigmoid", "nade"])
def test_checkpoint_round_trip(head: str, tmp_path: Path, config) -> None:
    model = PianoRollRNN(config(head, "lstm")).eval()
    tokenizer = PianoRollTokenizer(frames_per_beat=2)
    path = save_checkpoint(tmp_path / "m.pt", model, tokenizer, family="pianoroll")
    loaded = load_checkpoint(path)
    assert loaded.family == "pianoroll" and loaded.model.config == model.config
    assert loaded.tokenizer.to_dict() == tokenizer.to_dict()
    frames = (torch.rand(2, 6, 88) < 0.1).float()
    with torch.no_grad():
        a, _ = model(frames)
        b, _ = loaded.model(frames)
        torch.testing.assert_close(
            model.frame_nll(a[:, -1], frames[:, 0]), loaded.model.frame_nll(b[:, -1], frames[:, 0])
        )


@pytest.mark.parametrize("head", ["sigmoid", "nade"])
def test_sampling_is_repeatable_and_starts_from_the_first_frame(head, tmp_path, config) -> None:
    model = PianoRollRNN(config(head))
    path = save_checkpoint(tmp_path / "m.pt", model, PianoRollTokenizer(), family="pianoroll")
    loaded = load_checkpoint(path)
    request = PianoRollRequest(
        num=3, frames=10, first_frame=("C4", 64), options=SamplingOptions(seed=7)
    )
    rolls = generate_pianoroll(loaded, request).rolls
    again = generate_pianoroll(loaded, request).rolls
    assert len(rolls) == 3 and all(r.shape == (11, 88) for r in rolls)
    assert all((r == s).all() for r, s in zip(rolls, again, strict=True))
    assert all(loaded.tokenizer.decode(r[:1]) == [[60, 64]] for r in rolls)


def test_cli_train_evaluate_sample(tiny_json: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "roll.pt"
    code = main(
        ["train", "pianoroll", "--data", str(tiny_json), "--out", str(out), "--head", "nade"]
        + ["--hidden-size", "16", "--nade-hidden", "8", "--max-steps", "6", "--eval-every", "3"]
        + ["--batch-size", "2", "--seq-len", "4", "--warmup-steps", "0", "--no-progress"]
    )
    assert code == 0 and out.exists() and (tmp_path / "roll.last.pt").exists()
    payload = read_checkpoint(out)
    assert payload["family"] == "pianoroll" and payload["model_config"]["head"] == "nade"
    assert payload["info"]["best_valid_nll"] > 0
    capsys.readouterr()

    assert main(["evaluate", "pianoroll", "--checkpoint", str(out), "--data", str(tiny_json)]) == 0
    printed = capsys.readouterr().out
    assert "nats/frame" in printed and "on 3 predicted frames in 2 pieces" in printed
    nll = float(printed.split()[1])
    assert nll == pytest.approx(payload["info"]["best_valid_nll"], rel=1e-4)

    samples = tmp_path / "samples"
    code = main(
        ["sample", "pianoroll", "--checkpoint", str(out), "--frames", "8", "--num", "2"]
        + ["--out", str(samples), "--bpm", "90", "--seed", "3", "--first-frame", "C3,E4,G4"]
    )
    assert code == 0
    files = sorted(samples.glob("*.mid"))
    assert len(files) == 2
    notes = read_notes(files[0])
    assert notes and {48, 64, 67} <= {n.pitch for n in notes if n.start == 0}
    assert max(n.end for n in notes) <= 9  # 1 + 8 quarter-note frames
    capsys.readouterr()

    assert main(["describe", str(out)]) == 0
    card = capsys.readouterr().out
    assert "head nade (8 hidden units)" in card and f"`{tiny_json}`: 5 pieces" in card
    assert "nats/frame" in card and "nats/token" not in card
    assert "`python -m generator train pianoroll --data " in card  # this run, not pytest's argv


def test_cli_trains_on_a_midi_folder(tmp_path: Path, capsys) -> None:
    from generator.midi import Note, write_midi

    folder = tmp_path / "midi"
    for i in range(3):
        notes = [Note(b * 0.5, 0.5, 60 + (b + i) % 5, 80) for b in range(12)]
        write_midi(notes, folder / f"tune{i}.mid")
    (folder / "junk.mid").write_bytes(b"not midi at all")
    out = tmp_path / "midi.pt"
    code = main(
        ["train", "pianoroll", "--data", str(folder), "--out", str(out), "--max-steps", "2"]
        + ["--hidden-size", "8", "--frames-per-beat", "2", "--valid-fraction", "0.34"]
        + ["--no-progress", "--eval-every", "1"]
    )
    assert code == 0
    err = capsys.readouterr().err
    assert "skipped 1: not a readable MIDI file" in err
    assert load_checkpoint(out).tokenizer.frames_per_beat == 2


def test_cli_refuses_a_bad_head(tiny_json: Path, tmp_path: Path, capsys) -> None:
    code = main(
        ["train", "pianoroll", "--data", str(tiny_json), "--out", str(tmp_path / "x.pt")]
        + ["--head", "softmax"]
    )
    assert code == 2 and "head must be sigmoid or nade" in capsys.readouterr().err


def test_cli_resume_continues_a_run(tiny_json: Path, tmp_path: Path) -> None:
    out = tmp_path / "r.pt"
    common = ["train", "pianoroll", "--data", str(tiny_json), "--out", str(out)]
    common += ["--hidden-size", "8", "--no-progress", "--save-every", "2", "--eval-every", "2"]
    assert main([*common, "--max-steps", "2"]) == 0
    assert main([*common, "--max-steps", "4", "--resume"]) == 0
    assert read_checkpoint(tmp_path / "r.last.pt")["train_state"]["step"] == 4
