"""The app under attack over raw HTTP: `python app.py` on a loopback port, then requests an
attacker would send without the page: file URLs for the app's folder, and every page-only
event called by its fn_index through ``/gradio_api/queue/join``.

The app's folder is seeded with what must never leave it: a trained model, a token cache with a
computable name, a training job's staged upload and an example. Each is asked for by absolute
path, by relative path and through ``..``; the files a response returned must download, and no
answer may name the app's folder."""

from __future__ import annotations

import json
import shutil
import urllib.parse
import uuid
from pathlib import Path

import httpx
import pytest

SECRET = b"secret bytes that must never be served " + uuid.uuid4().hex.encode()
MODEL_NAME = "attack-music"


@pytest.fixture(scope="module")
def server(serve_app, trained_checkpoint: Path, tmp_path_factory):
    base = tmp_path_factory.mktemp("attacked")
    app_dir = base / "app"
    model = base / "models" / f"{MODEL_NAME}.pt"
    model.parent.mkdir()
    shutil.copyfile(trained_checkpoint, model)
    secrets = {
        "trained model": app_dir / "models" / "private-model.pt",
        "token cache": app_dir / "cache" / "midi-tokens-0123456789abcdef.pt",
        "staged upload": app_dir / "training" / "job-1" / "data" / "0000-tune.mid",
        "example": app_dir / "examples" / "tune.mid",
        "visitor model": app_dir / "models" / "visitors" / ("0" * 32) / "mine.pt",
    }
    for path in secrets.values():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(SECRET)
    env = {"RNN_GENERATOR_CHECKPOINTS": "", "OMP_NUM_THREADS": "1"}
    env["GRADIO_TEMP_DIR"] = ""  # the app's default: its own folder in the system temp folder
    url = serve_app(base, "--checkpoint", str(model), "--app-dir", str(app_dir), env=env)
    return {"url": url, "base": base, "app_dir": app_dir, "secrets": secrets}


def file_url(server, path: str) -> str:
    return server["url"] + "gradio_api/file=" + urllib.parse.quote(path, safe="/")


def fetch(server, path: str) -> httpx.Response:
    return httpx.get(file_url(server, path), timeout=30)


def spellings(server, path: Path) -> list[str]:
    """Ways to name one file: absolute, relative to the app's working folder, through ``..``
    from the served outputs folder, and with doubled slashes."""
    app_dir = server["app_dir"]
    relative = path.relative_to(app_dir)
    return [
        str(path),
        str(app_dir / "outputs" / ".." / relative),
        str(app_dir / "outputs" / "x" / ".." / ".." / relative),
        "//" + str(path).lstrip("/"),
        str(relative),
        f"runs/app/{relative}",
    ]


@pytest.mark.slow
def test_nothing_of_the_app_folder_downloads(server):
    refused = 0
    for what, path in server["secrets"].items():
        for spelling in spellings(server, path):
            answer = fetch(server, spelling)
            assert answer.status_code in (403, 404), (what, spelling, answer.status_code)
            assert SECRET not in answer.content
            refused += 1
    for path in ("/etc/passwd", "app.py", "pyproject.toml", "../../etc/passwd"):
        answer = fetch(server, path)
        assert answer.status_code in (403, 404), path
        refused += 1
    print(f"\n{refused} file URLs for the app's folder and the server refused")


def compose_inputs(client) -> dict[str, object]:
    endpoint = client.view_api(return_format="dict", print_info=False)["named_endpoints"][
        "/compose"
    ]
    inputs = {p["label"]: p["parameter_default"] for p in endpoint["parameters"]}
    models = next(p for p in endpoint["parameters"] if p["label"] == "Model")["type"]["enum"]
    inputs["Model"] = next(m for m in models if m.endswith(f":{MODEL_NAME}"))
    inputs.update({"Style": "reel", "Variations": 1, "Bars": 2, "Random seed": "3"})
    return inputs


@pytest.mark.slow
def test_returned_files_download_and_name_no_server_folder(server, chorale_bytes):
    from gradio_client import Client

    upload = httpx.post(
        server["url"] + "gradio_api/upload",
        files={"files": ("tune.mid", chorale_bytes, "audio/midi")},
        timeout=60,
    )
    assert upload.status_code == 200
    assert str(server["base"]) not in upload.text  # the upload's path is Gradio's, not ours

    client = Client(server["url"], verbose=False, download_files=False, analytics_enabled=False)
    answer = client.predict(*compose_inputs(client).values(), api_name="/compose")
    text = json.dumps(answer, default=str)
    assert str(server["base"]) not in text
    served = [a for a in answer if isinstance(a, dict) and a.get("path")]
    assert len(served) == 3  # audio, piano roll, MIDI of the one variation
    for item in served:
        got = fetch(server, item["path"])
        assert got.status_code == 200 and len(got.content) > 100, item["path"]
        assert "outputs" not in item["path"]  # Gradio's copy, not our folder

    # an error from Harmonize names the melody, never the folder it sits in
    bad = httpx.post(
        server["url"] + "gradio_api/upload",
        files={"files": ("melody.mid", b"MThd" + bytes(40), "audio/midi")},
        timeout=60,
    ).json()[0]
    with pytest.raises(Exception) as error:
        client.predict(
            "shipped:harmonizer",
            {"path": bad, "meta": {"_type": "gradio.FileData"}},
            None,
            80,
            0.7,
            "1",
            api_name="/harmonize",
        )
    assert str(server["base"]) not in str(error.value)
    assert "/" not in str(error.value).split(":", 1)[-1], str(error.value)
