"""Synthetic physics-shaped training equations, sampled on the fly.

:func:`sample_equation` draws a random formula shaped like textbook physics:
monomials with small integer or half-integer powers and ``2``, ``1/2``, ``4*pi``
style coefficients, sums and differences of such terms, trig/exp/log/sqrt
around sub-expressions, nested fractions, sometimes a fitted constant ``C``;
sometimes as a 2-4 step derivation whose steps refer to earlier results with
``s1 ..``. It draws a sampling box per variable, checks the formula on a small
sample of the box and rejects and resamples anything too long, non-finite,
outside the float16-safe band, constant, changing sign (a zero crossing in the
box), or whose skeleton belongs to the other side of the train / held-out split.

Memorisation is measured, not forbidden (excluding every benchmark skeleton once removed
the commonest physics shapes, such as ``x1*x2``, and the model learned near-products
instead): no benchmark equation is written into the generator nor excluded from it. Instead the skeleton space is split by a
stable hash (:func:`skeleton_split`): training draws ``split="train"`` skeletons only, and
the evaluation draws fresh ``split="heldout"`` equations the model has never seen in shape.
:class:`SkeletonIndex` maps skeletons to benchmark ids, for the memorisation audit.
"""

from __future__ import annotations

import bisect
import functools
import hashlib
import itertools
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from physdocs.constants import MAX_TOKENS
from physdocs.grammar import (
    ARITY,
    INTEGERS,
    STEP_REFS,
    VARIABLES,
    Node,
    count_constants,
    encode_sequence,
    evaluate,
    flatten,
)
from physdocs.observations import normalising_exponent

#: Relative frequency of 1..9 variables: Feynman-like for 1-4, with 5-9 drawn about twice
#: as often as in Feynman (5+ variables were almost never derived: 1 of 21 textbook laws).
VAR_COUNT_WEIGHTS: tuple[float, ...] = (1, 14, 33, 30, 22, 13, 7, 4, 3)


@dataclass(frozen=True)
class GeneratorConfig:
    """Knobs of the sampler; the defaults are the training distribution."""

    max_variables: int = 9
    max_tokens: int = MAX_TOKENS  # whole model sequence, BOS/EOS/STEP markers included
    p_multi_step: float = 0.15  # of equations with 2+ variables
    p_constant: float = 0.08  # chance that a monomial's coefficient is a fitted C
    p_negative_range: float = 0.05  # chance per variable of a negative box [-high, -low]
    # Boxes from a wide family, so the model meets a physicist's ranges (data in [1, 10] or
    # [100, 400] lay outside every training box before): a variable's box is, with this chance,
    # [s, s * r] with s log-uniform over 10**wide_decades and width r log-uniform in
    # wide_ratio; otherwise a benchmark-like box (low in [0.5, 2], high = low + [1, 4]).
    p_wide: float = 0.6
    wide_decades: tuple[float, float] = (-2.0, 2.0)
    wide_ratio: tuple[float, float] = (1.5, 100.0)
    # A share of the equations gets relative Gaussian noise on the target, sigma ~ U(0, max_noise).
    p_noise: float = 0.3
    max_noise: float = 0.05
    # Shapes of many-variable laws that the forms above never build (0 keeps the distribution
    # the evaluation's synthetic probes and the fixed validation set draw from):
    # - p_distance: the weight of a top-level distance form, sum((x_a - x_b)**2) over 1-3
    #   pairs, its square root, or a monomial over it (inverse-square laws between points);
    # - p_many_terms: the chance that a sum over 4+ variables has 3-5 terms, not 2-3
    #   (a dot product, a moment of inertia).
    p_distance: float = 0.0
    p_many_terms: float = 0.0
    # Columns and target are scaled by powers of two as at inference (observations.normalise);
    # the target's range check then applies to the scaled values.
    normalise: bool = True
    var_count_weights: tuple[float, ...] = VAR_COUNT_WEIGHTS
    step_count_weights: tuple[float, float, float] = (0.6, 0.3, 0.1)  # 2, 3, 4 steps
    n_check_points: int = 64
    y_min: float = 6e-5
    y_max: float = 6e4
    # Which side of the stable-hash skeleton split to draw from: "train", "heldout" or "any".
    split: str = "train"
    heldout_fraction: float = 0.05  # of non-monomial skeletons (monomials are never held out)
    max_attempts: int = 10_000
    redraw_after: int = 200  # rejections before the variable and step counts are redrawn

    def __post_init__(self) -> None:
        if self.split not in ("train", "heldout", "any"):
            raise ValueError(f"GeneratorConfig.split must be 'train', 'heldout' or 'any', got {self.split!r}")
        if not 0 <= self.heldout_fraction <= 1:
            raise ValueError(f"GeneratorConfig.heldout_fraction must lie in [0, 1], got {self.heldout_fraction}")
        if not (0 <= self.p_wide <= 1 and 0 <= self.p_noise <= 1 and self.max_noise >= 0
                and 1 <= self.wide_ratio[0] <= self.wide_ratio[1]):
            raise ValueError(f"GeneratorConfig: p_wide and p_noise must lie in [0, 1], max_noise >= 0 and "
                             f"1 <= wide_ratio[0] <= wide_ratio[1]; got {self.p_wide}, {self.p_noise}, "
                             f"{self.max_noise}, {self.wide_ratio}")
        if not (0 <= self.p_distance < 1 and 0 <= self.p_many_terms <= 1):
            raise ValueError(f"GeneratorConfig: p_distance must lie in [0, 1) and p_many_terms in [0, 1], "
                             f"got {self.p_distance} and {self.p_many_terms}")
        if not 1 <= self.max_variables <= 9 or self.max_tokens < 3:
            raise ValueError(f"GeneratorConfig needs 1 <= max_variables <= 9 and max_tokens >= 3, got "
                             f"{self.max_variables} and {self.max_tokens}")


