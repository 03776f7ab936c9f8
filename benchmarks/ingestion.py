"""Corpus ingestion: MIDI files read per second, cold (empty cache) and cached.

Ours is ``generator.data.midi_corpus.load_midi_corpus`` as training runs it: find the files,
hash each one (SHA-256), parse and tokenize it unless the cache holds its tokens, merge and
split. Cold runs start from an empty cache folder (a fresh temporary folder each round, so
~/.cache/rnn-generator is never touched); cached runs re-read the folder with that cache
filled. References, on the same files in the same run:

  pretty_midi parse   pretty_midi.PrettyMIDI on each file's bytes, nothing else: the floor of
                      any cold read through pretty_midi
  read + SHA-256      read every file and hash it: what a cached run cannot skip

    python benchmarks/ingestion.py                          # datasets/music, 300 files
    python benchmarks/ingestion.py --folder ~/my-midi --files 0     # every file
"""

from __future__ import annotations

import hashlib
import io
import itertools
import shutil
import tempfile
from pathlib import Path

import common  # noqa: I001  (puts the repository on sys.path)
import pretty_midi

from generator.data.midi_corpus import find_midi_files, load_midi_corpus


def sample_folder(source: Path, files: int, target: Path) -> list[Path]:
    """Every k-th file of ``source`` (styles kept: same subfolders), linked into ``target``."""
    found = find_midi_files(source)
    if files and files < len(found):
        step = len(found) / files
        found = [found[int(i * step)] for i in range(files)]
    linked = []
    for path in found:
        link = target / path.relative_to(source)
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(path.resolve())
        linked.append(link)
    return linked


def main() -> None:
    p = common.parser(__doc__.split("\n\n")[0], repeats=3)
    p.add_argument("--folder", default=str(common.ROOT / "datasets" / "music"))
    p.add_argument("--files", type=int, default=300, help="files sampled from it (0 = all)")
    args = p.parse_args()
    common.setup(args)
    print(f"# Corpus ingestion: {common.machine()}")
    with tempfile.TemporaryDirectory() as tmp:
        corpus_dir = Path(tmp) / "corpus"
        files = sample_folder(Path(args.folder).expanduser(), args.files, corpus_dir)
        n = len(files)
        size = sum(f.stat().st_size for f in files)
        print(f"{n} files ({size / 1e6:.1f} MB) from {args.folder}; {args.repeats} rounds\n")
        warm_cache = Path(tmp) / "warm-cache"
        load_midi_corpus(corpus_dir, cache_dir=warm_cache, progress=False)
        rounds = itertools.count()

        def cold() -> float:
            cache = Path(tmp) / f"cold-{next(rounds)}"
            try:
                return common.rate(
                    n, lambda: load_midi_corpus(corpus_dir, cache_dir=cache, progress=False)
                )
            finally:
                shutil.rmtree(cache, ignore_errors=True)

        def parse_only() -> None:
            for f in files:
                try:
                    pretty_midi.PrettyMIDI(io.BytesIO(f.read_bytes()))
                except Exception:  # a bad file costs what it costs
                    pass

        def hash_only() -> None:
            for f in files:
                hashlib.sha256(f.read_bytes()).hexdigest()

        results = common.interleave(
            {
                "ours, cold": cold,
                "pretty_midi parse": lambda: common.rate(n, parse_only),
                "ours, cached": lambda: common.rate(
                    n, lambda: load_midi_corpus(corpus_dir, cache_dir=warm_cache, progress=False)
                ),
                "read + SHA-256": lambda: common.rate(n, hash_only),
            },
            args.repeats,
        )
    rows = [
        ["ours, cold", common.fmt(common.median(results["ours, cold"])), ""],
        [
            "pretty_midi parse",
            common.fmt(common.median(results["pretty_midi parse"])),
            f"{common.ratio(results, 'ours, cold', 'pretty_midi parse'):.2f}×",
        ],
        [
            "ours, cached",
            common.fmt(common.median(results["ours, cached"])),
            f"{common.ratio(results, 'ours, cached', 'ours, cold'):.1f}× cold",
        ],
        [
            "read + SHA-256",
            common.fmt(common.median(results["read + SHA-256"])),
            f"{common.ratio(results, 'ours, cached', 'read + SHA-256'):.2f}× (cached ÷ it)",
        ],
    ]
    print(common.table(["reader", "files/s", "ratio"], rows))
    print("(ratio: ours ÷ the reference of its row; cached ÷ cold on the cached row)")
    print(f"(load average now {common.load_average()})")


if __name__ == "__main__":
    main()
