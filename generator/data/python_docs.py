"""A built-in English text corpus from what every Python installation carries.

    python-reference.txt   the Python Language Reference topics (``pydoc_data.topics``, the
                           text behind ``help("if")``), ~0.46 MB
    python-docstrings.txt  docstrings of at least 200 characters from the standard library's
                           own modules (no tests, no site-packages), ~1.1 MB

Nothing is downloaded; nothing is committed (datasets/text/ is git-ignored). The files are
built once and rebuilt only when missing, or with ``force``.
"""

from __future__ import annotations

import ast
import sysconfig
import time
from dataclasses import dataclass
from pathlib import Path

from generator.atomic import write_text_atomic

REFERENCE_FILE = "python-reference.txt"
DOCSTRINGS_FILE = "python-docstrings.txt"
_SKIP_TOP = {"site-packages", "dist-packages", "test", "idlelib", "lib2to3", "turtledemo"}


@dataclass
class TextBuildReport:
    """What was written, with sizes in characters."""

    files: dict[str, int]
    seconds: float
    cached: bool

    def summary(self) -> str:
        parts = ", ".join(f"{name} ({chars:,} characters)" for name, chars in self.files.items())
        how = "cached" if self.cached else f"built in {self.seconds:.1f} s"
        return f"text corpus ({how}): {parts}"


def reference_text() -> str:
    """The Language Reference topics, in a fixed order, separated by blank lines."""
    from pydoc_data.topics import topics

    return "\n\n".join(topics[key].strip() for key in sorted(topics)) + "\n"


def stdlib_docstrings(min_chars: int = 200) -> str:
    """Long docstrings from the standard library's modules, deduplicated, in file order."""
    root = Path(sysconfig.get_paths()["stdlib"])
    seen: set[str] = set()
    docs: list[str] = []
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root).parts
        if parts[0] in _SKIP_TOP or "tests" in parts:
            continue
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError, OSError, ValueError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
                doc = ast.get_docstring(node)
                if doc and len(doc) >= min_chars and doc not in seen:
                    seen.add(doc)
                    docs.append(doc)
    return "\n\n".join(docs) + "\n"


def build_text_corpus(out_dir: str | Path, *, force: bool = False) -> TextBuildReport:
    """Write the two text files into ``out_dir`` (atomically), unless both already exist."""
    started = time.perf_counter()
    out_dir = Path(out_dir)
    targets = {REFERENCE_FILE: reference_text, DOCSTRINGS_FILE: stdlib_docstrings}
    cached = not force and all((out_dir / name).exists() for name in targets)
    sizes = {}
    for name, make in targets.items():
        path = out_dir / name
        if cached:
            sizes[name] = len(path.read_text(encoding="utf-8"))
            continue
        text = make()
        write_text_atomic(path, text)
        sizes[name] = len(text)
    return TextBuildReport(sizes, time.perf_counter() - started, cached)