@dataclass
class GeneratorStats:
    """Accepted count and rejections by reason."""

    accepted: int = 0
    rejected: dict[str, int] = field(default_factory=dict)

    def reject(self, reason: str) -> None:
        self.rejected[reason] = self.rejected.get(reason, 0) + 1

    @property
    def acceptance_rate(self) -> float:
        total = self.accepted + sum(self.rejected.values())
        return self.accepted / total if total else 0.0


@dataclass(frozen=True, eq=False)
class SyntheticEquation:
    """One sampled equation over ``x1 .. x{n_vars}`` with its sampling box."""

    steps: tuple[Node, ...]
    tree: Node  # the steps flattened
    low: np.ndarray  # [n_vars]
    high: np.ndarray  # [n_vars]
    tokens: list[str]  # encode_sequence(steps)
    constants: tuple[float, ...] = ()  # values of the C leaves used in the check
    skeleton: str = ""  # canonical key (:func:`skeleton`)

    @property
    def n_vars(self) -> int:
        return len(self.low)

    @property
    def multi_step(self) -> bool:
        return len(self.steps) > 1


# ---------------------------------------------------------------- tree building

_LEAF: dict[str, Node] = {s: Node(s) for s, a in ARITY.items() if a == 0}
_ONE, _TWO, _PI = _LEAF["1"], _LEAF["2"], _LEAF["pi"]


def _n(symbol: str, *children: Node) -> Node:
    return Node(symbol, children)


def _prod(nodes: Sequence[Node]) -> Node:
    out = nodes[0]
    for node in nodes[1:]:
        out = _n("mul", out, node)
    return out


def _cum(weights: Sequence[float]) -> list[float]:
    c = np.cumsum(np.asarray(weights, dtype=float))
    return (c / c[-1]).tolist()


def _pick(rng: np.random.Generator, cum: list[float]) -> int:
    return min(bisect.bisect_right(cum, rng.random()), len(cum) - 1)


