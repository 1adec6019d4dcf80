"""Symbolic match of a fitted prediction against the truth (the evaluation's "exact").

:func:`explain_match` drops fitting residues (:func:`drop_negligible`), rounds the fitted
constants to simple closed forms and asks sympy whether the prediction equals the truth.
Numbers may *refute* a match (fast), never claim one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from physdocs.decoding.constants import predict
from physdocs.decoding.symbolic import (
    SympyTimeout,
    as_steps,
    round_constant,
    steps_to_sympy,
    tame_constants,
)
from physdocs.decoding.symbolic import time_limit as sympy_deadline
from physdocs.grammar import GrammarError, Node, count_constants, variables_used

#: A fitted constant is rounded to the simplest form within this relative distance when one
#: exists: fits on noiseless points reach it, so a looser, simpler neighbour is not preferred.
CLOSE_RTOL = 1e-6

#: The merged-constants route is tried after a numeric refutation only when the fitted
#: prediction (constants unrounded) is this close to the truth: it cannot match otherwise.
MERGE_GATE = 1e-2


@dataclass(frozen=True)
class MatchResult:
    """``matched`` and why; ``rounded`` is the prediction after rounding its constants."""

    matched: bool
    reason: str
    rounded: str | None = None


def explain_match(
    pred_steps: Node | Sequence[Node],
    pred_constants: Sequence[float],
    true_node: Node | Sequence[Node],
    *,
    rtol: float = 1e-3,
    time_limit: float | None = 5.0,
    max_ops: int = 200,
    x: np.ndarray | None = None,
    close: float | None = CLOSE_RTOL,
) -> MatchResult:
    """Symbolic equivalence of a fitted prediction and the truth, with the reason.

    0. Fitted constants that are negligible on ``x`` (the data's points; default 32 points in
       ``[1, 5]^k``) become 0 (:func:`drop_negligible`): ``x1*x2 - 8.6e-9`` is ``x1*x2``.

    1. Each fitted constant is rounded by :func:`round_constant` (``rtol``; a form within
       ``close`` first, :data:`CLOSE_RTOL` by default); one without a simple form is given
       a second chance with the constants merged by sympy (``C*C*x1``), else no match.
    2. Numeric refutation: both sides on 32 points in ``[1, 5]^k``; clearly different values
       mean no match, unless a constant was rounded loosely and the fitted prediction is
       within :data:`MERGE_GATE` of the truth: then the constants are merged first. Numbers
       never establish a match.
    3. A variable-free subtree that is not finite (:func:`tame_constants`), or more than
       ``max_ops`` operations, means no match without calling simplify.
    4. Match iff ``expand(pred - true) == 0``, ``simplify(pred - true) == 0`` or
       ``simplify(pred / true) == 1``, within ``time_limit`` seconds (SIGALRM, main thread).

    A truth containing ``C`` (a free constant) cannot be matched symbolically.
    """
    import sympy as sp

    true_steps = (true_node,) if isinstance(true_node, Node) else tuple(true_node)
    if any(count_constants(s) for s in true_steps):
        return MatchResult(False, "the true expression has free constants C")
    k = max((int(v[1:]) for v in variables_used([*as_steps(pred_steps), *true_steps])), default=1)
    xs = np.random.default_rng(12345).uniform(1.0, 5.0, size=(32, k))  # the numeric check's points
    pred_constants = drop_negligible(pred_steps, pred_constants, xs if x is None else x)
    rounded = [round_constant(float(c), rtol, close=close) for c in pred_constants]
    loose = [f"{c:.6g}" for c, r in zip(pred_constants, rounded, strict=True) if r is None]
    if loose:
        merged = _match_merged(pred_steps, pred_constants, true_steps, rtol, time_limit, close)
        if merged is not None:
            return merged
        return MatchResult(False, f"constant(s) {', '.join(loose)} have no simple form p/q*pi^e within rtol")
    try:
        err = _relative_error(pred_steps, [float(r) for r in rounded], true_steps, xs)
    except GrammarError as exc:
        return MatchResult(False, f"cannot evaluate: {exc}")
    if err > 1e-6:
        # Constants rounded one by one can each miss while their product is simple
        # (1/32 * 2.5241 * -1.5847 = -1/8): merge them, if the fit itself is near the truth.
        some_loose = close is not None and any(abs(float(r) - c) > close * abs(c)
                                               for c, r in zip(pred_constants, rounded, strict=True))
        if some_loose and _relative_error(pred_steps, pred_constants, true_steps, xs) < MERGE_GATE:
            merged = _match_merged(pred_steps, pred_constants, true_steps, rtol, time_limit, close)
            if merged is not None:
                return merged
        return MatchResult(False, f"numerically different (max relative error {err:.3g})")
    if not (tame_constants(pred_steps) and tame_constants(true_steps)):
        return MatchResult(False, "a constant subexpression is not finite (unsafe for sympy)")
    pred = None
    try:
        with sympy_deadline(time_limit):
            pred = steps_to_sympy(pred_steps, rounded)
            true = steps_to_sympy(true_steps)
            n_ops = int(sp.count_ops(pred)) + int(sp.count_ops(true))
            if n_ops > max_ops:
                return MatchResult(
                    False, f"too large to simplify ({n_ops} > {max_ops} operations)", str(pred)
                )
            if pred == true or sp.expand(pred - true) == 0:
                return MatchResult(True, "expand(pred - true) == 0", str(pred))
            diff = sp.simplify(pred - true)
            if diff == 0:
                return MatchResult(True, "simplify(pred - true) == 0", str(pred))
            if true != 0 and sp.simplify(pred / true) == 1:
                return MatchResult(True, "simplify(pred / true) == 1", str(pred))
    except SympyTimeout:
        return MatchResult(
            False, f"sympy timed out after {time_limit} s", None if pred is None else str(pred)
        )
    return MatchResult(False, f"simplify(pred - true) = {str(diff)[:80]}", str(pred))


def _relative_error(pred_steps, constants, true_steps, xs: np.ndarray) -> float:
    """The largest relative difference of prediction and truth where both are finite (0 when
    fewer than 8 points are: numbers then refute nothing)."""
    p = predict(pred_steps, xs, list(constants))
    t = predict(true_steps, xs, ())
    ok = np.isfinite(p) & np.isfinite(t)
    if ok.sum() < 8:
        return 0.0
    with np.errstate(all="ignore"):
        return float((np.abs(p[ok] - t[ok]) / np.maximum(np.abs(t[ok]), 1e-12)).max())


def _match_merged(pred_steps, pred_constants, true_steps, rtol: float, time_limit: float | None,
                  close: float | None):
    """Second chance for redundant constants (``C*C*x1``): let sympy merge the fitted numbers,
    then round each merged number. A match only; ``None`` when this route decides nothing."""
    import sympy as sp

    if not (tame_constants(pred_steps) and tame_constants(true_steps)):
        return None
    try:
        with sympy_deadline(time_limit):
            expr = steps_to_sympy(pred_steps, [float(c) for c in pred_constants])
            swap = {}
            for f in expr.atoms(sp.Float):
                simple = round_constant(float(f), rtol, close=close)
                if simple is None:
                    return None
                swap[f] = simple
            pred = expr.xreplace(swap)
            true = steps_to_sympy(true_steps)
            if sp.simplify(pred - true) == 0:
                return MatchResult(True, "fitted constants merged, then simplify(pred - true) == 0", str(pred))
    except (SympyTimeout, GrammarError, TypeError, ValueError):
        return None
    return None


#: A fitted constant whose removal moves the output by less than this, relative to the
#: output's largest magnitude, is a fitting residue (``x1*x2 - 8.6e-9``), not structure.
NEGLIGIBLE = 1e-6


def drop_negligible(
    steps: Node | Sequence[Node], constants: Sequence[float], x: np.ndarray, rel: float = NEGLIGIBLE
) -> tuple[float, ...]:
    """``constants`` with each one set to 0 when that changes the output on ``x`` negligibly.

    Judged one constant at a time, against the prediction with all constants: setting a
    constant to 0 must move no point by more than ``rel * max|prediction|``. A multiplicative
    or exponent constant changes the output wholesale and is kept; an additive residue of
    1e-8 on outputs of order 1 is dropped. Nothing else changes.
    """
    out = [float(c) for c in constants]
    if not out:
        return ()
    try:
        with np.errstate(all="ignore"):
            base = predict(steps, x, out)
            scale = float(np.max(np.abs(base[np.isfinite(base)]))) if np.isfinite(base).any() else 0.0
            if not np.isfinite(base).all() or scale == 0:
                return tuple(out)
            for i, c in enumerate(out):
                if c == 0:
                    continue
                trial = [*out[:i], 0.0, *out[i + 1 :]]
                moved = predict(steps, x, trial)
                if np.isfinite(moved).all() and float(np.max(np.abs(moved - base))) <= rel * scale:
                    out = trial
    except GrammarError:
        return tuple(float(c) for c in constants)
    return tuple(out)


def symbolic_match(
    pred_steps: Node | Sequence[Node],
    pred_constants: Sequence[float],
    true_node: Node | Sequence[Node],
    *,
    rtol: float = 1e-3,
    time_limit: float | None = 5.0,
) -> bool:
    """True iff the prediction, constants rounded, simplifies to the truth (:func:`explain_match`)."""
    return explain_match(pred_steps, pred_constants, true_node, rtol=rtol, time_limit=time_limit).matched
