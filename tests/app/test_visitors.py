"""Several visitors: one training job at a time, models kept per visitor unless the server's
owner shares them, and a page that reloads finds its running job again."""

from __future__ import annotations

import dataclasses

import pytest

import generator.app as h
from tests.app.test_handlers import _midi_uploads


def test_visitor_tokens_are_random_and_junk_is_refused():
    a, b = h.new_visitor(), h.new_visitor()
    assert a != b and h.check_visitor(a) == a
    for junk in (None, "", "x" * 32, a.upper(), a + "0", 7, ["a"], {"token": a}):
        assert h.check_visitor(junk) is None


def test_one_job_per_server_owned_by_its_visitor_reattached_after_a_reload(settings, tmp_path):
    jobs, alice, bob = h.TrainingJobs(), h.new_visitor(), h.new_visitor()
    files = _midi_uploads(tmp_path)
    run = h.start_training(
        settings, jobs, files, steps=5000, name="alice", poll_seconds=0.2, visitor=alice
    )
    first = next(run)
    assert first.running
    run.close()  # the page reloads: the job goes on

    with pytest.raises(h.AppError, match="Another visitor's training is running"):
        next(h.start_training(settings, jobs, files, visitor=bob))
    with pytest.raises(h.AppError, match="Your training is running"):
        next(h.start_training(settings, jobs, files, visitor=alice))
    (seen_by_bob,) = list(h.watch_training(jobs, bob))
    assert not seen_by_bob.running and "Another visitor's model is training" in seen_by_bob.status
    assert h.stop_training(jobs, visitor=bob) == "No training is running."  # not bob's to stop
    assert list(h.watch_training(jobs, None))[0].job_id is None

    updates = []
    for progress in h.watch_training(jobs, alice, poll_seconds=0.2):  # alice's page again
        updates.append(progress)
        if progress.running and progress.status.startswith("Training…"):
            assert "Stopping" in h.stop_training(jobs, visitor=alice)
    assert updates[0].running and updates[0].job_id == first.job_id
    last = updates[-1]
    assert not last.running and "stopped on request" in last.status
    assert last.new_model_key.startswith("mine:") and last.new_model_key.endswith(":alice")
    assert last.curve and "4 read, 2 skipped" in last.report

    mine = [key for _, key in h.model_choices(settings, visitor=alice)[0]]
    assert last.new_model_key in mine
    assert last.new_model_key not in [k for _, k in h.model_choices(settings, visitor=bob)[0]]
    assert last.new_model_key not in [k for _, k in h.model_choices(settings)[0]]
    assert h.compose(settings, last.new_model_key, bars=1, variations=1, seed="1").variations
    forged = "mine:" + "0" * 32 + ":alice"
    with pytest.raises(h.AppError, match="not available"):
        h.compose(settings, forged, bars=1, variations=1)
    assert not list(settings.training_dir.iterdir())  # staged uploads and cache removed

    # a reload after the end shows how it ended, without selecting the model again
    (again,) = list(h.watch_training(jobs, alice))
    assert again.status == last.status and again.new_model_key is None


def test_shared_models_only_when_the_owner_opts_in(settings):
    alice = h.new_visitor()
    own = settings.visitor_models_dir(alice)
    assert own.parent == settings.visitors_dir and alice not in str(own)
    shared = dataclasses.replace(settings, share_trained=True)
    assert shared.visitor_models_dir(alice) == settings.models_dir


def test_messages_lose_server_paths_and_only_outputs_are_served(settings):
    from generator.app.settings import hide_paths

    assert hide_paths("/srv/app/models/x.pt: no such checkpoint file") == (
        "x.pt: no such checkpoint file"
    )
    assert hide_paths("cannot read ('/home/me/runs/app/gradio/ab12/tune.mid')") == (
        "cannot read ('tune.mid')"
    )
    assert hide_paths("1/2 of a bar, C:\\Users\\me\\x.mid") == "1/2 of a bar, x.mid"
    allowed, blocked = h.served_folders(settings)
    assert allowed == [str(settings.outputs_dir)]
    for folder in (settings.models_dir, settings.cache_dir, settings.training_dir):
        assert str(folder) in blocked
    assert str(settings.app_dir) not in allowed + blocked  # the folder itself is not served


def test_an_error_leaves_the_results_and_a_lasting_status_line(settings):
    """The page's adapters: a failed request updates only the status line; every result
    component gets an empty update, so the previous pieces, harmony and text stay."""
    from generator.app import ui as app

    updates = app._compose(settings, h.model_choices(settings)[1], None, h.START_PRIMER)
    assert updates[0].startswith("⚠ Start is 'Primer MIDI' but no primer is uploaded")
    assert len(updates) == 1 + app.SLOT_SIZE * h.MAX_UI_VARIATIONS
    assert all(u == {"__type__": "update"} for u in updates[1:])

    status, *rest = app._harmonize(settings, "", None, None)
    assert status.startswith("⚠ No harmonizer") and all(u == {"__type__": "update"} for u in rest)

    ((text, status),) = list(app._write(settings, "shipped:nothing", "x", 10))
    assert text == {"__type__": "update"} and status.startswith("⚠ Model 'shipped:nothing'")
    assert app._write_stopped().startswith("Stopped")
