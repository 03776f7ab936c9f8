"""MIDI event tokenizer: round trips (property tests), robustness and plain-type state."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from generator.midi import Note, read_notes, write_midi
from generator.tokenizers import MidiEventTokenizer, tokenizer_from_dict

EPS = 1e-9
TOKENIZERS = [
    MidiEventTokenizer(),
    MidiEventTokenizer(steps_per_beat=4, max_shift=8, max_duration=6, velocity_bins=8),
]

notes_strategy = st.lists(
    st.builds(
        Note,
        start=st.floats(0, 64, allow_nan=False, allow_infinity=False),
        duration=st.floats(1e-3, 16, allow_nan=False, allow_infinity=False),
        pitch=st.integers(0, 127),
        velocity=st.integers(1, 127),
    ),
    max_size=40,
)


def grid_key(tokenizer: MidiEventTokenizer, note: Note) -> tuple[int, int, int, int]:
    """(pitch, onset step, duration steps, velocity bin) as the tokenizer should quantize."""
    spb = tokenizer.steps_per_beat
    start = round(note.start * spb)
    return (
        note.pitch,
        start,
        max(1, round(note.end * spb) - start),
        tokenizer.velocity_bin(note.velocity),
    )


def assert_round_trip(tokenizer: MidiEventTokenizer, notes: list[Note]) -> None:
    """Pitch exact, onset and duration within one step, velocity within its bin."""
    decoded = tokenizer.decode(tokenizer.encode(notes))
    assert len(decoded) == len(notes)
    step = 1 / tokenizer.steps_per_beat
    originals = sorted(notes, key=lambda n: grid_key(tokenizer, n))
    decoded = sorted(decoded, key=lambda n: (n.pitch, n.start, n.duration, n.velocity))
    for original, back in zip(originals, decoded, strict=True):
        assert back.pitch == original.pitch
        assert abs(back.start - original.start) <= step / 2 + EPS
        assert abs(back.duration - original.duration) <= step + EPS
        assert tokenizer.velocity_bin(back.velocity) == tokenizer.velocity_bin(original.velocity)
        assert 1 <= back.velocity <= 127


@pytest.mark.parametrize("tokenizer", TOKENIZERS, ids=["default", "coarse"])
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(notes=notes_strategy)
def test_encode_decode_round_trip(tokenizer, notes):
    assert_round_trip(tokenizer, notes)


@pytest.mark.parametrize("tokenizer", TOKENIZERS, ids=["default", "coarse"])
@settings(max_examples=150, deadline=None)
@given(notes=notes_strategy)
def test_encoding_is_on_the_grid_and_in_the_vocabulary(tokenizer, notes):
    ids = tokenizer.encode(notes)
    assert ids.dtype == np.int32
    specials = {tokenizer.pad_id, tokenizer.bos_id, tokenizer.eos_id}
    assert all(3 <= i < tokenizer.vocab_size and i not in specials for i in ids.tolist())
    assert sum(tokenizer.split(int(i))[0] == "NOTE" for i in ids) == len(notes)
    decoded = tokenizer.decode(ids)
    expected = sorted(grid_key(tokenizer, n) for n in notes)
    assert sorted(grid_key(tokenizer, n) for n in decoded) == expected
    # the clock the length counter sums is the last onset
    last_onset = max((round(n.start * tokenizer.steps_per_beat) for n in notes), default=0)
    assert tokenizer.length_cost("steps")[ids].sum() == last_onset


def _without_same_pitch_overlaps(notes: list[Note]) -> list[Note]:
    """Keep a note only if the previous kept note of its pitch has ended (touching is fine)."""
    kept: list[Note] = []
    last_end: dict[int, float] = {}
    for note in sorted(notes):
        if note.start >= last_end.get(note.pitch, -1.0):
            kept.append(note)
            last_end[note.pitch] = note.end
    return kept


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    notes=st.lists(
        st.builds(
            Note,
            start=st.floats(0, 32, allow_nan=False),
            duration=st.floats(0.02, 8, allow_nan=False),
            pitch=st.integers(0, 127),
            velocity=st.integers(1, 127),
        ),
        max_size=25,
    ),
    bpm=st.sampled_from([60.0, 97.0, 120.0, 180.0]),
)
def test_round_trip_through_a_real_midi_file(tmp_path, notes, bpm):
    """MIDI → tokens → MIDI: notes read from a written file survive encode/decode."""
    tokenizer = MidiEventTokenizer()
    notes = _without_same_pitch_overlaps(notes)
    path = write_midi(notes, tmp_path / "round.mid", bpm=bpm)
    from_file = read_notes(path)
    # the file itself holds the notes (to a tick: pretty_midi writes 220 ticks per beat)
    assert sorted((n.pitch, n.velocity) for n in from_file) == sorted(
        (n.pitch, n.velocity) for n in notes
    )
    for a, b in zip(
        sorted(notes, key=lambda n: (n.pitch, n.start)),
        sorted(from_file, key=lambda n: (n.pitch, n.start)),
        strict=True,
    ):
        assert abs(a.start - b.start) <= 1 / 200
        assert abs(a.end - b.end) <= 1 / 200
    assert_round_trip(tokenizer, from_file)

    # and the decoded notes written again read back as the same grid notes
    decoded = tokenizer.decode(tokenizer.encode(from_file))
    rewritten = read_notes(write_midi(decoded, tmp_path / "again.mid", bpm=bpm))
    # (same-pitch notes quantized onto one onset become one note: MIDI cannot hold both)
    spb = tokenizer.steps_per_beat
    assert {(n.pitch, round(n.start * spb)) for n in rewritten} == {
        (n.pitch, round(n.start * spb)) for n in decoded
    }
    assert len(rewritten) == len({(n.pitch, n.start) for n in decoded})


@pytest.mark.parametrize("tokenizer", TOKENIZERS, ids=["default", "coarse"])
@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_decoding_any_id_sequence_never_raises(tokenizer, data):
    ids = data.draw(st.lists(st.integers(0, tokenizer.vocab_size - 1), max_size=200))
    notes = tokenizer.decode(np.asarray(ids, dtype=np.int64))
    assert all(0 <= n.pitch <= 127 and n.duration > 0 and 1 <= n.velocity <= 127 for n in notes)
    assert notes == sorted(notes)
    assert len(notes) == sum(tokenizer.split(i)[0] == "NOTE" for i in ids)


def test_decode_skips_specials_and_sums_repeated_durations():
    tok = MidiEventTokenizer()
    dur = tok.duration_offset - 1  # DUR_k is dur + k
    shift = tok.shift_offset - 1
    ids = [
        tok.bos_id,
        tok.note_id(60),
        dur + 48,
        dur + 12,
        shift + 6,
        tok.eos_id,
        tok.note_id(62),
        tok.pad_id,
    ]
    notes = tok.decode(ids)
    assert [(n.pitch, n.start, n.duration) for n in notes] == [(60, 0.0, 5.0), (62, 0.5, 1 / 12)]


def test_long_gaps_and_durations_repeat_tokens():
    tok = MidiEventTokenizer(steps_per_beat=4, max_shift=8, max_duration=8)
    notes = [Note(0.0, 5.0, 60, 64), Note(7.25, 0.25, 61, 64)]
    ids = tok.encode(notes)
    names = [tok.token_name(int(i)) for i in ids]
    assert names == [
        "VEL_8",
        "NOTE_60",
        "DUR_8",
        "DUR_8",
        "DUR_4",
        "SHIFT_8",
        "SHIFT_8",
        "SHIFT_8",
        "SHIFT_5",
        "NOTE_61",
        "DUR_1",
    ]
    assert tok.decode(ids) == [
        Note(0.0, 5.0, 60, tok.bin_velocity(8)),
        Note(7.25, 0.25, 61, tok.bin_velocity(8)),
    ]


def test_chords_are_written_in_ascending_pitch_with_no_shift():
    tok = MidiEventTokenizer()
    ids = tok.encode([Note(0, 1, 67, 80), Note(0, 1, 60, 80), Note(0, 1, 64, 80)])
    kinds = [tok.token_name(int(i)) for i in ids]
    assert [k for k in kinds if k.startswith("NOTE")] == ["NOTE_60", "NOTE_64", "NOTE_67"]
    assert not any(k.startswith("SHIFT") for k in kinds)


def test_velocity_bins_cover_0_to_127_and_centres_stay_in_their_bin():
    tok = MidiEventTokenizer(velocity_bins=16)
    bins = [tok.velocity_bin(v) for v in range(128)]
    assert bins[0] == 0 and bins[-1] == 15 and bins == sorted(bins)
    for b in range(16):
        assert tok.velocity_bin(tok.bin_velocity(b)) == b


def test_split_rejects_ids_outside_the_vocabulary():
    tok = MidiEventTokenizer()
    with pytest.raises(ValueError, match="outside the vocabulary"):
        tok.split(tok.vocab_size)


def test_to_dict_from_dict_round_trip():
    tok = MidiEventTokenizer(
        steps_per_beat=6, max_shift=24, max_duration=30, velocity_bins=8, styles=["jig", "reel"]
    )
    data = tok.to_dict()
    assert all(isinstance(v, (str, int, float, list, dict, type(None))) for v in data.values())
    again = tokenizer_from_dict(data)
    assert isinstance(again, MidiEventTokenizer)
    assert again.to_dict() == data
    assert again.vocab_size == tok.vocab_size
    notes = [Note(0.5, 1.0, 60, 100), Note(1.0, 0.5, 72, 30)]
    assert np.array_equal(again.encode(notes), tok.encode(notes))


def test_settings_key_ignores_styles_but_not_resolution():
    a = MidiEventTokenizer(styles=["jig"])
    assert a.settings_key() == MidiEventTokenizer(styles=["reel"]).settings_key()
    assert a.settings_key() != MidiEventTokenizer(steps_per_beat=8).settings_key()


def test_unknown_tokenizer_kind_is_refused():
    with pytest.raises(ValueError, match="unknown tokenizer kind 'nope'"):
        tokenizer_from_dict({"kind": "nope"})


def test_bad_velocity_bins_are_refused():
    with pytest.raises(ValueError, match="divide 128"):
        MidiEventTokenizer(velocity_bins=12)


def test_style_ids_and_unknown_style_message():
    tok = MidiEventTokenizer(styles=["chorale", "reel"])
    assert tok.style_id(None) == 0
    assert tok.style_id("chorale") == 1
    assert tok.style_id("reel") == 2
    with pytest.raises(ValueError) as error:
        tok.style_id("polka")
    assert "'polka'" in str(error.value) and "chorale, reel" in str(error.value)
    with pytest.raises(ValueError, match="no styles"):
        MidiEventTokenizer().style_id("reel")


def test_condition_ids_are_style_and_first_pitch_plus_one():
    tok = MidiEventTokenizer(styles=["chorale", "reel"])
    ids = tok.encode([Note(0, 1, 64, 80), Note(0, 1, 60, 80)])
    assert tok.condition_ids(ids, "reel") == (2, 61)  # lowest note of the first chord
    assert tok.condition_ids(ids, "unknown") == (0, 61)
    assert tok.condition_ids(np.zeros(0, dtype=np.int32), None) == (0, 0)


def test_transpose_shifts_notes_only_and_refuses_out_of_range():
    tok = MidiEventTokenizer()
    notes = [Note(0, 1, 0, 80), Note(1, 1, 60, 80), Note(1, 1, 120, 80)]
    ids = tok.encode(notes)
    up = tok.transpose(ids, 7)
    assert up is not None and len(up) == len(ids)
    assert [n.pitch for n in tok.decode(up)] == [7, 67, 127]
    assert [(n.start, n.duration) for n in tok.decode(up)] == [
        (n.start, n.duration) for n in tok.decode(ids)
    ]
    assert np.array_equal(ids, tok.encode(notes))  # the input is not modified
    assert tok.transpose(ids, 8) is None  # 120 + 8 > 127
    assert tok.transpose(ids, -1) is None  # 0 - 1 < 0
    assert tok.transpose(ids, 0) is ids


def test_meters_add_ids_after_the_velocities_and_open_a_piece():
    tok = MidiEventTokenizer(meters=["3/4", "6/8"], pitch_range=[50, 80])
    plain = MidiEventTokenizer()
    assert tok.vocab_size == plain.vocab_size + 2
    notes = [Note(0.0, 1.5, 62, 80), Note(1.5, 1.5, 64, 80)]
    ids = tok.encode(notes, meter="6/8")
    assert ids[0] == tok.meter_id("6/8") and tok.token_name(int(ids[0])) == "METER_6/8"
    assert np.array_equal(ids[1:], plain.encode(notes))  # everything else is unchanged
    assert tok.decode(ids) == plain.decode(ids[1:])  # the meter id plays nothing
    assert tok.meter_of(ids) == "6/8" and tok.meter_of(ids[1:]) is None
    assert np.array_equal(tok.encode(notes, meter="9/8"), ids[1:])  # unknown: no meter id
    assert tok.length_cost("beats")[ids[0]] == 0
    assert tok.transpose(ids, 2)[0] == ids[0]  # transposition leaves the meter alone
    with pytest.raises(ValueError, match="unknown meter '2/2'; this model knows: 3/4, 6/8"):
        tok.meter_id("2/2")
    with pytest.raises(ValueError, match="learned no meter"):
        plain.meter_id("6/8")


def test_what_the_data_showed_survives_the_dict_and_old_dicts_still_load():
    tok = MidiEventTokenizer(
        styles=["chorale", "reel"],
        meters=["4/4"],
        pitch_range=[36, 81],
        style_ranges={"chorale": [36, 81], "reel": [55, 81]},
        style_voices={"chorale": 4, "reel": 1},
    )
    again = tokenizer_from_dict(tok.to_dict())
    assert again.pitch_range == (36, 81)
    assert again.style_ranges == {"chorale": (36, 81), "reel": (55, 81)}
    assert again.style_voices == {"chorale": 4, "reel": 1} and again.meters == ["4/4"]
    assert again.settings_key() == MidiEventTokenizer().settings_key()  # caches stay valid
    old = {k: v for k, v in tok.to_dict().items() if k in ("kind", "steps_per_beat", "styles")}
    legacy = tokenizer_from_dict(old)  # a checkpoint saved before meters and ranges
    assert legacy.meters == [] and legacy.pitch_range is None and legacy.style_voices == {}
    assert legacy.vocab_size == MidiEventTokenizer().vocab_size
