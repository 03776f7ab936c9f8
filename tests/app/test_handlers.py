"""The app's handlers as plain functions: models, compose, uploads, training, bad input.

(Piano-roll models in Compose: test_pianoroll.py; the Harmonize tab: test_harmonize.py.)"""

from __future__ import annotations

import re
import threading
import wave
import zipfile
from pathlib import Path

import pytest

import generator.app as h
from generator.app import uploads
from generator.checkpoint import load_checkpoint, save_checkpoint
from generator.midi import Note, read_notes, write_midi


def compose(settings, **overrides) -> h.ComposeResult:
    """The compose handler with the page's defaults, a fixed seed and short pieces."""
    key = h.model_choices(settings)[1]
    values = dict(model_key=key, bars=2, variations=2, seed="7")
    return h.compose(settings, **{**values, **overrides})


# -- models ------------------------------------------------------------------------------------
def test_models_listed_with_added_first_and_trained_ones(settings, music_checkpoint, tmp_path):
    trained = settings.models_dir / "mine.pt"
    trained.parent.mkdir(parents=True)
    trained.write_bytes(music_checkpoint.read_bytes())
    (settings.models_dir / "mine.last.pt").write_bytes(music_checkpoint.read_bytes())
    (settings.models_dir / "broken.pt").write_bytes(b"not a checkpoint")

    choices, default = h.model_choices(settings)
    assert choices == [("music (added)", "added:music"), ("mine (trained here)", "trained:mine")]
    assert default == "added:music"
    assert h.resolve_model(settings, "trained:mine") == trained.resolve()
    assert [e.key for e in h.list_models(settings, h.WRITE)] == ["added:text"]


def test_unknown_or_missing_model_is_a_clear_error(settings, tmp_path):
    with pytest.raises(h.AppError, match="not available"):
        h.resolve_model(settings, "../../etc/passwd")
    empty = h.AppSettings(app_dir=tmp_path / "empty", checkpoint_dirs=())
    assert h.model_choices(empty) == ([], "")
    with pytest.raises(h.AppError, match="No music model yet"):
        h.compose(empty, model_key="")


def test_styles_come_from_the_model(settings, music_checkpoint, tmp_path):
    styles, default, text = h.model_styles(settings, "added:music")
    assert styles == [h.NO_STYLE, "chorale", "reel"]
    assert default == h.NO_STYLE  # this checkpoint does not say what its corpus held
    assert "GRU 1×32" in text

    loaded = load_checkpoint(music_checkpoint)
    info = {"corpus": {"styles": {"chorale": 2, "reel": 5}, "files_read": 7}, "steps": 40}
    save_checkpoint(tmp_path / "reels.pt", loaded.model, loaded.tokenizer, info=info)
    with_info = h.AppSettings(settings.app_dir, (), (tmp_path / "reels.pt",))
    styles, default, text = h.model_styles(with_info, "added:reels")
    assert default == "reel"  # the most common style of its corpus
    assert "trained on 7 files · 40 steps" in text


# -- compose -----------------------------------------------------------------------------------
def test_compose_writes_audio_picture_and_midi_inside_the_app_folder(settings):
    result = compose(settings)
    assert len(result.variations) == 2
    assert "seed 7" in result.status
    for variation in result.variations:
        for path in (variation.audio, variation.picture, variation.midi):
            assert path.is_file()
            assert settings.outputs_dir in path.parents
        assert variation.midi.suffix == ".mid" and read_notes(variation.midi)
        assert variation.picture.read_bytes().startswith(b"\x89PNG")
        with wave.open(str(variation.audio)) as audio:
            assert audio.getnframes() > audio.getframerate()  # two bars at 120 BPM: > 1 s


def test_same_seed_same_pieces_and_empty_seed_draws_one(settings):
    first = compose(settings, seed="123")
    again = compose(settings, seed="123")
    assert [v.midi.read_bytes() for v in first.variations] == [
        v.midi.read_bytes() for v in again.variations
    ]
    drawn = compose(settings, seed="  ")
    shown = re.search(r"seed (\d+)", drawn.status)  # a drawn seed (1234567 contains 123)
    assert shown and int(shown.group(1)) != 123


