"""Units of measurement: dimension vectors, dimensional checks and dimensional analysis.

pint reads a unit (``"kg*m/s**2"``, ``"N"``, ``"eV"``, ``"1"`` or ``""`` for a pure number)
into its dimensionality over the seven SI base dimensions; a :class:`Dimension` is that
vector of exponents, as exact fractions. With units:

* :func:`tree_dimension` checks a formula: sums of like quantities only, functions
  (``exp``, ``log``, ``sin``, ``cos``) of pure numbers only, powers of a quantity by a
  rational number only. Constants (``C``, ``pi``, integers) are pure numbers, unless the
  user declares constants with units that are not in the data (``--constant "g=m/s**2"``):
  then :func:`consistent` lets each fitted ``C`` carry a product of their powers.
* :func:`analyse` does what AI Feynman does first (Udrescu and Tegmark 2020): the target
  divided by a monomial of the inputs with the target's units is a pure number, and it
  depends on the inputs only through dimensionless groups (Buckingham pi), of which there
  are fewer than inputs whenever the inputs' units are not independent.

Torch-free; sympy solves the exponents exactly.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache

import numpy as np

from physdocs.grammar import Node

#: The SI base dimensions, in pint's names.
BASE = ("[mass]", "[length]", "[time]", "[current]", "[temperature]", "[substance]", "[luminosity]")
_SHORT = ("M", "L", "T", "I", "Θ", "N", "J")


class UnitError(ValueError):
    """A unit that cannot be read; the message names the item and the fix."""


@dataclass(frozen=True)
class Dimension:
    """Exponents of the SI base dimensions (:data:`BASE`), as exact fractions."""

    exps: tuple[Fraction, ...] = (Fraction(0),) * len(BASE)

    def __mul__(self, other: Dimension) -> Dimension:
        return Dimension(tuple(a + b for a, b in zip(self.exps, other.exps, strict=True)))

    def __truediv__(self, other: Dimension) -> Dimension:
        return Dimension(tuple(a - b for a, b in zip(self.exps, other.exps, strict=True)))

    def __pow__(self, k: Fraction | int) -> Dimension:
        return Dimension(tuple(a * Fraction(k) for a in self.exps))

    @property
    def dimensionless(self) -> bool:
        return not any(self.exps)

    def __str__(self) -> str:
        parts = [s if e == 1 else f"{s}^{e}" for s, e in zip(_SHORT, self.exps, strict=True) if e]
        return " ".join(parts) or "dimensionless"


DIMENSIONLESS = Dimension()


@lru_cache(maxsize=1)
def _registry():
    import pint

    return pint.UnitRegistry()


@lru_cache(maxsize=512)
def parse_unit(text: str, where: str = "unit") -> Dimension:
    """The dimension of ``text`` (``""`` or ``"1"``: a pure number); :class:`UnitError` names ``where``."""
    text = text.strip()
    if text in ("", "1", "dimensionless"):
        return DIMENSIONLESS
    try:
        dims = _registry().parse_expression(text).dimensionality
    except Exception as exc:  # pint raises several types for unknown names and bad syntax
        raise UnitError(f"{where}: cannot read the unit {text!r} ({exc}); write it as pint does, "
                        "e.g. kg*m/s**2, N, eV, 1 for a pure number") from None
    unknown = set(dims) - set(BASE)
    if unknown:
        raise UnitError(f"{where}: the unit {text!r} has dimensions outside SI ({', '.join(sorted(unknown))})")
    return Dimension(tuple(Fraction(dims.get(b, 0)).limit_denominator(12) for b in BASE))


def parse_units_spec(spec: str, where: str = "--units") -> dict[str, str]:
    """``"m=kg, v=m/s, p=kg*m/s"`` -> ``{"m": "kg", "v": "m/s", "p": "kg*m/s"}`` (each unit checked)."""
    out: dict[str, str] = {}
    for item in (s.strip() for s in spec.split(",")):
        if not item:
            continue
        name, eq, unit = item.partition("=")
        if not eq or not name.strip():
            raise UnitError(f"{where}: {item!r} is not NAME=UNIT; write e.g. \"m=kg, v=m/s\"")
        parse_unit(unit, f"{where}: {name.strip()}")
        out[name.strip()] = unit.strip()
    return out


# ---------------------------------------------------------------- checking a formula

#: A power's exponent must be this close to a fraction with a denominator of at most 12.
EXPONENT_TOLERANCE = 1e-9


def tree_dimension(steps: Node | Sequence[Node], dims: Mapping[str, Dimension],
                   constants: Sequence[float] = ()) -> Dimension | None:
    """The dimension of a formula over variables of dimensions ``dims`` (``x1 ..``), or None
    when it is not dimensionally consistent. ``constants`` are the ``C`` leaves' values in
    prefix order (a power's fitted exponent is read from them)."""
    return _walk(steps, dims, constants, lambda i: DIMENSIONLESS, lambda a, b: a == b)


def consistent(steps: Node | Sequence[Node], dims: Mapping[str, Dimension], constants: Sequence[float],
               target: Dimension, carriers: Sequence[Dimension] = ()) -> bool:
    """Whether a formula can have the ``target``'s dimension.

    Without ``carriers`` every fitted ``C`` is a pure number (:func:`tree_dimension`). With
    them, the dimensions of constants the user declared (``g = m/s**2``, not in the data),
    each ``C`` may carry any product of rational powers of them: ``C*sqrt(h)`` is a speed
    when ``C`` may be ``sqrt(2 g)``. Each ``C``'s exponents are unknowns; every sum, function
    argument and the result give linear equations in them, and the formula is consistent
    when those equations have a rational solution.
    """
    if not carriers:
        return tree_dimension(steps, dims, constants) == target
    seq = (steps,) if isinstance(steps, Node) else tuple(steps)
    n_c = sum(1 for step in seq for node in _preorder(step) if node.symbol == "C")
    m = n_c * len(carriers)
    zero = tuple(tuple(Fraction(0) for _ in range(m)) for _ in BASE)

    def carrier(i: int) -> _Affine:  # C number i: sum_j k_(i,j) * carriers[j]
        coef = [[Fraction(0)] * m for _ in BASE]
        for j, d in enumerate(carriers):
            for r, e in enumerate(d.exps):
                coef[r][i * len(carriers) + j] = e
        return _Affine(DIMENSIONLESS, tuple(tuple(row) for row in coef))

    equations: list[tuple[tuple[Fraction, ...], Fraction]] = []

    def equal(a: _Affine, b: _Affine) -> bool:
        for r in range(len(BASE)):
            row = tuple(x - y for x, y in zip(a.coef[r], b.coef[r], strict=True))
            rhs = b.base.exps[r] - a.base.exps[r]
            if not any(row) and rhs:
                return False  # a known mismatch: no C can mend it
            if any(row):
                equations.append((row, rhs))
        return True

    lifted = {k: _Affine(v, zero) for k, v in dims.items()}
    out = _walk(seq, lifted, constants, carrier, equal, unit=_Affine(DIMENSIONLESS, zero))
    if out is None or not equal(out, _Affine(target, zero)):
        return False
    if not equations:
        return True
    import sympy as sp

    a = sp.Matrix([[sp.Rational(c.numerator, c.denominator) for c in row] for row, _ in equations])
    b = sp.Matrix([sp.Rational(r.numerator, r.denominator) for _, r in equations])
    try:
        a.gauss_jordan_solve(b)
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class _Affine:
    """A dimension known up to the fitted constants' unknown exponents: ``base + coef @ k``."""

    base: Dimension
    coef: tuple[tuple[Fraction, ...], ...]  # [base dimension][unknown]

    def __mul__(self, other: _Affine) -> _Affine:
        return _Affine(self.base * other.base, tuple(tuple(x + y for x, y in zip(a, b, strict=True))
                                                     for a, b in zip(self.coef, other.coef, strict=True)))

    def __truediv__(self, other: _Affine) -> _Affine:
        return _Affine(self.base / other.base, tuple(tuple(x - y for x, y in zip(a, b, strict=True))
                                                     for a, b in zip(self.coef, other.coef, strict=True)))

    def __pow__(self, k: Fraction | int) -> _Affine:
        return _Affine(self.base ** k, tuple(tuple(x * Fraction(k) for x in row) for row in self.coef))

    @property
    def dimensionless(self) -> bool:
        return self.base.dimensionless and not any(any(row) for row in self.coef)


def _preorder(node: Node):
    yield node
    for c in node.children:
        yield from _preorder(c)


def _walk(steps, dims, constants, constant_dim, equal, unit=DIMENSIONLESS):
    """A formula's dimension, or None when inconsistent: the one walk of :func:`tree_dimension`
    (known dimensions, ``equal`` is ``==``) and :func:`consistent` (``equal`` records the
    equations that the fitted constants' exponents must solve). ``constant_dim(i)``: the
    ``i``-th ``C``'s dimension; ``unit``: a pure number's."""
    seq = (steps,) if isinstance(steps, Node) else tuple(steps)
    values = iter(constants)
    refs: dict = {}
    count = itertools.count()

    def walk(n: Node):
        s = n.symbol
        if s in dims:
            return dims[s], None
        if s in refs:
            return refs[s], None
        if s == "C":
            return constant_dim(next(count)), float(next(values, math.nan))
        if s == "pi":
            return unit, math.pi
        if s.isdigit():
            return unit, float(s)
        parts = [walk(c) for c in n.children]
        if any(p is None for p in parts):
            return None
        (da, va), *rest = parts
        if s == "neg":
            return da, None if va is None else -va
        if s == "sqrt":
            return da ** Fraction(1, 2), None if va is None or va < 0 else math.sqrt(va)
        if s in ("exp", "log", "sin", "cos"):
            if not equal(da, unit):
                return None
            value = None
            if va is not None:
                with np.errstate(all="ignore"):
                    value = float(getattr(np, s)(va))
            return unit, value
        db, vb = rest[0]
        if s in ("add", "sub"):
            if not equal(da, db):
                return None
            return da, None if va is None or vb is None else (va + vb if s == "add" else va - vb)
        if s == "mul":
            return da * db, None if va is None or vb is None else va * vb
        if s == "div":
            return da / db, None if va is None or vb is None or vb == 0 else va / vb
        if s == "pow":
            if not equal(db, unit):
                return None
            if da.dimensionless:
                return unit, None if va is None or vb is None else _power(va, vb)
            if vb is None or not math.isfinite(vb):  # an unfitted (NaN) or overflowed exponent
                return None
            k = Fraction(vb).limit_denominator(12)
            if abs(float(k) - vb) > EXPONENT_TOLERANCE * max(1.0, abs(vb)):
                return None
            return da ** k, None
        raise ValueError(f"tree_dimension: unknown symbol {s!r}")

    out = None
    for j, step in enumerate(seq, start=1):
        out = walk(step)
        if out is None:
            return None
        refs[f"s{j}"] = out[0]
    return None if out is None else out[0]


def _power(a: float, b: float) -> float | None:
    with np.errstate(all="ignore"):
        v = float(np.power(a, b))
    return v if math.isfinite(v) else None


# ---------------------------------------------------------------- dimensional analysis


@dataclass(frozen=True)
class Analysis:
    """The target over a monomial of the inputs with its units, as a function of dimensionless groups.

    ``monomial[i]``: the exponent of input ``i`` in the monomial (``y / prod x_i**m_i`` is a
    pure number). ``groups[j][i]``: the exponent of input ``i`` in dimensionless group ``j``
    (integers); ``len(groups) < n_inputs`` means the search can run on fewer variables.
    """

    monomial: tuple[Fraction, ...]
    groups: tuple[tuple[int, ...], ...]

    def transform(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(groups [n, len(groups)], y / monomial)`` in float64."""
        xa = np.asarray(x, dtype=np.float64)
        with np.errstate(all="ignore"):
            mono = np.prod([xa[:, i] ** float(p) for i, p in enumerate(self.monomial)], axis=0)
            g = np.stack([np.prod([xa[:, i] ** e for i, e in enumerate(row)], axis=0) for row in self.groups], 1) \
                if self.groups else np.zeros((len(xa), 0))
        return g, np.asarray(y, dtype=np.float64) / mono


def analyse(inputs: Sequence[Dimension], target: Dimension) -> Analysis | None:
    """The monomial with the target's units and the inputs' dimensionless groups, or None
    when no monomial of the inputs has the target's units (the units cannot all be right)."""
    import sympy as sp

    a = sp.Matrix([[sp.Rational(d.exps[r].numerator, d.exps[r].denominator) for d in inputs]
                   for r in range(len(BASE))])
    b = sp.Matrix([sp.Rational(e.numerator, e.denominator) for e in target.exps])
    try:
        solution, params = a.gauss_jordan_solve(b)
    except ValueError:  # inconsistent: no monomial has the target's units
        return None
    particular = solution.subs({p: 0 for p in params})
    basis = []
    for v in a.nullspace():
        scale = sp.ilcm(1, *[sp.fraction(c)[1] for c in v])
        basis.append(tuple(int(c * scale) for c in v))
    return Analysis(tuple(Fraction(int(sp.fraction(p)[0]), int(sp.fraction(p)[1])) for p in particular),
                    simplest_groups(basis))


def _oriented(row: Sequence[int]) -> tuple[int, ...]:
    """``row`` over the gcd of its exponents, its first nonzero exponent positive."""
    g = math.gcd(*row)
    first = next(c for c in row if c)
    return tuple((c // g) * (1 if first > 0 else -1) for c in row)


def simplest_groups(basis: Sequence[Sequence[int]]) -> tuple[tuple[int, ...], ...]:
    """The simplest dimensionless groups spanning the same space as ``basis``.

    A nullspace basis depends on the columns' order: for n = n0 exp(-m g x / (k_B T)) sympy
    gives ``n0 x^3`` and ``n0 k_B^3 T^3 / (m g)^3``, and the law's group ``m g x / (k_B T)``
    is not among them. Any independent set of groups serves Buckingham's theorem, so the
    simplest are taken: integer combinations of the basis (coefficients up to 2, or 1 beyond
    four groups), each divided by its exponents' gcd, chosen greedily by fewest columns,
    then smallest total exponent, while they stay independent.
    """
    if not basis:
        return ()
    rows = np.array(basis, dtype=np.int64)  # [groups, inputs]
    d = len(rows)
    reach = 2 if d <= 4 else 1
    grid = np.array(np.meshgrid(*[np.arange(-reach, reach + 1)] * d, indexing="ij")).reshape(d, -1).T
    combos = grid[np.any(grid != 0, axis=1)] @ rows  # [combinations, inputs]
    candidates = sorted({_oriented(c.tolist()) for c in combos if np.any(c)},
                        key=lambda r: (sum(1 for e in r if e), sum(abs(e) for e in r), [-abs(e) for e in r], r))
    chosen: list[tuple[int, ...]] = []
    for row in candidates:
        if np.linalg.matrix_rank(np.array([*chosen, row], dtype=np.float64)) == len(chosen) + 1:
            chosen.append(row)
            if len(chosen) == d:
                break
    return tuple(chosen)
