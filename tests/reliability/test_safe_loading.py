"""Every torch.load in the package and the app refuses pickled code (weights_only=True)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def torch_load_calls() -> list[tuple[str, ast.Call]]:
    sources = [*sorted((ROOT / "generator").rglob("*.py")), ROOT / "app.py"]
    sources += sorted((ROOT / "app_handlers").rglob("*.py"))
    calls = []
    for path in sources:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            function = getattr(node, "func", None)
            if isinstance(function, ast.Attribute) and function.attr == "load":
                owner = function.value
                if isinstance(owner, ast.Name) and owner.id == "torch":
                    calls.append((f"{path.relative_to(ROOT)}:{node.lineno}", node))
    return calls


def test_every_torch_load_passes_weights_only_true():
    calls = torch_load_calls()
    assert len(calls) >= 2  # the checkpoint reader and the MIDI token cache at least
    for where, call in calls:
        flags = {k.arg: k.value for k in call.keywords}
        assert "weights_only" in flags, f"{where}: torch.load without weights_only=True"
        value = flags["weights_only"]
        assert isinstance(value, ast.Constant) and value.value is True, where