def test_compose_start_modes(settings, tmp_path):
    seeded = compose(settings, start=h.START_SEED_NOTE, seed_note="F#4", style="reel")
    for variation in seeded.variations:
        notes = read_notes(variation.midi)
        assert 66 in {n.pitch for n in notes if n.start == notes[0].start}  # the first onset
    assert "style reel and note F#4" in seeded.status

    null = compose(settings, start=h.START_NULL, style="reel", seed_note="F#4")
    assert "null input" in null.status

    primer = write_midi([Note(0.0, 1.0, 60, 80), Note(1.0, 1.0, 64, 80)], tmp_path / "p.mid")
    continued = compose(settings, start=h.START_PRIMER, primer=str(primer))
    for variation in continued.variations:
        notes = {(n.start, n.pitch) for n in read_notes(variation.midi)}
        assert {(0.0, 60), (1.0, 64)} <= notes  # the primer, then what the model added
        assert len(notes) > 2
        join = re.search(r"new music from ([\d.]+) s \(beat ([\d.]+)\)", variation.title)
        assert join and float(join[2]) >= 1.0  # after the primer's last onset, at 120 BPM:
        assert float(join[1]) == pytest.approx(float(join[2]) / 2, abs=0.05)
    assert "each picture tells the primer and the new music apart" in continued.status


def test_a_typed_note_is_echoed_as_typed_and_files_spell_sharps(settings):
    flat = compose(settings, start=h.START_SEED_NOTE, seed_note="Bb4", variations=1)
    assert "note Bb4" in flat.status and "A#4" not in flat.status
    sharp = compose(settings, start=h.START_SEED_NOTE, seed_note="F#4", variations=1)
    assert "note F#4" in sharp.status
    assert "-Fsharp4-seed7" in sharp.variations[0].midi.name


def test_model_description_counts_files_in_good_english(settings):
    class Loaded:
        family = "rnn"
        tokenizer = None
        info = {"corpus": {"files_read": 1}, "steps": 3}

        class model:  # noqa: N801 (a stand-in for the model's config)
            config = type("Config", (), {"cell": "gru", "num_layers": 1, "hidden_size": 8})

    assert "trained on 1 file ·" in h.describe_model(Loaded)
    Loaded.info = {"corpus": {"files_read": 3}}
    assert h.describe_model(Loaded).endswith("trained on 3 files")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (dict(temperature=0), "temperature"),
        (dict(temperature=float("nan")), "temperature"),
        (dict(top_p=1.5), "top-p"),
        (dict(top_k=-1), "top-k"),
        (dict(bars=10_000), "bars"),
        (dict(bars=0), "bars"),
        (dict(variations=99), "number of variations"),
        (dict(bpm=1), "tempo"),
        (dict(program=128), "program"),
        (dict(seed="abc"), "random seed"),
        (dict(seed="-5"), "random seed"),
        (dict(seed_note="H9"), "invalid note"),
        (dict(style="polka"), "knows no style"),
        (dict(start="sideways"), "Start must be"),
        (dict(start=h.START_PRIMER), "no primer is uploaded"),
        (dict(model_key="shipped:nothing"), "not available"),
    ],
)
def test_bad_compose_input_is_a_clear_error(settings, overrides, message):
    with pytest.raises(h.AppError, match=message):
        compose(settings, **overrides)


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("broken.mid", b"MThd\x00\x00\x00\x06 this is not really MIDI", "not a readable MIDI"),
        ("empty.mid", b"", "empty file"),
        ("notes.txt", b"hello", "must be a MIDI file"),
        ("huge.mid", b"MThd" + b"\x00" * 1_100_000, "too large"),
    ],
    ids=["corrupt", "empty", "not-midi", "too-large"],
)
def test_bad_primer_is_refused_and_dropped_on_upload(settings, tmp_path, name, data, message):
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(h.AppError, match=message):
        compose(settings, start=h.START_PRIMER, primer=str(path))
    kept, start, notice = h.primer_uploaded(str(path))
    assert (kept, start, notice.level) == (None, None, "warning")
    assert re.search(message, notice.text) and notice.text.endswith("upload another file.")


