"""The command line end to end: train and sample music on tiny settings, and bad input."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import mido
import pretty_midi
import pytest

from generator.checkpoint import load_checkpoint, read_checkpoint
from generator.cli import main
from generator.midi import Note, write_midi

REPO = Path(__file__).resolve().parents[2]
TINY = [
    "--embed",
    "8",
    "--hidden-size",
    "16",
    "--layers",
    "1",
    "--batch-size",
    "2",
    "--seq-len",
    "16",
    "--warmup-steps",
    "0",
    "--eval-every",
    "2",
    "--log-every",
    "2",
    "--device",
    "cpu",
    "--no-progress",
]


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    """Commands that cache tokens use a folder of the test's own, never ~/.cache."""
    monkeypatch.setenv("RNN_GENERATOR_CACHE", str(tmp_path / "default-cache"))


def test_train_music_reports_skips_and_writes_resumable_checkpoints(midi_folder, tmp_path, capsys):
    out = tmp_path / "ck" / "tiny.pt"

    def train(*flags: str) -> int:
        return main(
            [
                "train",
                "music",
                "--data",
                str(midi_folder.path),
                "--out",
                str(out),
                "--cache-dir",
                str(tmp_path / "cache"),
                *TINY,
                *flags,
            ]
        )

    assert train("--max-steps", "4") == 0
    err = capsys.readouterr().err
    assert f"{midi_folder.corrupt}: not a readable MIDI file" in err
    assert f"{midi_folder.empty}: empty file" in err
    assert f"{midi_folder.good_files} read, 2 skipped" in err
    assert "vocabulary 244 ids, 2 styles (chorale, reel), 1 meters (4/4)" in err  # 243 + METER
    assert "unigram" in err and "nats/token" in err and "bits)" in err
    assert "grad norm" in err
    assert "Traceback" not in err

    loaded = load_checkpoint(out)
    assert loaded.model.config.hidden_size == 16 and loaded.model.config.num_styles == 2
    assert loaded.tokenizer.styles == ["chorale", "reel"]
    skipped = dict(loaded.info["corpus"]["skipped"])
    assert skipped[midi_folder.corrupt].startswith("not a readable MIDI file")
    assert skipped[midi_folder.empty] == "empty file: 0 bytes"
    assert loaded.info["command"].startswith("python -m generator ")
    last = out.with_suffix(".last.pt")
    assert read_checkpoint(last)["train_state"]["step"] == 4

    assert train("--max-steps", "6", "--resume") == 0
    err = capsys.readouterr().err
    assert "resuming" in err and f"{midi_folder.good_files + 2} from cache" in err
    assert read_checkpoint(last)["train_state"]["step"] == 6


def test_sample_music_writes_distinct_files_that_reread_cleanly(
    trained_checkpoint, tmp_path, capsys
):
    out = tmp_path / "out"
    argv = [
        "sample",
        "music",
        "--checkpoint",
        str(trained_checkpoint),
        "--num",
        "4",
        "--bars",
        "2",
        "--out",
        str(out),
        "--seed",
        "1",
        "--bpm",
        "100",
        "--program",
        "73",
    ]
    assert main(argv) == 0
    captured = capsys.readouterr()
    files = sorted(out.glob("*.mid"))
    assert len(files) == 4
    assert len({f.read_bytes() for f in files}) == 4
    for path in files:
        assert str(path) in captured.out
        midi_file = mido.MidiFile(str(path))
        assert midi_file.length > 0
        assert 0 < midi_file.length <= 2 * 4 * 60 / 100 + 0.01  # two bars at 100 BPM
        midi = pretty_midi.PrettyMIDI(str(path))
        assert [i.program for i in midi.instruments] == [73]
        assert midi.instruments[0].notes
    assert "sampled 4 pieces from null input" in captured.err
    assert "Traceback" not in captured.err


@pytest.mark.parametrize(
    ("flags", "how"),
    [
        (["--null"], "null input"),
        (["--style", "reel", "--seed-note", "D4"], "style reel + seed note D4"),
        (
            ["--seconds", "2", "--temperature", "0.8", "--top-k", "20", "--top-p", "0.9"],
            "null input",
        ),
        (["--greedy", "--num", "1"], "null input"),
    ],
)
def test_sample_music_ways_to_start(trained_checkpoint, tmp_path, capsys, flags, how):
    argv = [
        "sample",
        "music",
        "--checkpoint",
        str(trained_checkpoint),
        "--bars",
        "1",
        "--out",
        str(tmp_path),
        "--seed",
        "0",
        *flags,
    ]
    assert main(argv) == 0
    assert f"from {how}" in capsys.readouterr().err
    assert list(tmp_path.glob("*.mid"))


