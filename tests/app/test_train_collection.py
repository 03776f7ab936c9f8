"""The Train tab on a personal collection: staged uploads keep the names that group versions
of a tune, so the training split keeps each tune on one side and the report says so."""

from __future__ import annotations

import zipfile
from pathlib import Path

from generator.app.uploads import stage_uploads
from generator.data.midi_corpus import load_midi_corpus
from tests.data.test_midi_collection import collection


def test_versions_uploaded_in_a_zip_stay_on_one_side_and_duplicates_are_reported(tmp_path):
    root = collection(tmp_path / "tunes", tunes=10)  # each tune 3 times, and one exact copy
    upload = tmp_path / "tunes.zip"
    with zipfile.ZipFile(upload, "w") as archive:
        for path in sorted(root.rglob("*.*")):
            archive.write(path, path.relative_to(root).as_posix())
    loose = root / "tune03.mid"  # the same name again, loose: numbered, not overwritten
    folder = tmp_path / "job" / "data"

    staged = stage_uploads([str(upload), str(loose)], folder)

    assert staged.files == 32
    assert (folder / "melody" / "Tune03.mid").exists() and (folder / "tune03-2.mid").exists()
    corpus = load_midi_corpus(folder, cache_dir=None, progress=False, valid_fraction=0.3)
    train = {Path(p.name).stem.lower() for p in corpus.train}
    valid = {Path(p.name).stem.lower() for p in corpus.valid}
    assert train and valid and not train & valid  # no tune on both sides
    summary = corpus.report.summary()
    assert "10 groups of 2+ files" in summary
    assert "2 duplicates" in summary  # the copy of tune00, and tune03 uploaded twice
    assert "same bytes as copy-of-tune00.mid" in summary
