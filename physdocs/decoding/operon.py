"""Operon (``pyoperon``), a genetic-programming engine with local constant fitting, seeded by the model.

The model's best distinct candidates are written as Operon infix and placed in the first
individuals of Operon's population; Operon then searches for a counted budget (evaluations
and generations, never seconds, one thread: the same seed gives the same front on any
machine). Two objectives, accuracy and length (NSGA-II), give a front of formulas, one per
size; the caller chooses among them on held-back points (Operon's own choice, minimum
description length on the training points, prefers long trees).

Writing seeds for Operon's parser: ``^``/``**`` and a bare unary minus are avoided (the
parser misreads ``**`` and crashes on ``-X1``), so integer powers become products or
``square``, other powers ``exp(k * log(b))``, and ``-a`` becomes ``((-1) * a)``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from physdocs.decoding.from_sympy import UnsupportedExpression, from_sympy
from physdocs.grammar import INTEGERS, Node

#: Operon's primitives: those of our grammar that Operon has (``square`` for ``x**2``).
SYMBOLS = "add,sub,mul,div,constant,variable,sin,cos,exp,log,sqrt,square"


@dataclass(frozen=True)
class OperonConfig:
    """Operon's counted budget and settings (about 1-3 s per equation on one core)."""

    max_evaluations: int = 150_000
    generations: int = 500
    population_size: int = 500
    max_length: int = 40
    symbols: str = SYMBOLS
    # Wall-clock seconds for the run (None: the counts alone bound it). Only for equal-time
    # comparisons: a time limit makes the result depend on the machine.
    max_time: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class OperonError(RuntimeError):
    """Operon could not be run (the message says why and the fix)."""


def _num(v: float) -> str:
    return f"({v!r})" if v < 0 else repr(v)


def to_infix(steps: Node | Sequence[Node], constants: Sequence[float]) -> str:
    """Our (fitted) tree as Operon infix over ``X1 ..``, constants written as numbers.

    A derivation's steps are written one after another, each ``s<j>`` replaced by step
    ``j``'s text, so every constant is read once, in the order the fitter wrote it.
    """
    seq = (steps,) if isinstance(steps, Node) else tuple(steps)
    values = iter(constants)
    refs: dict[str, str] = {}

    def w(n: Node) -> str:
        s = n.symbol
        if s == "C":
            return _num(float(next(values)))
        if s == "pi":
            return repr(math.pi)
        if s in INTEGERS:
            return f"{int(s)}.0"
        if s in refs:
            return f"({refs[s]})"
        if s.startswith("x") and not n.children:
            return f"X{s[1:]}"
        if s == "neg":
            return f"((-1.0) * {w(n.children[0])})"
        if s in ("sin", "cos", "exp", "log", "sqrt"):
            return f"{s}({w(n.children[0])})"
        a = w(n.children[0])
        if s == "pow":
            ex = n.children[1]
            if ex.symbol in INTEGERS:
                k = int(ex.symbol)
                return f"square({a})" if k == 2 else "(" + " * ".join([a] * k) + ")"
            return f"exp(({w(ex)}) * log({a}))"
        b = w(n.children[1])
        return f"({a} {dict(add='+', sub='-', mul='*', div='/')[s]} {b})"

    text = ""
    for k, step in enumerate(seq, start=1):
        text = w(step)
        refs[f"s{k}"] = text
    return text


def _sympy_of(tree, variables: dict[int, str]):
    """Operon's postfix node list as a sympy expression (sympy merges its numbers)."""
    import sympy as sp

    stack: list[Any] = []
    for n in tree.Nodes:
        name = n.Name
        if n.IsVariable:
            weight, symbol = float(n.Value), sp.Symbol(variables[n.HashValue])
            stack.append(symbol if weight == 1.0 else sp.Float(weight) * symbol)
        elif n.IsConstant:
            stack.append(sp.Float(float(n.Value)))
        elif n.Arity == 1:
            a = stack.pop()
            fn = {"square": lambda v: v**2, "sqrt": sp.sqrt, "exp": sp.exp, "log": sp.log,
                  "sin": sp.sin, "cos": sp.cos}.get(name)
            if fn is None:
                raise UnsupportedExpression(f"Operon primitive {name!r}")
            stack.append(fn(a))
        else:  # Operon's n-ary nodes pop their children in order
            args = [stack.pop() for _ in range(n.Arity)]
            op = {"+": sp.Add, "*": sp.Mul}.get(name)
            if op is not None:
                stack.append(op(*args))
            elif name == "-":
                stack.append(args[0] - sp.Add(*args[1:]))
            elif name == "/":
                stack.append(args[0] / sp.Mul(*args[1:]))
            else:
                raise UnsupportedExpression(f"Operon primitive {name!r}")
    if len(stack) != 1:
        raise UnsupportedExpression("malformed Operon tree")
    return stack[0]


def _drop_tiny_offset(expr, below: float):
    """Operon adds an intercept to every model; one that is a fitting residue is dropped."""
    import sympy as sp

    if expr.is_Add:
        keep = [a for a in expr.args if not (a.is_Number and abs(float(a)) < below)]
        return sp.Add(*keep)
    return expr


def run_operon(
    x: np.ndarray, y: np.ndarray, seeds: Sequence[str], cfg: OperonConfig, seed: int
) -> tuple[list[tuple[Node, tuple[float, ...]]], dict[str, Any]]:
    """Operon's front on ``(x, y)``, started from ``seeds`` (infix over ``X1 ..``).

    Returns ``([(tree, constants), ...], stats)``: every front member that the grammar can
    write (simplified by sympy), and Operon's counters. Seeds that Operon cannot parse are
    skipped and counted in ``stats["seeds_rejected"]``.
    """
    try:
        import pyoperon as op
        from pyoperon.sklearn import SymbolicRegressor
    except ImportError as exc:
        raise OperonError("pyoperon is not installed: pip install pyoperon==0.6.2") from exc
    common = dict(allowed_symbols=cfg.symbols, objectives=["r2", "length"], population_size=cfg.population_size,
                  n_threads=1, random_state=seed, max_length=cfg.max_length)
    est = SymbolicRegressor(**common, max_evaluations=cfg.population_size, generations=1, warm_start=True)
    with np.errstate(all="ignore"):
        est.fit(x, y)  # a population to place the seeds in
    hashes = {name: h for h, name in est.variables_.items()}
    placed, rejected = 0, 0
    for text in seeds[: cfg.population_size]:
        try:
            tree = op.InfixParser.Parse(text, hashes)
        except (RuntimeError, ValueError):
            rejected += 1
            continue
        est.individuals_[placed].Genotype = tree
        placed += 1
    est.set_params(generations=cfg.generations, max_evaluations=cfg.max_evaluations)
    if cfg.max_time is not None:
        est.set_params(max_time=cfg.max_time)
    with np.errstate(all="ignore"):
        est.fit(x, y)
    names = {f"X{i}": f"x{i}" for i in range(1, x.shape[1] + 1)}
    front: list[tuple[Node, tuple[float, ...]]] = []
    negligible = 1e-6 * (float(np.std(y)) or 1.0)
    for member in est.pareto_front_:
        try:
            expr = _drop_tiny_offset(_sympy_of(member["tree"], est.variables_), negligible)
            front.append(from_sympy(expr, names))
        except (UnsupportedExpression, RecursionError, TypeError, ValueError):
            continue
    stats = {"generations": int(est.stats_["generations"]), "seeds_placed": placed, "seeds_rejected": rejected,
             "front_size": len(est.pareto_front_)}
    return front, stats