def test_sample_music_continues_a_primer(trained_checkpoint, tmp_path, capsys):
    primer = write_midi([Note(0, 1, 67, 90), Note(1, 1, 69, 90)], tmp_path / "primer.mid")
    out = tmp_path / "out"
    argv = [
        "sample",
        "music",
        "--checkpoint",
        str(trained_checkpoint),
        "--primer",
        str(primer),
        "--bars",
        "1",
        "--num",
        "2",
        "--out",
        str(out),
        "--seed",
        "0",
    ]
    assert main(argv) == 0
    assert f"from primer {primer}" in capsys.readouterr().err
    files = list(out.glob("*.mid"))
    assert len(files) == 2
    for path in files:
        notes = pretty_midi.PrettyMIDI(str(path)).instruments[0].notes
        starts = {(n.pitch, round(n.start, 2)) for n in notes}  # 120 BPM: a beat is 0.5 s
        assert (67, 0.0) in starts and (69, 0.5) in starts
        assert min(n.start for n in notes if (n.pitch, round(n.start, 2)) != (67, 0.0)) >= 0.5


def test_sample_music_keeps_the_primers_marks_and_says_so(trained_checkpoint, tmp_path, capsys):
    primer = pretty_midi.PrettyMIDI(initial_tempo=96)
    primer.time_signature_changes = [pretty_midi.TimeSignature(6, 8, 0.0)]
    primer.key_signature_changes = [pretty_midi.KeySignature(16, 0.0)]  # E minor
    tune = pretty_midi.Instrument(0)
    tune.notes = [
        pretty_midi.Note(90, p, i * 0.3125, (i + 1) * 0.3125) for i, p in enumerate([64, 67, 71])
    ]
    primer.instruments.append(tune)
    primer.write(str(tmp_path / "jig.mid"))
    base = ["sample", "music", "--checkpoint", str(trained_checkpoint), "--bars", "1"]
    base += ["--primer", str(tmp_path / "jig.mid"), "--seed", "0"]
    assert main([*base, "--out", str(tmp_path / "kept")]) == 0
    captured = capsys.readouterr()
    assert (
        "kept from the primer: time signature 6/8, key signature E minor, tempo 96 bpm "
        "(set --meter/--key/--bpm to change)" in captured.err
    )
    (path,) = (tmp_path / "kept").glob("*.mid")
    assert f"{path}  (" in captured.out and "6/8, E minor, 96 bpm)" in captured.out
    midi = pretty_midi.PrettyMIDI(str(path))
    assert [k.key_number for k in midi.key_signature_changes] == [16]
    assert [(t.numerator, t.denominator) for t in midi.time_signature_changes] == [(6, 8)]
    assert midi.get_tempo_changes()[1].tolist() == pytest.approx([96.0], rel=1e-4)

    assert main([*base, "--out", str(tmp_path / "set"), "--key", "G", "--bpm", "100"]) == 0
    captured = capsys.readouterr()
    assert "kept from the primer: time signature 6/8 (set --meter to change)" in captured.err
    (path,) = (tmp_path / "set").glob("*.mid")
    midi = pretty_midi.PrettyMIDI(str(path))
    assert [k.key_number for k in midi.key_signature_changes] == [7]  # G major
    assert midi.get_tempo_changes()[1].tolist() == pytest.approx([100.0], rel=1e-4)


