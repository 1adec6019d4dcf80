"""sympy for derivations: one expression for a derivation, simple constants, safe time limits.

Used by :mod:`.derive` to render a result and by :mod:`physdocs.matching` to compare it with
a truth. sympy can hang on huge constant subexpressions, so :func:`tame_constants` screens
them and :func:`time_limit` bounds the rest (SIGALRM, main thread).
"""

from __future__ import annotations

import itertools
import math
import signal
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

from physdocs.grammar import STEP_REFS, VARIABLES, GrammarError, Node, count_constants, evaluate, to_sympy


def steps_to_sympy(
    steps: Node | Sequence[Node],
    constants: Sequence[Any] | None = None,
    symbols: Mapping[str, Any] | None = None,
):
    """One sympy expression for a derivation: each step's ``s<j>`` replaced by step ``j``.

    ``constants`` fill the ``C`` leaves in the order :func:`grammar.evaluate` uses (prefix
    order, step by step); floats become ``Float``, sympy numbers are kept exact. Without
    ``constants`` the leaves become symbols ``c0, c1, ...`` numbered across steps.
    """
    import sympy as sp

    seq = (steps,) if isinstance(steps, Node) else tuple(steps)
    done: dict[Any, Any] = {}
    offset = 0
    expr = None
    for k, step in enumerate(seq, start=1):
        n = count_constants(step)
        if constants is not None and offset + n > len(constants):
            raise GrammarError(f"derivation has more C leaves than the {len(constants)} constant(s) given")
        sub: dict[Any, Any] = {}
        for i in range(n):
            if constants is None:
                sub[sp.Symbol(f"c{i}")] = sp.Symbol(f"c{offset + i}")
            else:
                c = constants[offset + i]
                sub[sp.Symbol(f"c{i}")] = c if isinstance(c, sp.Basic) else sp.Float(float(c))
        sub.update(done)
        expr = to_sympy(step, symbols).xreplace(sub)
        done[sp.Symbol(f"s{k}", positive=True)] = expr
        offset += n
    if constants is not None and offset != len(constants):
        raise GrammarError(f"derivation has {offset} C leaves, got {len(constants)} constant(s)")
    return expr


#: Integer powers of two a close form may carry (:func:`round_constant`): the inputs and the
#: target are scaled by powers of two, so fitted constants hold them (1/32, 3/(20*pi)).
CLOSE_TWOS = 10
#: The largest numerator of a close form: a bound keeps "within 1e-6" meaningful.
CLOSE_MAX_NUM = 99


def round_constant(value: float, rtol: float = 1e-3, max_den: int = 12, *, close: float | None = None):
    """Simplest ``p/q * pi**e * 2**f * 3**g`` within ``rtol``; None if none.

    ``q <= max_den``; ``e`` in 0, +-1, +-1/2, +-2, ``f`` in 0, +-1/2, ``g`` 0 unless close
    (physics' ``4*pi``, ``1/sqrt(2*pi)``, ``sqrt(2)``). "Simplest" = smallest ``|p| + q`` (lowest
    terms), +2 when pi appears and +1 per half power, so 12.566 -> 4*pi, not 88/7.
    ``|value| < 1e-12`` rounds to 0.

    With ``close``, the forms within ``close`` come first and the simplest of them is taken;
    only when there is none does ``rtol`` apply. A well-fitted 4.8 is then 24/5, not the
    simpler 17/(2*sqrt(pi)) = 4.7955 that ``rtol = 1e-3`` also admits. A close form may also
    carry ``2**k`` (``|k| <=`` :data:`CLOSE_TWOS`, cost ``|k|``, ``|p| <=``
    :data:`CLOSE_MAX_NUM`): 1/32 and 3/(20*pi) are found only so. A close form may also
    carry ``3**(+-1/2)`` (cost 1), the ``sqrt(3)`` of ``sqrt(3*k_B*T/m)``: only when close,
    so the loose search for simple numbers (``rtol`` 5%) keeps the forms it had.
    """
    import sympy as sp

    if not math.isfinite(value):
        return None
    if abs(value) < 1e-12:
        return sp.Integer(0)
    half = sp.Rational(1, 2)
    twos = [(0, 0, 0, False), (0.5, half, 1, False), (-0.5, -half, 1, False)]  # (f, f_sym, cost, close only)
    if close is not None:
        twos += [(k, sp.Integer(k), abs(k), True) for k in range(-CLOSE_TWOS, CLOSE_TWOS + 1) if abs(k) > 1]
    threes = [(0, 0, 0)]  # (g, g_sym, cost)
    if close is not None:
        threes += [(0.5, half, 1), (-0.5, -half, 1)]
    best: tuple[tuple[bool, int], Any] | None = None
    for e, e_sym, e_cost in ((0, 0, 0), (1, 1, 2), (-1, -1, 2), (0.5, half, 3), (-0.5, -half, 3), (2, 2, 3),
                             (-2, -2, 3)):
        for (f, f_sym, f_cost, close_only), (g, g_sym, g_cost) in itertools.product(twos, threes):
            scale = math.pi**e * 2.0**f * 3.0**g
            base = value / scale
            for q in range(1, max_den + 1):
                p = round(base * q)
                error = abs(p / q * scale - value)
                if p == 0 or error > rtol * abs(value):
                    continue
                is_close = close is not None and error <= close * abs(value)
                if close_only and not (is_close and abs(p) <= CLOSE_MAX_NUM):
                    continue
                d = math.gcd(p, q)
                cost = (not is_close, abs(p) // d + q // d + e_cost + f_cost + g_cost)
                if best is None or cost < best[0]:
                    best = (cost, (p, q, e_sym, f_sym, g_sym))
    if best is None:
        return None
    p, q, e_sym, f_sym, g_sym = best[1]
    return sp.Rational(p, q) * sp.pi**e_sym * sp.Integer(2) ** f_sym * sp.Integer(3) ** g_sym


def tame_constants(steps: Node | Sequence[Node], limit: float = 1e12) -> bool:
    """True when every variable-free subtree (no ``x``, ``s``, ``C``) is finite and below ``limit``.

    sympy evaluates such subtrees exactly when building an expression, and can hang on them
    (``log(log(...(6)))`` goes complex; ``6**6**6**6`` is astronomically large).
    """
    free = (*VARIABLES, *STEP_REFS, "C")
    one_point = np.zeros((1, 1))
    for step in as_steps(steps):
        for node in step.walk():
            if node.children and not any(n.symbol in free for n in node.walk()):
                value = evaluate(node, one_point).values[0]
                if not (np.isfinite(value) and abs(value) < limit):
                    return False
    return True


class SympyTimeout(Exception):
    pass


@contextmanager
def time_limit(seconds: float | None) -> Iterator[None]:
    """Raise :class:`SympyTimeout` after ``seconds`` (SIGALRM; main thread only, else no limit)."""
    usable = (
        seconds is not None
        and hasattr(signal, "setitimer")
        and threading.current_thread() is threading.main_thread()
    )
    if not usable:
        yield
        return

    def handler(signum, frame):  # noqa: ARG001
        raise SympyTimeout

    old = signal.signal(signal.SIGALRM, handler)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def as_steps(steps: Node | Sequence[Node]) -> tuple[Node, ...]:
    return (steps,) if isinstance(steps, Node) else tuple(steps)
