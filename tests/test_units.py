"""Reading and printing counts (bayes_scaling.units): 70B params, 1.4T tokens, 5.76e23 FLOPs."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bayes_scaling.units import format_count, format_flops, parse_count


# ------------------------------------------------------------------ parse_count
@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("70B", 70e9),
        ("1.4T", 1.4e12),
        ("1.4t", 1.4e12),
        ("70b", 70e9),
        ("500m", 500e6),
        ("500M", 500e6),
        ("2.5e9", 2.5e9),
        ("7e10", 7e10),
        ("1k", 1e3),
        ("1K", 1e3),
        ("3G", 3e9),
        ("2P", 2e15),
        (".5B", 0.5e9),
        ("5.B", 5e9),
        ("+4k", 4e3),
        ("-3M", -3e6),
        ("1e3k", 1e6),
        ("2.5E-3M", 2.5e3),
        ("  7e10  ", 7e10),
        ("1 B", 1e9),
        ("0", 0.0),
        ("123", 123.0),
    ],
)
def test_parse_count_text(text, value):
    got = parse_count(text)
    assert type(got) is float
    assert got == pytest.approx(value, rel=1e-15)


@pytest.mark.parametrize(
    "value", [7, 7.5, 70_000_000_000, np.int64(3), np.int32(-2), np.float32(2.5), np.float64(1.4e12)], ids=repr
)
def test_parse_count_numbers_pass_through_as_float(value):
    got = parse_count(value)
    assert type(got) is float
    assert got == float(value)


def test_parse_count_non_finite_floats_pass_through():
    assert math.isnan(parse_count(float("nan")))
    assert parse_count(np.inf) == math.inf


@pytest.mark.parametrize(
    "bad",
    [
        "7X",
        "1.4bn",
        "seven",
        "",
        "   ",
        "B",
        "1e",
        "--1",
        "1,000",
        "1 000",
        "nan",
        "inf",
        "1.4TB",
        "k1",
        "7B7",
        "0x10",
        None,
        True,
        False,
        np.True_,
        [70],
        b"70B",
    ],  # fmt: skip
    ids=repr,
)
def test_parse_count_rejects_with_the_text(bad):
    with pytest.raises(ValueError, match=re.escape(f"cannot read {bad!r} as a number")) as info:
        parse_count(bad)
    assert "70B" in str(info.value) and "1.4T" in str(info.value)  # says how to write it


@pytest.mark.parametrize(
    ("text", "plain"), [("8.2B", "8.2e9"), ("4.1M", "4.1e6"), ("16.1k", "16.1e3"), ("8.7T", "8.7e12")]
)
def test_parse_count_suffix_is_exact(text, plain):
    # float('8.2') * 1e9 would give 8199999999.999999
    assert parse_count(text) == float(plain)


def test_parse_count_huge_int():
    # beyond float range, like float("1e400"): infinite, not an OverflowError
    assert parse_count(10**400) == math.inf
    assert parse_count(-(10**400)) == -math.inf
    assert parse_count("1e400") == math.inf


# ------------------------------------------------------------------ format_count
@pytest.mark.parametrize(
    ("value", "text"),
    [
        (7e10, "70B"),
        (1.4e12, "1.4T"),
        (5e8, "500M"),
        (2.5e9, "2.5B"),
        (1e3, "1k"),
        (999, "999"),
        (123456, "123k"),
        (1.23456e9, "1.23B"),
        (1e15, "1P"),
        (9.99e17, "999P"),
        (1e18, "1e18"),
        (5.76e23, "5.76e23"),
        (0, "0"),
        (0.0, "0"),
        (0.5, "0.5"),
        (-7e10, "-70B"),
        (-1.5e6, "-1.5M"),
    ],
)
def test_format_count(value, text):
    assert format_count(value) == text


def test_format_count_digits():
    assert format_count(1.23456e9, digits=2) == "1.2B"
    assert format_count(1.23456e9, digits=5) == "1.2346B"
    assert format_count(5.7612e23, digits=2) == "5.8e23"


@pytest.mark.parametrize(("value", "text"), [(math.nan, "nan"), (math.inf, "inf"), (-math.inf, "-inf"), (None, "None")])
def test_format_count_non_finite(value, text):
    assert format_count(value) == text


@pytest.mark.parametrize(("value", "text"), [(999.9e9, "1T"), (999.96e6, "1B"), (999.7, "1k"), (999.95e3, "1M")])
def test_format_count_rounds_up_into_next_suffix(value, text):
    # rounding 999.9 up to 1000 must move to the next suffix, not print '1e+03B'
    assert format_count(value) == text


@pytest.mark.parametrize("value", [999.95e15, 999.9e15])
def test_format_count_rounds_up_from_p_into_scientific(value):
    # 999.95e15 rounds to 1e18: scientific notation, not '1e+03P'
    assert format_count(value) == "1e18"


# ------------------------------------------------------------------ format_flops
@pytest.mark.parametrize(
    ("value", "text"),
    [
        (5.76e23, "5.76e23"),
        (1e18, "1e18"),
        (6e18, "6e18"),
        (1.234e-5, "1.23e-5"),
        (1, "1e0"),
        (9.9999e22, "1e23"),  # mantissa rounds up to 10: carried into the exponent
        (9.994e22, "9.99e22"),
        (1.5e25, "1.5e25"),
    ],
)
def test_format_flops(value, text):
    assert format_flops(value) == text


def test_format_flops_digits():
    assert format_flops(5.7612e23, digits=2) == "5.8e23"
    assert format_flops(5.7612e23, digits=4) == "5.761e23"
    assert format_flops(9.96e20, digits=2) == "1e21"


@pytest.mark.parametrize(("value", "text"), [(0, "0"), (math.nan, "nan"), (math.inf, "inf"), (None, "None")])
def test_format_flops_zero_or_non_finite_as_str(value, text):
    assert format_flops(value) == text


@pytest.mark.parametrize(("value", "text"), [(-1.0, "-1e0"), (-5.76e23, "-5.76e23")])
def test_format_flops_negative_keeps_the_sign(value, text):
    assert format_flops(value) == text


def test_format_count_negative_beyond_peta_is_scientific():
    assert format_count(-1e18) == "-1e18"
    assert format_count(-7e10) == "-70B"


# ------------------------------------------------------------------ round trips
@pytest.mark.parametrize("text", ["70B", "1.4T", "500M", "2.5B", "1k", "1P", "123k", "7.5M", "5.76e23", "1e18", "999"])
def test_text_round_trip(text):
    assert format_count(parse_count(text)) == text


@pytest.mark.parametrize(
    "value", [7e10, 1.4e12, 5e8, 1.23e9, 4.56e5, 7.89e14, 3.21e19, 5.76e23, 42.0, 1e3, 1e6, 1e9, 1e12, 1e15]
)
def test_value_round_trip_exact_for_three_digit_values(value):
    assert parse_count(format_count(value)) == pytest.approx(value, rel=1e-14)
    assert parse_count(format_flops(value)) == pytest.approx(value, rel=1e-14)


@settings(max_examples=300, deadline=None, database=None)
@given(st.floats(min_value=1e-6, max_value=1e40), st.integers(min_value=1, max_value=8), st.booleans())
def test_value_round_trip_within_rounding(value, digits, negative):
    # rounding to `digits` significant figures moves a value by at most half a unit in the last place
    tol = 0.5 * 10.0 ** (1 - digits) * (1 + 1e-9)
    signed = -value if negative else value
    assert parse_count(format_count(signed, digits)) == pytest.approx(signed, rel=tol)
    assert parse_count(format_flops(value, digits)) == pytest.approx(value, rel=tol)
