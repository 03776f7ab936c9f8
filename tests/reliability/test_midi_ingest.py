"""Corrupt MIDI never crashes a run: every input is read, or skipped with a reason.

Property tests feed mutated copies of real files (and plain random bytes) to the corpus reader
and to the single-file readers; the named cases cover truncation, zero notes, absurd tempos and
timing, a 100,000-note file, type-2 files and a folder of 10,000 tiny files.
"""

from __future__ import annotations

import random
import time
import tracemalloc
from pathlib import Path

import mido
import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from reliability_files import EXAMPLES, melody_track, midi_bytes, song

from generator.data.midi_corpus import ReadLimits, load_midi_corpus, read_midi_file
from generator.midi import MidiReadError, read_notes
from generator.midi.parts import read_parts
from generator.tokenizers import MidiEventTokenizer

TOKENIZER = MidiEventTokenizer()
LIMITS = ReadLimits()
SKIP_REASONS = ("empty file", "too large", "not a readable MIDI file", "no notes", "too long")

# Byte runs that make MIDI parsers misbehave: a tempo of 0, a huge delta time, an SMPTE
# division, a meta event longer than the file, running status, a type-2 header word.
NASTY = [
    b"\xff\x51\x03\x00\x00\x00",
    b"\x8f\xff\xff\x7f",
    b"\xe7\x28",
    b"\xff\x7f\x8f\xff\xff\x7f",
    b"\x00\x90\x3c\x40\x00\x3e\x40",
    b"\x00\x02",
    b"MTrk\x00\x00\x00\x00",
]

mutation = st.one_of(
    st.tuples(st.just("set"), st.integers(0, 1 << 16), st.integers(0, 255)),
    st.tuples(st.just("cut"), st.integers(0, 1 << 16)),
    st.tuples(st.just("insert"), st.integers(0, 1 << 16), st.binary(min_size=1, max_size=8)),
    st.tuples(st.just("insert"), st.integers(0, 1 << 16), st.sampled_from(NASTY)),
    st.tuples(st.just("delete"), st.integers(0, 1 << 16), st.integers(1, 16)),
)


def mutate(data: bytes, operations: list[tuple]) -> bytes:
    """Apply byte edits; positions wrap around the current length."""
    out = bytearray(data)
    for operation in operations:
        kind, position = operation[0], operation[1] % (len(out) + 1)
        if kind == "set" and position < len(out):
            out[position] = operation[2]
        elif kind == "cut":
            del out[position:]
        elif kind == "insert":
            out[position:position] = operation[2]
        elif kind == "delete":
            del out[position : position + operation[2]]
    return bytes(out)


def assert_read_or_skipped(entry: dict) -> str:
    """A parsed result with sane tokens, or a skip whose reason is one of the documented ones.
    Returns "read" or the reason's kind."""
    assert isinstance(entry, dict) and ("skip" in entry) != ("tokens" in entry)
    if "skip" in entry:
        assert entry["skip"].startswith(SKIP_REASONS), entry["skip"]
        return entry["skip"].split(":")[0]
    tokens = np.asarray(entry["tokens"])
    assert tokens.ndim == 1 and len(tokens) > 0
    assert 0 <= tokens.min() and tokens.max() < TOKENIZER.vocab_size
    assert 0 < entry["notes"] <= LIMITS.max_notes
    assert 0 <= entry["min_pitch"] <= entry["max_pitch"] <= 127
    assert np.isfinite(entry["seconds"])
    TOKENIZER.decode(tokens)  # what was read can be turned back into notes
    return "read"


def assert_file_readers_agree(data: bytes, path: Path, entry: dict) -> None:
    """read_notes (primers) reads what the corpus reads, by the same parser; read_parts
    (melodies, read track by track with pretty_midi, which is stricter than symusic) returns
    parts or a MidiReadError that names the file. Never another exception."""
    path.write_bytes(data)
    for reader in (read_notes, read_parts):
        try:
            reader(path)
        except MidiReadError as error:
            assert str(path) in str(error)
            if reader is read_notes:
                assert "tokens" not in entry or "too long" in error.reason


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(index=st.integers(0, 3), operations=st.lists(mutation, min_size=1, max_size=6))
def test_mutated_real_files_are_read_or_skipped(seed_files, tmp_path, index, operations):
    data = mutate(seed_files[index], operations)
    entry = read_midi_file(data, TOKENIZER, LIMITS)
    event(assert_read_or_skipped(entry))  # outcomes: pytest --hypothesis-show-statistics
    assert_file_readers_agree(data, tmp_path / "mutated.mid", entry)


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=st.one_of(st.binary(max_size=600), st.binary(max_size=600).map(b"MThd".__add__)))
def test_random_bytes_are_skipped_with_a_reason(tmp_path, data):
    entry = read_midi_file(data, TOKENIZER, LIMITS)
    outcome = assert_read_or_skipped(entry)
    event(outcome)
    assert outcome != "read" or data.startswith(b"MThd")
    assert_file_readers_agree(data, tmp_path / "random.mid", entry)


