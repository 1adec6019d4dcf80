"""Bring data to where the model was trained by exact powers of two, and the formula back.

The encoder reads IEEE-754 half-precision bit patterns (about 6e-8 to 6.5e4), and it was
trained on columns whose median magnitude lies in [2, 4) (:func:`observations.normalise`:
training and inference scale the same way). SI data often lies far outside that: charges
near 1e-19 C, the speed of light 3e8 m/s; and data in [1, 10] or [100, 400] lies where the
model has never seen data. Every column and the target are divided by ``2**e`` (exact in
binary floating point, so no digit is lost), whatever their magnitude.

A formula ``f`` derived on the scaled data maps back as
``y = 2**e_y * f(x_1 / 2**e_1, ...)``: :func:`to_original_units` rewrites the fitted tree
so (the powers of two become constants), and :func:`tidy` simplifies the numbers of its
sympy expression.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from physdocs.grammar import Node
from physdocs.observations import normalising_exponent

#: The largest span (max / min magnitude) one column may have and still fit float16 after scaling.
MAX_SPAN = 2.0**36


class ScalingError(ValueError):
    """A column cannot be brought into range; the message names it and the fix."""


@dataclass(frozen=True)
class Scaling:
    """Exponents: ``x_scaled[:, i] = x[:, i] / 2**x_exp[i]``, ``y_scaled = y / 2**y_exp``."""

    x_exp: tuple[int, ...]
    y_exp: int
    #: Columns (and target) spanning more than :data:`MAX_SPAN`: no scale brings them into
    #: float16, so the model cannot read the data; only ``choose_scaling(strict=False)`` lets them by.
    too_wide: tuple[str, ...] = ()

    @property
    def identity(self) -> bool:
        return not any(self.x_exp) and self.y_exp == 0

    def apply(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        xs = np.ldexp(np.asarray(x, dtype=np.float64), -np.asarray(self.x_exp, dtype=np.int64))
        return xs, np.ldexp(np.asarray(y, dtype=np.float64), -self.y_exp)

    def unscale_y(self, y_scaled: np.ndarray) -> np.ndarray:
        return np.ldexp(np.asarray(y_scaled, dtype=np.float64), self.y_exp)


def span_note(values: np.ndarray, name: str) -> str | None:
    """Why one scale cannot bring ``values`` into float16's range (None: it can)."""
    a = np.abs(np.asarray(values, dtype=np.float64))
    nonzero = a[a > 0]
    if nonzero.size == 0:
        return None
    span = float(nonzero.max() / nonzero.min())
    if span <= MAX_SPAN:
        return None
    return (f"column {name!r} spans {nonzero.min():.3g} to {nonzero.max():.3g} (a factor {span:.3g}); "
            f"one scale cannot bring it into float16's range")


def column_exponent(values: np.ndarray, name: str, *, strict: bool = True) -> int:
    """The power of two that brings ``values``' median magnitude into [2, 4) (the training boxes).

    A column no scale brings into float16 raises :class:`ScalingError` when ``strict``.
    """
    note = span_note(values, name)
    if note and strict:
        raise ScalingError(f"{note}: take its logarithm, or split the data")
    a = np.abs(np.asarray(values, dtype=np.float64))
    return normalising_exponent(a[a > 0])


def choose_scaling(x: np.ndarray, y: np.ndarray, names: Sequence[str], target: str, *,
                   strict: bool = True) -> Scaling:
    """One exponent per column and one for the target. ``strict=False``: a column too wide for
    the model is scaled all the same and named in ``too_wide`` (the search then runs without
    the model, in float64), instead of raising :class:`ScalingError`."""
    xa, ya = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    columns = [(xa[:, i], names[i]) for i in range(xa.shape[1])] + [(ya, target)]
    return Scaling(
        x_exp=tuple(column_exponent(v, n, strict=strict) for v, n in columns[:-1]),
        y_exp=column_exponent(ya, target, strict=strict),
        too_wide=tuple(n for v, n in columns if span_note(v, n)),
    )


def substitute_scales(
    steps: Sequence[Node], constants: Sequence[float], factors: Mapping[str, float], outer: float = 1.0
) -> tuple[tuple[Node, ...], tuple[float, ...]]:
    """``outer * f(factors[x1] * x1, ...)``: each scaled variable leaf becomes ``mul(x, C)``.

    Returns the new steps and their constants in prefix order (the order the grammar's
    evaluator reads ``C`` leaves in), so ``predict(new, x, new_constants)`` equals
    ``outer * predict(steps, x * factors, constants)`` exactly up to rounding.
    """
    source = iter(constants)
    out: list[float] = []

    def walk(node: Node) -> Node:
        if node.symbol == "C":
            out.append(next(source))
            return node
        if node.symbol in factors and factors[node.symbol] != 1.0:
            out.append(float(factors[node.symbol]))
            return Node("mul", (node, Node("C")))
        return Node(node.symbol, tuple(walk(c) for c in node.children)) if node.children else node

    new = [walk(step) for step in steps[:-1]]
    if outer != 1.0:
        out.append(float(outer))
        new.append(Node("mul", (Node("C"), walk(steps[-1]))))
    else:
        new.append(walk(steps[-1]))
    return tuple(new), tuple(out)


def to_original_units(
    steps: Sequence[Node], constants: Sequence[float], scaling: Scaling
) -> tuple[tuple[Node, ...], tuple[float, ...]]:
    """A tree fitted on scaled data, rewritten to take and give the original units."""
    factors = {f"x{i}": 2.0 ** (-e) for i, e in enumerate(scaling.x_exp, start=1)}
    return substitute_scales(steps, constants, factors, 2.0**scaling.y_exp)


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


def tidy(expr):
    """Powers of two gathered into the numbers, and the numbers simplified (:func:`simplify_numbers`)."""
    import sympy as sp

    out = sp.expand_power_base(sp.powsimp(expr, force=True), force=True)
    return simplify_numbers(out.evalf())
