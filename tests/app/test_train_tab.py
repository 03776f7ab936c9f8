"""The Train tab follows the CLI's rules: the trainer's measured step time and projection are
shown, the ETA and the progress follow the app's time limit when it ends the run first, model
sizes are generator.config's MODEL_SIZES, and styles, files to leave out and versions go
through the music recipe's options (styles, exclude, group_by)."""

from __future__ import annotations

import os
import re
import stat
import zipfile
from pathlib import Path

import pytest

import generator.app as h
from generator.app import training
from generator.app.settings import browser_secret
from generator.atomic import temporaries
from generator.config import MODEL_SIZE_SPEEDS, MODEL_SIZES, PianoRollConfig, TrainConfig
from generator.families import get_recipe
from generator.midi import write_midi
from generator.training.background import TrainingJob, TrainingSpec
from tests.data.test_midi_collection import collection, tune

# -- progress that tells the truth ---------------------------------------------------------


def _job(tmp_path: Path, max_steps: int, max_minutes: float) -> TrainingJob:
    """A job that is never started; events are fed to it as the worker would send them."""
    train = TrainConfig(max_steps=max_steps, max_minutes=max_minutes, device="cpu")
    return TrainingJob(
        TrainingSpec(data=tmp_path / "data", out=tmp_path / "m.pt", model={}, train=train)
    )


def _steps(job: TrainingJob, steps: int, steps_per_second: float, tokens_per_step: int = 2048):
    for step in range(1, steps + 1):
        job._apply(
            {
                "event": "step",
                "step": step,
                "max_steps": job.spec.train.max_steps,
                "loss": 2.0,
                "tokens_seen": step * tokens_per_step,
                "seconds": step / steps_per_second,
            }
        )


def test_the_eta_and_the_status_follow_the_clock_when_it_ends_the_run_first(tmp_path):
    job = _job(tmp_path, max_steps=5000, max_minutes=1.0)
    _steps(job, 100, steps_per_second=10)  # 10 s done; 4,900 steps would take 490 s more

    speed, left = job.rates()
    assert speed == pytest.approx(20_480)
    assert left == pytest.approx(50.0)  # the clock's 60 s less the 10 s done, not 490 s
    assert job.by_clock()
    status = training._job_status(job)
    assert "step 100 (the 1-minute limit ends the run before step 5,000)" in status
    assert "ETA 0:50" in status and "elapsed 0:10 of 1:00" in status
    assert "/ 5000" not in status  # no count toward steps the run will never reach


def test_the_eta_counts_steps_when_they_end_first_or_there_is_no_limit(tmp_path):
    short = _job(tmp_path, max_steps=200, max_minutes=1.0)
    _steps(short, 100, steps_per_second=10)
    assert short.rates()[1] == pytest.approx(10.0) and not short.by_clock()
    assert "step 100 / 200" in training._job_status(short)
    assert "ETA 0:10" in training._job_status(short)

    unlimited = _job(tmp_path, max_steps=5000, max_minutes=0.0)
    _steps(unlimited, 100, steps_per_second=10)
    assert unlimited.rates()[1] == pytest.approx(490.0) and not unlimited.by_clock()
    assert unlimited.clock() is None

    fresh = _job(tmp_path, max_steps=5000, max_minutes=1.0)
    assert fresh.rates() == (None, None)  # no speed yet: no ETA rather than a guess


def test_the_trainers_projection_is_shown_in_the_apps_words(tmp_path):
    job = _job(tmp_path, max_steps=5000, max_minutes=30.0)
    job._apply({"event": "corpus", "summary": "corpus your uploads: 3 MIDI files found"})
    logs = [
        "corpus your uploads: 3 MIDI files found",
        "model: rnn lstm, 286,900 parameters on cpu; train 582 tokens in 3 pieces",
        "baseline (unigram): valid NLL 2.570 nats/token",
        "measured 0.500 s per step (forward and backward on one batch): 5,000 steps ≈ 42 min",
        "--max-minutes 30 will stop the run at about step 3,600 of 5,000; the progress bar, its "
        "ETA and the learning-rate schedule follow the clock",
    ]
    for line in logs:
        job._apply({"event": "log", "message": line})
    status = training._job_status(job)  # before step 1: the projection is known already
    assert status.startswith("Starting…")
    assert "Measured 0.500 s per step" in status and "≈ 42 min" in status
    assert "The app's 30-minute limit will stop the run at about step 3,600 of 5,000" in status
    assert "--max-minutes" not in status and "progress bar" not in status
    assert job.by_clock()  # no speed yet: the projection says the clock ends the run

    # a busy machine: the recheck after 20 steps replaces the first measure in the status
    _steps(job, 20, steps_per_second=1)
    job._apply(
        {
            "event": "log",
            "message": "after 20 steps: measured 1.000 s per step (forward and backward on one "
            "batch): 4,980 steps ≈ 1 h 23 min",
        }
    )
    job._apply({"event": "log", "message": "step 20: train 2.000 nats/token, grad norm 1.00"})
    status = training._job_status(job)
    assert "After 20 steps: measured 1.000 s per step" in status
    assert "Measured 0.500" not in status

    active = training.ActiveJob(
        "id", job, "", None, None, h.StagedUpload(tmp_path), tmp_path, "m", h.COMPOSE, "token"
    )
    report = training._report(active)
    set_up = report.split("training:\n", 1)[1]
    assert "Model: rnn lstm, 286,900 parameters" in set_up
    assert "Baseline (unigram): valid NLL 2.570" in set_up
    assert "Measured 0.500 s per step" in set_up and "After 20 steps: measured 1.000" in set_up
    assert "step 20: train" not in report  # the per-step log stays out of the report
    assert report.count("3 MIDI files found") == 1  # the corpus line once, not again as a log


