"""The pipeline with units: a dimension check on every candidate, and dimensional analysis.

Given the columns' and the target's units (:mod:`physdocs.units`), :func:`search_with_units`

1. runs the pipeline (:func:`.search.search`) keeping only candidates with the target's
   dimension, and proposes the monomial of the inputs with the target's units (the whole
   law when the inputs form no dimensionless group);
2. when the inputs form fewer dimensionless groups than there are inputs, runs the pipeline
   again on ``(groups, y / monomial)`` -- the same law in fewer variables, as AI Feynman
   does first -- and writes its answer back as ``monomial * f(groups)``;
3. keeps the better of the two on the first search's held-back rows, by the same score
   (held-back R^2 and size) the search chooses with. Neither ever sees the rows ``derive``
   holds out for the reported R^2.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from fractions import Fraction

import numpy as np

from physdocs.decoding.constants import predict, r2_score
from physdocs.decoding.derive import Derivation, render
from physdocs.decoding.scaling import ScalingError, choose_scaling, tidy
from physdocs.decoding.search import SearchConfig, SearchResult, Units, choice_score, named, search
from physdocs.grammar import Node
from physdocs.units import Analysis, Dimension, analyse


class UnitsError(ValueError):
    """Units that no formula can satisfy; the message names the target and the fix."""


def _int(k: int) -> Node:
    """A positive integer as a tree of the grammar's digits 1..9."""
    if k <= 9:
        return Node(str(k))
    q, r = divmod(k, 9)
    tree = Node("mul", (Node("9"), _int(q)))
    return Node("add", (tree, Node(str(r)))) if r else tree


def _power(token: str, e: Fraction) -> Node:
    base = Node(token)
    k = abs(e)
    if k != 1:
        exponent = _int(k.numerator) if k.denominator == 1 else Node("div", (_int(k.numerator), _int(k.denominator)))
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


def search_with_units(
    model, x: np.ndarray, y: np.ndarray, *, inputs: Sequence[Dimension], target: Dimension, target_name: str,
    cfg: SearchConfig, seed: int, names: Mapping[str, str], progress: Callable[[str], None] | None = None,
    **kw,
) -> SearchResult:
    """:func:`search` with units (see the module doc). Raises :class:`UnitsError` when no
    monomial of the inputs has the target's units."""
    say = progress or (lambda _: None)
    tokens = [f"x{i}" for i in range(1, len(inputs) + 1)]
    analysis = analyse(inputs, target)
    if analysis is None:
        raise UnitsError(f"no product of powers of the columns has the units of {target_name!r} ({target}): "
                         "check the units given, or add the column a constant with units lives in")
    units = Units(dict(zip(tokens, inputs, strict=True)), target)
    proposals = [("monomial", (monomial(analysis.monomial, tokens),))]
    plain = search(model, x, y, cfg=cfg, seed=seed, names=names, progress=progress, units=units,
                   proposals=proposals, **kw)
    plain.counts["units"] = {"groups": len(analysis.groups), "chosen": "all columns"}
    if not analysis.groups or len(analysis.groups) >= len(inputs):
        return plain
    xr, yr = analysis.transform(x, y)
    try:
        choose_scaling(xr, yr, [f"pi{j}" for j in range(1, len(analysis.groups) + 1)], "y/monomial")
    except ScalingError:
        return plain  # the groups' values are too wide for the model: the first search stands
    say(f"dimensional analysis: {len(inputs)} columns -> {len(analysis.groups)} dimensionless groups")
    # The same stages on the groups; the scaling and the names are the columns' and stay behind.
    reduced = search(model, xr, yr, cfg=cfg, seed=seed, progress=progress,
                     **{k: v for k, v in kw.items() if k not in ("scaling", "text_names")})
    d = reduced.derivation
    if d.steps is None:
        return plain
    steps = lift(d.steps, analysis, tokens)
    held = plain.heldback
    size = reduced.chosen.size + sum(1 for e in analysis.monomial if e)

    def score(steps_, constants, size_) -> float:
        with np.errstate(all="ignore"):
            r2 = r2_score(y[held], predict(steps_, x[held], constants))
        return choice_score(r2 if math.isfinite(r2) else -math.inf, size_, cfg.size_penalty)

    mine = score(steps, d.constants, size)
    theirs = score(plain.derivation.steps, plain.derivation.constants, plain.chosen.size)
    plain.counts["units"]["reduced_score"], plain.counts["units"]["plain_score"] = round(mine, 4), round(theirs, 4)
    if not mine < theirs:
        return plain
    expression, latex, note = render(steps, d.constants, names)
    if not note:
        expression = tidy(expression)
    with np.errstate(all="ignore"):
        r2_fit = r2_score(y, predict(steps, x, d.constants))
    derivation = Derivation(
        tokens=None, raw_tokens=(), status="valid", note=note, steps=steps, expression=named(expression, kw.get(
            "text_names", names)), latex=latex, constants=d.constants, r2_fit=r2_fit, seconds=plain.seconds +
        reduced.seconds, decoder="pipeline", source=f"groups {d.source}")
    plain.counts["units"]["chosen"] = "dimensionless groups"
    return replace(plain, derivation=derivation, proposed_by=reduced.proposed_by, seconds=derivation.seconds)