def test_good_primer_upload_switches_to_primer_start(settings, tmp_path):
    primer = write_midi([Note(0.0, 1.0, 60, 80)], tmp_path / "p.mid")
    assert h.primer_uploaded(str(primer)) == (
        str(primer),
        h.START_PRIMER,
        h.Notice("info", "Primer read: 1 notes. The model continues it."),
    )


# -- uploads -----------------------------------------------------------------------------------
def test_safe_name_keeps_paths_out():
    assert h.safe_name("../../etc/passwd") == "etc-passwd"
    assert h.safe_name("/") == "file"
    assert h.safe_name("my tune (final).mid") == "my-tune-final-mid"
    assert len(h.safe_name("x" * 500)) == 40


def _zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def test_zip_folders_become_styles_and_names_never_become_paths(tmp_path):
    tune = write_midi([Note(0.0, 1.0, 60, 80)], tmp_path / "tune.mid").read_bytes()
    upload = _zip(
        tmp_path / "songs.zip",
        {
            "collection/reel/a.mid": tune,
            "collection/jig/b.midi": tune,
            "collection/../../../escape.mid": tune,
            "collection/notes.txt": b"hello",
            "collection/.hidden.mid": tune,
            "__MACOSX/collection/._a.mid": tune,
        },
    )
    loose = tmp_path / "loose one.mid"
    loose.write_bytes(tune)
    not_zip = tmp_path / "fake.zip"
    not_zip.write_bytes(b"not a zip")
    folder = tmp_path / "staged"

    staged = h.stage_uploads([str(upload), str(loose), str(not_zip)], folder, style="my style")

    written = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    assert staged.files == 3 and staged.file_format == "midi"
    assert all(not name.startswith("..") for name in written)
    assert not (tmp_path / "escape.mid").exists()
    assert {Path(name).parent.as_posix() for name in written} == {"reel", "jig", "my-style"}
    reasons = dict(staged.notes)
    assert reasons["songs.zip/collection/../../../escape.mid"] == "skipped: unsafe path"
    assert reasons["songs.zip/collection/notes.txt"] == "skipped: not a MIDI file"
    assert reasons["fake.zip"].startswith("skipped: not a readable zip file")


def test_upload_caps(tmp_path, monkeypatch):
    monkeypatch.setattr(uploads, "MAX_UPLOAD_FILES", 2)
    tune = write_midi([Note(0.0, 1.0, 60, 80)], tmp_path / "tune.mid")
    files = [str(tune)] * 3 + [str(tmp_path / "gone.mid")]
    staged = h.stage_uploads(files, tmp_path / "staged")
    assert staged.files == 2
    assert [reason for _, reason in staged.notes] == [
        "skipped: more than 2 files in one upload",
        "skipped: the upload could not be read",
    ]


# -- training ----------------------------------------------------------------------------------
def _midi_uploads(tmp_path: Path) -> list[str]:
    """Four short tunes, a corrupt file and an empty one, as a browser would upload them."""
    folder = tmp_path / "upload"
    for i in range(4):
        notes = [Note(j * 0.5, 0.5, 60 + (j * (i + 2)) % 12, 80) for j in range(32)]
        write_midi(notes, folder / f"tune {i}.mid")
    (folder / "broken.mid").write_bytes(b"MThd\x00\x00\x00\x06 this is not really MIDI")
    (folder / "empty.midi").write_bytes(b"")
    return [str(p) for p in sorted(folder.iterdir())]


def test_training_refuses_bad_requests(settings, tmp_path):
    jobs = h.TrainingJobs()
    with pytest.raises(h.AppError, match="Upload MIDI files .* or text files"):
        next(h.start_training(settings, jobs, []))
    text = tmp_path / "a.txt"
    text.write_text("hello")
    pdf = tmp_path / "score.pdf"
    pdf.write_bytes(b"%PDF-1.4")
    with pytest.raises(h.AppError, match="None of the uploads is a MIDI file .*, a text file"):
        next(h.start_training(settings, jobs, [str(pdf)]))
    with pytest.raises(h.AppError, match="None of the uploads is a MIDI file"):
        next(h.start_training(settings, jobs, [str(text)], recipe="Music (MIDI)"))
    with pytest.raises(h.AppError, match="None of the uploads is a text file"):
        next(h.start_training(settings, jobs, [str(pdf)], recipe="Text"))
    with pytest.raises(h.AppError, match="training steps"):
        next(h.start_training(settings, jobs, [str(text)], steps=10**9))
    with pytest.raises(h.AppError, match="model size"):
        next(h.start_training(settings, jobs, [str(text)], preset="Huge"))
    with pytest.raises(h.AppError, match="what to train"):
        next(h.start_training(settings, jobs, [str(text)], recipe="Poetry"))
    with pytest.raises(h.AppError, match="tokenizer"):
        next(h.start_training(settings, jobs, [str(text)], tokenizer="Words"))
    with pytest.raises(h.AppError, match="subword vocabulary"):
        next(h.start_training(settings, jobs, [str(text)], vocab_size=10))
    assert not list(settings.training_dir.glob("*/data"))  # nothing left staged