# -- one table of model sizes ----------------------------------------------------------------


def test_the_size_picker_is_model_sizes_with_their_measured_speed():
    assert list(training.PRESET_SIZES.values()) == list(MODEL_SIZES)
    for label, size in training.PRESET_SIZES.items():
        fields = training.PRESETS[label]
        assert {k: fields[k] for k in MODEL_SIZES[size]} == MODEL_SIZES[size]
        assert f"~{MODEL_SIZE_SPEEDS[size]:,} tokens/s" in label
        assert label.lower().startswith(size)


@pytest.mark.parametrize("label", list(training.PRESETS))
def test_every_size_makes_a_model_of_every_recipe_the_app_trains(label):
    for name in ("music", "text", "pianoroll"):
        family = get_recipe(name).family
        fields = family.from_preset(dict(training.PRESETS[label]))
        config = family.config_class(**fields)
        assert config.hidden_size == MODEL_SIZES[training.PRESET_SIZES[label]]["hidden_size"]
        if isinstance(config, PianoRollConfig):
            assert config.head == "nade" and config.pitch_span == 12  # the piano-roll recipe


# -- styles, files to leave out, versions ----------------------------------------------------


def test_exclude_patterns_are_read_in_the_names_uploads_are_staged_under():
    assert training.exclude_patterns("") == ()
    assert training.exclude_patterns(" melody ,\n chords/*,, melody") == ("melody", "chords/*")
    assert training.exclude_patterns("My Draft*.MIDI") == ("My-Draft*.mid",)
    assert training.exclude_patterns("[abc]*.mid, ?une") == ("[abc]*.mid", "?une")


@pytest.mark.parametrize(
    "pattern, message",
    [
        ("/etc/*", "not absolute paths"),
        ("C:\\music\\*", "not absolute paths"),
        ("../*", "'..' leads out of your uploads"),
        ("melody/../../x", "'..' leads out"),
        ("mel\x00ody", "control characters"),
        ("x" * 101, "at most 100 characters"),
        (",".join(f"p{i}" for i in range(21)), "At most 20 exclude patterns"),
    ],
)
def test_a_bad_exclude_pattern_is_refused_naming_it(pattern, message):
    with pytest.raises(h.AppError, match=re.escape(message)):
        training.exclude_patterns(pattern)


def _zip(root: Path, upload: Path) -> str:
    with zipfile.ZipFile(upload, "w") as archive:
        for path in sorted(root.rglob("*.*")):
            archive.write(path, path.relative_to(root).as_posix())
    return str(upload)


def _captured(monkeypatch, jobs: h.TrainingJobs) -> dict:
    """Stop start_training where the job would start, keeping the job it built."""
    seen: dict = {}

    def begin(active):
        seen["active"] = active
        raise h.AppError("not started in this test")

    monkeypatch.setattr(jobs, "begin", begin)
    return seen


