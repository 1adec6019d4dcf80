"""Bring a user's data into the encoder's float16 range by exact powers of two, and back.

The encoder reads IEEE-754 half-precision bit patterns (about 6e-8 to 6.5e4). SI data often
lies far outside that: charges near 1e-19 C, the speed of light 3e8 m/s. Each column and
the target are divided by ``2**e`` (exact in binary floating point, so no digit is lost),
with ``e`` chosen to bring the column's median magnitude near 1. Columns already inside a
comfortable band (``|median|`` in [2**-6, 2**6]) are left alone, so benchmark-scale data is
read exactly as in the evaluation.

A formula ``f`` derived on the scaled data maps back as
``y = 2**e_y * f(x_1 / 2**e_1, ...)``: the powers of two end up in the fitted constants, and
:func:`unscale` returns that expression, its numbers simplified.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from physdocs.observations import HALF_MAX

#: Columns whose median magnitude lies in [2**-COMFORT, 2**COMFORT] are not rescaled.
COMFORT = 6
#: The largest span (max / min magnitude) one column may have and still fit float16 after scaling.
MAX_SPAN = 2.0**36


class ScalingError(ValueError):
    """A column cannot be brought into range; the message names it and the fix."""


@dataclass(frozen=True)
class Scaling:
    """Exponents: ``x_scaled[:, i] = x[:, i] / 2**x_exp[i]``, ``y_scaled = y / 2**y_exp``."""

    x_exp: tuple[int, ...]
    y_exp: int

    @property
    def identity(self) -> bool:
        return not any(self.x_exp) and self.y_exp == 0

    def apply(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        xs = np.ldexp(np.asarray(x, dtype=np.float64), -np.asarray(self.x_exp, dtype=np.int64))
        return xs, np.ldexp(np.asarray(y, dtype=np.float64), -self.y_exp)

    def unscale_y(self, y_scaled: np.ndarray) -> np.ndarray:
        return np.ldexp(np.asarray(y_scaled, dtype=np.float64), self.y_exp)


def column_exponent(values: np.ndarray, name: str) -> int:
    """The power of two that brings ``values``' median magnitude near 1 (0 when comfortable)."""
    a = np.abs(np.asarray(values, dtype=np.float64))
    nonzero = a[a > 0]
    if nonzero.size == 0:
        return 0
    span = float(nonzero.max() / nonzero.min())
    if span > MAX_SPAN:
        raise ScalingError(
            f"column {name!r} spans {nonzero.min():.3g} to {nonzero.max():.3g} (a factor {span:.3g}); "
            f"one scale cannot bring it into float16's range: take its logarithm, or split the data"
        )
    e = round(math.log2(float(np.median(nonzero))))
    if abs(e) <= COMFORT:
        e = 0
    # The largest value must stay below float16's maximum after scaling.
    while float(nonzero.max()) / 2.0**e > HALF_MAX / 4:
        e += 1
    return e


def choose_scaling(x: np.ndarray, y: np.ndarray, names: Sequence[str], target: str) -> Scaling:
    """One exponent per column and one for the target."""
    xa = np.asarray(x, dtype=np.float64)
    return Scaling(
        x_exp=tuple(column_exponent(xa[:, i], names[i]) for i in range(xa.shape[1])),
        y_exp=column_exponent(np.asarray(y), target),
    )


def simplify_numbers(expr, rtol: float = 1e-6, max_den: int = 12, max_num: int = 1000):
    """Floats within ``rtol`` of a small fraction ``p/q`` become it; the others keep 6 digits.

    Only small fractions (``q <= max_den``, ``|p| <= max_num``) are recognised, so a scale
    such as ``2**20`` or ``2.7e-27`` stays a number and is never rounded away.
    """
    import sympy as sp

    swap = {}
    for f in expr.atoms(sp.Float):
        value = float(f)
        swap[f] = sp.Float(f, 6)
        for q in range(1, max_den + 1):
            p = round(value * q)
            if p != 0 and abs(p) <= max_num and abs(p / q - value) <= rtol * abs(value):
                swap[f] = sp.Rational(p, q)
                break
    return expr.xreplace(swap)


def unscale(expr, scaling: Scaling, symbols: Mapping[str, object]):
    """The sympy expression ``expr`` (in scaled ``x1 ..``) in the original units.

    ``symbols`` maps each token (``"x1"``) to the symbol shown for it (the column name).
    """
    import sympy as sp

    sub = {}
    for i, e in enumerate(scaling.x_exp, start=1):
        token = sp.Symbol(f"x{i}", positive=True)
        shown = symbols.get(f"x{i}", token)
        sub[token] = shown * sp.Integer(2) ** (-e) if e else shown
    out = expr.xreplace(sub) * (sp.Integer(2) ** scaling.y_exp)
    out = sp.expand_power_base(sp.powsimp(out, force=True), force=True)
    return simplify_numbers(out.evalf())
