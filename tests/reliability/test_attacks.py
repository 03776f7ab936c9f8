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
    env = {"RNN_GENERATOR_CHECKPOINTS": "", "OMP_NUM_THREADS": "1"}
    env["GRADIO_TEMP_DIR"] = ""  # the app's default: its own folder in the system temp folder
    url = serve_app(base, "--checkpoint", str(model), "--app-dir", str(app_dir), env=env)
    for path in secrets.values():  # after start-up, which clears a killed server's jobs
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(SECRET)
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
    browser_secret = str(server["app_dir"] / ".browser-secret")  # written at start-up
    for path in ("/etc/passwd", "app.py", "pyproject.toml", "../../etc/passwd", browser_secret):
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
    assert len(served) == 4  # audio, piano roll, MIDI and MusicXML of the one variation
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
    status = client.predict(
        "shipped:harmonizer",
        {"path": bad, "meta": {"_type": "gradio.FileData"}},
        None,
        80,
        0.7,
        "1",
        api_name="/harmonize",
    )[0]
    assert status.startswith("⚠ ") and "melody.mid: not a readable MIDI" in status, status
    assert str(server["base"]) not in status and "/" not in status, status


def call_event(server, fn_index: int, data: list, session: str, timeout: float = 60.0) -> dict:
    """One event called the way the page calls it (POST queue/join, then read the session's
    event stream) and its last message: ``{"msg": "process_completed", "success": ...}``."""
    joined = httpx.post(
        server["url"] + "gradio_api/queue/join",
        json={"data": data, "fn_index": fn_index, "session_hash": session, "trigger_id": None},
        timeout=30,
    )
    if joined.status_code != 200:
        return {"msg": "refused", "status": joined.status_code, "text": joined.text}
    last: dict = {}
    with httpx.stream(
        "GET",
        server["url"] + "gradio_api/queue/data",
        params={"session_hash": session},
        timeout=timeout,
    ) as stream:
        for line in stream.iter_lines():
            if not line.startswith("data:"):
                continue
            message = json.loads(line[5:])
            if message.get("msg") in ("process_completed", "close_stream"):
                return message if message.get("msg") == "process_completed" else last
            last = message
    return last


HOSTILE = {  # what a raw client sends for each kind of input
    "browserstate": "0" * 32,
    "dropdown": "../../models/private-model",
    "radio": "Music (MIDI)",
    "slider": 4000,
    "textbox": "../../escape",
    "state": None,
}


def hostile_value(server, component: dict):
    kind = component.get("type", "")
    if kind == "file":
        secret = str(server["secrets"]["trained model"])
        return {"path": secret, "orig_name": "x.mid", "meta": {"_type": "gradio.FileData"}}
    return HOSTILE.get(kind, None)


@pytest.mark.slow
def test_every_page_only_event_called_by_fn_index_can_do_no_harm(server):
    """Each event the page calls by fn_index (pickers, uploads, Train, Stop, the reload
    watcher) sent hostile values by a raw client: a file outside the uploads, a visitor token
    nobody was given, a model path. None starts a job, writes a model, returns the app's
    files or names a server folder, and each answers within its bound."""
    config = httpx.get(server["url"] + "config", timeout=30).json()
    components = {c["id"]: c for c in config["components"]}
    private = [
        (index, d)
        for index, d in enumerate(config["dependencies"])
        if d.get("api_visibility", "public") != "public" and d.get("backend_fn")
    ]
    assert len(private) >= 12  # pickers, uploads, Train, Stop, the loads
    public = [d["api_name"] for d in config["dependencies"] if d.get("api_visibility") == "public"]
    assert sorted(public) == ["compose", "harmonize", "write"]  # all a client is offered
    models_before = set(server["app_dir"].rglob("*.pt"))
    jobs_before = set(server["app_dir"].joinpath("training").iterdir())
    outcomes = {}
    for index, dependency in private:
        data = [hostile_value(server, components[i]) for i in dependency["inputs"]]
        answer = call_event(server, index, data, uuid.uuid4().hex)
        text = json.dumps(answer)
        assert str(server["base"]) not in text, (index, text[:500])
        assert SECRET.decode() not in text
        outcomes[index] = answer.get("success", answer.get("msg"))
        print(f"fn_index {index} {dependency.get('api_name')}: {str(outcomes[index])[:60]}")
    assert set(server["app_dir"].joinpath("training").iterdir()) == jobs_before, "a job started"
    assert set(server["app_dir"].rglob("*.pt")) == models_before

    # the Train event: without a token from the page it is refused with a message
    train = next(
        index
        for index, d in private
        if d["inputs"]
        and components[d["inputs"][0]]["type"] == "browserstate"
        and any(components[i].get("props", {}).get("elem_id") == "train-files" for i in d["inputs"])
    )
    dependency = config["dependencies"][train]
    data = [components[i].get("props", {}).get("value") for i in dependency["inputs"]]
    data[0] = None  # the page's defaults, but no visitor token
    answer = call_event(server, train, data, uuid.uuid4().hex)
    assert "Reload the page" in json.dumps(answer)
    print(f"\n{len(private)} page-only events called by fn_index with hostile values")