def test_style_exclude_and_group_controls_reach_the_recipe_options(settings, tmp_path, monkeypatch):
    upload = _zip(collection(tmp_path / "tunes", tunes=4), tmp_path / "tunes.zip")
    jobs = h.TrainingJobs()
    seen = _captured(monkeypatch, jobs)
    with pytest.raises(h.AppError, match="not started"):
        next(
            h.start_training(
                settings, jobs, [upload], styles="None", exclude="chords, *draft*",
                group_versions=False,
            )
        )  # fmt: skip
    spec = seen["active"].job.spec
    assert spec.recipe == "music"
    options = spec.data_options
    assert (options["styles"], options["exclude"], options["group_by"]) == (
        "none", ("chords", "*draft*"), "none",
    )  # fmt: skip
    assert seen["active"].notes == [
        "exclude chords: leaves out 4 files",
        "exclude *draft*: leaves out no file",  # a pattern that matches nothing says so
    ]
    assert seen["active"].loose == []  # no styles: no file lacks one
    assert not list(settings.training_dir.iterdir())  # the job that did not start is removed

    with pytest.raises(h.AppError, match="not started"):
        next(h.start_training(settings, jobs, [upload], recipe="Piano roll (MIDI, chords)"))
    options = seen["active"].job.spec.data_options
    assert not {"styles", "exclude", "group_by"} & set(options)  # a piano roll has none


def test_music_rules_left_in_hidden_fields_do_not_stop_a_text_model(
    settings, tmp_path, monkeypatch
):
    text = tmp_path / "story.txt"
    text.write_text("once upon a time " * 20, encoding="utf-8")
    jobs = h.TrainingJobs()
    seen = _captured(monkeypatch, jobs)
    with pytest.raises(h.AppError, match="not started"):  # not "not absolute paths"
        next(h.start_training(settings, jobs, [str(text)], exclude="/etc/*", styles="None"))
    assert seen["active"].job.spec.recipe == "text"
    assert not {"styles", "exclude", "group_by"} & set(seen["active"].job.spec.data_options)


def test_an_exclude_pattern_that_leaves_nothing_is_refused_before_training(settings, tmp_path):
    upload = _zip(collection(tmp_path / "tunes", tunes=2), tmp_path / "tunes.zip")
    jobs = h.TrainingJobs()
    with pytest.raises(h.AppError, match=r"\(\*\) are every uploaded MIDI file \(7\)"):
        next(h.start_training(settings, jobs, [upload], exclude="*"))
    with pytest.raises(h.AppError, match="not absolute paths"):
        next(h.start_training(settings, jobs, [upload], exclude="/"))
    with pytest.raises(h.AppError, match="where styles come from"):
        next(h.start_training(settings, jobs, [upload], styles="From the moon"))
    assert not jobs.running() and not list(settings.training_dir.glob("*"))


def test_a_collection_trains_with_versions_together_and_files_without_a_style_listed(
    settings, tmp_path
):
    """The issue's collection: arrangements at the top, melody/ and chords/ versions of each
    tune, an exact copy. Leaving chords/ out, the report names what was left out, the groups,
    the duplicate, the files without a style, and the trainer's projection."""
    upload = _zip(collection(tmp_path / "tunes", tunes=6), tmp_path / "tunes.zip")
    loose = write_midi(tune(50), tmp_path / "my jig.mid")  # a loose upload, no style typed
    jobs = h.TrainingJobs()
    run = h.start_training(
        settings, jobs, [upload, str(loose)], steps=5000, exclude="chords", poll_seconds=0.2
    )
    updates = []
    for progress in run:
        updates.append(progress)
        if progress.running and progress.status.startswith("Training…"):
            h.stop_training(jobs, progress.job_id)
    last = updates[-1]
    assert last.new_model_key and "stopped on request" in last.status
    report = last.report
    assert "exclude chords: leaves out 6 files" in report
    assert "6 excluded" in report
    # tune00.mid is read once, as its copy, which joins melody/Tune00.mid's group
    assert "6 groups of 2+ files (12 files), each kept on one side of the split" in report
    assert "tune00.mid has the same bytes as copy-of-tune00.mid" in report
    counted = re.search(r"(\d+) files without a style \(top-level files\)", report)
    listed = re.search(r"without a style \((\d+): loose uploads .*\): (.*)", report)
    assert counted and listed and counted.group(1) == listed.group(1)  # the same files
    assert "my-jig.mid" in listed.group(2)  # staged under a safe name, listed by it
    assert "Measured " in report and "s per step" in report  # the trainer's projection
    assert str(settings.app_dir) not in report


# -- atomic writes ----------------------------------------------------------------------------


def test_the_browser_secret_is_written_atomically_and_readable_by_the_app_alone(settings):
    secret = browser_secret(settings)
    path = settings.app_dir / ".browser-secret"
    assert re.fullmatch(r"[0-9a-f]{32}", secret) and path.read_text() == secret
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert not temporaries(path)
    assert browser_secret(settings) == secret  # kept across restarts
    path.write_text("tampered")
    assert browser_secret(settings) != secret and not temporaries(path)