def test_evaluate_music_prints_the_nll(trained_checkpoint, midi_folder, capsys):
    assert (
        main(
            [
                "evaluate",
                "music",
                "--checkpoint",
                str(trained_checkpoint),
                "--data",
                str(midi_folder.path),
                "--seq-len",
                "32",
            ]
        )
        == 0
    )
    captured = capsys.readouterr()
    assert "nats/token" in captured.out and "bits/token" in captured.out
    assert f"on {midi_folder.good_files} files" in captured.out
    assert midi_folder.empty in captured.err


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--temperature", "0"], "temperature must be a number in (0, 10], got 0"),
        (["--style", "polka"], "unknown style 'polka'; this model knows: chorale, reel"),
        (["--seed-note", "H9"], "invalid note 'H9'"),
        (["--seed-note", "C10"], "MIDI note numbers run from 0 to 127"),
        (["--num", "0"], "number of variations must be a whole number in [1, 16]"),
        (["--bars", "-2"], "bars must be a number in (0, 256]"),
        (["--top-p", "2"], "top-p must be a number in (0, 1]"),
        (["--null", "--style", "reel"], "--null means no style"),
        (["--primer", "no-such-primer.mid"], "no-such-primer.mid"),
    ],
)
def test_bad_sampling_flags_exit_2_with_a_message(
    trained_checkpoint, tmp_path, capsys, flags, message
):
    argv = [
        "sample",
        "music",
        "--checkpoint",
        str(trained_checkpoint),
        "--out",
        str(tmp_path),
        *flags,
    ]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err
    assert "Traceback" not in err
    assert not list(tmp_path.glob("*.mid"))


