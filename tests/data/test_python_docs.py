import ast
import inspect

import pytest

from generator.data import python_docs


def test_reference_text_is_the_language_reference():
    from pydoc_data.topics import topics

    text = python_docs.reference_text()
    assert len(text) > 300_000
    assert 'The "if" statement' in text
    assert all(topics[key].strip() in text for key in topics)  # every topic, whole
    assert text.index(topics["assert"].strip()) < text.index(topics["while"].strip())  # sorted


def _docstring(module, name: str) -> str:
    tree = ast.parse(inspect.getsource(module))
    return next(ast.get_docstring(n) for n in ast.walk(tree) if getattr(n, "name", "") == name)


def test_stdlib_docstrings_are_long_unique_and_from_the_standard_library():
    import json

    text = python_docs.stdlib_docstrings(min_chars=1500)
    assert len(text) > 50_000
    dumps, load = _docstring(json, "dumps"), _docstring(json, "load")  # 1,792 and 860 chars
    assert len(dumps) >= 1500 > len(load)
    assert text.count(dumps) == 1  # a long stdlib docstring, once
    assert load not in text  # shorter than min_chars
    assert inspect.getdoc(pytest.approx)[:300] not in text  # site-packages are left out


def test_build_writes_once_then_caches(tmp_path, monkeypatch):
    monkeypatch.setattr(python_docs, "stdlib_docstrings", lambda: "Docstring text.\n")
    first = python_docs.build_text_corpus(tmp_path)
    assert not first.cached
    assert first.files[python_docs.DOCSTRINGS_FILE] == len("Docstring text.\n")
    reference = tmp_path / python_docs.REFERENCE_FILE
    mtime = reference.stat().st_mtime_ns
    second = python_docs.build_text_corpus(tmp_path)
    assert second.cached and reference.stat().st_mtime_ns == mtime
    assert "cached" in second.summary()
    assert list(tmp_path.glob("*.tmp")) == []
