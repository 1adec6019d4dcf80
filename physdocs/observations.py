"""Support points for an equation and their IEEE-754 half-precision multi-hot encoding.

An observation set is ``N_POINTS`` rows of ``N_SLOTS`` scalars: 9 input slots (column
``i`` holds ``x{i+1}``) and the output ``y`` in the last slot (index 9). Each scalar is
written as the 16 bits of its IEEE-754 binary16 value, so a row is ``ENCODED_DIM = 160``
zeros and ones. Bit order per scalar: sign, 5 exponent bits (MSB first), 10 mantissa bits
(MSB first). The float64 -> float16 step is numpy's conversion (round to nearest, ties to
even); the bits are then read off the float16 word, so the code is the exact IEEE pattern.

Out-of-range scheme (deliberate; NeSymReS computes the exponent arithmetically and wraps
it mod 32, so large or tiny values silently alias onto unrelated ones):

* **overflow**: ``|v| > 65504`` (the largest finite half). Note that values in
  ``(65504, 65520)`` would round to 65504; they are still overflow, we never clip.
* **underflow**: ``0 < |v| < 2**-24`` (below the smallest subnormal half).
* **non-finite**: NaN or ±inf in the data.
* **subnormal**: ``0 < |half(v)| < 2**-14``. Legal: IEEE gradual underflow, encoded with
  its exact bits; only counted in the :class:`RangeReport`.

``encode_observations(..., on_out_of_range="error")`` (the default) raises
:class:`ObservationError` naming the column, the count, an example value and the fix.
``on_out_of_range="flag"`` returns the encoding *and* the report; overflow is encoded as
the ±inf pattern, underflow as signed zero and NaN as the canonical quiet NaN ``0x7E00``
(never clipped to ±65504).

Unused input slots (``k..8`` for ``k`` variables) hold the reserved pattern ``0x7FFF``
(a NaN with every payload bit set). Real data never takes it: finite values have an
exponent below ``11111``, non-finite data is rejected, and in flag mode NaN is
canonicalised to ``0x7E00``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, overload

import numpy as np

from physdocs.errors import InputError
from physdocs.grammar import GrammarError, Node, evaluate, variables_used

N_POINTS = 50
N_SLOTS = 10  # 9 input slots + 1 output slot
N_INPUT_SLOTS = N_SLOTS - 1
OUTPUT_SLOT = N_SLOTS - 1
BITS = 16
ENCODED_DIM = N_SLOTS * BITS  # 160

HALF_MAX = 65504.0
HALF_MIN_SUBNORMAL = 2.0**-24
HALF_MIN_NORMAL = 2.0**-14
UNUSED_CODE = 0x7FFF  # reserved NaN payload for unused slots
CANONICAL_NAN_CODE = 0x7E00
POS_INF_CODE = 0x7C00
SIGN_CODE = 0x8000

_SHIFTS = np.arange(BITS - 1, -1, -1, dtype=np.uint16)  # [16]: 15 (sign) .. 0 (mantissa LSB)

OutOfRange = Literal["error", "flag"]


class ObservationError(InputError, ValueError):
    """Observations that cannot be encoded or sampled faithfully."""


# ---------------------------------------------------------------- bits


def _half_codes(values: np.ndarray) -> np.ndarray:
    """uint16 binary16 words of ``values`` (any shape), round to nearest even."""
    arr = np.asarray(values)
    if arr.dtype != np.float16:
        with np.errstate(over="ignore", invalid="ignore"):
            arr = arr.astype(np.float64).astype(np.float16)
    return arr.view(np.uint16)


def _codes_to_bits(codes: np.ndarray) -> np.ndarray:
    """[...] uint16 -> [..., 16] float32 of 0/1, MSB (sign) first."""
    return ((codes[..., None] >> _SHIFTS) & 1).astype(np.float32)


def encode_half_bits(values: np.ndarray | float) -> np.ndarray:
    """[...] values -> [..., 16] float32 binary16 multi-hot (no range policy applied)."""
    return _codes_to_bits(_half_codes(np.asarray(values)))


def decode_half_bits(bits: np.ndarray) -> np.ndarray:
    """[..., 16] 0/1 bits -> [...] float16; inverse of :func:`encode_half_bits`."""
    b = np.asarray(bits)
    if b.shape[-1:] != (BITS,):
        raise ValueError(f"last axis must hold {BITS} bits, got shape {b.shape}")
    if not np.all((b == 0) | (b == 1)):
        raise ValueError("bits must be 0 or 1")
    codes = (b.astype(np.uint16) << _SHIFTS).sum(axis=-1, dtype=np.uint16)
    return codes.view(np.float16)


UNUSED_BITS = _codes_to_bits(np.array(UNUSED_CODE, dtype=np.uint16))  # [16]
UNUSED_BITS.setflags(write=False)

# ---------------------------------------------------------------- range checks


@dataclass(frozen=True)
class RangeReport:
    """Per-column counts of values outside (or at the edge of) the half range."""

    columns: tuple[str, ...]
    n_overflow: tuple[int, ...]
    n_underflow: tuple[int, ...]
    n_nonfinite: tuple[int, ...]
    n_subnormal: tuple[int, ...]  # legal; for information

    @property
    def ok(self) -> bool:
        """No overflow, underflow or non-finite value in any column."""
        return not any(self.n_overflow) and not any(self.n_underflow) and not any(self.n_nonfinite)


def _range_masks(v: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Boolean masks (overflow, underflow, non-finite) for float64 ``v``."""
    a = np.abs(v)
    finite = np.isfinite(v)
    return finite & (a > HALF_MAX), (a > 0) & (a < HALF_MIN_SUBNORMAL), ~finite