_TWO_PI = _n("mul", _TWO, _PI)
_FOUR_PI = _n("mul", _LEAF["4"], _PI)
# (weight, numerator factor, denominator factor)
_COEFS: tuple[tuple[float, Node | None, Node | None], ...] = (
    (0.55, None, None),
    (0.06, _TWO, None),
    (0.03, _LEAF["3"], None),
    (0.03, _LEAF["4"], None),
    (0.01, _LEAF["8"], None),
    (0.08, None, _TWO),
    (0.02, None, _LEAF["3"]),
    (0.02, None, _LEAF["4"]),
    (0.03, _PI, None),
    (0.03, _TWO_PI, None),
    (0.02, _FOUR_PI, None),
    (0.03, None, _TWO_PI),
    (0.04, None, _FOUR_PI),
    (0.01, None, _PI),
    (0.02, _LEAF["3"], _TWO),
    (0.01, _LEAF["3"], _LEAF["5"]),
)
_COEF_CUM = _cum([w for w, _, _ in _COEFS])
_EXPONENTS: tuple[tuple[str, float], ...] = (
    ("1", 0.62),
    ("2", 0.2),
    ("3", 0.05),
    ("h", 0.08),
    ("3h", 0.02),
    ("4", 0.03),
)
_EXP_CUM = _cum([w for _, w in _EXPONENTS])
_FUNCS: tuple[tuple[str, float], ...] = (
    ("sin", 0.2),
    ("cos", 0.17),
    ("exp", 0.28),
    ("log", 0.15),
    ("sqrt", 0.2),
)
_FUNC_CUM = _cum([w for _, w in _FUNCS])
_FORMS = ("mono", "sum", "func", "pyth", "frac", "scaled", "distance")
_FORM_WEIGHTS = {  # the distance form's weight is GeneratorConfig.p_distance (top level only)
    (0, True): (0.38, 0.18, 0.18, 0.06, 0.10, 0.10),
    (0, False): (0.50, 0.0, 0.35, 0.05, 0.10, 0.0),
    (1, True): (0.75, 0.10, 0.10, 0.0, 0.05, 0.0),
    (1, False): (0.80, 0.0, 0.20, 0.0, 0.0, 0.0),
}


@functools.lru_cache(maxsize=8)  # one builder per sampled equation: build the table once
def _form_cum(p_distance: float) -> dict[tuple[int, bool], list[float]]:
    """Cumulative form weights; with ``p_distance = 0`` exactly the six forms' (a trailing
    zero weight leaves every draw as it was)."""
    out = {}
    for key, weights in _FORM_WEIGHTS.items():
        share = p_distance if key == (0, True) else 0.0
        out[key] = _cum([w * (1 - share) for w in weights] + [share * sum(weights)])
    return out


def _power(leaf: str, code: str) -> Node:
    node = _LEAF[leaf]
    if code == "1":
        return node
    if code == "h":
        return _n("sqrt", node)
    if code == "3h":
        return _n("pow", node, _n("div", _LEAF["3"], _TWO))
    return _n("pow", node, _LEAF[code])


