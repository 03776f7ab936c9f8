"""Input checks shared by the CLI and the app: each names the allowed range."""

from __future__ import annotations

import math

import pytest

from generator import validation as v

CASES = [
    # (check, good values, out-of-range values, the message naming the allowed range)
    (v.check_program, [0, 127, 40.0], [-1, 128], "program must be a whole number in [0, 127]"),
    (v.check_bpm, [20, 400, 97.5], [19.9, 401, 0], "tempo (BPM) must be a number in [20, 400]"),
    (v.check_bars, [0.25, 256], [0, -1, 256.5], "bars must be a number in (0, 256]"),
    (v.check_seconds, [0.5, 600], [0, 600.1], "seconds must be a number in (0, 600]"),
    (
        v.check_variations,
        [1, 16],
        [0, 17],
        "number of variations must be a whole number in [1, 16]",
    ),
    (v.check_beats_per_bar, [1, 16], [0, 17], "beats per bar must be a whole number in [1, 16]"),
]


@pytest.mark.parametrize(
    ("check", "good", "bad", "message"), CASES, ids=[c[0].__name__ for c in CASES]
)
def test_each_check_accepts_its_range_and_names_it_when_refusing(check, good, bad, message):
    for value in good:
        assert check(value) == value
    for value in bad:
        with pytest.raises(ValueError) as error:
            check(value)
        assert str(error.value) == f"{message}, got {value:g}"


@pytest.mark.parametrize("check", [v.check_program, v.check_variations, v.check_beats_per_bar])
def test_whole_number_checks_refuse_fractions(check):
    with pytest.raises(ValueError, match="must be a whole number, got 2.5"):
        check(2.5)


def test_whole_numbers_come_back_as_int():
    assert isinstance(v.check_program(5.0), int)
    assert isinstance(v.check_variations("3"), int)


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_non_finite_numbers_are_refused(value):
    with pytest.raises(ValueError, match="bars must be a finite number"):
        v.check_bars(value)


@pytest.mark.parametrize("value", ["fast", None, [1]])
def test_non_numbers_are_refused(value):
    with pytest.raises(ValueError, match="tempo \\(BPM\\) must be a number, got"):
        v.check_bpm(value)


def test_sampling_checks():
    assert v.check_sampling(0.5, 0, 1.0) == (0.5, 0, 1.0)
    assert v.check_sampling(10, v.MAX_TOKENS, 0.01) == (10, v.MAX_TOKENS, 0.01)
    for args, message in [
        ((0, 0, 1.0), "temperature must be a number in (0, 10], got 0"),
        ((10.5, 0, 1.0), "temperature must be a number in (0, 10], got 10.5"),
        ((1.0, -1, 1.0), "top-k must be a whole number in [0, 100000], got -1"),
        ((1.0, 0, 0.0), "top-p must be a number in (0, 1], got 0"),
        ((1.0, 0, 1.01), "top-p must be a number in (0, 1], got 1.01"),
    ]:
        with pytest.raises(ValueError) as error:
            v.check_sampling(*args)
        assert message in str(error.value)


def test_check_range_open_and_closed_bounds():
    assert v.check_range("x", 0, 0, 1) == 0
    with pytest.raises(ValueError, match=r"x must be a number in \(0, 1\], got 0"):
        v.check_range("x", 0, 0, 1, low_open=True)
