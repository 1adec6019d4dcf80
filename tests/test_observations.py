"""Tests for the half-precision observation encoding and the sampler."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from physdocs.grammar import parse_infix
from physdocs.observations import (
    BITS,
    ENCODED_DIM,
    HALF_MAX,
    N_SLOTS,
    UNUSED_BITS,
    UNUSED_CODE,
    ObservationError,
    Observations,
    check_half_range,
    decode_half_bits,
    encode_half_bits,
    encode_observations,
    normalising_exponent,
    sample_observations,
    slot_mask,
)

NAMES = {"a": "x1", "b": "x2", "c": "x3"}


def bits(s: str) -> list[float]:
    return [float(c) for c in s.replace(" ", "")]


def slot(enc: np.ndarray, row: int, i: int) -> np.ndarray:
    return enc[row, i * BITS : (i + 1) * BITS]


def code(b: np.ndarray) -> int:
    return int(decode_half_bits(b).view(np.uint16))


# ---------------------------------------------------------------- bits


@pytest.mark.parametrize(
    ("value", "pattern"),
    [
        (1.0, "0 01111 0000000000"),
        (-2.0, "1 10000 0000000000"),
        (65504.0, "0 11110 1111111111"),
        (2.0**-24, "0 00000 0000000001"),
        (2.0**-14, "0 00001 0000000000"),
        (0.0, "0 00000 0000000000"),
        (-0.0, "1 00000 0000000000"),
        (1 + 2**-11, "0 01111 0000000000"),  # tie -> even mantissa (down)
        (1 + 3 * 2**-11, "0 01111 0000000010"),  # tie -> even mantissa (up)
    ],
)
def test_known_bit_patterns(value: float, pattern: str) -> None:
    out = encode_half_bits(value)
    assert out.shape == (16,) and out.dtype == np.float32
    assert out.tolist() == bits(pattern)


def test_shapes() -> None:
    assert encode_half_bits(np.zeros((3, 4))).shape == (3, 4, 16)
    assert decode_half_bits(np.zeros((3, 4, 16))).shape == (3, 4)
    with pytest.raises(ValueError):
        decode_half_bits(np.zeros(15))
    with pytest.raises(ValueError):
        decode_half_bits(np.full(16, 2))


@given(st.floats(width=16, allow_nan=False))
def test_round_trip_representable(v: float) -> None:
    back = decode_half_bits(encode_half_bits(np.float16(v)))
    assert back == np.float16(v) and np.signbit(back) == np.signbit(v)


def test_round_trip_every_half_word() -> None:
    words = np.arange(2**16, dtype=np.uint16)
    enc = encode_half_bits(words.view(np.float16))  # [65536, 16]
    assert np.array_equal(decode_half_bits(enc).view(np.uint16), words)


def test_unused_pattern_distinct_from_every_finite_value() -> None:
    halves = np.arange(2**16, dtype=np.uint16).view(np.float16)
    finite_codes = halves[np.isfinite(halves)].view(np.uint16)
    assert UNUSED_CODE not in set(finite_codes.tolist())
    assert np.isnan(decode_half_bits(UNUSED_BITS))


# ---------------------------------------------------------------- encode_observations


def test_layout_and_unused_slots() -> None:
    x = np.array([[1.0, -2.0], [0.5, 3.0]])
    y = np.array([7.0, -0.25])
    enc = encode_observations(x, y)
    assert enc.shape == (2, ENCODED_DIM) and enc.dtype == np.float32
    for r in range(2):
        assert np.array_equal(slot(enc, r, 0), encode_half_bits(x[r, 0]))
        assert np.array_equal(slot(enc, r, 1), encode_half_bits(x[r, 1]))
        assert np.array_equal(slot(enc, r, 9), encode_half_bits(y[r]))
        for i in range(2, 9):
            assert code(slot(enc, r, i)) == UNUSED_CODE
            assert np.array_equal(slot(enc, r, i), UNUSED_BITS)


def test_slot_mask() -> None:
    assert slot_mask(2).tolist() == [True, True] + [False] * 7 + [True]
    assert slot_mask(9).all() and slot_mask(0).sum() == 1
    with pytest.raises(ValueError):
        slot_mask(10)


def test_edges_are_legal() -> None:
    x = np.array([[65504.0], [-65504.0], [2.0**-24], [0.0], [-0.0], [1e-6]])
    enc = encode_observations(x, np.ones(6))
    assert code(slot(enc, 2, 0)) == 0x0001  # smallest subnormal, exact bits
    assert code(slot(enc, 4, 0)) == 0x8000
    rep = check_half_range(x, ["x1"])
    assert rep.ok and rep.n_subnormal == (2,)  # 2**-24 and 1e-6


@pytest.mark.parametrize(
    ("col", "value", "column", "word"),
    [
        (1, 65505.0, "x2", "overflow"),  # would round to 65504: still an error, never clipped
        (1, -1e6, "x2", "overflow"),
        (0, 2.0**-25, "x1", "underflow"),
        (2, -1e-30, "y", "underflow"),
        (0, np.nan, "x1", "NaN"),
        (2, np.inf, "y", "inf"),
    ],
)
def test_out_of_range_raises_naming_column(col: int, value: float, column: str, word: str) -> None:
    v = np.ones((4, 3))
    v[2, col] = value
    with pytest.raises(ObservationError) as err:
        encode_observations(v[:, :2], v[:, 2])
    msg = str(err.value)
    assert f"column {column}: 1 of 4" in msg and word in msg and "the variable's range" in msg
    if word in ("overflow", "underflow"):
        assert "rescale the variable's range" in msg


def test_check_half_range_counts_per_column() -> None:
    v = np.array([[1e5, 1e-30], [np.nan, 1.0], [-7e4, 1e-5]])
    rep = check_half_range(v, ["x1", "y"])
    assert rep.columns == ("x1", "y")
    assert rep.n_overflow == (2, 0) and rep.n_underflow == (0, 1)
    assert rep.n_nonfinite == (1, 0) and rep.n_subnormal == (0, 1)
    assert not rep.ok


def test_flag_mode_inf_zero_no_clipping() -> None:
    x = np.array([[70000.0], [-1e6], [-1e-10], [np.nan], [1.0]])
    y = np.array([1.0, 1.0, 1.0, 1.0, 65505.0])
    enc, rep = encode_observations(x, y, on_out_of_range="flag")
    assert code(slot(enc, 0, 0)) == 0x7C00  # +inf, not 65504
    assert code(slot(enc, 1, 0)) == 0xFC00  # -inf
    assert code(slot(enc, 2, 0)) == 0x8000  # signed zero
    assert code(slot(enc, 3, 0)) == 0x7E00 != UNUSED_CODE  # canonical NaN
    assert code(slot(enc, 4, 9)) == 0x7C00
    assert rep.n_overflow == (2, 1) and rep.n_underflow == (1, 0) and rep.n_nonfinite == (1, 0)


def test_bad_shapes() -> None:
    with pytest.raises(ObservationError):
        encode_observations(np.ones((3, 10)), np.ones(3))
    with pytest.raises(ObservationError):
        encode_observations(np.ones((3, 2)), np.ones(4))
    with pytest.raises(ValueError):
        encode_observations(np.ones((3, 2)), np.ones(3), on_out_of_range="clip")  # type: ignore[call-overload]


# ---------------------------------------------------------------- sampler


def test_sampler_deterministic_and_shaped() -> None:
    node = parse_infix("a*b**2 + sin(c)", NAMES)
    lo, hi = [1.0, -2.0, 0.0], [5.0, 2.0, 3.0]
    a = sample_observations(node, lo, hi, rng=np.random.default_rng(2026))
    b = sample_observations(node, lo, hi, rng=np.random.default_rng(2026))
    c = sample_observations(node, lo, hi, rng=np.random.default_rng(7))
    assert isinstance(a, Observations) and a.n_vars == 3
    assert a.x.shape == (50, 3) and a.y.shape == (50,) and a.encoded.shape == (50, 160)
    assert a.x.dtype == np.float64 and a.encoded.dtype == np.float32
    assert np.array_equal(a.x, b.x) and np.array_equal(a.encoded, b.encoded)
    assert not np.array_equal(a.x, c.x)
    assert np.all((a.x >= lo) & (a.x <= hi)) and a.n_resampled == 0
    assert np.allclose(a.y, a.x[:, 0] * a.x[:, 1] ** 2 + np.sin(a.x[:, 2]))
    assert np.array_equal(a.encoded, encode_observations(a.x, a.y))
    assert np.all(a.encoded.reshape(50, N_SLOTS, BITS)[:, 3:9] == UNUSED_BITS)


def test_resampling_counted() -> None:
    obs = sample_observations(parse_infix("log(a)", NAMES), [-1.0], [1.0], rng=np.random.default_rng(0))
    assert obs.n_resampled > 0 and np.all(obs.x > 0) and np.all(np.isfinite(obs.y))
    # exp(a) > 65504 for a > 11.09: those draws are out of half range and replaced
    obs = sample_observations(parse_infix("exp(a)", NAMES), [0.0], [15.0], rng=np.random.default_rng(0))
    assert obs.n_resampled > 0 and obs.y.max() <= 65504.0


def test_all_nan_formula_raises_clearly() -> None:
    node = parse_infix("sqrt(-a)", NAMES)
    with pytest.raises(ObservationError, match=r"are NaN.*undefined on the sampling box.*fix the ranges"):
        sample_observations(node, [1.0], [2.0], rng=np.random.default_rng(0))


def test_partial_failure_reports_counts() -> None:
    with pytest.raises(ObservationError, match=r"only \d+ of 50 observations are valid"):
        sample_observations(
            parse_infix("log(a)", NAMES), [-1.0], [1.0], rng=np.random.default_rng(0), max_tries=0
        )


def test_steps_constants_and_extra_points() -> None:
    steps = (parse_infix("a*b", NAMES), parse_infix("s1 + C", {"s1": "s1"}))
    obs = sample_observations(
        steps, [1, 1], [2, 2], n_points=200, rng=np.random.default_rng(1), constants=[3.0]
    )
    assert obs.x.shape == (200, 2)
    assert np.allclose(obs.y, obs.x[:, 0] * obs.x[:, 1] + 3.0)


def test_sampler_rejects_bad_boxes() -> None:
    node = parse_infix("a + b", NAMES)
    rng = np.random.default_rng(0)
    with pytest.raises(ObservationError, match="x2"):
        sample_observations(node, [0.0, 0.0], [1.0, 1e5], rng=rng)
    with pytest.raises(ObservationError, match="low <= high"):
        sample_observations(node, [0.0, 2.0], [1.0, 1.0], rng=rng)
    with pytest.raises(ObservationError, match="uses x2"):
        sample_observations(node, [0.0], [1.0], rng=rng)


@pytest.mark.parametrize("values", [
    [5e-324, 5e-324, 1e-323],  # the smallest subnormals: 2.0**e underflows to 0 here
    [3e-310, 1e-309, 2e-310],
    [1e-300, 2e-300, 5e-301],
    [2.5, 7.0, 3.1],
    [1e4, 2e4, 3e9],  # the maximum, not the median, sets the exponent
    [1e-300, 2e-300, 1e300],  # a median far below the top: ldexp(top, -e) must not overflow
])
def test_normalising_exponent_puts_the_median_in_two_to_four(values: list[float]) -> None:
    a = np.asarray(values)
    with np.errstate(all="raise"):
        e = normalising_exponent(a)
    scaled = np.ldexp(a, -e)
    assert np.isfinite(scaled).all() and scaled.max() <= HALF_MAX / 4
    if np.log2(a.max()) - np.log2(np.median(a)) < 12:
        assert 2 <= np.median(scaled) < 4
