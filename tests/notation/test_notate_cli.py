"""``notate`` and ``--format`` end to end through the CLI's main()."""

from __future__ import annotations

import pytest

from generator.cli import main
from generator.midi import Note, write_midi
from generator.midi.parts import write_parts
from generator.notation import read_musicxml

TUNE = [Note(i * 0.5, 0.5, p, 80) for i, p in enumerate([62, 66, 69, 74, 73, 71, 69, 66])]


def test_notate_writes_musicxml_and_svg(tmp_path, capsys):
    midi = write_midi(TUNE, tmp_path / "tune.mid")
    assert main(["notate", str(midi)]) == 0
    default = tmp_path / "tune.musicxml"
    assert [n.pitch for n in read_musicxml(default)[next(iter(read_musicxml(default)))]] == [
        n.pitch for n in TUNE
    ]
    assert main(["notate", str(midi), "--out", str(tmp_path / "t.svg"), "--key", "D"]) == 0
    assert (tmp_path / "t.svg").read_text().count('class="notehead"') == len(TUNE)
    err = capsys.readouterr().err
    assert "in D major, 1 staff" in err


def test_notate_a_choir_file_and_compressed_output(tmp_path):
    parts = {"Soprano": TUNE, "Bass": [Note(0, 4, 50, 80)]}
    midi = write_parts(parts, tmp_path / "two.mid")
    assert main(["notate", str(midi), "--out", str(tmp_path / "two.mxl"), "--meter", "2/4"]) == 0
    back = read_musicxml(tmp_path / "two.mxl")
    assert list(back) == ["Soprano", "Bass"]
    assert [(n.start, n.duration) for n in back["Bass"]] == [(0, 4)]  # tied over two 2/4 bars


@pytest.mark.parametrize(
    ("make", "out", "message"),
    [
        (lambda p: p.write_bytes(b"MThd\x00\x00"), "x.musicxml", "not a readable MIDI file"),
        (lambda p: write_midi([], p), "x.musicxml", "no notes to notate"),
        (lambda p: write_midi(TUNE, p), "x.pdf", "must end in .musicxml, .mxl or .svg"),
        (lambda p: None, "x.musicxml", "cannot read file"),
    ],
)
def test_notate_refuses_bad_input_with_one_clear_line(tmp_path, capsys, make, out, message):
    midi = tmp_path / "in.mid"
    make(midi)
    assert main(["notate", str(midi), "--out", str(tmp_path / out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and message in err and len(err.splitlines()) == 1
    assert not (tmp_path / out).exists()


def test_sample_music_writes_musicxml_next_to_each_midi(tmp_path, capsys):
    out = tmp_path / "out"
    flags = ["--bars", "2", "--num", "2", "--seed", "1", "--out", str(out)]
    assert main(["sample", "music", *flags, "--format", "mid,musicxml,svg"]) == 0
    mids = sorted(out.glob("*.mid"))
    assert len(mids) == 2
    for mid in mids:
        assert mid.with_suffix(".musicxml").is_file() and mid.with_suffix(".svg").is_file()
    printed = capsys.readouterr().out
    assert printed.count(".musicxml") == 2 and printed.count(".svg") == 2


def test_sample_pianoroll_and_harmonize_write_scores(tmp_path):
    out = tmp_path / "out"
    flags = ["--frames", "8", "--seed", "1", "--out", str(out), "--format", "musicxml"]
    assert main(["sample", "pianoroll", *flags]) == 0
    assert len(list(out.glob("*.musicxml"))) == 1
    melody = write_parts({"Soprano": TUNE}, tmp_path / "melody.mid")
    harmony = tmp_path / "harmony.mid"
    args = ["harmonize", "--melody", str(melody), "--out", str(harmony), "--seed", "1"]
    assert main([*args, "--format", "mid,musicxml"]) == 0
    staves = read_musicxml(harmony.with_suffix(".musicxml"))
    assert list(staves) == ["Soprano", "Alto", "Tenor", "Bass"]
    assert [n.pitch for n in staves["Soprano"]] == [n.pitch for n in TUNE]
    tune = write_parts({"my tune": TUNE}, tmp_path / "tune.mid")  # any track name
    args = ["harmonize", "--melody", str(tune), "--out", str(harmony), "--seed", "1"]
    assert main([*args, "--format", "musicxml"]) == 0
    assert list(read_musicxml(harmony.with_suffix(".musicxml"))) == [
        "Melody",
        "Alto",
        "Tenor",
        "Bass",
    ]


def test_unknown_format_is_refused(capsys):
    with pytest.raises(SystemExit):
        main(["sample", "music", "--format", "mid,pdf"])
    assert "unknown format pdf" in capsys.readouterr().err