def check_half_range(values: np.ndarray, columns: Sequence[str] | None = None) -> RangeReport:
    """Count range problems per column of ``values`` ([n] is one column, [n, k] is k)."""
    v = np.asarray(values, dtype=np.float64)
    v = v[:, None] if v.ndim == 1 else v
    if v.ndim != 2:
        raise ValueError(f"values must be [n] or [n, k], got shape {v.shape}")
    names = tuple(columns) if columns is not None else tuple(f"c{i}" for i in range(v.shape[1]))
    if len(names) != v.shape[1]:
        raise ValueError(f"{len(names)} column name(s) for {v.shape[1]} column(s)")
    over, under, nonfinite = _range_masks(v)
    h = np.abs(_half_codes(v).view(np.float16).astype(np.float64))
    subnormal = ~(over | under | nonfinite) & (h > 0) & (h < HALF_MIN_NORMAL)

    def count(m: np.ndarray) -> tuple[int, ...]:
        return tuple(int(c) for c in m.sum(axis=0))

    return RangeReport(names, count(over), count(under), count(nonfinite), count(subnormal))


def _column_names(k: int) -> tuple[str, ...]:
    return (*(f"x{i}" for i in range(1, k + 1)), "y")


def _range_message(v: np.ndarray, names: Sequence[str]) -> str:
    """One line per offending column: count, example value and the fix."""
    over, under, nonfinite = _range_masks(v)
    kinds = (
        (over, f"overflow float16 (|v| > {HALF_MAX:g})", "rescale the variable's range"),
        (
            under,
            f"underflow float16 (0 < |v| < 2**-24 = {HALF_MIN_SUBNORMAL:.3g})",
            "rescale the variable's range",
        ),
        (nonfinite, "are NaN or inf", "drop those points or fix the variable's range"),
    )
    lines = []
    for j, name in enumerate(names):
        for mask, what, fix in kinds:
            bad = np.flatnonzero(mask[:, j])
            if bad.size:
                lines.append(
                    f"column {name}: {bad.size} of {v.shape[0]} value(s) {what}, "
                    f"e.g. {v[bad[0], j]:.6g}; {fix}"
                )
    return "; ".join(lines)


# ---------------------------------------------------------------- normalisation

#: The encoder reads every column scaled by an exact power of two so that its median
#: magnitude lies in [2**NORMAL_EXPONENT, 2**(NORMAL_EXPONENT + 1)) = [2, 4): the middle of
#: the training boxes. Training and inference scale the same way, so the model meets a
#: physicist's 1e-19 or 300 where it met its training data (a power of two loses no digit).
NORMAL_EXPONENT = 1


def normalising_exponent(values: np.ndarray) -> int:
    """``e`` such that ``values / 2**e`` has its median magnitude in [2, 4), kept under float16's max.

    All-zero (or empty) columns get 0. The largest value is kept below ``HALF_MAX / 4``,
    which only matters for a column spanning more than 2**13.
    """
    a = np.abs(np.asarray(values, dtype=np.float64))
    nonzero = a[(a > 0) & np.isfinite(a)]
    if nonzero.size == 0:
        return 0
    e = int(np.floor(np.log2(float(np.median(nonzero))))) - NORMAL_EXPONENT
    # ldexp, not ``/ 2.0**e``: below ~1e-308 (subnormal columns) 2.0**e underflows to 0.
    top = float(nonzero.max())
    # Below frexp(top) - 15 the top is >= 2**15 > HALF_MAX / 4 anyway: starting there gives
    # the same exponent without overflowing ldexp for a column spanning hundreds of decades.
    e = max(e, int(np.frexp(top)[1]) - 15)
    while float(np.ldexp(top, -e)) > HALF_MAX / 4:
        e += 1
    return e