def test_training_runs_in_the_background_stops_and_saves_a_listed_model(settings, tmp_path):
    jobs = h.TrainingJobs()
    run = h.start_training(
        settings, jobs, _midi_uploads(tmp_path), steps=5000, name="../my tunes", poll_seconds=0.2
    )
    first = next(run)
    assert first.running and jobs.get(first.job_id) is not None
    updates = [first]
    for progress in run:
        updates.append(progress)
        if progress.running and progress.status.startswith("Training…"):
            assert "tokens/s" in progress.status and "ETA" in progress.status
            assert "s per step" in progress.status  # what the trainer measured before step 1
            h.stop_training(jobs, progress.job_id)
    last = updates[-1]

    assert not last.running and last.new_model_key == "trained:my-tunes"
    assert "stopped on request" in last.status
    assert last.curve and {"step", "loss", "split"} <= set(last.curve[0])
    assert "    broken.mid: not a readable MIDI file" in last.report  # staged under its name
    assert "    empty.mid: empty file" in last.report
    assert "6 MIDI files found, 4 read, 2 skipped" in last.report
    choices, _ = h.model_choices(settings)
    assert ("my-tunes (trained here)", "trained:my-tunes") in choices
    assert h.compose(settings, model_key="trained:my-tunes", bars=1, variations=1).variations
    assert jobs.get(first.job_id) is None
    assert h.stop_training(jobs, first.job_id) == "No training is running."


def test_training_on_only_unreadable_files_reports_why(settings, tmp_path):
    broken = tmp_path / "broken.mid"
    broken.write_bytes(b"MThd garbage")
    run = h.start_training(settings, h.TrainingJobs(), [str(broken)], poll_seconds=0.2)
    updates = []
    with pytest.raises(h.AppError, match="no usable MIDI files"):
        for progress in run:
            updates.append(progress)
    assert "broken.mid: not a readable MIDI file" in updates[-1].report
    assert not updates[-1].running
    assert h.model_choices(settings)[0] == [("music (added)", "added:music")]


# -- write -------------------------------------------------------------------------------------
def test_write_streams_the_continuation(settings):
    updates = list(
        h.write_text(settings, "added:text", "the cat ", length=60, temperature=0.5, seed="4")
    )
    texts = [text for text, _ in updates]
    assert all(text.startswith("the cat ") for text in texts)
    assert len(texts[-1]) == len("the cat ") + 60
    assert all(len(a) <= len(b) for a, b in zip(texts, texts[1:], strict=False))  # grows
    assert "seed 4" in updates[-1][1]
    assert "at the mat" in texts[-1] or "on the" in texts[-1]  # it learned the phrase
    again = list(h.write_text(settings, "added:text", "the cat ", 60, 0.5, seed="4"))
    assert again[-1][0] == texts[-1]


def test_write_refuses_bad_input(settings):
    with pytest.raises(h.AppError, match="length"):
        next(h.write_text(settings, "added:text", "x", length=10**9))
    with pytest.raises(h.AppError, match="temperature"):
        next(h.write_text(settings, "added:text", "x", temperature=-1))
    with pytest.raises(h.AppError, match="not available"):
        next(h.write_text(settings, "added:music", "x"))  # a music model is no text model
    with pytest.raises(h.AppError, match="prime is too long"):
        next(h.write_text(settings, "added:text", "x" * 100_000))
    with pytest.raises(h.AppError, match="No text model yet: train one in the Train tab"):
        next(h.write_text(h.AppSettings(settings.app_dir, ()), ""))