def test_a_missing_checkpoint_exits_2(tmp_path, capsys):
    missing = tmp_path / "nope.pt"
    assert main(["sample", "music", "--checkpoint", str(missing), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert f"error: {missing}: no such checkpoint file" in err


def test_a_folder_without_usable_midi_exits_2(tmp_path, capsys):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "bad.mid").write_bytes(b"\x00\x01")
    argv = [
        "train",
        "music",
        "--data",
        str(tmp_path / "data"),
        "--out",
        str(tmp_path / "m.pt"),
        "--cache-dir",
        str(tmp_path / "cache"),
        *TINY,
    ]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "error: no usable MIDI files" in err and "bad.mid" in err
    assert main([*argv[:3], str(tmp_path / "missing"), *argv[4:]]) == 2
    assert "no such folder" in capsys.readouterr().err


def test_argument_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as error:
        main(["sample", "music", "--checkpoint", "x.pt", "--num", "many"])
    assert error.value.code == 2
    assert "invalid int value: 'many'" in capsys.readouterr().err


def test_module_entry_point_reports_errors_without_a_traceback(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    missing = tmp_path / "missing.pt"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "generator",
            "sample",
            "music",
            "--checkpoint",
            str(missing),
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=120,
    )
    assert done.returncode == 2
    assert done.stderr.strip() == f"error: {missing}: no such checkpoint file"
    assert done.stdout == ""


@pytest.mark.parametrize(
    "command", [["sample", "music"], ["sample", "text"], ["sample", "pianoroll"], ["harmonize"]]
)
def test_sampling_commands_default_to_a_shipped_model_that_exists(command):
    from generator.cli import build_parser
    from generator.config import SHIPPED_DIR

    extra = ["--melody", "m.mid", "--out", "o.mid"] if command == ["harmonize"] else []
    args = build_parser().parse_args(command + extra)
    assert args.checkpoint.parent == SHIPPED_DIR and args.checkpoint.is_file()


# -- every failure is one line, found before any work ------------------------------------------
def _crash_case(name: str, tmp: Path, music: Path) -> tuple[list[str], str]:
    """(argv, words the one-line error must hold) for one failure the issue lists."""
    harmonizer = str(REPO / "generator" / "checkpoints" / "harmonizer.pt")
    melody = tmp / "melody.mid"
    if not melody.exists():
        write_midi([Note(i * 1.0, 1.0, 60 + i, 80) for i in range(8)], melody)
    a_file = tmp / "a-file.txt"
    a_file.write_text("x")
    folder = tmp / "a-folder"
    folder.mkdir(exist_ok=True)
    sample = ["sample", "music", "--checkpoint", str(music), "--bars", "1"]
    harmonize = ["harmonize", "--checkpoint", harmonizer, "--melody", str(melody)]
    harmonize_out = [*harmonize, "--out", str(tmp / "h.mid")]
    train = ["train", "music", "--data", str(tmp), "--out", str(tmp / "m.pt"), *TINY]
    train_text = ["train", "text", "--data", str(tmp), "--out", str(tmp / "t.pt")]
    cases = {
        "sample --out an existing file": ([*sample, "--out", str(a_file)], "is a file"),
        "sample --out under a file": (
            [*sample, "--out", str(a_file / "sub")],
            "a-file.txt is a file, not a folder",
        ),
        "harmonize --out a folder": ([*harmonize, "--out", str(folder)], "is a folder"),
        "train --out a folder": ([*train[:4], "--out", str(folder), *TINY], "is a folder"),
        "--device tpu": ([*sample, "--out", str(tmp), "--device", "tpu"], "device 'tpu'"),
        "--device cuda:7": (
            [*sample, "--out", str(tmp), "--device", "cuda:7"],
            "device 'cuda:7'",
        ),
        "train text --encoding rot13": (
            [*train_text, "--encoding", "rot13"],
            "not a text encoding",
        ),
        "train --log-every 0": ([*train, "--log-every", "0"], "--log-every must be"),
        "--resume without training state": (
            ["train", "music", "--data", str(tmp), "--out", str(tmp / "best.pt"), "--resume"],
            "holds no training state",
        ),
        "harmonize --beam 1000000": ([*harmonize_out, "--beam", "1000000"], "beam width"),
        "harmonize --beam 5000": ([*harmonize_out, "--beam", "5000"], "beam width"),
        "--threads 1000000": ([*harmonize_out, "--threads", "1000000"], "--threads must be"),
        "train --threads -1": ([*train, "--threads", "-1"], "--threads must be"),
        "harmonize --bpm -5": ([*harmonize_out, "--bpm", "-5"], "tempo (BPM) must be"),
        "harmonize --bpm nan": ([*harmonize_out, "--bpm", "nan"], "must be a finite number"),
        "harmonize --bpm 1e9": ([*harmonize_out, "--bpm", "1e9"], "tempo (BPM) must be"),
        "--length-penalty nan": (
            [*harmonize_out, "--length-penalty", "nan"],
            "length penalty must be a finite number",
        ),
        "--eval-batches -1": ([*train, "--eval-batches", "-1"], "--eval-batches must be"),
        "--clip-norm nan": ([*train, "--clip-norm", "nan"], "--clip-norm must be a finite"),
        "--clip-norm -1": ([*train, "--clip-norm", "-1"], "--clip-norm must be"),
        "--warmup-steps -5": ([*train, "--warmup-steps", "-5"], "--warmup-steps must be"),
        "--max-minutes nan": ([*train, "--max-minutes", "nan"], "--max-minutes must be"),
        "--patience -1": ([*train, "--patience", "-1"], "--patience must be"),
        "--max-bad-steps 0": ([*train, "--max-bad-steps", "0"], "--max-bad-steps must be"),
        "sample --primer /dev/zero": (
            [*sample, "--out", str(tmp), "--primer", "/dev/zero"],
            "/dev/zero: too large",
        ),
        "harmonize --melody /dev/zero": (
            [
                "harmonize",
                "--checkpoint",
                harmonizer,
                "--melody",
                "/dev/zero",
                "--out",
                str(tmp / "h.mid"),
            ],
            "/dev/zero: too large",
        ),  # fmt: skip
    }
    return cases[name]


CRASH_CASES = [
    "sample --out an existing file",
    "sample --out under a file",
    "harmonize --out a folder",
    "train --out a folder",
    "--device tpu",
    "--device cuda:7",
    "train text --encoding rot13",
    "train --log-every 0",
    "--resume without training state",
    "harmonize --beam 1000000",
    "harmonize --beam 5000",
    "--threads 1000000",
    "harmonize --bpm -5",
    "harmonize --bpm nan",
    "harmonize --bpm 1e9",
    "--length-penalty nan",
    "--eval-batches -1",
    "--clip-norm nan",
    "--clip-norm -1",
    "--warmup-steps -5",
    "--max-minutes nan",
    "--patience -1",
    "--max-bad-steps 0",
    "sample --primer /dev/zero",
    "harmonize --melody /dev/zero",
]


@pytest.mark.parametrize("case", CRASH_CASES)
def test_each_listed_failure_is_a_one_line_error_before_any_work(
    case, trained_checkpoint, midi_folder, tmp_path, capsys
):
    import time

    from generator.checkpoint import save_checkpoint
    from tests.test_checkpoint import make

    model, tokenizer = make()
    save_checkpoint(tmp_path / "best.last.pt", model, tokenizer)  # no training state
    argv, words = _crash_case(case, tmp_path, trained_checkpoint)
    started = time.perf_counter()
    assert main(argv) == 2
    seconds = time.perf_counter() - started
    err = capsys.readouterr().err
    assert err.startswith("error: ") and words in err, err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert seconds < 10  # refused before reading data or training
    assert not list(tmp_path.glob("*.pt.*")) and not (tmp_path / "m.pt").exists()


@pytest.mark.parametrize("recipe", ["music", "text", "pianoroll", "seq2seq"])
def test_every_train_recipe_takes_threads_and_applies_it(recipe):
    import torch

    from generator.cli import build_parser
    from generator.cli.common import set_threads

    command = ["train", recipe, "--data", "d", "--out", "x.pt", "--threads", "1"]
    args = build_parser().parse_args(command)
    assert args.threads == 1
    before = torch.get_num_threads()
    try:
        set_threads(args)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_harmonize_bounds_best_of_n_and_the_melody_length(tmp_path, capsys):
    melody = write_midi([Note(0.0, 1.0, 67, 80), Note(1.0, 1.0, 69, 80)], tmp_path / "a.mid")
    out = str(tmp_path / "out.mid")
    assert main(["harmonize", "--melody", str(melody), "--out", out, "--candidates", "65"]) == 2
    assert "candidates (best of N) must be a whole number in [1, 64]" in capsys.readouterr().err
    long = write_midi([Note(2.0 * i, 2.0, 67, 80) for i in range(2100)], tmp_path / "long.mid")
    assert main(["harmonize", "--melody", str(long), "--out", out]) == 2
    assert "the melody is too long: 4,200 beats (at most 4,096)" in capsys.readouterr().err
    assert not (tmp_path / "out.mid").exists()


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [("--meter", "7/9", "invalid meter '7/9'"), ("--key", "H", "invalid key 'H'")],
)
def test_harmonize_checks_score_marks_before_writing_anything(
    flag, value, message, tmp_path, capsys
):
    melody = write_midi([Note(0.0, 1.0, 67, 80), Note(1.0, 1.0, 69, 80)], tmp_path / "a.mid")
    out = tmp_path / "out.mid"
    command = ["harmonize", "--melody", str(melody), "--out", str(out), flag, value]
    with pytest.raises(SystemExit) as stop:
        main([*command, "--format", "mid,musicxml"])
    assert stop.value.code == 2 and message in capsys.readouterr().err
    assert not out.exists()


