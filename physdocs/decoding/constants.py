"""Fitting the constants ``C`` of a decoded skeleton, and the R^2 score.

Loss: mean squared error of ``y`` normalised by ``std(y)``, i.e.
``mean(((f(x; c) - y) / std(y))**2)`` -- scale-free, so one tolerance and one penalty
work for ``y`` of any magnitude, and equal to ``1 - R^2`` at the optimum. (Relative error
per point was rejected: it blows up where ``y`` crosses zero.) Constant ``y`` uses scale 1.

Optimiser: scipy BFGS (finite-difference gradient, ``maxiter`` capped), up to ``restarts``
starts alternating N(0, 1) (as NeSymReS) and log-uniform magnitudes in [1e-2, 1e2] with random
sign (for constants far from 1), keeping the lowest loss. The objective is NaN-safe: a
non-finite loss becomes the finite :data:`PENALTY`.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.optimize import minimize

from physdocs.grammar import INTEGERS, STEP_REFS, VARIABLES, Node, count_constants, evaluate

#: Loss returned for parameters where the expression is NaN / inf on some point.
PENALTY = 1e10
#: Stop restarting once the normalised loss is below this (an exact fit).
EXACT_LOSS = 1e-14


@dataclass(frozen=True)
class Fit:
    """Fitted constants (prefix order across steps), their normalised MSE and whether it is finite."""

    constants: tuple[float, ...]
    loss: float  # mean(((f - y) / std(y))**2); PENALTY when never finite
    success: bool  # loss < PENALTY (the expression is finite on every point)
    n_starts: int  # BFGS runs made (0 when there is nothing to fit)


def _steps(steps_or_node: Node | Sequence[Node]) -> tuple[Node, ...]:
    return (steps_or_node,) if isinstance(steps_or_node, Node) else tuple(steps_or_node)


_UNARY_NP = {"sin": "_np.sin", "cos": "_np.cos", "exp": "_np.exp", "log": "_np.log", "sqrt": "_np.sqrt"}
_BINARY_FMT = {
    "add": "({} + {})",
    "sub": "({} - {})",
    "mul": "({} * {})",
    "div": "({} / {})",
    "pow": "_np.power({}, {})",
}


def _source(node: Node, counter: list[int]) -> str:
    s = node.symbol
    if s in VARIABLES:
        return f"x[:, {int(s[1:]) - 1}]"
    if s in STEP_REFS:
        return s
    if s == "C":
        counter[0] += 1
        return f"c[{counter[0] - 1}]"
    if s == "pi":
        return "_pi"
    if s in INTEGERS:
        return f"_k{s}"
    args = [_source(ch, counter) for ch in node.children]
    if s == "neg":
        return f"(-{args[0]})"
    if s in _UNARY_NP:
        return f"{_UNARY_NP[s]}({args[0]})"
    return _BINARY_FMT[s].format(*args)


def compile_steps(
    steps: Sequence[Node], x: np.ndarray, check: np.ndarray
) -> Callable[[np.ndarray], np.ndarray] | None:
    """A fast ``c -> [n] values`` on fixed ``x``: the tree as one numpy expression per step.

    Same operations as :func:`grammar.evaluate` (numpy scalars and arrays, never Python
    floats, so 1/0 is inf, not an exception); verified against ``check`` (its values at
    ``c = 1``), else None and the caller keeps :func:`grammar.evaluate`. ~10x faster on long trees.
    """
    counter = [0]
    lines = [f"    {f's{k}'} = {_source(step, counter)}" for k, step in enumerate(steps, start=1)]
    src = "def _f(c):\n" + "\n".join(lines) + f"\n    return s{len(steps)}\n"
    namespace: dict[str, Any] = {"_np": np, "x": x, "_pi": np.float64(math.pi)}
    namespace.update({f"_k{i}": np.float64(int(i)) for i in INTEGERS})
    try:
        exec(compile(src, "<constants.compile_steps>", "exec"), namespace)  # noqa: S102 -- our own tokens
        raw = namespace["_f"]
        n = x.shape[0]

        def func(c: np.ndarray) -> np.ndarray:
            with np.errstate(all="ignore"):
                return np.broadcast_to(raw(c), (n,)).astype(np.float64)

        with np.errstate(all="ignore"):
            same = np.allclose(func(np.ones(counter[0])), check, rtol=1e-12, atol=0, equal_nan=True)
    except (SyntaxError, RecursionError, MemoryError, ValueError, TypeError, IndexError):
        return None
    return func if same else None


def fit_constants(
    steps_or_node: Node | Sequence[Node],
    x: np.ndarray,
    y: np.ndarray,
    *,
    restarts: int = 10,
    rng: np.random.Generator | None = None,
    maxiter: int = 100,
    patience: int = 3,
    scale_last: bool = False,
    start: Sequence[float] | None = None,
) -> Fit:
    """Fit the ``C`` leaves of ``steps_or_node`` to ``y [n]`` on ``x [n, k]`` (see module doc).

    Starts stop early once the loss is exact (< :data:`EXACT_LOSS`) or ``patience`` starts
    (0 = never) have reached the same lowest loss (relative 1e-6): that basin is not a fluke.
    No constants: no optimisation, the loss of the expression as is. A variable outside
    ``x``'s columns raises :class:`GrammarError` (the caller decides what that means).

    ``scale_last``: fit ``s * f`` (the last step times an overall factor) with ``s``
    profiled out in closed form at every evaluation (variable projection), so the factor
    costs no BFGS dimension and is found at any magnitude (1e-30 as well as 1). The
    returned constants are those of ``(*steps[:-1], mul(C, steps[-1]))`` in prefix order.
    ``start``: the first start (e.g. constants already fitted on part of the data).
    """
    steps = _steps(steps_or_node)
    xa = np.asarray(x, dtype=np.float64)
    ya = np.asarray(y, dtype=np.float64)
    scale = float(np.std(ya)) or 1.0
    n_const = sum(count_constants(s) for s in steps)
    rng = rng if rng is not None else np.random.default_rng(0)

    def reference(c: np.ndarray | Sequence[float]) -> np.ndarray:
        return evaluate(steps, xa, tuple(c)).values  # [n]

    if n_const == 0:
        values = reference(())
    else:
        values = reference(np.ones(n_const))  # raises GrammarError early for unusable variables
    func = compile_steps(steps, xa, values)
    fast = func if func is not None else reference

    def factor(v: np.ndarray) -> float:
        """The least-squares ``s`` of ``s * v ~ y`` (1 when ``v`` is zero or unusable)."""
        with np.errstate(all="ignore"):
            vv = float(np.dot(v, v))
            s_ = float(np.dot(v, ya)) / vv if vv > 0 and np.isfinite(vv) else 1.0
        return s_ if np.isfinite(s_) else 1.0

    def loss(c: np.ndarray | Sequence[float]) -> float:
        with np.errstate(all="ignore"):
            v = fast(np.asarray(c, dtype=np.float64))
            if scale_last:
                v = factor(v) * v
            value = float(np.mean(((v - ya) / scale) ** 2))
        return value if np.isfinite(value) else PENALTY

    def result(c: np.ndarray, value: float, runs: int) -> Fit:
        consts = tuple(float(v) for v in c)
        if scale_last:
            s_ = factor(fast(np.asarray(c, dtype=np.float64)))
            n_head = sum(count_constants(st) for st in steps[:-1])
            consts = (*consts[:n_head], s_, *consts[n_head:])
        return Fit(consts, value, value < PENALTY, runs)

    if n_const == 0:
        value = loss(())
        return result(np.zeros(0), value, 0)

    starts = [  # alternate the two kinds, so stopping early still tried both
        rng.standard_normal(n_const)
        if i % 2 == 0
        else rng.choice([-1.0, 1.0], n_const) * 10 ** rng.uniform(-2, 2, n_const)
        for i in range(max(restarts, 1))
    ]
    if start is not None:
        starts = [np.asarray(start, dtype=np.float64), *starts[:-1]]
    best_c, best_loss, runs, hits = np.asarray(starts[0]), PENALTY, 0, 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scipy / numpy noise on penalised regions
        for c0 in starts:
            runs += 1
            res = minimize(loss, c0, method="BFGS", options={"maxiter": maxiter, "gtol": 1e-9})
            value = float(res.fun) if np.isfinite(res.fun) else PENALTY
            if value < PENALTY and abs(value - best_loss) <= 1e-6 * best_loss:
                hits += 1  # the best basin reached again
            elif value < best_loss:
                hits = 1
            if value < best_loss:
                best_c, best_loss = np.asarray(res.x, dtype=np.float64), value
            if best_loss < EXACT_LOSS or (patience and hits >= patience):
                break
    return result(best_c, best_loss, runs)


def r2_score(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Coefficient of determination ``1 - SS_res / SS_tot``.

    Any non-finite prediction gives ``-inf`` (a formula undefined on a data point does not
    fit it). Constant ``y_true``: 1.0 for an exact prediction, else 0.0 (as scikit-learn).
    """
    yt = np.asarray(y_true, dtype=np.float64)
    yp = np.asarray(y_pred, dtype=np.float64)
    if yt.shape != yp.shape:
        raise ValueError(f"shapes differ: y_true {yt.shape}, y_pred {yp.shape}")
    if not np.all(np.isfinite(yp)):
        return float("-inf")
    with np.errstate(all="ignore"):
        ss_res = float(np.sum((yt - yp) ** 2))
        ss_tot = float(np.sum((yt - yt.mean()) ** 2))
    if not np.isfinite(ss_res):
        return float("-inf")
    if ss_tot == 0:
        return 1.0 if ss_res == 0 else 0.0
    return 1.0 - ss_res / ss_tot


def predict(steps_or_node: Node | Sequence[Node], x: np.ndarray, constants: Sequence[float]) -> np.ndarray:
    """[n] values of the expression with its fitted constants (NaN / inf kept)."""
    return evaluate(_steps(steps_or_node), np.asarray(x, dtype=np.float64), tuple(constants)).values


__all__ = ["EXACT_LOSS", "PENALTY", "Fit", "fit_constants", "predict", "r2_score"]