def test_every_truncation_of_a_real_file_is_read_or_skipped(chorale_bytes):
    full = read_midi_file(chorale_bytes, TOKENIZER, LIMITS)
    assert assert_read_or_skipped(full) == "read" and full["notes"] > 100  # four parts
    outcomes: dict[str, int] = {}
    for cut in range(len(chorale_bytes)):
        kind = assert_read_or_skipped(read_midi_file(chorale_bytes[:cut], TOKENIZER, LIMITS))
        outcomes[kind] = outcomes.get(kind, 0) + 1
    assert sum(outcomes.values()) == len(chorale_bytes)
    assert outcomes["not a readable MIDI file"] > 0.9 * len(chorale_bytes)


def no_notes_files() -> dict[str, bytes]:
    only_meta = mido.MidiFile()
    only_meta.tracks.append(mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=400_000)]))
    drums = mido.MidiFile()
    drums.tracks.append(melody_track([36, 38, 42], channel=9))
    silent = mido.MidiFile()
    silent.tracks.append(
        mido.MidiTrack([mido.Message("note_on", note=60, velocity=0, time=10)] * 5)
    )
    zero_length = mido.MidiFile()
    zero_length.tracks.append(melody_track([60, 64], step=0))
    return {
        "no tracks": midi_bytes(mido.MidiFile()),
        "an empty track": midi_bytes(mido.MidiFile(tracks=[mido.MidiTrack()])),
        "only meta events": midi_bytes(only_meta),
        "only drums": midi_bytes(drums),
        "only velocity-0 note-ons": midi_bytes(silent),
        "only zero-length notes": midi_bytes(zero_length),
    }


@pytest.mark.parametrize("case", list(no_notes_files()))
def test_files_with_zero_notes_are_skipped(case):
    entry = read_midi_file(no_notes_files()[case], TOKENIZER, LIMITS)
    assert entry["skip"].startswith(("no notes", "not a readable MIDI file")), entry


def with_header(data: bytes, ticks_per_beat_word: bytes) -> bytes:
    """The same file with another time-division word in its header (bytes 12-13)."""
    return data[:12] + ticks_per_beat_word + data[14:]


def timing_cases() -> dict[str, tuple[bytes, str]]:
    """name → (file, expected outcome: "read" or the start of the skip reason)."""
    many = tuple(200_000 + 1_000 * (i % 700) for i in range(1_000))
    stalled = mido.MidiFile(ticks_per_beat=96)
    track = melody_track([60, 62])
    track.append(mido.Message("note_on", note=64, velocity=80, time=9_000_000))
    track.append(mido.Message("note_off", note=64, velocity=0, time=10))
    stalled.tracks.append(track)
    plain = midi_bytes(song(1))
    return {
        "tempo 1 µs per beat": (midi_bytes(song(1, tempos=(1,))), "read"),
        "tempo 16.7 s per beat": (midi_bytes(song(1, tempos=(0xFFFFFF,))), "read"),
        "1,000 tempo changes": (midi_bytes(song(1, tempos=many)), "read"),
        # notes are read in beats (ticks), so a tempo of 0 harms nothing: symusic reads them
        "tempo 0": (midi_bytes(song(1, tempos=(500_000, 0))), "read"),
        "1 tick per beat": (midi_bytes(song(1, ticks_per_beat=1)), "read"),
        "32,767 ticks per beat": (midi_bytes(song(1, ticks_per_beat=32_767)), "read"),
        "0 ticks per beat": (with_header(plain, b"\x00\x00"), "not a readable MIDI file"),
        "SMPTE timing": (with_header(plain, b"\xe7\x28"), "not a readable MIDI file"),
        "a 94,000-beat gap": (midi_bytes(stalled), "too long"),
    }


@pytest.mark.parametrize("case", list(timing_cases()))
def test_absurd_tempos_and_timing_are_read_or_skipped_quickly_and_in_little_memory(case):
    data, expected = timing_cases()[case]
    tracemalloc.start()
    started = time.perf_counter()
    try:
        entry = read_midi_file(data, TOKENIZER, LIMITS)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert assert_read_or_skipped(entry).startswith(expected), entry
    # before the caps were checked on the raw events, the 94,000-beat gap (a 100-byte file)
    # made pretty_midi build 240 MB of tick tables before the file was skipped
    assert peak < 20_000_000 and time.perf_counter() - started < 5


