"""The pipeline with units: a dimension check on every candidate, and dimensional analysis.

Given the columns' and the target's units (:mod:`physdocs.units`), :func:`search_with_units`

1. runs the pipeline (:func:`.search.search`) keeping only candidates with the target's
   dimension, and proposes the monomial of the inputs with the target's units (the whole
   law when the inputs form no dimensionless group);
2. when the inputs form fewer dimensionless groups than there are inputs, runs the pipeline
   again on ``(groups, y / monomial)`` -- the same law in fewer variables, as AI Feynman
   does first -- and writes its answer back as ``monomial * f(groups)``. Beside the
   model's and Operon's candidates, that search fits the shapes a dimensionless function
   of physics takes (:func:`shape_proposals`): powers of the groups times one standard
   function of one group (``(1 + a g^k)^p``, ratios of such binomials, ``exp``,
   ``1/(exp - 1)``, ``log``, ``sin``, ...) or a product of two; and the exact rational
   laws of the groups (:func:`rational_proposals`, :mod:`.rational`);
3. writes both answers' numbers exactly where the data determine them (:func:`polish`),
   and keeps the better on the first search's held-back rows, by the same score (held-back
   R^2 and the size of the formula as written over the columns) the search chooses with.
   Neither ever sees the rows ``derive`` holds out for the reported R^2.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from fractions import Fraction

import numpy as np
from scipy.optimize import least_squares

from physdocs.decoding.constants import compile_steps, predict, r2_score
from physdocs.decoding.derive import Derivation, render
from physdocs.decoding.from_sympy import integer
from physdocs.decoding.rational import rational_laws
from physdocs.decoding.scaling import ScalingError, choose_scaling, simplify_numbers, tidy
from physdocs.decoding.search import (
    Candidate,
    Proposal,
    SearchConfig,
    SearchResult,
    Units,
    choice_score,
    named,
    search,
    snap_constants,
    split_roots,
    split_rows,
    tree_size,
)
from physdocs.grammar import GrammarError, Node, parse_infix
from physdocs.results import finite
from physdocs.units import DIMENSIONLESS, Analysis, Dimension, analyse


class UnitsError(ValueError):
    """Units that no formula can satisfy; the message names the target and the fix."""


def _power(token: str, e: Fraction) -> Node:
    base = Node(token)
    k = abs(e)
    if k != 1:
        exponent = integer(k.numerator) if k.denominator == 1 else Node("div", (integer(k.numerator),
                                                                              integer(k.denominator)))
        base = Node("pow", (base, exponent))
    return base


def monomial(exponents: Sequence[Fraction], tokens: Sequence[str]) -> Node:
    """``prod tokens[i] ** exponents[i]`` as a tree (1 when every exponent is 0)."""
    up = [_power(t, e) for t, e in zip(tokens, exponents, strict=True) if e > 0]
    down = [_power(t, e) for t, e in zip(tokens, exponents, strict=True) if e < 0]

    def product(nodes: list[Node]) -> Node:
        out = nodes[0]
        for n in nodes[1:]:
            out = Node("mul", (out, n))
        return out

    top = product(up) if up else Node("1")
    return Node("div", (top, product(down))) if down else top


def lift(steps: Sequence[Node], analysis: Analysis, tokens: Sequence[str]) -> tuple[Node, ...]:
    """A derivation over the groups (``x1 ..`` = group 1 ..) written over the inputs, times the monomial."""
    groups = {f"x{j}": monomial([Fraction(e) for e in row], tokens) for j, row in enumerate(analysis.groups, start=1)}

    def sub(n: Node) -> Node:
        if n.symbol in groups:
            return groups[n.symbol]
        return Node(n.symbol, tuple(sub(c) for c in n.children)) if n.children else n

    out = [sub(s) for s in steps]
    out[-1] = Node("mul", (monomial(analysis.monomial, tokens), out[-1]))
    return tuple(out)


@dataclass(frozen=True)
class Shape:
    """A standard function of one dimensionless group ``{u}`` (infix over ``{u}`` and ``C``).

    ``starts(u) -> guesses``: where its inner constants start, from the values ``u`` the
    argument takes (the search fits from each guess and keeps the best fit).
    """

    template: str
    starts: Callable[[np.ndarray], tuple[tuple[float, ...], ...]]


def _span(w: np.ndarray, share: float = 1.0) -> float:
    """``1 / max|w|`` (``share``: a quantile instead), the scale that brings ``C*w`` near 1."""
    with np.errstate(all="ignore"):
        m = float(np.quantile(np.abs(w[np.isfinite(w)]), share)) if np.isfinite(w).any() else 1.0
    return 1.0 / m if m > 0 and math.isfinite(m) else 1.0


def _binomial_starts(k: int, offset: bool):
    def starts(u: np.ndarray) -> tuple[tuple[float, ...], ...]:
        with np.errstate(all="ignore"):
            w = u ** float(k)
        # 1 + C*u^k from 1/2 to 1 (1/(1 - v/c), sqrt(1 - v^2/c^2)), or its two terms alike at
        # the median (sqrt(1 + (p/(mc))^2) over decades of p/(mc))
        return tuple((c, 0.0) if offset else (c,) for c in (-0.5 * _span(w), _span(w, 0.5)))
    return starts


def _rate_starts(k: int):
    def starts(u: np.ndarray) -> tuple[tuple[float, ...], ...]:
        with np.errstate(all="ignore"):
            q = _span(u ** float(k), 0.5)
        return ((q,), (-q,))
    return starts


def _wave_starts(u: np.ndarray) -> tuple[tuple[float, ...], ...]:
    q = _span(u, 0.5)
    return ((0.5 * q,), (q,), (2 * q,))


#: ``(1 + a g^k)^p`` for p = 1, -1, 1/2, -1/2, 2, -2 and k = 1, 2, -1, -2 (a group's orientation,
#: v/c or c/v, is the basis' choice, not the law's): Lorentz factors, lens and Doppler
#: formulas, resonances; those with p != 1 also shifted by a constant (gamma - 1).
_ORIENTED = ((1, "{u}"), (2, "{u}**2"), (-1, "1/{u}"), (-2, "1/{u}**2"))
_BINOMIALS = tuple(
    Shape(t.replace("B", f"(1 + C*{u})") + (" + C" if offset else ""), _binomial_starts(k, offset))
    for offset in (False, True) for k, u in _ORIENTED
    for t in ("B", "1/B", "sqrtB", "1/sqrtB", "B**2", "1/B**2") if not (offset and t == "B"))


def _ratio_starts(k: int):
    def starts(u: np.ndarray) -> tuple[tuple[float, ...], ...]:
        with np.errstate(all="ignore"):
            q = _span(u ** float(k))
        return ((-0.5 * q, 0.5 * q), (0.5 * q, -0.5 * q))  # (1 - x)/(1 + x) and its inverse
    return starts


#: ``((1 + a g^k) / (1 + b g^k))^p`` for p = 1, 1/2, -1/2 and k = 1, 2, -1, -2: relativistic
#: Doppler shifts, velocity ratios, bilinear responses.
_RATIOS = tuple(Shape(t.replace("R", f"((1 + C*{u})/(1 + C*{u}))"), _ratio_starts(k))
                for k, u in _ORIENTED for t in ("R", "sqrtR", "1/sqrtR"))
#: Growth and decay, Bose-Einstein, Fermi-Dirac and tanh occupations, Gaussians, logarithms, waves.
_FUNCTIONS = tuple(
    Shape(t.replace("A", a), _rate_starts(k)) for k, a in ((1, "C*{u}"), (-1, "C/{u}"))
    for t in ("exp(A)", "1/(exp(A) - 1)", "1/(exp(A) + 1)", "(exp(A) - 1)/(exp(A) + 1)")
) + (
    Shape("exp(C*{u}**2)", _rate_starts(2)),
    Shape("exp(C/{u}**2)", _rate_starts(-2)),
    Shape("(C + log({u}))", lambda u: ((0.0,),)),
    *(Shape(t, _wave_starts) for t in ("sin(C*{u})", "cos(C*{u})", "sin(C*{u})**2")),
)
#: The standard one-group shapes :func:`shape_proposals` fits.
SHAPES = _BINOMIALS + _RATIOS + _FUNCTIONS
#: Shapes are proposed when there are at most this many groups (their power prefactors are
#: fitted exponents: one constant per group).
MAX_SHAPE_GROUPS = 3
#: Shape fits are screened with about this many Jacobians per first guess...
SCREEN_EVALUATIONS = 20
#: ...and the best this many shapes are proposed to the search (fitted there in full).
SHAPES_PROPOSED = 12
#: With two groups, the best this many shapes of each group are multiplied with those of
#: every other argument (a law separable in its groups: exp(-b t/(2m)) cos(omega t)).
SHAPES_MULTIPLIED = 5


def shape_proposals(groups: np.ndarray, y: np.ndarray, fit: np.ndarray, size_penalty: float) -> list[Proposal]:
    """The best-fitting of ``prod_i g_i**C * s(u)`` over the shapes ``s`` (:data:`SHAPES`) and
    arguments ``u``: each group, and with two groups their product, ratio and ``g1^2/g2``,
    ``g2^2/g1`` too (groups of the groups), and products ``s(g) * t(v)`` of the best shapes of
    a group and another argument.

    ``groups [n, k]``, ``y [n]``: the groups and the target over the monomial as the search
    reads them (scaled); ``fit``: its fitting rows. Every shape is fitted briefly from each
    first guess (:data:`SCREEN_EVALUATIONS` Jacobians, an overall factor in closed form) on
    those rows; the :data:`SHAPES_PROPOSED` best by the search's score (``1 - R^2`` on the
    fitting rows and ``size_penalty`` per node) go to the search, which fits them in full from there,
    places the best among Operon's seeds and snaps their constants. The prefactor's
    exponents start at 0; they absorb the monomial's arbitrary choice (m c^2 or p c).
    """
    k = groups.shape[1]
    if not 1 <= k <= MAX_SHAPE_GROUPS:
        return []
    tokens = [f"x{j}" for j in range(1, k + 1)]
    names = {t: t for t in tokens}
    with np.errstate(all="ignore"):
        arguments = [(t, groups[:, j]) for j, t in enumerate(tokens)]
        if k == 2:  # groups of the groups: a law may be simple in another basis (v w / c^2 beside v/w)
            g1, g2 = groups[:, 0], groups[:, 1]
            arguments += [("(x1*x2)", g1 * g2), ("(x1/x2)", g1 / g2), ("(x1**2/x2)", g1**2 / g2),
                          ("(x2**2/x1)", g2**2 / g1)]
    prefactor = "*".join(f"{t}**C" for t in tokens)

    xf, yf = groups[fit], y[fit]
    scale = float(np.std(yf)) or 1.0

    def screen(text: str, guesses) -> tuple[float, Node, tuple[float, ...]] | None:
        """The brief fit's loss, the tree and its constants (the overall factor left out).

        Levenberg-Marquardt on the residuals, the overall factor profiled out in closed form:
        a least-squares problem of a few constants converges in tens of evaluations."""
        tree = parse_infix(f"{prefactor}*{text}", names)
        n = len(guesses[0]) + k
        values = compile_steps((tree,), xf, predict(tree, xf, np.ones(n)))
        if values is None:
            return None

        def residuals(c: np.ndarray) -> np.ndarray:
            with np.errstate(all="ignore"):
                v = values(c)
                vv = float(np.dot(v, v))
                r = (float(np.dot(v, yf)) / vv * v - yf) / scale if vv > 0 else yf / scale
            return np.where(np.isfinite(r), r, 1e5)

        best = None
        for g in guesses:
            start = np.array((0.0,) * k + g, dtype=np.float64)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                res = least_squares(residuals, start, method="lm", max_nfev=SCREEN_EVALUATIONS * (n + 1))
            loss = float(np.mean(res.fun**2))
            if best is None or loss < best[0]:
                best = (loss, tuple(float(c) for c in res.x))
        return (best[0], tree, best[1]) if best[0] < 1.0 else None

    screened: list[tuple[float, str, Node, tuple[float, ...]]] = []
    singles: dict[str, list[tuple[float, Shape, tuple[float, ...]]]] = {arg: [] for arg, _ in arguments}
    for arg, u in arguments:
        for shape in SHAPES:
            inner = shape.template.count("C")  # an argument written twice (tanh) starts twice alike
            found = screen(f"({shape.template.format(u=arg)})",
                           [g + g[:1] * (inner - len(g)) for g in shape.starts(u[fit])])
            if found is not None:
                screened.append((found[0], f"{shape.template.format(u='g')} of {arg}", found[1], found[2]))
                if not shape.template.endswith(" + C"):  # a product's factors carry no offset of their own
                    singles[arg].append((found[0], shape, found[2][k:]))
    if k == 2:  # separable laws: a group and another argument, their best shapes multiplied
        best = {arg: sorted(found, key=lambda s: s[0])[:SHAPES_MULTIPLIED] for arg, found in singles.items()}
        for i, arg_a in enumerate(tokens):
            for arg_b in list(best)[i + 1:]:
                for _, a, inner_a in best[arg_a]:
                    for _, b, inner_b in best[arg_b]:
                        found = screen(f"({a.template.format(u=arg_a)})*({b.template.format(u=arg_b)})",
                                       [inner_a + inner_b])
                        if found is not None:
                            label = f"{a.template.format(u='g')} of {arg_a} times {b.template.format(u='g')} of {arg_b}"
                            screened.append((found[0], label, found[1], found[2]))
    # As the search chooses: an exact fit of few nodes first, so many-constant products
    # that fit anything roughly do not crowd out a single shape that is the law.
    ranked = sorted(screened, key=lambda s: (choice_score(1 - s[0], tree_size((s[2],)), size_penalty), s[1]))
    ranked = ranked[:SHAPES_PROPOSED]
    return [Proposal(f"shape {label}", (tree,), (constants,)) for _, label, tree, constants in ranked]


#: Rational laws proposed to the search (:func:`rational_proposals`).
RATIONALS_PROPOSED = 2


def rational_proposals(groups: np.ndarray, y: np.ndarray, fit: np.ndarray) -> list[Proposal]:
    """The exact rational laws of the groups that ``y`` follows on the ``fit`` rows
    (:func:`.rational.rational_laws`: ``P/Q`` or ``sqrt(P/Q)``, numerator and denominator of
    degree up to 2 in the groups or their inverses), the fewest terms first, each with its
    coefficients as the first guess; ``[]`` when the data follow none exactly."""
    out: list[Proposal] = []
    seen: set[str] = set()
    names = {f"x{j}": f"x{j}" for j in range(1, groups.shape[1] + 1)}
    for law in rational_laws(groups, y, fit):
        text, constants = law.infix()
        if text in seen:  # another orientation wrote the same law
            continue
        seen.add(text)
        out.append(Proposal(f"rational {text}", (parse_infix(text, names),), (constants,)))
        if len(out) == RATIONALS_PROPOSED:
            break
    return out


#: A form with a larger denominator is read from a fitted constant only this close to it
#: (relative): what a refit on exact data reaches, far closer than such forms lie to each other.
EXACT_RTOL = 5e-7
#: The largest denominator of such a form (3/(20 pi), 1/(32 pi^2)); simple forms keep 12.
EXACT_DEN = 64
#: Formulas above this many nodes are not polished (sympy must stay quick on them).
POLISH_MAX_SIZE = 60


def exact_numbers(value: float) -> list:
    """What :func:`polish` tries for a constant, in order: 0; 1 with its sign (one of two
    constants that only act together); the simplest ``p/q * pi**e`` within 5%; one with a
    denominator up to :data:`EXACT_DEN` within :data:`EXACT_RTOL`; the square root of a
    fraction (sqrt(3)) within it."""
    import sympy as sp

    from physdocs.decoding.symbolic import round_constant

    sign = 1 if value > 0 else -1
    square = Fraction(value * value).limit_denominator(EXACT_DEN)
    root = None
    if square and abs(math.sqrt(square) - abs(value)) <= EXACT_RTOL * abs(value):
        root = sign * sp.sqrt(sp.Rational(square.numerator, square.denominator))
    return [sp.Integer(0), sp.Integer(sign), round_constant(value, rtol=0.05),
            round_constant(value, EXACT_RTOL, max_den=EXACT_DEN), root]


def polish(steps: Sequence[Node], constants: Sequence[float], x: np.ndarray, y: np.ndarray, fit: np.ndarray,
           held: np.ndarray, seed: int) -> tuple[tuple[Node, ...], tuple[float, ...]] | None:
    """The formula with its numbers written exactly where the data determine them, or None.

    With units every constant is a pure number, so on the data's own scale (the columns, or
    the dimensionless groups) the constants are the law's: sympy first merges the powers of
    two that scaling wrote into the formula with the fitted numbers (``4*sqrt(-0.61685 +
    0.0625*g**2)``), then each constant is snapped (:func:`exact_numbers`, the others refitted
    on ``fit`` rows) and kept when the fit on the ``held`` rows holds
    (:func:`.search.snap_constants`).
    """
    from physdocs.decoding.from_sympy import UnsupportedExpression, from_sympy
    from physdocs.decoding.symbolic import steps_to_sympy, tame_constants

    if not constants or tree_size(tuple(steps)) > POLISH_MAX_SIZE or not tame_constants(steps):
        return None
    tokens = {f"x{i}": f"x{i}" for i in range(1, x.shape[1] + 1)}
    try:  # no wall-clock limit (the answer must not depend on the machine): the size bound keeps sympy quick
        # sympy merges the numbers as it builds (the symbols are positive: (0.25*g)**0.5 is
        # 0.5*g**0.5); nothing is forced, so a negative radicand keeps its sign
        merged = steps_to_sympy(tuple(steps), constants)
        tree, consts = from_sympy(merged, tokens)  # the fitted numbers, merged: each a C
    except (UnsupportedExpression, GrammarError, TypeError, ValueError, RecursionError):
        return None
    with np.errstate(all="ignore"):
        cand = Candidate("polish", (tree,), consts, tree_size((tree,)), r2_score(y[fit], predict(tree, x[fit], consts)),
                         r2_score(y[held], predict(tree, x[held], consts)))
    snapped = snap_constants(cand, x[fit], y[fit], x[held], y[held], np.random.default_rng([seed, 23]),
                             options=exact_numbers, max_size=POLISH_MAX_SIZE, exact=True)
    best = snapped or cand
    try:  # roots of quotients as quotients of roots, when nothing was left to snap as well
        split = from_sympy(split_roots(steps_to_sympy(best.steps, best.constants)), tokens, exact=True)
    except (UnsupportedExpression, GrammarError, TypeError, ValueError, RecursionError):
        return best.steps, best.constants
    with np.errstate(all="ignore"):
        before, after = predict(best.steps, x[held], best.constants), predict(split[0], x[held], split[1])
    if np.all(np.isfinite(after)) and np.allclose(after, before, rtol=1e-9, atol=0):
        return (split[0],), split[1]
    return best.steps, best.constants


#: Formulas above this many nodes are not rewritten by :func:`compact`.
COMPACT_MAX_SIZE = 120


def compact(steps: Sequence[Node], x: np.ndarray) -> tuple[Node, ...]:
    """A formula without fitted numbers, written over one denominator when that is shorter:
    of itself, sympy's ``cancel`` and ``factor``, the fewest nodes that give the same values
    on ``x`` (``v (v/w + 1)/(v/w + v^2/c^2)``, a law of the groups written back over the
    columns, is ``c^2 (v + w)/(c^2 + v w)``)."""
    import sympy as sp

    from physdocs.decoding.from_sympy import UnsupportedExpression, from_sympy
    from physdocs.decoding.symbolic import steps_to_sympy

    best = tuple(steps)
    if tree_size(best) > COMPACT_MAX_SIZE:
        return best
    tokens = {f"x{i}": f"x{i}" for i in range(1, x.shape[1] + 1)}
    with np.errstate(all="ignore"):
        want = predict(best, x, ())
    try:
        expr = steps_to_sympy(best, ())
        # factor only a rational function: of a root it makes sqrt(c - u)*sqrt(c + u)
        forms = (sp.cancel(expr), *((sp.factor(expr),) if expr.is_rational_function() else ()))
    except (TypeError, ValueError, RecursionError, sp.PolynomialError):
        return best
    for form in forms:
        if any(p.base.is_Symbol and not p.exp.is_integer for p in form.atoms(sp.Pow) - expr.atoms(sp.Pow)):
            continue  # a root of a column that the formula did not have (L**(3/2)): not simpler to read
        try:
            tree, consts = from_sympy(form, tokens, exact=True)
        except (UnsupportedExpression, GrammarError, TypeError, ValueError, RecursionError):
            continue
        if consts or tree_size((tree,)) >= tree_size(best):
            continue
        with np.errstate(all="ignore"):
            got = predict((tree,), x, ())
        if np.all(np.isfinite(got)) and np.allclose(got, want, rtol=1e-9, atol=0):
            best = (tree,)
    return best


def search_with_units(
    model, x: np.ndarray, y: np.ndarray, *, inputs: Sequence[Dimension], target: Dimension, target_name: str,
    cfg: SearchConfig, seed: int, names: Mapping[str, str], progress: Callable[[str], None] | None = None,
    carriers: Sequence[Dimension] = (), **kw,
) -> SearchResult:
    """:func:`search` with units (see the module doc). Raises :class:`UnitsError` when no
    monomial of the inputs has the target's units.

    ``carriers``: the dimensions of constants the user declared that are not in the data
    (``g = m/s**2``). Fitted constants may carry products of their powers
    (:func:`physdocs.units.consistent`); the monomial is solved over the columns and the
    constants, and its constants' part is left to the fitted factor; the groups are the
    columns' own (a law that depends on a group holding a constant is found by the first
    search, over the columns).
    """
    say = progress or (lambda _: None)
    tokens = [f"x{i}" for i in range(1, len(inputs) + 1)]
    analysis = analyse([*inputs, *carriers], target)
    if analysis is None:
        raise UnitsError(f"no product of powers of the columns{' and the declared constants' if carriers else ''} "
                         f"has the units of {target_name!r} ({target}): check the units given, add the column a "
                         "constant with units lives in, or declare that constant (--constant NAME=UNIT)")
    if carriers:
        analysis = Analysis(analysis.monomial[:len(inputs)], analyse(inputs, DIMENSIONLESS).groups)
    units = Units(dict(zip(tokens, inputs, strict=True)), target, tuple(carriers))
    proposals = [Proposal("monomial", (monomial(analysis.monomial, tokens),))]
    if len(analysis.groups) == len(inputs):  # every column a pure number: the shapes of the columns themselves
        labels = [names.get(t, t) for t in tokens]
        scaling = kw.get("scaling") or choose_scaling(x, y, labels, target_name, strict=False)
        _, fit = split_rows(len(y), np.random.default_rng([seed, 17]), seed, cfg.holdout)
        scaled = scaling.apply(x, y)
        proposals += rational_proposals(*scaled, fit) + shape_proposals(*scaled, fit, cfg.size_penalty)
    plain = search(model, x, y, cfg=cfg, seed=seed, names=names, progress=progress, units=units,
                   proposals=proposals, **kw)
    plain.counts["units"] = {"groups": len(analysis.groups), "chosen": "all columns"}
    xr, yr = analysis.transform(x, y)
    if not analysis.groups or len(analysis.groups) >= len(inputs):
        return _choose(plain, None, analysis, x, y, xr, yr, cfg, seed, names, kw.get("text_names", names), units)
    try:
        scaling = choose_scaling(xr, yr, [f"pi{j}" for j in range(1, len(analysis.groups) + 1)], "y/monomial")
    except ScalingError:  # the groups' values are too wide for the model: the first search stands
        return _choose(plain, None, analysis, x, y, xr, yr, cfg, seed, names, kw.get("text_names", names), units)
    say(f"dimensional analysis: {len(inputs)} columns -> {len(analysis.groups)} dimensionless groups")
    # The same stages on the groups; the scaling and the names are the columns' and stay behind.
    fit = np.setdiff1d(np.arange(len(y)), plain.heldback)  # the groups' search splits the rows alike
    scaled = scaling.apply(xr, yr)
    reduced = search(model, xr, yr, cfg=cfg, seed=seed, progress=progress, scaling=scaling,
                     proposals=rational_proposals(*scaled, fit) + shape_proposals(*scaled, fit, cfg.size_penalty),
                     **{k: v for k, v in kw.items() if k not in ("scaling", "text_names")})
    d = reduced.derivation
    if d.steps is None:
        return plain
    return _choose(plain, reduced, analysis, x, y, xr, yr, cfg, seed, names, kw.get("text_names", names), units)


def _choose(plain: SearchResult, reduced: SearchResult | None, analysis: Analysis, x, y, xr, yr, cfg: SearchConfig,
            seed: int, names, text_names, units: Units) -> SearchResult:
    """The better on the held-back rows of the first search's answer and the groups' answer
    written over the columns, each polished (:func:`polish`) on its own scale first (the
    polished formula stands for its own); scored as the search scores (held-back R^2 and
    size), the size counted over the columns."""
    tokens = [f"x{i}" for i in range(1, x.shape[1] + 1)]
    held = plain.heldback
    fit = np.setdiff1d(np.arange(len(y)), held)

    def score(steps, constants) -> float:
        with np.errstate(all="ignore"):
            try:
                r2 = r2_score(y[held], predict(steps, x[held], constants))
            except GrammarError:
                r2 = -math.inf
        return choice_score(r2 if math.isfinite(r2) else -math.inf, tree_size(tuple(steps)), cfg.size_penalty)

    d = plain.derivation
    options = [("all columns", d.steps, d.constants, polish(d.steps, d.constants, x, y, fit, held, seed), plain)]
    if reduced is not None:
        r = reduced.derivation
        polished = polish(r.steps, r.constants, xr, yr, fit, held, seed)
        if polished is not None:  # back over the columns, over one denominator where shorter
            lifted = lift(polished[0], analysis, tokens)
            polished = (compact(lifted, x), ()) if not polished[1] else (lifted, polished[1])
        options.append(("dimensionless groups", lift(r.steps, analysis, tokens), r.constants, polished, reduced))
    if units.carriers:  # a group's answer need not carry the declared constants: checked like the search's
        options = [o for o in options if units.consistent(o[1], o[2])
                   and (o[3] is None or units.consistent(*o[3]))] or [(*options[0][:3], None, options[0][4])]
    scored = []  # a polished formula replaces its own: its held-back fit held, exact numbers may cost nodes
    for label, steps, constants, polished, result in options:
        if polished is None:
            scored.append((score(steps, constants), label, steps, constants, False, result))
        else:
            scored.append((score(*polished), label, *polished, True, result))
    units = plain.counts["units"]
    for label in ("all columns", "dimensionless groups"):
        mine = [round(sc[0], 4) for sc in scored if sc[1] == label]
        if mine:
            units[f"{label.split()[-1]}_score"] = min(mine)
    best, label, steps, constants, polished, result = min(scored, key=lambda sc: sc[0])
    units["chosen"], units["polished"] = label, polished
    if result is plain and not polished:
        return plain
    expression, latex, note = render(steps, constants, names)
    if not note:  # a polished formula keeps sqrt(3) and pi, and no sign is forced out of a root
        expression = simplify_numbers(expression) if polished else tidy(expression)
    with np.errstate(all="ignore"):
        values = predict(steps, x, constants)  # every row once: all, fitting and held back
    r2_fit, r2s = r2_score(y, values), [r2_score(y[rows], values[rows]) for rows in (fit, held)]
    seconds = plain.seconds + (reduced.seconds if reduced is not None else 0.0)
    source = result.derivation.source if result is plain else f"groups {result.derivation.source}"
    derivation = Derivation(
        tokens=None, raw_tokens=(), status="valid", note=note, steps=tuple(steps), expression=named(expression,
        text_names), latex=latex, constants=tuple(constants), r2_fit=r2_fit, seconds=seconds, decoder="pipeline",
        source=source + (", exact numbers" if polished else ""))
    # the answer given, over the columns: its size and fit are what the row and the front report
    chosen = Candidate(derivation.source, tuple(steps), tuple(constants), tree_size(tuple(steps)), *r2s)
    entry = {"size": chosen.size, "r2_fit": finite(r2s[0], 9), "r2_heldout": finite(r2s[1], 9),
             "score": round(best, 4), "formula": str(derivation.expression), "source": derivation.source,
             "chosen": True}
    return replace(plain, derivation=derivation, chosen=chosen, proposed_by=result.proposed_by, seconds=seconds,
                   front=merge_front(plain.front, entry))


def merge_front(front: Sequence[dict], chosen: dict) -> list[dict]:
    """The first search's front (accuracy against size, over the columns) with the answer
    chosen over both searches in it, marked ``chosen``: it takes its size's place, and a
    larger entry stays only when it beats it on the held-back rows."""
    rows = sorted([*(r for r in front if r["size"] != chosen["size"]), chosen], key=lambda r: r["size"])
    out, top = [], -math.inf
    for r in rows:
        r2 = r["r2_heldout"] if r["r2_heldout"] is not None else -math.inf
        if r is chosen or r2 > top:
            out.append(r)
            top = max(top, r2)
    return out
