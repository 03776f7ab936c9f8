"""How the app starts and what it may import: ``rnn-generator app``, ``python app.py``, the one
Gradio module, and the shipped models as package data."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import generator
from generator.cli import main
from generator.config import SHIPPED_DIR

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


def test_app_command_refuses_bad_flags_before_starting(capsys):
    assert main(["app", "--threads", "0"]) == 2
    assert "--threads must be 1 to" in capsys.readouterr().err
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