def test_closing_the_stream_stops_the_sampler(settings):
    stream = h.write_text(settings, "added:text", "", length=5_000, seed="1")
    text, status = next(stream)
    assert status == "Writing…" and len(text) < 5_000
    (worker,) = [t for t in threading.enumerate() if t.name == "write-text"]
    stream.close()  # what Gradio does when the page goes away
    worker.join(timeout=10)
    assert not worker.is_alive()  # it stopped long before 5,000 characters


# -- training on text --------------------------------------------------------------------------
def _text_uploads(tmp_path: Path) -> list[str]:
    """Two text files, an empty one and one that is not UTF-8, as a browser would upload them."""
    folder = tmp_path / "text-upload"
    folder.mkdir()
    (folder / "cats.txt").write_text("the cat sat on the mat. " * 60, encoding="utf-8")
    (folder / "notes.md").write_text("# Notes\nthe dog sat on the log.\n" * 40, encoding="utf-8")
    (folder / "empty.txt").write_bytes(b"")
    (folder / "latin.txt").write_bytes("café au lait\n".encode("latin-1"))
    return [str(p) for p in sorted(folder.iterdir())]


def test_upload_format_comes_from_the_files_and_zips(tmp_path):
    tune = write_midi([Note(0.0, 1.0, 60, 80)], tmp_path / "tune.mid")
    text = tmp_path / "story.txt"
    text.write_text("once upon a time")
    texts = _zip(tmp_path / "texts.zip", {"book/a.txt": b"a", "book/b.md": b"b", "x.pdf": b""})
    both = _zip(tmp_path / "both.zip", {"a.mid": tune.read_bytes(), "b.txt": b"b"})
    litter = _zip(tmp_path / "litter.zip", {"a.mid": tune.read_bytes(), ".hidden.txt": b"h"})

    assert h.upload_format([str(tune), str(litter)])[0] == "midi"
    assert h.upload_format([str(text), str(texts)]) == (
        "text",
        {"midi": [], "text": ["story.txt", "texts.zip"]},
    )
    assert h.upload_format([str(tune), str(text)]) == (
        None,
        {"midi": ["tune.mid"], "text": ["story.txt"]},
    )
    assert h.upload_format([str(both)]) == (None, {"midi": ["both.zip"], "text": ["both.zip"]})
    assert h.upload_format([str(tmp_path / "score.pdf")]) == (None, {"midi": [], "text": []})


def test_mixed_upload_is_refused_naming_the_files_unless_a_kind_is_picked(settings, tmp_path):
    tune = write_midi([Note(0.0, 1.0, 60, 80)], tmp_path / "tune.mid")
    text = tmp_path / "story.txt"
    text.write_text("once upon a time")
    files = [str(tune), str(text)]
    with pytest.raises(h.AppError, match=r"mix music and text. MIDI: tune.mid; text: story.txt"):
        next(h.start_training(settings, h.TrainingJobs(), files))
    assert h.training_recipe(files, "Music (MIDI)") == "music"
    assert h.training_recipe(files, "Text") == "text"

    kind, line, notice = h.describe_upload(files)
    assert kind is None and "tune.mid" in line and "story.txt" in line
    assert notice.level == "warning" and "mix music and text" in notice.text
    kind, line, notice = h.describe_upload(files, "Text")
    assert kind == "text" and "trains a **text** model" in line
    assert "Skipped as not text: tune.mid" in line and notice is None
    assert h.describe_upload([str(tune)]) == (
        "music",
        "1 MIDI upload: trains a **music** model (it appears in the Compose tab).",
        None,
    )
    assert h.describe_upload([str(text)], "Music (MIDI)")[0] is None
    assert h.describe_upload(None) == (None, "", None)


