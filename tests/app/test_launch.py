"""How the app starts and what it may import: ``rnn-generator app``, ``python app.py``, the one
Gradio module, and the shipped models as package data."""

from __future__ import annotations

import ast
import socket
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

import generator
from generator.cli import main
from generator.config import SHIPPED_DIR
from generator.validation import MAX_THREADS_PER_CPU

PACKAGE = Path(generator.__file__).resolve().parent
ROOT = PACKAGE.parent


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_only_the_ui_module_imports_gradio():
    importers = sorted(
        str(path.relative_to(ROOT))
        for path in PACKAGE.rglob("*.py")
        if {"gradio", "gradio_client"} & _imports(path)
    )
    assert importers == ["generator/app/ui.py"]


def test_the_handlers_and_the_cli_load_without_gradio():
    code = "import sys, generator.app, generator.cli; print('gradio' in sys.modules)"
    found = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert found.stdout.strip() == "False"


def test_app_command_has_help(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["app", "--help"])
    assert stop.value.code == 0
    text = capsys.readouterr().out
    for flag in ("--host", "--port", "--checkpoint", "--app-dir", "--share-trained-models"):
        assert flag in text


@pytest.fixture
def serve_calls(monkeypatch) -> list[dict]:
    """The app command with a stand-in for the page module: each serve(...) is recorded and
    returns at once (no Gradio, no server)."""
    calls: list[dict] = []
    monkeypatch.setitem(
        sys.modules, "generator.app.ui", SimpleNamespace(serve=lambda **kw: calls.append(kw))
    )
    return calls


def test_app_command_refuses_bad_flags_before_starting(capsys):
    assert main(["app", "--threads", "-1"]) == 2
    assert "--threads must be a whole number in [0, " in capsys.readouterr().err
    assert main(["app", "--port", "70000"]) == 2
    assert "--port must be 1 to 65535, got 70000" in capsys.readouterr().err


def test_the_launcher_is_the_app_command():
    found = subprocess.run(
        [sys.executable, "app.py", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert found.returncode == 0 and "generator app" in found.stdout
    assert "--share-trained-models" in found.stdout


def test_shipped_models_are_package_data():
    """Inside the package (so a wheel carries them), each with its model card."""
    assert SHIPPED_DIR.parent == PACKAGE
    for name in ("music", "text", "pianoroll", "harmonizer"):
        assert (SHIPPED_DIR / f"{name}.pt").is_file() and (SHIPPED_DIR / f"{name}.md").is_file()


def test_a_bad_port_setting_stops_only_the_app_with_a_clear_error(monkeypatch, capsys):

    monkeypatch.setenv("GRADIO_SERVER_PORT", "abc")
    assert main(["describe", str(SHIPPED_DIR / "text.pt")]) == 0  # other commands unaffected
    assert main(["app"]) == 2
    assert "$GRADIO_SERVER_PORT must be a port number 1-65535, got 'abc'" in capsys.readouterr().err


def test_a_missing_checkpoint_for_the_app_is_named_before_it_starts(tmp_path, capsys):

    missing = tmp_path / "nope.pt"
    assert main(["app", "--checkpoint", str(missing), "--app-dir", str(tmp_path)]) == 2
    assert f"--checkpoint {missing}: no such file or folder" in capsys.readouterr().err


def test_app_threads_follow_the_one_rule_of_every_command(serve_calls, capsys):
    """--threads 0 is torch's default, as for every command (the app had a second rule, 1 to
    the CPU count, applied after the first); --help states the rule once."""
    with pytest.raises(SystemExit):
        main(["app", "--help"])
    rule = f"0 (torch's default) to {MAX_THREADS_PER_CPU} per CPU"
    assert rule in " ".join(capsys.readouterr().out.split())
    assert main(["app", "--threads", "0", "--port", str(_free_port())]) == 0
    assert serve_calls[0]["threads"] == 0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_a_busy_port_is_named_before_the_app_starts(serve_calls, capsys):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert main(["app", "--port", str(port)]) == 2
    error = capsys.readouterr().err
    assert f"error: port {port} on 127.0.0.1 is in use; pick another with --port\n" == error
    assert serve_calls == []


@pytest.mark.parametrize(
    "host, reason",
    [
        ("203.0.113.7", "--host 203.0.113.7: not an address of this machine"),  # TEST-NET-3
        ("no-such-host.invalid", "--host no-such-host.invalid: cannot resolve it"),
        ("", "--host is empty"),
    ],
)
def test_a_host_the_app_cannot_listen_on_is_named_before_it_starts(
    serve_calls, capsys, host, reason
):
    assert main(["app", "--host", host, "--port", str(_free_port())]) == 2
    error = capsys.readouterr().err
    assert error.startswith(f"error: {reason}") and error.count("\n") == 1
    assert serve_calls == []


def _has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.slow
@pytest.mark.skipif(not _has_ipv6_loopback(), reason="this machine has no IPv6 loopback")
def test_the_app_serves_on_an_ipv6_address(serve_app, tmp_path):
    """--host ::1 serves the page at http://[::1]:PORT/ (Gradio wants the address in brackets;
    given bare, it ended in a traceback)."""
    url = serve_app(
        tmp_path, "--app-dir", str(tmp_path / "app"), env={"RNN_GENERATOR_CHECKPOINTS": ""},
        host="::1",
    )  # fmt: skip
    assert url.startswith("http://[::1]:")