class _Builder:
    """Random physics-shaped trees; every leaf passed to :meth:`build` is used."""

    def __init__(self, rng: np.random.Generator, cfg: GeneratorConfig) -> None:
        self.rng = rng
        self.cfg = cfg
        self.form_cum = _form_cum(cfg.p_distance)
        self.angles: dict[str, float] = {}  # variable -> largest safe angle (sin: ~pi, cos: ~pi/2)

    def coin(self, p: float) -> bool:
        return self.rng.random() < p

    def split(self, leaves: Sequence[str], k: int) -> list[list[str]]:
        """Shuffle ``leaves`` into ``k`` non-empty groups (``k <= len(leaves)``)."""
        items = list(leaves)
        self.rng.shuffle(items)
        cuts = sorted((self.rng.permutation(len(items) - 1)[: k - 1] + 1).tolist())
        return [items[a:b] for a, b in zip([0, *cuts], [*cuts, len(items)], strict=True)]

    def build(self, leaves: Sequence[str], depth: int = 0) -> Node:
        if depth >= 2:
            return self.mono(leaves)
        form = _FORMS[_pick(self.rng, self.form_cum[(depth, len(leaves) > 1)])]
        return getattr(self, form)(leaves, depth)

    def mono(self, leaves: Sequence[str], depth: int = 0, coef: bool = True) -> Node:
        num: list[Node] = []
        den: list[Node] = []
        if coef:
            if self.coin(self.cfg.p_constant):
                num.append(_LEAF["C"])
            else:
                _, cn, cd = _COEFS[_pick(self.rng, _COEF_CUM)]
                if cn is not None:
                    num.append(cn)
                if cd is not None:
                    den.append(cd)
        for leaf in leaves:
            factor = _power(leaf, _EXPONENTS[_pick(self.rng, _EXP_CUM)][0])
            (den if self.coin(0.3) else num).append(factor)
        top = _prod(num) if num else _ONE
        return _n("div", top, _prod(den)) if den else top

    def one_plus(self, leaves: Sequence[str], depth: int = 0) -> Node:
        term = self.mono(leaves, coef=self.coin(0.3))
        op = "sub" if self.coin(0.35) else "add"
        return _n(op, _ONE, term) if op == "sub" or self.coin(0.7) else _n(op, term, _ONE)

    def sum(self, leaves: Sequence[str], depth: int) -> Node:
        if len(leaves) < 2:
            return self.one_plus(leaves)
        if len(leaves) >= 4 and self.cfg.p_many_terms > 0 and self.coin(self.cfg.p_many_terms):
            k = 3 + int(self.rng.random() * (min(5, len(leaves)) - 2))
        else:
            k = 3 if len(leaves) >= 3 and self.coin(0.25) else 2
        groups = self.split(leaves, k)
        if self.coin(0.15):  # a variable shared by two terms
            extra = groups[1][0]
            if extra not in groups[0]:
                groups[0].append(extra)
        out = self.build(groups[0], depth + 1)
        for group in groups[1:]:
            out = _n("sub" if self.coin(0.35) else "add", out, self.build(group, depth + 1))
        return out

    def func(self, leaves: Sequence[str], depth: int) -> Node:
        items = list(leaves)
        self.rng.shuffle(items)
        f = _FUNCS[_pick(self.rng, _FUNC_CUM)][0]
        trig = f in ("sin", "cos")
        angle = trig and items[0] in VARIABLES and self.coin(0.6)  # sin(theta) with an angle range
        n_in = 1 if angle else 1 + int(self.rng.random() * len(items))
        inner, outer = items[:n_in], items[n_in:]
        if angle:
            arg, top = _power(items[0], "1"), 2.9 if f == "sin" else 1.5
            if self.coin(0.25):
                doubled = self.coin(0.5)
                arg = _n("mul", _TWO, arg) if doubled else _n("div", arg, _TWO)
                top = top / 2 if doubled else top
            before = self.angles.get(items[0], FULL_TURN)
            self.angles[items[0]] = min(before, max(top, 1.1))
        elif f == "sqrt":
            arg = self.sum(inner, depth + 1) if len(inner) > 1 and self.coin(0.6) else self.one_plus(inner)
        elif f == "log":
            arg = self.mono(inner) if self.coin(0.6) else self.one_plus(inner)
        elif f == "exp":
            arg = self.mono(inner)
            arg = _n("neg", arg) if self.coin(0.7) else arg
        else:
            arg = self.mono(inner, coef=self.coin(0.4))
        core = _n(f, arg)
        if angle and self.coin(0.3):  # sin(theta)**2, 1 - cos(theta): no sign change over a full turn
            core = _n("sub", _ONE, core) if f == "cos" and self.coin(0.5) else _n("pow", core, _TWO)
            self.angles[items[0]] = min(before, FULL_TURN / 2 if arg.symbol == "mul" else FULL_TURN)
        if not outer:
            return core
        o = self.mono(outer)
        r = self.rng.random()
        return _n("mul", o, core) if r < 0.7 else _n("div", o, core) if r < 0.85 else _n("div", core, o)

    def pyth(self, leaves: Sequence[str], depth: int) -> Node:
        if len(leaves) == 1:
            sq = _n("pow", self.mono(leaves, coef=False), _TWO)
            return _n("sqrt", _n("sub" if self.coin(0.4) else "add", _ONE, sq))
        outer: list[str] = []
        items = list(leaves)
        if len(items) >= 3 and self.coin(0.3):
            self.rng.shuffle(items)
            outer, items = items[:1], items[1:]
        groups = self.split(items, 3 if len(items) >= 3 and self.coin(0.2) else 2)
        squares = [_n("pow", self.mono(g, coef=self.coin(0.2)), _TWO) for g in groups]
        out = squares[0]
        for sq in squares[1:]:
            out = _n("sub" if self.coin(0.15) else "add", out, sq)
        core = _n("sqrt", out)
        if not outer:
            return core
        o = self.mono(outer)
        return _n("mul", o, core) if self.coin(0.6) else _n("div", o, core)

    def distance(self, leaves: Sequence[str], depth: int) -> Node:
        """``sum((x_a - x_b)**2)`` over 1-3 pairs, its root, or a monomial of the rest over it."""
        items = list(leaves)
        self.rng.shuffle(items)
        n_pairs = min(len(items) // 2, 1 + int(self.rng.random() * 3))
        squares = [_n("pow", _n("sub", _LEAF[items[2 * i]], _LEAF[items[2 * i + 1]]), _TWO) for i in range(n_pairs)]
        core = squares[0]
        for sq in squares[1:]:
            core = _n("add", core, sq)
        if self.coin(0.4):
            core = _n("sqrt", core)
        outer = items[2 * n_pairs:]
        if not outer:
            return core
        o = self.mono(outer)
        return _n("mul", o, core) if self.coin(0.3) else _n("div", o, core)

    def frac(self, leaves: Sequence[str], depth: int) -> Node:
        if len(leaves) >= 2 and self.coin(0.12):  # x1*x2/(x1 + x2)
            a, b = self.split(leaves, 2)
            return _n("div", self.mono(leaves), _n("add", _LEAF[a[0]], _LEAF[b[0]]))
        if len(leaves) == 1:
            num, den_leaves = self.mono(leaves), list(leaves)
        else:
            g1, den_leaves = self.split(leaves, 2)
            num = self.mono(g1)
        r = self.rng.random()
        if r < 0.5 or (r < 0.8 and len(den_leaves) < 2):
            den = self.one_plus(den_leaves)
        elif r < 0.8:
            den = self.sum(den_leaves, depth + 1)
        else:
            den = _n("sub", _n("exp", self.mono(den_leaves)), _ONE)
        return _n("div", num, den)

    def scaled(self, leaves: Sequence[str], depth: int) -> Node:
        g1, g2 = self.split(leaves, 2)
        s = self.sum(g2, depth + 1) if len(g2) > 1 else self.one_plus(g2)
        o = self.mono(g1)
        r = self.rng.random()
        return _n("mul", o, s) if r < 0.6 else _n("div", s, o) if r < 0.8 else _n("div", o, s)

    def derivation(self, names: Sequence[str], n_steps: int) -> tuple[Node, ...] | None:
        """``n_steps`` steps over disjoint variable groups, each using the previous result."""
        groups = self.split(names, n_steps)
        steps: list[Node] = []
        for k, group in enumerate(groups):
            leaves = list(group)
            if k > 0:
                leaves.append(f"s{k}")
                if k >= 2 and self.coin(0.2):
                    leaves.append(f"s{k - 1}")
            for _ in range(4):  # a step that is a bare leaf says nothing
                step = self.build(leaves, 0 if k == len(groups) - 1 else 1)
                if step.children:
                    break
            else:
                return None
            steps.append(step)
        return tuple(steps)


# ---------------------------------------------------------------- numeric check

#: The largest angle box's upper edge (just under 2 pi, so the box stays inside one turn).
FULL_TURN = 6.2

_CONST_ENV: dict[str, Any] = {s: float(s) for s in INTEGERS} | {"pi": math.pi}
_BIN = {"add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.divide, "pow": np.power}
_UN = {"sin": np.sin, "cos": np.cos, "exp": np.exp, "log": np.log, "sqrt": np.sqrt, "neg": np.negative}


def _check(
    steps: Sequence[Node], x: np.ndarray, constants: Sequence[float], cfg: GeneratorConfig
) -> str | None:
    """Why the derivation is unusable on ``x`` (``None`` when it is fine).

    Every step must be finite on every point, so each prefix of the derivation is evaluated
    (with the grammar's one evaluator) and checked.
    """
    for k in range(1, len(steps) + 1):
        head = steps[:k]
        n_c = sum(count_constants(s) for s in head)
        y = evaluate(head, x, tuple(constants[:n_c])).values
        if not np.isfinite(y).all():
            return "non_finite"
    if cfg.normalise:
        y = np.ldexp(y, -normalising_exponent(y))
    a = np.abs(y)
    lo, hi = float(a.min()), float(a.max())
    if lo < cfg.y_min or hi > cfg.y_max:
        return "out_of_range"
    if y.min() < 0 < y.max():
        return "sign_change"
    if hi - lo <= 1e-9 * hi:
        return "constant"
    return None


def _ranges(
    rng: np.random.Generator, n: int, cfg: GeneratorConfig, angles: dict[str, float]
) -> tuple[np.ndarray, np.ndarray]:
    """Per variable a benchmark-like box (low in [0.5, 2], high = low + [1, 4]) or, with
    chance ``p_wide``, a wide one ``[s, s * r]`` (s over decades, r from 1.5x to 100x);
    some boxes negative; angles from near 0 up to their safe top (a full turn at most)."""
    u = rng.random((3, n))
    std = u[0] < 0.88
    low = np.round(np.where(std, 0.5 + 1.5 * u[1], 0.1 + 0.4 * u[1]), 1)
    high = np.round(low + np.where(std, 1.0 + 3.0 * u[2], 0.5 + 1.5 * u[2]), 1)
    wide = rng.random(n) < cfg.p_wide
    if wide.any():
        scale = 10.0 ** rng.uniform(*cfg.wide_decades, n)
        ratio = np.exp(rng.uniform(math.log(cfg.wide_ratio[0]), math.log(cfg.wide_ratio[1]), n))
        low = np.where(wide, _round3(scale), low)
        high = np.where(wide, _round3(scale * ratio), high)
    neg = rng.random(n) < cfg.p_negative_range
    low, high = np.where(neg, -high, low), np.where(neg, -low, high)
    for name, top in angles.items():
        i = int(name[1:]) - 1
        low[i] = round(0.05 + 0.35 * u[1, i], 2)
        high[i] = round(1.0 + (top - 1.0) * u[2, i], 1)
    return low, high


def _round3(v: np.ndarray) -> np.ndarray:
    """Three significant digits, as a person writes a box edge."""
    digits = 2 - np.floor(np.log10(np.abs(v))).astype(int)
    return np.array([round(float(a), int(d)) for a, d in zip(v, digits, strict=True)])


# ---------------------------------------------------------------- sampling


def _attempt(b: _Builder, cfg: GeneratorConfig, n: int, n_steps: int) -> SyntheticEquation | str:
    rng = b.rng
    names = list(VARIABLES[:n])
    rng.shuffle(names)
    b.angles = {}
    if n_steps > 1:
        maybe = b.derivation(names, n_steps)
        if maybe is None:
            return "trivial_step"
        steps = maybe
    else:
        steps = (b.build(names, 0),)
    tokens = encode_sequence(steps)
    if len(tokens) > cfg.max_tokens:
        return "too_long"
    low, high = _ranges(rng, n, cfg, b.angles)
    n_c = tokens.count("C")
    constants = tuple(np.round(0.5 + 1.5 * rng.random(n_c), 2).tolist()) if n_c else ()
    x = low + (high - low) * rng.random((cfg.n_check_points, n))
    reason = _check(steps, x, constants, cfg)
    if reason is not None:
        return reason
    tree = steps[0] if len(steps) == 1 else flatten(steps)
    key = skeleton(tree)
    if cfg.split != "any" and skeleton_split(key, cfg.heldout_fraction) != cfg.split:
        return "other_split"
    return SyntheticEquation(
        steps=steps, tree=tree, low=low, high=high, tokens=tokens, constants=constants, skeleton=key
    )


def sample_equation(
    rng: np.random.Generator,
    cfg: GeneratorConfig = GeneratorConfig(),  # noqa: B008 - frozen, so a shared default is safe
    *,
    stats: GeneratorStats | None = None,
) -> SyntheticEquation:
    """Draw one valid equation from ``cfg.split`` (rejecting and resampling).

    The variable count and the number of steps are drawn once and kept while the
    formula is resampled (up to ``cfg.redraw_after`` times), so their distributions
    are the configured ones unless a combination cannot fit ``max_tokens``.
    """
    var_cum = _cum(cfg.var_count_weights[: cfg.max_variables])
    step_cum = _cum(cfg.step_count_weights)
    builder = _Builder(rng, cfg)
    for attempt in range(cfg.max_attempts):
        if attempt % cfg.redraw_after == 0:  # a (count, steps) pair that never fits is dropped
            n = 1 + _pick(rng, var_cum)
            n_steps = min(2 + _pick(rng, step_cum), n) if n >= 2 and builder.coin(cfg.p_multi_step) else 1
        out = _attempt(builder, cfg, n, n_steps)
        if isinstance(out, SyntheticEquation):
            if stats is not None:
                stats.accepted += 1
            return out
        if stats is not None:
            stats.reject(out)
    raise RuntimeError(f"no valid equation after {cfg.max_attempts} attempts")


# ---------------------------------------------------------------- skeletons
#
# A skeleton is a canonical key of an expression up to constants and variable
# renaming. The flat tree is first normalised (with the real variable names):
# any variable-free subtree is one constant C, dropped as a factor or sign (so
# 2*x, C*x and -x look like x, while x + 1 and x - 2 are add(C, x)); add/sub and
# mul/div/sqrt/constant powers become n-ary sums and products of
# ``base^exponent``, equal bases merged; an exponent is kept only as 1, -1 or
# "other" (so x**2, x**3, sqrt(x), 1/x**2 match; x and 1/x do not); sin and cos
# are one "trig"; C**f is exp(f). Then variables are labelled canonically: by a
# signature of the positions they occupy, and the lexicographically smallest
# rendering over permutations of variables with equal signatures wins.

_Norm = tuple  # ("C",) | ("v", name) | ("add", terms) | ("mul", ((base, exp), ...)) | ("f", name, arg) | ("pow", b, e)
_C: _Norm = ("C",)
_VARSET = frozenset((*VARIABLES, *STEP_REFS))
_MAX_PERMUTATIONS = 5040


def _const_value(node: Node) -> float | None:
    """Value of a variable-free subtree; ``None`` if it holds a fitted C or fails."""
    s = node.symbol
    if s in _CONST_ENV:
        return _CONST_ENV[s]
    if not node.children:
        return None
    args = [_const_value(c) for c in node.children]
    if any(a is None for a in args):
        return None
    try:
        with np.errstate(all="raise"):
            if len(args) == 2:
                out = float(_BIN[s](args[0], args[1]))
            else:
                out = float(_UN[s](args[0]))
    except (FloatingPointError, OverflowError, ValueError):
        return None
    return out if math.isfinite(out) else None


def _scale(e: float | None, by: float | None) -> float | None:
    if by == 0 or e == 0:
        return 0.0
    return None if e is None or by is None else e * by


def _factors(node: Node, e: float | None) -> list[tuple[_Norm, float | None]]:
    s = node.symbol
    if s == "mul":
        return _factors(node.children[0], e) + _factors(node.children[1], e)
    if s == "div":
        return _factors(node.children[0], e) + _factors(node.children[1], _scale(e, -1.0))
    if s == "neg":
        return _factors(node.children[0], e)
    if s == "sqrt":
        return _factors(node.children[0], _scale(e, 0.5))
    if s == "pow" and _norm(node.children[1]) is _C:
        return _factors(node.children[0], _scale(e, _const_value(node.children[1])))
    m = _norm(node)
    if m is _C:
        return []
    if m[0] == "mul":
        return [(base, _scale(x, e)) for base, x in m[1]]
    return [(m, e)]


def _mk_mul(factors: list[tuple[_Norm, float | None]]) -> _Norm:
    merged: dict[_Norm, float | None] = {}
    for base, e in factors:
        if base in merged:
            old = merged[base]
            merged[base] = None if old is None or e is None else old + e
        else:
            merged[base] = e
    items = [(b, e) for b, e in merged.items() if e is None or abs(e) > 1e-12]
    if not items:
        return _C
    if len(items) == 1 and items[0][1] == 1.0:
        return items[0][0]
    return ("mul", tuple(sorted(items, key=repr)))


def _terms(node: Node) -> list[_Norm]:
    if node.symbol in ("add", "sub"):
        return _terms(node.children[0]) + _terms(node.children[1])
    if node.symbol == "neg":
        return _terms(node.children[0])
    m = _norm(node)
    return list(m[1]) if m[0] == "add" else [m]


def _mk_add(terms: list[_Norm]) -> _Norm:
    unique = sorted(set(terms), key=repr)  # constant terms collapse into one C
    return unique[0] if len(unique) == 1 else ("add", tuple(unique))


def _norm(node: Node) -> _Norm:
    s = node.symbol
    if s in _VARSET:
        return ("v", s)
    if not node.children:
        return _C
    if s in ("add", "sub"):
        return _mk_add(_terms(node))
    if s in ("mul", "div", "sqrt") or (s == "pow" and _norm(node.children[1]) is _C):
        return _mk_mul(_factors(node, 1.0))
    if s == "neg":
        return _norm(node.children[0])
    if s == "pow":
        base, expo = _norm(node.children[0]), _norm(node.children[1])
        return ("f", "exp", expo) if base is _C else ("pow", base, expo)
    arg = _norm(node.children[0])
    if arg is _C:
        return _C
    return ("f", "trig" if s in ("sin", "cos") else s, arg)


def _exp_tag(e: float | None) -> str:
    return "^1" if e == 1.0 else "^-1" if e == -1.0 else "^C"


def _render(m: _Norm, label: dict[str, str]) -> str:
    kind = m[0]
    if kind == "v":
        return label[m[1]]
    if kind == "C":
        return "C"
    if kind == "add":
        return "add(" + ",".join(sorted(_render(t, label) for t in m[1])) + ")"
    if kind == "mul":
        return "mul(" + ",".join(sorted(_render(b, label) + _exp_tag(e) for b, e in m[1])) + ")"
    if kind == "f":
        return f"{m[1]}({_render(m[2], label)})"
    return f"pow({_render(m[1], label)},{_render(m[2], label)})"


class _AnyV(dict):
    def __missing__(self, key: str) -> str:
        return "v"


_SHAPE_LABEL = _AnyV()


def _signatures(m: _Norm) -> dict[str, str]:
    """Per variable, the sorted list of root-to-leaf paths in variable-agnostic terms."""
    paths: dict[str, list[str]] = {}

    def walk(node: _Norm, path: str) -> None:
        kind = node[0]
        if kind == "v":
            paths.setdefault(node[1], []).append(path)
        elif kind == "add":
            for t in node[1]:
                walk(t, f"{path}/+{_render(t, _SHAPE_LABEL)}")
        elif kind == "mul":
            for b, e in node[1]:
                walk(b, f"{path}/*{_render(b, _SHAPE_LABEL)}{_exp_tag(e)}")
        elif kind == "f":
            walk(node[2], f"{path}/{node[1]}")
        elif kind == "pow":
            walk(node[1], f"{path}/pow0")
            walk(node[2], f"{path}/pow1")

    walk(m, "")
    return {v: "|".join(sorted(p)) for v, p in paths.items()}


_LABEL_RE = re.compile(r"v(\d+)")


def _canonical(m: _Norm) -> str:
    sig = _signatures(m)
    groups: dict[str, list[str]] = {}
    for v in sorted(sig):
        groups.setdefault(sig[v], []).append(v)
    ordered = [groups[k] for k in sorted(groups)]
    n_perm = math.prod(math.factorial(len(g)) for g in ordered)
    choices = (
        itertools.product(*(itertools.permutations(g) for g in ordered))
        if n_perm <= _MAX_PERMUTATIONS
        else [tuple(ordered)]
    )
    best: str | None = None
    for perm in choices:
        label = {v: f"v{i}" for i, v in enumerate(itertools.chain.from_iterable(perm), start=1)}
        key = _render(m, label)
        if best is None or key < best:
            best = key
    assert best is not None
    first: dict[str, str] = {}
    return _LABEL_RE.sub(lambda mt: first.setdefault(mt.group(0), f"v{len(first) + 1}"), best)


def _as_tree(item: Any) -> Node:
    if isinstance(item, Node):
        return item
    if hasattr(item, "tree") and isinstance(item.tree, Node):
        return item.tree
    return flatten(tuple(item))


def skeleton(item: Node | Sequence[Node] | SyntheticEquation) -> str:
    """Canonical key up to constants, signs, variable renaming and commutativity."""
    return _canonical(_norm(_as_tree(item)))


_MONOMIAL = re.compile(r"^(v\d+|mul\((v\d+\^(1|-1|C),?)+\))$")


def skeleton_split(key: str, heldout_fraction: float = 0.05) -> str:
    """``"train"`` or ``"heldout"`` for a skeleton key, by a stable hash (same on every machine).

    Monomials (``x1``, ``x1*x2``, ``x1**2/x2`` ...) are always ``"train"``: they are the
    alphabet the rest of physics is written in, and holding one out would repeat the old
    exclusion's mistake. Among the other skeletons, ``heldout_fraction`` are held out.
    """
    if _MONOMIAL.match(key):
        return "train"
    h = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") / 2**64
    return "heldout" if h < heldout_fraction else "train"


class SkeletonIndex:
    """Skeleton keys of a set of equations (the benchmark's, for the memorisation audit)."""

    def __init__(self, items: dict[str, Any]) -> None:
        self.ids_by_key: dict[str, list[str]] = {}
        self.key_by_id: dict[str, str] = {}
        for name, item in items.items():
            key = skeleton(item)
            self.key_by_id[name] = key
            self.ids_by_key.setdefault(key, []).append(name)

    @classmethod
    def from_benchmark(cls, path: Any = None) -> SkeletonIndex:
        from physdocs.benchmark import load_benchmark

        eqs = load_benchmark(path)
        return cls({eq.id: tuple(eq.step_trees) for eq in eqs})

    def __contains__(self, key: str) -> bool:
        return key in self.ids_by_key

    def __len__(self) -> int:
        return len(self.ids_by_key)
