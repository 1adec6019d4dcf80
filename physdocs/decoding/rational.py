"""Rational laws of dimensionless groups, identified by linear algebra.

Many laws are a ratio of two low-degree polynomials of their dimensionless groups once the
target is divided by a monomial with its units: velocity addition ``(a + b)/(1 + a b)``,
resistor networks ``r1 (1 + r2)/(1 + r1 + r2)``, heat flow through layers, inverse-square laws
in coordinates ``1/((1 - a)^2 + (b - c)^2)``, and the square of an impedance's reciprocal.
``z = P(h)/Q(h)`` is linear in the coefficients once multiplied out, ``P(h) - z Q(h) = 0``
(the linearisation of Levy's complex-curve fitting, and SINDy-PI's implicit form), so the
coefficients are the null vector of one matrix: its smallest singular vector. Evolutionary
search rarely writes such a law, since each factor alone fits the data poorly.

:func:`rational_proposals` tries, for each orientation of the groups (``g`` or ``1/g``: a
basis of groups is one choice among many) and for ``z = y`` and ``z = y^2`` (square roots
of rational laws), the degree pairs from the fewest coefficients up, and keeps the first
whose null vector is exact and unique. Exact means the data determine the law: the smallest
singular value is below :data:`EXACT` of the largest, which noise of about that relative
size already breaks. Unique means the next singular value is not also that small (a
common factor of numerator and denominator). Terms whose share of the null vector is
negligible are dropped and the rest refitted. Pure numpy: at most a few hundred SVDs of
matrices the size of the fitting rows.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

#: Numerator and denominator degrees (total, in the oriented groups) tried: (1, 2) and (2, 1)
#: hold velocity addition and series-parallel networks, (1, 2) the inverse-square laws.
MAX_DEGREE = 2
#: Groups beyond this are not searched (2^k orientations).
MAX_GROUPS = 6
#: A null vector is exact when the smallest singular value is below this share of the largest.
EXACT = 1e-9
#: A term whose coefficient (columns scaled to unit norm) is below this share of the largest is dropped.
NEGLIGIBLE = 1e-7
#: The linear system keeps at least this many more rows than unknowns.
SPARE_ROWS = 2


Terms = tuple[tuple[tuple[int, ...], float], ...]


@dataclass(frozen=True)
class Rational:
    """A rational law over groups ``x1 ..``, or the square root of one.

    ``numerator``/``denominator``: ``(exponents over the groups, coefficient)`` per term, the
    exponents oriented (``-1``: ``1/x``). ``power`` 1: ``y = N/D``. ``power`` 2 (``y^2`` is
    rational): ``y = sqrt(N/D)``; when one side of ``y^2`` is a perfect square, ``root``
    names it and that side holds its square root: ``"numerator"``, ``y = N/sqrt(D)``
    (``(x - u t)/sqrt(1 - u^2/c^2)``, not ``sqrt((x - u t)^2/...)``, which is ``|x - u t|``);
    ``"denominator"``, ``y = sqrt(N)/D``. The overall factor is the caller's to fit.
    """

    power: int
    numerator: Terms
    denominator: Terms
    root: str = ""

    @property
    def n_terms(self) -> int:
        return len(self.numerator) + len(self.denominator)

    def infix(self) -> tuple[str, tuple[float, ...]]:
        """The law as infix over ``x1 ..`` with a ``C`` per coefficient (a side's leading term,
        coefficient +-1, is written without one), and those coefficients in order."""
        constants: list[float] = []

        def side(terms: Terms, sqrt: bool) -> str:
            out = []
            for exps, coef in terms:
                up = [f"x{i}" + (f"**{e}" if e > 1 else "") for i, e in enumerate(exps, 1) if e > 0]
                down = [f"x{i}" + (f"**{-e}" if e < -1 else "") for i, e in enumerate(exps, 1) if e < 0]
                if abs(coef) == 1.0:
                    head, body = "-" if coef < 0 else "", "*".join(up) or "1"
                else:
                    constants.append(coef)
                    head, body = "", "*".join(["C", *up])
                out.append(head + body + (f"/({'*'.join(down)})" if down else ""))
            text = "(" + " + ".join(out).replace("+ -", "- ") + ")"
            return f"sqrt{text}" if sqrt else text

        if self.power == 2 and not self.root:
            return f"sqrt({side(self.numerator, False)}/{side(self.denominator, False)})", tuple(constants)
        num = side(self.numerator, self.root == "denominator")
        return f"{num}/{side(self.denominator, self.root == 'numerator')}", tuple(constants)


def _normalised(terms: list, by: float) -> list:
    return [(e, float(c / by)) for e, c in terms]


def _square_root(terms: list, k: int) -> tuple[list, float] | None:
    """``(L, s)`` with ``terms = s * L^2`` (``s = +-1``, ``L`` linear in ``h``) when the
    polynomial of degree <= 2 is a perfect square: its quadratic form over ``(1, h)`` has rank
    one. None otherwise."""
    m = np.zeros((k + 1, k + 1))
    for exps, c in terms:
        at = [i + 1 for i, e in enumerate(exps) for _ in range(e)] + [0, 0]
        i, j = at[0], at[1]
        m[i, j] += c / (1 if i == j else 2)
        m[j, i] += 0 if i == j else c / 2
    w, v = np.linalg.eigh(m)
    top = int(np.argmax(np.abs(w)))
    if np.any(np.abs(np.delete(w, top)) > NEGLIGIBLE * abs(w[top])):
        return None
    root = np.sqrt(abs(w[top])) * v[:, top]
    unit = [tuple(int(i == j) for i in range(k)) for j in range(-1, k)]
    linear = [(e, float(c)) for e, c in zip(unit, root, strict=True) if abs(c) > NEGLIGIBLE * np.abs(root).max()]
    return linear, float(np.sign(w[top]))


def _monomials(k: int, degree: int) -> list[tuple[int, ...]]:
    return [e for d in range(degree + 1) for e in itertools.product(range(d + 1), repeat=k) if sum(e) == d]


def _null_vector(a: np.ndarray) -> tuple[np.ndarray, bool] | None:
    """The unit-column null vector of ``a`` when it is exact and unique (and ``a`` is not
    too wide), else None; the flag says it is unique."""
    if a.shape[1] + SPARE_ROWS > a.shape[0]:
        return None
    norms = np.linalg.norm(a, axis=0)
    if not np.all(np.isfinite(norms)) or np.any(norms == 0):
        return None
    s, vt = np.linalg.svd(a / norms, full_matrices=False)[1:]
    if not s[0] > 0 or s[-1] > EXACT * s[0]:
        return None
    return vt[-1] / norms, len(s) < 2 or s[-2] > 10 * EXACT * s[0]


def fit_rational(h: np.ndarray, z: np.ndarray, dp: int, dq: int) -> tuple[list, list] | None:
    """``z = P(h)/Q(h)`` with ``deg P <= dp``, ``deg Q <= dq``, exact and unique on these rows:
    ``(numerator terms, denominator terms)`` as ``(exponents, coefficient)``, or None."""
    k = h.shape[1]
    terms = [("P", e) for e in _monomials(k, dp)] + [("Q", e) for e in _monomials(k, dq)]
    with np.errstate(all="ignore"):
        cols = [np.prod(h ** np.array(e, dtype=np.float64), axis=1) * (1.0 if side == "P" else -z)
                for side, e in terms]
    a = np.stack(cols, axis=1)
    found = _null_vector(a)
    if found is None or not found[1]:
        return None
    v = found[0]
    share = np.abs(v * np.linalg.norm(a, axis=0))
    keep = share > NEGLIGIBLE * share.max()
    if not keep.all():  # the law's own terms: refit on them alone, which must stay exact
        found = _null_vector(a[:, keep])
        if found is None or not found[1]:
            return None
        v = np.zeros(len(terms))
        v[keep] = found[0]
    num = [(e, float(c)) for (side, e), c in zip(terms, v, strict=True) if side == "P" and c != 0]
    den = [(e, float(c)) for (side, e), c in zip(terms, v, strict=True) if side == "Q" and c != 0]
    return (num, den) if num and den else None


def rational_laws(groups: np.ndarray, y: np.ndarray, fit: np.ndarray) -> list[Rational]:
    """The exact rational laws of ``groups [n, k]`` (and of their square roots) that ``y``
    follows on the ``fit`` rows, the fewest terms first (see the module doc); ``[]`` when
    none is exact."""
    k = groups.shape[1]
    if not 1 <= k <= MAX_GROUPS:
        return []
    g, yf = groups[fit], y[fit]
    if not (np.all(np.isfinite(g)) and np.all(g > 0) and np.all(np.isfinite(yf))):
        return []
    degrees = sorted(((p, q) for p in range(MAX_DEGREE + 1) for q in range(MAX_DEGREE + 1) if p + q > 0),
                     key=lambda d: (len(_monomials(k, d[0])) + len(_monomials(k, d[1])), d))
    found: list[Rational] = []
    for power in (1, 2):
        z = yf if power == 1 else yf * yf
        for orient in itertools.product((1, -1), repeat=k):
            h = g ** np.array(orient, dtype=np.float64)
            for dp, dq in degrees:
                fitted = fit_rational(h, z, dp, dq)
                if fitted is None:
                    continue
                num, den = fitted
                # the denominator as physics writes it, 1 + ..., where it has a constant term
                b = next((c for e, c in den if not any(e)), max(den, key=lambda t: abs(t[1]))[1])
                a = abs(max(num, key=lambda t: abs(t[1]))[1]) * np.sign(b)  # N/D = z b/a > 0 where z is
                num, den = _normalised(num, a), _normalised(den, b)
                laws = [(power, num, den, "")]
                if power == 2:  # a perfect square on one side: its root, not a root of its square
                    for root, mine, other in (("numerator", num, den), ("denominator", den, num)):
                        split = _square_root(mine, k)
                        if split is not None:
                            linear, sign = split
                            lead = max(linear, key=lambda t: abs(t[1]))[1]
                            other = _normalised(other, sign)  # the other side keeps the radicand positive
                            pair = (_normalised(linear, abs(lead)), other)
                            laws.insert(0, (2, *(pair if root == "numerator" else pair[::-1]), root))
                for pw, n, d, root in laws:
                    found.append(Rational(pw, tuple((_oriented(e, orient), c) for e, c in n),
                                          tuple((_oriented(e, orient), c) for e, c in d), root))
                break
    # the fewest terms first; of a law and its square root's split form, the split one
    return sorted(found, key=lambda r: (r.n_terms + (r.power == 2 and not r.root), r.power, len(r.infix()[0])))


def _oriented(exps: tuple[int, ...], orient: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(e * o for e, o in zip(exps, orient, strict=True))
