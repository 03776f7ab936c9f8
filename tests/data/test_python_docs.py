from generator.data import python_docs


def test_reference_text_is_the_language_reference():
    text = python_docs.reference_text()
    assert len(text) > 300_000
    assert 'The "if" statement' in text or "if_stmt" in text


def test_stdlib_docstrings_are_long_unique_english(monkeypatch):
    text = python_docs.stdlib_docstrings(min_chars=2000)
    assert len(text) > 50_000
    assert "the" in text and "Return" in text


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
