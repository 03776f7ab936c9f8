"""Layering: no module in generator/ imports one from a higher layer.

Every import is read from the source with ``ast``: module level, inside functions and under
``if TYPE_CHECKING`` alike. The order follows the data road of shared/ARCHITECTURE.md
(files → tokens → batches → model → checkpoint → sampler → files, then evaluation, then the
faces). A module may import its own part and any part of a lower layer; the parts of one layer
are independent of each other (sampling and training never import one another).
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "generator"

# Lowest first. A part is a module or package under generator/ ("data" covers generator/data/
# and everything in it); "X.*" covers the modules inside package X but not X/__init__.py.
LAYERS: list[tuple[str, ...]] = [
    ("validation", "atomic"),  # checks on plain values; atomic file writes
    ("config", "device"),  # config dataclasses; which torch device a name means
    ("midi",),  # notes ↔ MIDI files, parts, voicing conventions
    ("tokenizers",),  # notes / frames / voices / text ↔ ids
    ("data", "models"),  # readers, corpora and batches; torch modules (tensors and configs)
    ("families",),  # the registry: looks families up (their modules load on first lookup)
    ("checkpoint",),  # one file format for every family
    ("loader", "model_card"),  # cached loading by path; a checkpoint's description
    ("training", "sampling"),  # the trainer; the sampling core and its front-ends
    ("notation", "render"),  # writers: sheet music; audio and pictures
    ("evaluation",),  # NLL on held-out data, music quality, harmony
    ("families.*",),  # one module per family: config, model, readers, task, evaluate, generate
    ("api", "__init__"),  # the public API (generator/api.py) and the package's front door
    ("training.background",),  # training in a worker process, through the public API
    ("app",),  # the browser app: handlers, and the one module that imports Gradio
    ("cli",),  # the command line (``rnn-generator app`` starts the app)
    ("__main__",),  # python -m generator
]

# Known exceptions, each with its reason: (importing file, imported module) → why.
EXCEPTIONS: dict[tuple[str, str], str] = {}


def _layer_of() -> dict[str, int]:
    return {part: index for index, parts in enumerate(LAYERS) for part in parts}


def part_of(module: str) -> str | None:
    """The LAYERS part a dotted module name under ``generator`` belongs to (None: no part)."""
    layers = _layer_of()
    if module == "generator":
        return "__init__"
    name = module.removeprefix("generator.")
    pieces = name.split(".")
    for length in range(len(pieces), 0, -1):
        prefix = ".".join(pieces[:length])
        if length < len(pieces) and f"{prefix}.*" in layers:
            return f"{prefix}.*"
        if prefix in layers:
            return prefix
    return None


def module_name(path: Path, package: Path) -> str:
    parts = ("generator", *path.relative_to(package).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path, package: Path) -> list[tuple[int, str]]:
    """(line, dotted module) of every generator module ``path`` imports, at any depth.
    ``from generator import x`` names the submodule x where there is one."""
    name = module_name(path, package)
    is_package = path.name == "__init__.py"
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the module's own package upwards
                anchor = name.split(".")[: len(name.split(".")) - node.level + is_package]
                base = ".".join(anchor + ([base] if base else []))
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                path_of = package.joinpath(*candidate.split(".")[1:])
                is_module = path_of.with_suffix(".py").exists() or path_of.is_dir()
                found.append((node.lineno, candidate if is_module else base))
    return [(line, m) for line, m in found if m == "generator" or m.startswith("generator.")]


def upward_imports(package: Path = PACKAGE) -> tuple[list[str], list[str]]:
    """(imports that point to a higher layer or to a sibling part, modules with no part)."""
    layers = _layer_of()
    wrong, unplaced = [], []
    for path in sorted(package.rglob("*.py")):
        source = part_of(module_name(path, package))
        if source is None:
            unplaced.append(str(path.relative_to(package.parent)))
            continue
        for line, module in imported_modules(path, package):
            target = part_of(module)
            if target is None or target == source:
                continue
            if layers[target] >= layers[source]:
                if (str(path.relative_to(package.parent)), module) in EXCEPTIONS:
                    continue
                where = f"{path.relative_to(package.parent)}:{line}"
                relation = "a sibling" if layers[target] == layers[source] else "a higher"
                wrong.append(f"{where} ({source}) imports {module} ({target}, {relation} layer)")
    return wrong, unplaced


def test_every_module_has_a_layer():
    _, unplaced = upward_imports()
    assert not unplaced, f"add these to LAYERS in {__file__}: {unplaced}"


def test_no_import_points_to_a_higher_layer():
    wrong, _ = upward_imports()
    assert not wrong, "imports against the layers:\n" + "\n".join(wrong)


def test_the_check_sees_function_level_relative_and_type_checking_imports(tmp_path):
    package = tmp_path / "generator"
    (package / "sampling").mkdir(parents=True)
    (package / "training").mkdir()
    for folder in (package, package / "sampling", package / "training"):
        (folder / "__init__.py").write_text("")
    (package / "validation.py").write_text("")
    (package / "sampling" / "text.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "from generator import validation\n"  # lower: fine
        "from . import text\n"  # its own part: fine
        "def score():\n"
        "    from generator.training import evaluate\n"  # a sibling: wrong
        "if TYPE_CHECKING:\n"
        "    import generator.cli\n"  # higher: wrong
        "    from generator import api\n"  # the front door of the package: higher
    )
    wrong, unplaced = upward_imports(package)
    assert unplaced == []
    assert [w.split(" imports ")[1] for w in wrong] == [
        "generator.training (training, a sibling layer)",
        "generator.cli (cli, a higher layer)",
        "generator (__init__, a higher layer)",
    ]
    assert wrong[0].startswith("generator/sampling/text.py:5 (sampling)")