def test_harmonize_refuses_to_overwrite_its_melody_and_melodies_out_of_reach(tmp_path, capsys):
    melody = write_midi([Note(0.0, 1.0, 67, 80), Note(1.0, 1.0, 69, 80)], tmp_path / "a.mid")
    before = melody.read_bytes()
    assert main(["harmonize", "--melody", str(melody), "--out", str(melody)]) == 2
    assert "is the melody file" in capsys.readouterr().err and melody.read_bytes() == before
    out = str(tmp_path / "out.mid")
    low = write_midi([Note(float(i), 1.0, i, 80) for i in range(12)], tmp_path / "low.mid")
    assert main(["harmonize", "--melody", str(low), "--out", out]) == 2
    error = capsys.readouterr().err
    assert "the melody (MIDI 0-11) lies below" in error and "move it up 5 octaves" in error
    high = write_midi([Note(float(i), 1.0, 115 + i, 80) for i in range(12)], tmp_path / "hi.mid")
    assert main(["harmonize", "--melody", str(high), "--out", out]) == 2
    assert "lies far above the voices added under it" in capsys.readouterr().err
    assert not (tmp_path / "out.mid").exists()


def _parsers(parser):
    """``parser`` and every subcommand's parser below it."""
    import argparse

    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in dict.fromkeys(action.choices.values()):
                yield from _parsers(sub)


def test_every_flag_help_gives_its_default_once():
    """A help that states its default itself ("(default: $RNN_GENERATOR_APP_DIR, else ...")
    gets no "(default: None)" after it."""
    from generator.cli import build_parser

    flags = 0
    for parser in _parsers(build_parser()):
        formatter = parser._get_formatter()
        for action in parser._actions:
            if action.help and action.option_strings:
                text = formatter._expand_help(action)
                assert text.count("(default") <= 1, f"{parser.prog} {action.option_strings}: {text}"
                flags += 1
    assert flags > 100
