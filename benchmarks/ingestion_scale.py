"""Corpus ingestion at scale: a synthetic folder of 50,000 MIDI files, cold and cached.

The folder is made from the built corpus (``datasets/music``) by cutting each piece into
8-bar pieces and transposing them by -5..+6 semitones (symusic writes them), until there are
``--files`` files in 100 style folders. Each case runs in a fresh child process, which reports
its wall time and its own peak resident memory (ru_maxrss):

  ours, cold        load_midi_corpus with an empty cache folder: find, hash, read with
                    symusic, encode columns, split, write the cache
  ours, cached      the same call again, its cache now full
  previous reader   what the reader did per file before symusic (mido + pretty_midi parse,
                    merge the tracks to notes, encode note by note), on ``--sample`` files
  pretty_midi parse pretty_midi.PrettyMIDI on each file's bytes, nothing else (the floor of any
                    reader built on it), on the same ``--sample`` files

    python benchmarks/ingestion_scale.py --source datasets/music --files 50000
    python benchmarks/ingestion_scale.py --files 5000 --sample 500      # a quick look
"""

from __future__ import annotations

import io
import multiprocessing
import resource
import shutil
import tempfile
import time
from pathlib import Path

import common  # noqa: I001  (puts the repository on sys.path)
import symusic

from generator.data.midi_corpus import find_midi_files


def build_folder(source: Path, target: Path, count: int) -> list[Path]:
    """``count`` files cut (8 bars of 4/4 from a rotating offset) and transposed from
    ``source``'s pieces, in 100 folders."""
    pieces = []
    for path in find_midi_files(source):
        try:
            pieces.append(symusic.Score(str(path)))
        except Exception:
            continue
    written = []
    index = 0
    for round_ in range(10**6):
        if len(written) >= count:
            break
        for number, score in enumerate(pieces):
            if len(written) >= count:
                break
            # round r: transposed by r % 12 - 5, cut from bar (r // 12 + number) % bars, so
            # no two files are the same until a piece has run out of distinct cuts
            tpq = score.ticks_per_quarter
            bars = max(1, score.end() // (4 * tpq))
            offset = ((round_ // 12 + number) % bars) * 4 * tpq
            cut = score.clip(offset, offset + 32 * tpq, clip_end=True)
            cut = cut.shift_time(-offset).shift_pitch(round_ % 12 - 5)
            folder = target / f"style{index % 100:02d}"
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"piece{index:06d}.mid"
            cut.dump_midi(str(path))
            written.append(path)
            index += 1
    return written


def _child(case: str, folder: str, cache: str, sample: list[str], queue) -> None:
    from generator.data.midi_corpus import load_midi_corpus

    started = time.perf_counter()
    if case.startswith("ours"):
        corpus = load_midi_corpus(folder, cache_dir=Path(cache), progress=False)
        files = corpus.report.files_found
    elif case == "previous reader":
        from generator.midi.notes import MidiReadError, notes_from_pretty_midi, parse_midi
        from generator.tokenizers import MidiEventTokenizer

        tokenizer = MidiEventTokenizer()
        for name in sample:
            try:
                tokenizer.encode(notes_from_pretty_midi(parse_midi(Path(name).read_bytes())))
            except MidiReadError:
                pass
        files = len(sample)
    else:
        import pretty_midi

        for name in sample:
            try:
                pretty_midi.PrettyMIDI(io.BytesIO(Path(name).read_bytes()))
            except Exception:
                pass
        files = len(sample)
    seconds = time.perf_counter() - started
    queue.put((files, seconds, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024))


def run_case(case: str, folder: Path, cache: Path, sample: list[str]) -> tuple[int, float, float]:
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    child = context.Process(target=_child, args=(case, str(folder), str(cache), sample, queue))
    child.start()
    result = queue.get()
    child.join()
    return result


def main() -> None:
    p = common.parser(__doc__.split("\n\n")[0], repeats=1)
    p.add_argument("--source", default=str(common.ROOT / "datasets" / "music"))
    p.add_argument("--files", type=int, default=50_000)
    p.add_argument("--sample", type=int, default=2_000, help="files the slow references read")
    p.add_argument("--keep", type=Path, help="build the folder here and keep it")
    args = p.parse_args()
    common.setup(args)
    print(f"# Corpus ingestion at scale: {common.machine()}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or Path(tmp) / "corpus"
        started = time.perf_counter()
        if folder.exists() and any(folder.iterdir()):
            files = find_midi_files(folder)
        else:
            files = build_folder(Path(args.source).expanduser(), folder, args.files)
        size = sum(f.stat().st_size for f in files)
        print(
            f"{len(files):,} files ({size / 1e6:.1f} MB) in {folder} "
            f"(ready in {time.perf_counter() - started:.0f} s)",
            flush=True,
        )
        step = max(1, len(files) // args.sample)
        sample = [str(f) for f in files[::step][: args.sample]]
        cache = Path(tmp) / "cache"
        rows, rates = [], {}
        for case in ("ours, cold", "ours, cached", "previous reader", "pretty_midi parse"):
            count, seconds, rss = run_case(case, folder, cache, sample)
            rates[case] = count / seconds
            rows.append(
                [case, f"{count:,}", f"{seconds:.1f}", common.fmt(rates[case]), f"{rss:.0f}"]
            )
            print(
                f"  {case}: {count:,} files in {seconds:.1f} s, peak RSS {rss:.0f} MB", flush=True
            )
        shutil.rmtree(cache, ignore_errors=True)
    print()
    print(common.table(["reader", "files", "seconds", "files/s", "peak RSS (MB)"], rows))
    print(
        f"cold ÷ previous reader: {rates['ours, cold'] / rates['previous reader']:.1f}×; "
        f"cold ÷ pretty_midi parse alone: {rates['ours, cold'] / rates['pretty_midi parse']:.1f}×; "
        f"cached ÷ cold: {rates['ours, cached'] / rates['ours, cold']:.1f}×"
    )
    print(f"(load average now {common.load_average()})")


if __name__ == "__main__":
    main()
