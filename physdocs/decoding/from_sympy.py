"""A sympy expression back into the project's grammar: a tree with ``C`` leaves and their values.

Used wherever a formula comes from outside the decoders (an Operon program, a simplified
candidate): sympy merges the numbers (``0.5*(2.0*x1)`` is ``1.0*x1``) and orders the terms
canonically, and :func:`from_sympy` writes the result as a tree that the constant fitter,
the matcher and the renderer all read. Every float becomes a fitted ``C`` (its value kept),
small integers and ``pi`` stay exact, and powers become the grammar's ``pow``, ``sqrt`` and
``div``.
"""

from __future__ import annotations

from collections.abc import Mapping

from physdocs.grammar import INTEGERS, Node


class UnsupportedExpression(ValueError):
    """A sympy node the grammar cannot write (the message names it)."""


def _chain(op: str, items: list[Node]) -> Node:
    out = items[0]
    for item in items[1:]:
        out = Node(op, (out, item))
    return out


def integer(k: int) -> Node:
    """A positive integer as a tree of the grammar's digits 1..9 (``20`` is ``9*2 + 2``)."""
    if k <= 9:
        return Node(str(k))
    q, r = divmod(k, 9)
    tree = Node("mul", (Node("9"), integer(q)))
    return Node("add", (tree, Node(str(r)))) if r else tree


def from_sympy(expr, variables: Mapping[str, str], *, exact: bool = False) -> tuple[Node, tuple[float, ...]]:
    """``(tree, constants)`` for ``expr``; ``variables`` maps a sympy symbol's name to a token (``"X1" -> "x1"``).

    Constants are returned in prefix order (the order :func:`grammar.evaluate` reads them).
    Integers above 9 and fractions of them become fitted constants, unless ``exact``: then
    they are written in digits (:func:`integer`), so ``3/20`` stays an exact number.
    Raises :class:`UnsupportedExpression` for what the grammar has no symbol for.
    """
    import sympy as sp

    constants: list[float] = []

    def number(value) -> Node:
        v = float(value)
        if v == int(v) and not isinstance(value, sp.Float) and (str(int(v)) in INTEGERS or exact and v > 0):
            return integer(int(v))
        constants.append(v)
        return Node("C")

    def conv(e) -> Node:  # prefix order: a node's constants are appended before its children's
        if e.is_Symbol:
            if e.name not in variables:
                raise UnsupportedExpression(f"unknown symbol {e.name!r}")
            return Node(variables[e.name])
        if e == sp.pi:
            return Node("pi")
        if e.is_Number:
            if e.is_negative and not isinstance(e, sp.Float):
                return Node("neg", (number(-e),))
            if e.is_Rational and not e.is_Integer and not isinstance(e, sp.Float):
                p, q = int(e.p), int(e.q)
                if str(abs(p)) in INTEGERS and str(q) in INTEGERS or exact:
                    frac = Node("div", (integer(abs(p)), integer(q)))
                    return frac if p > 0 else Node("neg", (frac,))
            if not e.is_finite:
                raise UnsupportedExpression(f"non-finite number {e}")
            return number(e)
        if e.is_Add:
            terms = list(e.as_ordered_terms())
            out = conv(terms[0])
            for t in terms[1:]:
                coeff, rest = t.as_coeff_Mul()
                if coeff.is_negative and not isinstance(coeff, sp.Float):
                    out = Node("sub", (out, conv(-t)))
                else:
                    out = Node("add", (out, conv(t)))
            return out
        if e.is_Mul:
            coeff, rest = e.as_coeff_Mul()
            if coeff == -1:
                return Node("neg", (conv(rest),))
            num, den = [], []
            for f in e.as_ordered_factors():
                base, ex = f.as_base_exp()
                if ex.is_Number and ex.is_negative:
                    den.append(base if ex == -1 else sp.Pow(base, -ex, evaluate=False))
                else:
                    num.append(f)
            top = _chain("mul", [conv(f) for f in num]) if num else Node("1")
            return Node("div", (top, _chain("mul", [conv(f) for f in den]))) if den else top
        if e.is_Pow:
            base, ex = e.args
            if isinstance(ex, sp.Float) and abs(2 * float(ex) - round(2 * float(ex))) < 1e-9:
                ex = sp.Rational(round(2 * float(ex)), 2)  # Operon's exp(0.5 * log(b)) is sqrt(b)
                e = sp.Pow(base, ex, evaluate=False)
            if ex == sp.Rational(1, 2):
                return Node("sqrt", (conv(base),))
            if ex == -1:
                return Node("div", (Node("1"), conv(base)))
            if ex.is_Number and ex.is_negative:
                return Node("div", (Node("1"), conv(sp.Pow(base, -ex, evaluate=False))))
            if base == sp.E:
                return Node("exp", (conv(ex),))
            head = conv(base)
            return Node("pow", (head, conv(ex)))
        for name in ("sin", "cos", "exp", "log"):
            if isinstance(e, getattr(sp, name)):
                return Node(name, (conv(e.args[0]),))
        raise UnsupportedExpression(f"no grammar symbol for {type(e).__name__} in {e}")

    tree = conv(expr)
    return tree, tuple(constants)