def test_text_uploads_are_staged_flat_and_other_files_skipped(tmp_path):
    tune = write_midi([Note(0.0, 1.0, 60, 80)], tmp_path / "tune.mid")
    texts = _zip(
        tmp_path / "texts.zip",
        {"book/one/a.txt": b"a", "book/two/b.md": b"b", "book/../../up.txt": b"u", "c.mid": b""},
    )
    loose = tmp_path / "my story.txt"
    loose.write_text("once")
    folder = tmp_path / "staged"
    staged = h.stage_uploads(
        [str(texts), str(loose), str(tune)], folder, "ignored", file_format="text"
    )
    written = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    assert written == ["0000-a.txt", "0001-b.md", "0002-my-story.txt"]
    assert staged.files == 3 and staged.summary().startswith("uploads: 3 text files staged")
    reasons = dict(staged.notes)
    assert reasons["texts.zip/book/../../up.txt"] == "skipped: unsafe path"
    assert reasons["texts.zip/c.mid"] == "skipped: not a text file"
    assert reasons["tune.mid"] == "skipped: not a text file (.txt, .md) or a .zip"


def test_text_training_reports_skipped_files_and_lists_the_model_in_write(settings, tmp_path):
    jobs = h.TrainingJobs()
    updates = list(
        h.start_training(
            settings, jobs, _text_uploads(tmp_path), steps=30, name="cats", poll_seconds=0.2
        )
    )
    assert all(u.tab == h.WRITE for u in updates)
    running = [u for u in updates if u.running and u.status.startswith("Training…")]
    assert running and all("tokens/s" in u.status and "ETA" in u.status for u in running)
    last = updates[-1]
    assert not last.running and last.new_model_key == "trained:cats"
    assert "It is selected in the Write tab" in last.status
    assert "uploads: 4 text files staged" in last.report
    assert "4 text files found, 2 read, 2 skipped" in last.report
    assert "-empty.txt: empty file" in last.report
    assert "-latin.txt: not valid utf-8 at byte 3" in last.report
    assert "(characters)" in last.report and str(settings.app_dir) not in last.report
    assert {point["split"] for point in last.curve} == {"train", "valid"}

    assert ("cats (trained here)", "trained:cats") in h.model_choices(settings, h.WRITE)[0]
    assert "trained:cats" not in [key for _, key in h.model_choices(settings)[0]]  # not music
    text, status = list(h.write_text(settings, "trained:cats", "the ", length=40, seed="1"))[-1]
    assert text.startswith("the ") and len(text) == 44 and "seed 1" in status


def test_sentencepiece_text_training(settings, tmp_path):
    run = h.start_training(
        settings, h.TrainingJobs(), _text_uploads(tmp_path)[:2], steps=20, recipe="Text",
        tokenizer="SentencePiece subwords", vocab_size=500, poll_seconds=0.2,
    )  # fmt: skip
    last = list(run)[-1]
    assert last.new_model_key == "trained:my-text"
    assert "(sentencepiece)" in last.report
    text, _ = list(h.write_text(settings, "trained:my-text", "the ", length=30, seed="2"))[-1]
    assert text.startswith("the ") and len(text) >= 34


def test_text_training_on_only_unusable_files_says_why(settings, tmp_path):
    files = _text_uploads(tmp_path)[1:3]  # empty.txt, latin.txt
    updates = []
    with pytest.raises(h.AppError, match="no text to use") as error:
        for progress in h.start_training(settings, h.TrainingJobs(), files, poll_seconds=0.2):
            updates.append(progress)
    message = error.value.message
    assert "empty.txt: empty file" in message and "latin.txt: not valid utf-8" in message
    assert str(settings.app_dir) not in message and "your uploads" in message
    assert not updates[-1].running
    assert h.model_choices(settings, h.WRITE)[0] == [("text (added)", "added:text")]


def test_each_variation_comes_with_its_score_and_musicxml(settings):
    from generator.notation import read_musicxml

    result = compose(settings, variations=2)
    for variation in result.variations:
        svg = _score_svg(variation.score)
        assert 'class="staff"' in svg and 'class="note"' in svg
        assert variation.musicxml is not None and variation.musicxml.suffix == ".musicxml"
        assert variation.musicxml.parent == variation.midi.parent  # served like the MIDI file
        assert read_musicxml(variation.musicxml)  # music21 reads the notes back


def _score_svg(html: str) -> str:
    """The SVG inside the page's score (an <img> with a data URL)."""
    import base64

    assert html.startswith('<div class="score-page"><img')
    return base64.b64decode(html.split("base64,", 1)[1].split('"', 1)[0]).decode("utf-8")