def normalising_exponents(x: np.ndarray, y: np.ndarray) -> tuple[tuple[int, ...], int]:
    """One :func:`normalising_exponent` per column of ``x [n, k]`` and one for ``y [n]``."""
    xa = np.asarray(x, dtype=np.float64)
    return tuple(normalising_exponent(xa[:, i]) for i in range(xa.shape[1])), normalising_exponent(y)


def normalise(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(x / 2**e_x, y / 2**e_y)`` with :func:`normalising_exponents` (exact in binary)."""
    ex, ey = normalising_exponents(x, y)
    xs = np.ldexp(np.asarray(x, dtype=np.float64), -np.asarray(ex, dtype=np.int64))
    return xs, np.ldexp(np.asarray(y, dtype=np.float64), -ey)


# ---------------------------------------------------------------- observations


def slot_mask(n_vars: int) -> np.ndarray:
    """[10] bool, True for used slots: inputs ``0..n_vars-1`` and the output slot 9."""
    if not 0 <= n_vars <= N_INPUT_SLOTS:
        raise ValueError(f"n_vars must be in 0..{N_INPUT_SLOTS}, got {n_vars}")
    mask = np.zeros(N_SLOTS, dtype=bool)
    mask[:n_vars] = True
    mask[OUTPUT_SLOT] = True
    return mask


@overload
def encode_observations(
    x: np.ndarray, y: np.ndarray, *, on_out_of_range: Literal["error"] = "error"
) -> np.ndarray: ...
@overload
def encode_observations(
    x: np.ndarray, y: np.ndarray, *, on_out_of_range: Literal["flag"]
) -> tuple[np.ndarray, RangeReport]: ...
def encode_observations(
    x: np.ndarray, y: np.ndarray, *, on_out_of_range: OutOfRange = "error"
) -> np.ndarray | tuple[np.ndarray, RangeReport]:
    """x [n, k<=9], y [n] -> [n, 160] float32 multi-hot (see the module docstring).

    ``"error"``: raise :class:`ObservationError` on overflow/underflow/non-finite values.
    ``"flag"``: return ``(encoded, report)`` with ±inf / signed zero / canonical NaN codes.
    """
    if on_out_of_range not in ("error", "flag"):
        raise ValueError(f"on_out_of_range must be 'error' or 'flag', got {on_out_of_range!r}")
    xa = np.asarray(x, dtype=np.float64)
    ya = np.asarray(y, dtype=np.float64)
    if xa.ndim != 2 or ya.ndim != 1 or xa.shape[0] != ya.shape[0]:
        raise ObservationError(f"need x [n, k] and y [n]; got x {xa.shape}, y {ya.shape}")
    n, k = xa.shape
    if k > N_INPUT_SLOTS:
        raise ObservationError(f"{k} input variables; at most {N_INPUT_SLOTS} slots")
    v = np.concatenate([xa, ya[:, None]], axis=1)  # [n, k+1]
    names = _column_names(k)
    report = check_half_range(v, names)
    if on_out_of_range == "error" and not report.ok:
        raise ObservationError(_range_message(v, names))

    used = _half_codes(v).copy()  # [n, k+1] uint16
    over, under, nonfinite = _range_masks(v)
    sign = np.where(np.signbit(v), SIGN_CODE, 0).astype(np.uint16)
    used[over] = POS_INF_CODE | sign[over]
    used[under] = sign[under]
    used[np.isnan(v)] = CANONICAL_NAN_CODE

    codes = np.full((n, N_SLOTS), UNUSED_CODE, dtype=np.uint16)  # [n, 10]
    codes[:, :k] = used[:, :k]
    codes[:, OUTPUT_SLOT] = used[:, k]
    encoded = _codes_to_bits(codes).reshape(n, ENCODED_DIM)  # [n, 160]
    return encoded if on_out_of_range == "error" else (encoded, report)


# ---------------------------------------------------------------- sampling


@dataclass(frozen=True)
class Observations:
    """Sampled support points and their encoding."""

    x: np.ndarray  # [n, k] float64
    y: np.ndarray  # [n] float64
    encoded: np.ndarray  # [n, 160] float32
    n_resampled: int  # draws replaced because y (or x) was non-finite or out of half range

    @property
    def n_vars(self) -> int:
        return int(self.x.shape[1])


def _valid_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """[n] bool: every value of the row is finite and inside the half range."""
    v = np.concatenate([x, y[:, None]], axis=1)
    over, under, nonfinite = _range_masks(v)
    return ~(over | under | nonfinite).any(axis=1)


def _finite_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """[n] bool: every value of the row is finite."""
    return np.isfinite(x).all(axis=1) & np.isfinite(y)


def sample_observations(
    steps_or_node: Node | Sequence[Node],
    low: Sequence[float] | np.ndarray,
    high: Sequence[float] | np.ndarray,
    *,
    n_points: int = N_POINTS,
    rng: np.random.Generator,
    max_tries: int = 20,
    constants: Sequence[float] = (),
    normalise_columns: bool = False,
) -> Observations:
    """Draw x uniform in the box ``[low_i, high_i]``, evaluate y, encode.

    Points whose row is non-finite or outside the half range are redrawn, up to
    ``max_tries`` rounds; the number of replaced draws is ``n_resampled``. With
    ``normalise_columns`` the rows need only be finite: ``x`` and ``y`` stay in their own
    units and ``encoded`` is what the model reads, every column scaled by
    :func:`normalise` first (values that still leave float16's range raise). Raises
    :class:`ObservationError` when ``n_points`` valid points cannot be found. For extra
    held-out points draw again (e.g. ``n_points=200``) with another generator.
    """
    lo = np.atleast_1d(np.asarray(low, dtype=np.float64))
    hi = np.atleast_1d(np.asarray(high, dtype=np.float64))
    if lo.ndim != 1 or lo.shape != hi.shape:
        raise ObservationError(f"low and high must be 1-D of equal length; got {lo.shape}, {hi.shape}")
    k = lo.shape[0]
    if k > N_INPUT_SLOTS:
        raise ObservationError(f"{k} input variables; at most {N_INPUT_SLOTS} slots")
    if not (np.all(np.isfinite(lo)) and np.all(np.isfinite(hi)) and np.all(lo <= hi)):
        raise ObservationError(f"sampling box needs finite low <= high; got low={lo}, high={hi}")
    edges = np.stack([lo, hi])  # [2, k]
    if not normalise_columns and np.any(np.abs(edges) > HALF_MAX):
        raise ObservationError(_range_message(edges, _column_names(k)[:-1]))
    missing = [v for v in variables_used(steps_or_node) if int(v[1:]) > k]
    if missing:
        raise ObservationError(f"formula uses {', '.join(missing)} but the box has {k} variable(s)")
    if n_points < 1:
        raise ObservationError(f"n_points must be positive, got {n_points}")

    def draw(m: int) -> tuple[np.ndarray, np.ndarray]:
        xs = rng.uniform(lo, hi, size=(m, k))  # [m, k]
        try:
            ys = evaluate(steps_or_node, xs, constants).values  # [m]
        except GrammarError as exc:
            raise ObservationError(str(exc)) from exc
        return xs, ys

    valid = _finite_rows if normalise_columns else _valid_rows
    x, y = draw(n_points)
    ok = valid(x, y)
    tally = np.zeros(4, dtype=np.int64)  # draws, NaN, inf, finite but out of half range

    def count(ys: np.ndarray, oks: np.ndarray) -> None:
        nan, inf = np.isnan(ys), np.isinf(ys)
        tally[:] += (ys.size, nan.sum(), inf.sum(), (~oks & ~nan & ~inf).sum())

    count(y, ok)
    n_resampled = 0
    for _ in range(max_tries):
        bad = np.flatnonzero(~ok)
        if bad.size == 0:
            break
        xb, yb = draw(bad.size)
        x[bad], y[bad] = xb, yb
        ok[bad] = valid(xb, yb)
        count(yb, ok[bad])
        n_resampled += int(bad.size)

    if not ok.all():
        n_draws, n_nan, n_inf, n_range = (int(t) for t in tally)
        box = ", ".join(f"x{i + 1} in [{a:g}, {b:g}]" for i, (a, b) in enumerate(zip(lo, hi, strict=True)))
        if n_nan == n_draws:
            raise ObservationError(
                f"all {n_draws} observations are NaN ({n_points} points, {max_tries} resampling "
                f"round(s)): the formula is undefined on the sampling box ({box}); fix the ranges"
            )
        raise ObservationError(
            f"only {int(ok.sum())} of {n_points} observations are valid after {max_tries} resampling "
            f"round(s); of {n_draws} draws {n_nan} were NaN, {n_inf} inf and {n_range} outside the "
            f"float16 range (|v| > {HALF_MAX:g} or 0 < |v| < 2**-24) on the box ({box}); "
            "fix the ranges or rescale the variables"
        )
    encoded = encode_observations(*normalise(x, y)) if normalise_columns else encode_observations(x, y)
    return Observations(x=x, y=y, encoded=encoded, n_resampled=n_resampled)
