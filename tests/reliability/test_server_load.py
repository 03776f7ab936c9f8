"""The app under load: `python app.py` on a free loopback port, 32 concurrent Compose requests
through gradio_client, an upload over the cap, and an upload named "../../evil.mid".

Bounded: 32 requests, each answered within REQUEST_BOUND_S and all within BATCH_BOUND_S; the
server is stopped when the module's tests end (or start-up fails after 120 s)."""

from __future__ import annotations

import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

REQUESTS = 32  # concurrent users; the app's queue holds QUEUE_SIZE = 64 waiting requests
REQUEST_BOUND_S = 120.0  # each request, from submission to answer, on a busy 2-core machine
BATCH_BOUND_S = 180.0  # all 32
UPLOAD_CAP = 25 * 1024 * 1024  # generator/app/ui.py: launch(max_file_size="25mb")
MODEL_NAME = "reliability-music"


@pytest.fixture(scope="module")
def server(serve_app, trained_checkpoint: Path, tmp_path_factory):
    """The app on loopback, offering the session's tiny model; its folder and Gradio's upload
    folder are both under one temporary folder, so every file it writes can be checked."""
    base = tmp_path_factory.mktemp("server")
    model = base / "models" / f"{MODEL_NAME}.pt"
    model.parent.mkdir()
    shutil.copyfile(trained_checkpoint, model)
    env = {
        "GRADIO_TEMP_DIR": str(base / "gradio"),
        "RNN_GENERATOR_CHECKPOINTS": "",
        "OMP_NUM_THREADS": "1",
    }
    url = serve_app(base, "--checkpoint", str(model), "--app-dir", str(base / "app"), env=env)
    return {"url": url, "base": base, "app_dir": base / "app", "uploads": base / "gradio"}


def compose_endpoint(client) -> tuple[str, dict[str, object]]:
    """The Compose endpoint (the app names it /compose) and its inputs' defaults by label, set
    for a quick piece from the test model."""
    endpoint = client.view_api(return_format="dict", print_info=False)["named_endpoints"][
        "/compose"
    ]
    labels = [p["label"] for p in endpoint["parameters"]]
    inputs = {p["label"]: p["parameter_default"] for p in endpoint["parameters"]}
    models = endpoint["parameters"][labels.index("Model")]["type"]["enum"]
    inputs["Model"] = next(m for m in models if m.endswith(f":{MODEL_NAME}"))
    inputs.update({"Style": "reel", "Variations": 1, "Bars": 2})
    return "/compose", inputs


def files_under(folder: Path) -> set[Path]:
    return {p for p in folder.rglob("*") if p.is_file()}


@pytest.mark.slow
def test_32_concurrent_generate_requests_all_succeed_within_the_bound(server):
    from gradio_client import Client

    client = Client(server["url"], verbose=False, download_files=False, analytics_enabled=False)
    api_name, inputs = compose_endpoint(client)
    before = files_under(server["app_dir"])

    def one(seed: int) -> tuple[int, str, float]:
        started = time.perf_counter()
        job = client.submit(*{**inputs, "Random seed": str(seed)}.values(), api_name=api_name)
        status = job.result(timeout=REQUEST_BOUND_S)[0]
        return seed, status, time.perf_counter() - started

    started = time.perf_counter()
    with ThreadPoolExecutor(REQUESTS) as pool:
        answers = list(pool.map(one, range(1, REQUESTS + 1)))
    batch_seconds = time.perf_counter() - started

    assert len(answers) == REQUESTS
    for seed, status, _ in answers:  # each answer is its own request's: none lost or swapped
        assert status.startswith("1 variation from") and f"seed {seed} " in status, status
    latencies = sorted(seconds for _, _, seconds in answers)
    assert latencies[-1] < REQUEST_BOUND_S and batch_seconds < BATCH_BOUND_S
    print(
        f"\n{REQUESTS} concurrent Compose requests: all answered in {batch_seconds:.1f} s; "
        f"latency median {latencies[len(latencies) // 2]:.1f} s, max {latencies[-1]:.1f} s"
    )

    written = files_under(server["app_dir"]) - before
    folders = {p.parent for p in written}
    assert len(folders) == REQUESTS  # one output folder per request
    assert all(p.is_relative_to(server["app_dir"] / "outputs") for p in written)
    assert {p.suffix for p in written} == {".mid", ".wav", ".png", ".musicxml"}


@pytest.mark.slow
def test_an_upload_over_the_cap_is_refused_and_not_kept(server):
    uploads_before = files_under(server["uploads"]) if server["uploads"].exists() else set()
    answer = httpx.post(
        server["url"] + "gradio_api/upload",
        files={"files": ("big.mid", b"MThd" + bytes(UPLOAD_CAP), "audio/midi")},
        timeout=120,
    )
    assert answer.status_code == 413, answer.text
    assert "maximum allowed size" in answer.text
    kept = files_under(server["uploads"]) - uploads_before if server["uploads"].exists() else set()
    assert all(p.stat().st_size < UPLOAD_CAP for p in kept)


@pytest.mark.slow
def test_uploaded_file_names_cannot_write_outside_the_app_folders(server, chorale_bytes):
    from gradio_client import Client

    base, app_dir, uploads = server["base"], server["app_dir"], server["uploads"]
    answer = httpx.post(
        server["url"] + "gradio_api/upload",
        files=[
            ("files", ("../../evil.mid", chorale_bytes, "audio/midi")),
            ("files", ("/tmp/evil-absolute.mid", chorale_bytes, "audio/midi")),
        ],
        timeout=60,
    )
    assert answer.status_code == 200, answer.text
    stored = [Path(p) for p in answer.json()]
    assert [p.name for p in stored] == ["evil.mid", "evil-absolute.mid"]
    assert all(p.resolve().is_relative_to(uploads.resolve()) for p in stored)
    assert not (base.parent / "evil.mid").exists() and not (base / "evil.mid").exists()
    assert not Path("/tmp/evil-absolute.mid").exists()

    # the uploaded file, under its hostile name, as the primer of a Compose request
    client = Client(server["url"], verbose=False, download_files=False, analytics_enabled=False)
    api_name, inputs = compose_endpoint(client)
    primer = {"path": str(stored[0]), "orig_name": "../../evil.mid"}
    primer["meta"] = {"_type": "gradio.FileData"}
    inputs.update({"How to start": "Primer MIDI", "Random seed": "7"})
    inputs["Primer MIDI (the model continues it)"] = primer
    status = client.predict(*inputs.values(), api_name=api_name)[0]
    assert status.startswith("1 variation from the primer"), status

    allowed = (app_dir, uploads, base / "models", base / "app.log")
    for path in files_under(base):
        assert any(path == place or path.is_relative_to(place) for place in allowed), path
    assert not any(p.name == "evil.mid" for p in files_under(app_dir))