def test_a_type_2_file_is_read_with_all_its_tracks():
    entry = read_midi_file(midi_bytes(song(2)), TOKENIZER, LIMITS)
    assert assert_read_or_skipped(entry) == "read"
    assert entry["notes"] == 16 + 4  # melody and bass; the drum track is dropped


def many_notes(count: int) -> bytes:
    """A one-track file of ``count`` notes in four-note eighth-note chords (``count`` / 8
    beats), written byte by byte (mido takes seconds to build 200,000 messages): running
    status, a note-on of velocity 0 as note-off."""
    events = bytearray()
    for first in range(0, count, 4):
        chord = [36 + (first + k * 7) % 60 for k in range(min(4, count - first))]
        for pitch in chord:  # (delta time, pitch, velocity)
            events += bytes([0, pitch, 80])
        for k, pitch in enumerate(chord):
            events += bytes([0 if k else 24, pitch, 0])
    events[1:1] = b"\x90"  # the status byte, once
    events += b"\x00\xff\x2f\x00"
    header = b"MThd\x00\x00\x00\x06\x00\x00\x00\x01\x00\x30"  # type 0, one track, 48 per beat
    return header + b"MTrk" + len(events).to_bytes(4, "big") + bytes(events)


def test_a_100000_note_file_is_read_whole():
    data = many_notes(100_000)
    started = time.perf_counter()
    entry = read_midi_file(data, TOKENIZER, LIMITS)
    seconds = time.perf_counter() - started
    assert assert_read_or_skipped(entry) == "read"
    assert entry["notes"] == 100_000 and len(data) < LIMITS.max_file_bytes
    assert seconds < 60, f"reading 100,000 notes took {seconds:.1f} s"
    too_many = read_midi_file(many_notes(1_001), TOKENIZER, ReadLimits(max_notes=1_000))
    assert too_many["skip"] == "too long: 1,001 notes > cap 1,000"


def test_a_folder_of_10000_tiny_files(tmp_path):
    """Valid one-note files, empty files, garbage and cut headers, in 100 style folders."""
    folder = tmp_path / "midi"
    one_note = midi_bytes(mido.MidiFile(tracks=[melody_track([60])]))
    rng = random.Random(0)
    expected = {"read": 0, "empty file": 0, "not a readable MIDI file": 0}
    for index in range(10_000):
        kind = index % 4
        if kind == 0:  # distinct content, so the cache cannot answer for a twin
            data = one_note.replace(b"<", bytes([36 + index % 60])) + index.to_bytes(4, "big")
            expected["read"] += 1
        elif kind == 1:
            data = b""
            expected["empty file"] += 1
        elif kind == 2:
            data = rng.randbytes(rng.randint(1, 64))
            expected["not a readable MIDI file"] += 1
        else:
            data = one_note[: rng.randint(1, 21)]
            expected["not a readable MIDI file"] += 1
        style = folder / f"style{index // 100:02d}"
        style.mkdir(parents=True, exist_ok=True)
        (style / f"{index:05d}.mid").write_bytes(data)

    started = time.perf_counter()
    corpus = load_midi_corpus(folder, cache_dir=tmp_path / "cache", progress=False)
    seconds = time.perf_counter() - started
    report = corpus.report
    # identical bytes are read once: the 2,500 empty files are one file and 2,499 duplicates
    empty = [name for name, reason in report.skipped if reason.startswith("empty file")]
    assert len(empty) == 1
    assert sum(original == empty[0] for _, original in report.duplicates) == 2_499
    assert report.files_found == 10_000 and report.files_read == expected["read"]
    assert report.files_read + len(report.skipped) + len(report.duplicates) == 10_000
    for _, reason in report.skipped:  # symusic finds a valid, empty file in some random bytes
        assert reason.startswith(("empty file", "not a readable MIDI file", "no notes")), reason
    assert len(corpus.train) + len(corpus.valid) == expected["read"]
    assert len(report.styles) == 100 and "... and" in report.summary()
    assert seconds < 60, f"reading 10,000 tiny files took {seconds:.1f} s"

    again = load_midi_corpus(folder, cache_dir=tmp_path / "cache", progress=False)
    unique = 10_000 - len(report.duplicates)
    assert again.report.cached_files == unique and again.report.skipped == report.skipped
