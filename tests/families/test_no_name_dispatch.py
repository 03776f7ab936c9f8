"""No module outside the registry compares family, recipe or tokenizer names.

Code that needs to know what a model is asks the registry (generator/families/) for the family
object and uses what it bundles; it never writes ``if family == "pianoroll"``. This test reads
every module of the package (and the app's launcher) and fails on a comparison (==, !=, in,
not in, match) against one of those names, written out or through a module-level constant
(``PIANOROLL = "pianoroll"``), and on a table keyed by them ({"piano_roll": ...}). Constants
and table keys are followed for family names and tokenizer kinds only: "music" and "text" are
also the names of data sets, JSON fields and file formats.
"""

from __future__ import annotations

import ast
from pathlib import Path

from generator.families import families, recipes

ROOT = Path(__file__).resolve().parents[2]
REGISTRY = ROOT / "generator" / "families"

# Same spelling, another meaning: (file, name) → why the comparison is not about a family.
ALLOWED = {
    ("generator/models/rnn.py", "rnn"): "the recurrent cell (rnn, lstm, gru), not the family",
    ("generator/sampling/text.py", "characters"): "the unit of --length, not a tokenizer",
    ("generator/tokenizers/text.py", "characters"): "the unit of a length, not a tokenizer",
    ("generator/data/text_corpus.py", "characters"): "the text tokenizer factory",
    ("generator/data/text_corpus.py", "sentencepiece"): "the text tokenizer factory",
}


def names() -> set[str]:
    """Every family name, recipe name and tokenizer kind the registry knows."""
    return {r.name for r in recipes()} | model_names()


def model_names() -> set[str]:
    """Every family name and tokenizer kind."""
    return {f.name for f in families()} | {t.kind for f in families() for t in f.tokenizers}


def constants(source: str, known: set[str]) -> dict[str, str]:
    """Module-level ``NAME = "string"`` assignments whose string is in ``known``."""
    found = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and _strings(node.value) == [
            getattr(node.value, "value", None)
        ]:
            for target in node.targets:
                if isinstance(target, ast.Name) and node.value.value in known:
                    found[target.id] = node.value.value
    return found


def _strings(node: ast.AST) -> list[str]:
    """String constants of a node: itself, or the items of a tuple, list or set literal."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        return [s for item in node.elts for s in _strings(item)]
    return []


def compared_names(
    source: str, known: set[str], named: dict[str, str] | None = None
) -> list[tuple[int, str]]:
    """(line, name) of every comparison or match case against a name in ``known``, or against
    a constant of ``named`` (``PIANOROLL`` or ``handlers.PIANOROLL`` → "pianoroll")."""
    named = named or {}
    found = []
    for node in ast.walk(ast.parse(source)):
        operands: list[ast.AST] = []
        if isinstance(node, ast.Compare):
            operands = [node.left, *node.comparators]
        elif isinstance(node, ast.MatchValue):
            operands = [node.value]
        elif isinstance(node, ast.Dict):  # a table keyed by names: {"piano_roll": "music"}
            keys = [key for key in node.keys if key is not None]
            found += [(node.lineno, s) for k in keys for s in _strings(k) if s in model_names()]
        for operand in operands:
            found += [(node.lineno, s) for s in _strings(operand) if s in known]
            for item in getattr(operand, "elts", [operand]):
                constant = getattr(item, "id", None) or getattr(item, "attr", None)
                if constant in named:
                    found.append((node.lineno, named[constant]))
    return found


def modules() -> list[Path]:
    """The package's modules outside the registry, and the top-level app launcher."""
    files = [p for p in (ROOT / "generator").rglob("*.py") if REGISTRY not in p.parents]
    return files + [p for p in (ROOT / "app.py",) if p.exists()]


def test_the_checker_finds_a_name_comparison() -> None:
    known = names()
    source = (
        'if loaded.family == "pianoroll":\n    pass\n'
        'kind = "x" if tokenizer.kind in ("characters", "sentencepiece") else "y"\n'
        'match recipe:\n    case "music":\n        pass\n'
        'if cell == "lstm" or "a" in text:\n    pass\n'
        "if entry.family != handlers.PIANOROLL or kind in (MIDI, VOICES):\n    pass\n"
        'TABS = {"midi_events": "compose", "size": 1}\n'
    )
    named = {"PIANOROLL": "pianoroll", "VOICES": "voice_grid"}
    assert constants('PIANOROLL = "pianoroll"\nMUSIC = "music"\n', model_names()) == {
        "PIANOROLL": "pianoroll"
    }
    assert sorted(compared_names(source, known, named)) == [
        (1, "pianoroll"),
        (3, "characters"),
        (3, "sentencepiece"),
        (5, "music"),
        (9, "pianoroll"),
        (9, "voice_grid"),
        (11, "midi_events"),
    ]


def test_no_module_outside_the_registry_compares_family_or_kind_names() -> None:
    known = names()
    assert {"rnn", "pianoroll", "seq2seq", "music", "text", "midi_events", "voice_grid"} <= known
    sources = {path: path.read_text(encoding="utf-8") for path in modules()}
    named = {k: v for s in sources.values() for k, v in constants(s, model_names()).items()}
    offences = []
    for path, source in sources.items():
        relative = path.relative_to(ROOT).as_posix()
        for line, name in compared_names(source, known, named):
            if (relative, name) not in ALLOWED:
                offences.append(f"{relative}:{line}: compares against {name!r}")
    assert not offences, "ask the registry (generator/families/) instead:\n" + "\n".join(offences)
