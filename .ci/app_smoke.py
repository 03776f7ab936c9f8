"""CI: the installed app answers. Run from a folder outside the checkout, with the venv's
Python: starts ``rnn-generator app`` on a free loopback port, waits for HTTP 200 on its page,
makes one ``/compose`` call with gradio_client, checks that a MIDI file comes back, and stops
the server. Exit status 0 when all of that holds; the server's log is printed when not."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

START_SECONDS = 240  # the first start imports torch, Gradio, music21 and warms the models up
COMPOSE_SECONDS = 240


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_page(url: str, server: subprocess.Popen) -> None:
    deadline = time.monotonic() + START_SECONDS
    while True:
        if server.poll() is not None:
            raise SystemExit(f"rnn-generator app exited with status {server.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=5) as answer:
                if answer.status == 200:
                    print(f"app: HTTP 200 from {url}", flush=True)
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise SystemExit(f"rnn-generator app did not answer {url} in {START_SECONDS} s")
        time.sleep(0.5)


def compose_once(url: str, downloads: Path) -> Path:
    from gradio_client import Client

    client = Client(url, verbose=False, download_files=str(downloads), analytics_enabled=False)
    endpoint = client.view_api(return_format="dict", print_info=False)["named_endpoints"]
    parameters = endpoint["/compose"]["parameters"]
    inputs = {p["label"]: p["parameter_default"] for p in parameters}
    inputs.update({"Bars": 2, "Variations": 1, "Random seed": "1"})
    print(f"app: /compose with model {inputs['Model']!r}, 2 bars, seed 1", flush=True)
    job = client.submit(*inputs.values(), api_name="/compose")
    outputs = job.result(timeout=COMPOSE_SECONDS)
    status = outputs[0]
    print(f"app: status {status!r}", flush=True)
    files = [Path(o) for o in outputs if isinstance(o, str) and o.endswith((".mid", ".midi"))]
    if status.startswith("⚠") or not files:
        raise SystemExit(f"/compose returned no MIDI file: {outputs!r}")
    midi = files[0]
    if not midi.is_file() or midi.read_bytes()[:4] != b"MThd":
        raise SystemExit(f"/compose's MIDI file is not a MIDI file: {midi}")
    return midi


def main() -> int:
    command = shutil.which("rnn-generator")
    if command is None:
        raise SystemExit("rnn-generator is not on PATH: install the wheel first")
    folder = Path.cwd()
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    log_path = folder / "app.log"
    started = time.perf_counter()
    with log_path.open("w") as log:
        server = subprocess.Popen(
            [command, "app", "--host", "127.0.0.1", "--port", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for_page(url, server)
        print(f"app: started in {time.perf_counter() - started:.1f} s", flush=True)
        midi = compose_once(url, folder / "downloads")
        print(f"app: /compose gave {midi.name} ({midi.stat().st_size} bytes)", flush=True)
    except BaseException:
        print(log_path.read_text(errors="replace")[-6000:], file=sys.stderr)
        raise
    finally:
        server.terminate()
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(20)
    if not (folder / "runs" / "app").is_dir():
        raise SystemExit(
            "the installed app did not write under ./runs/app (its documented default)"
        )
    print("app: smoke test passed", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
