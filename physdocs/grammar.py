"""Equation grammar: vocabulary, the ``{symbol: arity}`` table, prefix trees.

An equation is a tree of :class:`Node`. It is written as a prefix token list for
the models (``mul x1 pow x2 2``), parsed from readable infix text for the
benchmark file (``m*c**2``), converted to and from sympy, rendered to LaTeX and
evaluated on numpy arrays.

Multi-step derivations are a tuple of trees; step ``k`` may refer to the result
of an earlier step with the leaf ``s<j>`` (``j < k``). The token sequence wraps
each step in ``STEP`` ... ``END_STEP``.
"""

from __future__ import annotations

import ast
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

SPECIALS: tuple[str, ...] = ("PAD", "BOS", "EOS", "MASK", "STEP", "END_STEP")
BINARY: tuple[str, ...] = ("add", "sub", "mul", "div", "pow")
UNARY: tuple[str, ...] = ("sin", "cos", "exp", "log", "sqrt", "neg")
MAX_VARIABLES = 9
VARIABLES: tuple[str, ...] = tuple(f"x{i}" for i in range(1, MAX_VARIABLES + 1))
MAX_STEPS = 4
STEP_REFS: tuple[str, ...] = tuple(f"s{i}" for i in range(1, MAX_STEPS + 1))
# "C" is a constant fitted to the data; the rest are exact values.
INTEGERS: tuple[str, ...] = tuple(str(i) for i in range(1, 10))
CONSTANTS: tuple[str, ...] = ("C", "pi", *INTEGERS)

#: The grammar as data: every symbol that can appear in a tree, with its arity.
ARITY: dict[str, int] = {
    **{op: 2 for op in BINARY},
    **{op: 1 for op in UNARY},
    **{leaf: 0 for leaf in (*VARIABLES, *STEP_REFS, *CONSTANTS)},
}

VOCAB: tuple[str, ...] = (*SPECIALS, *ARITY)
TOKEN_TO_ID: dict[str, int] = {tok: i for i, tok in enumerate(VOCAB)}
PAD_ID, BOS_ID, EOS_ID, MASK_ID, STEP_ID, END_STEP_ID = (TOKEN_TO_ID[s] for s in SPECIALS)

TOKEN_TYPES: tuple[str, ...] = ("binary", "unary", "variable", "constant", "special")


class GrammarError(ValueError):
    """A token list, formula or tree that the grammar does not accept."""


def token_type(symbol: str) -> str:
    """Coarse class of a token, used by the analysis: one of :data:`TOKEN_TYPES`."""
    if symbol in BINARY:
        return "binary"
    if symbol in UNARY:
        return "unary"
    if symbol in VARIABLES or symbol in STEP_REFS:
        return "variable"
    if symbol in CONSTANTS:
        return "constant"
    if symbol in SPECIALS:
        return "special"
    raise GrammarError(f"unknown token {symbol!r}")


@dataclass(frozen=True)
class Node:
    """One node of an expression tree; ``len(children) == ARITY[symbol]``."""

    symbol: str
    children: tuple[Node, ...] = ()

    def __post_init__(self) -> None:
        if self.symbol not in ARITY:
            raise GrammarError(f"unknown symbol {self.symbol!r}")
        if len(self.children) != ARITY[self.symbol]:
            raise GrammarError(
                f"{self.symbol!r} takes {ARITY[self.symbol]} argument(s), got {len(self.children)}"
            )

    def walk(self) -> Iterable[Node]:
        """Nodes in prefix order."""
        yield self
        for child in self.children:
            yield from child.walk()

    def __str__(self) -> str:
        if not self.children:
            return self.symbol
        return f"{self.symbol}({', '.join(str(c) for c in self.children)})"


# ---------------------------------------------------------------- prefix form


def tree_to_prefix(node: Node) -> list[str]:
    """Prefix tokens of a tree: ``mul(x1, x2)`` -> ``["mul", "x1", "x2"]``."""
    return [n.symbol for n in node.walk()]


def decode_prefix(tokens: Sequence[str], start: int = 0) -> tuple[Node, int]:
    """Decode one tree from ``tokens[start:]``; returns ``(node, consumed)``."""
    if start >= len(tokens):
        raise GrammarError("prefix expression ended early: an operator is missing arguments")
    symbol = tokens[start]
    if symbol not in ARITY:
        raise GrammarError(f"unknown or misplaced token {symbol!r} at position {start}")
    children = []
    pos = start + 1
    for _ in range(ARITY[symbol]):
        child, used = decode_prefix(tokens, pos)
        children.append(child)
        pos += used
    return Node(symbol, tuple(children)), pos - start


def prefix_to_tree(tokens: Sequence[str]) -> Node:
    """Decode exactly one tree; trailing tokens are an error."""
    node, used = decode_prefix(tokens, 0)
    if used != len(tokens):
        raise GrammarError(f"{len(tokens) - used} token(s) left after a complete expression")
    return node


# ---------------------------------------------------------------- sequences


def encode_sequence(steps: Sequence[Node]) -> list[str]:
    """Model token sequence: ``BOS expr EOS``, or ``BOS STEP e1 END_STEP ... EOS``."""
    if not steps:
        raise GrammarError("an equation needs at least one step")
    if len(steps) == 1:
        return ["BOS", *tree_to_prefix(steps[0]), "EOS"]
    body: list[str] = []
    for step in steps:
        body += ["STEP", *tree_to_prefix(step), "END_STEP"]
    return ["BOS", *body, "EOS"]


def decode_sequence(tokens: Sequence[str]) -> tuple[Node, ...]:
    """Inverse of :func:`encode_sequence`; trailing PAD after EOS is allowed."""
    toks = list(tokens)
    if not toks or toks[0] != "BOS":
        raise GrammarError("sequence must start with BOS")
    if "EOS" not in toks:
        raise GrammarError("sequence has no EOS")
    end = toks.index("EOS")
    if any(t != "PAD" for t in toks[end + 1 :]):
        raise GrammarError("tokens other than PAD after EOS")
    body = toks[1:end]
    if "STEP" not in body and "END_STEP" not in body:
        steps: tuple[Node, ...] = (prefix_to_tree(body),)
    else:
        parsed = []
        pos = 0
        while pos < len(body):
            if body[pos] != "STEP":
                raise GrammarError(f"expected STEP at position {pos + 1}, got {body[pos]!r}")
            try:
                close = body.index("END_STEP", pos)
            except ValueError as exc:
                raise GrammarError("STEP without END_STEP") from exc
            parsed.append(prefix_to_tree(body[pos + 1 : close]))
            pos = close + 1
        steps = tuple(parsed)
    check_steps(steps)
    return steps


def check_steps(steps: Sequence[Node]) -> None:
    """Step ``k`` may only use ``s1 .. s(k-1)``; there are at most MAX_STEPS steps."""
    if len(steps) > MAX_STEPS:
        raise GrammarError(f"{len(steps)} steps; at most {MAX_STEPS} are supported")
    for k, step in enumerate(steps, start=1):
        for node in step.walk():
            if node.symbol in STEP_REFS and int(node.symbol[1:]) >= k:
                raise GrammarError(f"step {k} refers to {node.symbol}, which is not an earlier step")


def flatten(steps: Sequence[Node]) -> Node:
    """Substitute each step's result into later steps; the last step, flat."""
    check_steps(steps)
    done: dict[str, Node] = {}
    for k, step in enumerate(steps, start=1):
        done[f"s{k}"] = _substitute(step, done)
    return done[f"s{len(steps)}"]


def _substitute(node: Node, table: Mapping[str, Node]) -> Node:
    if node.symbol in table:
        return table[node.symbol]
    if not node.children:
        return node
    return Node(node.symbol, tuple(_substitute(c, table) for c in node.children))


# ---------------------------------------------------------------- infix parsing

_BINOPS = {ast.Add: "add", ast.Sub: "sub", ast.Mult: "mul", ast.Div: "div", ast.Pow: "pow"}


def parse_infix(text: str, names: Mapping[str, str]) -> Node:
    """Parse readable Python-style infix (``q1*q2/(4*pi*eps*r**2)``) into a tree.

    ``names`` maps each variable name in the text to a leaf token (``{"m": "x1"}``).
    The tree keeps the structure as written (``a/b`` stays ``div``), so the benchmark
    file decides the canonical token sequence.
    """
    try:
        tree = ast.parse(text.strip(), mode="eval").body
    except SyntaxError as exc:
        raise GrammarError(f"cannot parse formula {text!r}: {exc.msg}") from exc
    return _from_ast(tree, names, text)


def _from_ast(node: ast.AST, names: Mapping[str, str], text: str) -> Node:
    if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
        return Node(
            _BINOPS[type(node.op)],
            (_from_ast(node.left, names, text), _from_ast(node.right, names, text)),
        )
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return Node("neg", (_from_ast(node.operand, names, text),))
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        fn = node.func.id
        if fn not in UNARY:
            raise GrammarError(f"unknown symbol {fn!r} in {text!r}; operators: {', '.join(UNARY)}")
        if len(node.args) != 1 or node.keywords:
            raise GrammarError(f"wrong arity: {fn!r} takes 1 argument in {text!r}, got {len(node.args)}")
        return Node(fn, (_from_ast(node.args[0], names, text),))
    if isinstance(node, ast.Name):
        if node.id in names:
            return Node(names[node.id])
        if node.id in ("pi", "C"):
            return Node(node.id)
        raise GrammarError(f"unknown symbol {node.id!r} in {text!r}: not a declared variable")
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
        value = node.value
        if float(value).is_integer() and str(int(value)) in INTEGERS:
            return Node(str(int(value)))
        raise GrammarError(
            f"unknown symbol {value!r} in {text!r}: literal constants are the integers 1-9 "
            "(write other rationals as divisions, e.g. 1/2)"
        )
    raise GrammarError(f"unsupported syntax {ast.dump(node)[:40]!r} in {text!r}")


# ---------------------------------------------------------------- sympy and LaTeX


def to_sympy(node: Node, symbols: Mapping[str, object] | None = None, constants: Sequence[float] | None = None):
    """A sympy expression. ``C`` leaves become ``c0, c1, ...`` or the given values."""
    import sympy as sp

    counter = iter(range(10_000))

    def conv(n: Node):
        s = n.symbol
        if s in ARITY and ARITY[s] == 0:
            if s == "C":
                k = next(counter)
                if constants is not None:
                    return sp.Float(constants[k])
                return sp.Symbol(f"c{k}")
            if s == "pi":
                return sp.pi
            if s in INTEGERS:
                return sp.Integer(int(s))
            if symbols is not None and s in symbols:
                return symbols[s]
            return sp.Symbol(s, positive=True)
        args = [conv(c) for c in n.children]
        return {
            "add": lambda a, b: a + b,
            "sub": lambda a, b: a - b,
            "mul": lambda a, b: a * b,
            "div": lambda a, b: a / b,
            "pow": lambda a, b: a**b,
            "sin": sp.sin,
            "cos": sp.cos,
            "exp": sp.exp,
            "log": sp.log,
            "sqrt": sp.sqrt,
            "neg": lambda a: -a,
        }[s](*args)

    return conv(node)


def to_latex(node: Node, names: Mapping[str, str] | None = None) -> str:
    """LaTeX for a tree; ``names`` maps leaf tokens to display names (``{"x1": "m"}``)."""
    import sympy as sp

    symbols = {tok: sp.Symbol(name) for tok, name in (names or {}).items()}
    return sp.latex(to_sympy(node, symbols))


# ---------------------------------------------------------------- evaluation


@dataclass(frozen=True)
class Evaluation:
    """Values of a tree on a batch of points, with the domain problems counted."""

    values: np.ndarray  # [n_points]
    n_nan: int
    n_inf: int

    @property
    def ok(self) -> bool:
        return self.n_nan == 0 and self.n_inf == 0


def count_constants(node: Node) -> int:
    return sum(1 for n in node.walk() if n.symbol == "C")


def evaluate(
    node: Node | Sequence[Node],
    x: np.ndarray,
    constants: Sequence[float] = (),
) -> Evaluation:
    """Evaluate on ``x`` of shape ``[n_points, n_vars]`` (column ``i`` is ``x{i+1}``).

    A sequence of nodes is a derivation and is evaluated step by step. ``C`` leaves
    take ``constants`` in prefix order. NaN and inf are counted, never replaced.
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise GrammarError(f"x must be [n_points, n_vars], got shape {x.shape}")
    steps = (node,) if isinstance(node, Node) else tuple(node)
    check_steps(steps)
    needed = sum(count_constants(s) for s in steps)
    if len(constants) != needed:
        raise GrammarError(f"expression has {needed} constant(s) C, got {len(constants)} value(s)")
    consts = iter(float(c) for c in constants)
    results: dict[str, np.ndarray] = {}
    with np.errstate(all="ignore"):
        for k, step in enumerate(steps, start=1):
            results[f"s{k}"] = np.broadcast_to(_eval(step, x, consts, results), (x.shape[0],)).astype(np.float64)
    values = results[f"s{len(steps)}"]
    return Evaluation(values=values, n_nan=int(np.isnan(values).sum()), n_inf=int(np.isinf(values).sum()))


def _eval(node: Node, x: np.ndarray, consts, steps: Mapping[str, np.ndarray]) -> np.ndarray:
    s = node.symbol
    if s in VARIABLES:
        col = int(s[1:]) - 1
        if col >= x.shape[1]:
            raise GrammarError(f"{s} used but x has only {x.shape[1]} column(s)")
        return x[:, col]
    if s in STEP_REFS:
        return steps[s]
    if s == "C":
        return np.asarray(next(consts))
    if s == "pi":
        return np.asarray(math.pi)
    if s in INTEGERS:
        return np.asarray(float(s))
    a = [_eval(c, x, consts, steps) for c in node.children]
    if s == "add":
        return a[0] + a[1]
    if s == "sub":
        return a[0] - a[1]
    if s == "mul":
        return a[0] * a[1]
    if s == "div":
        return a[0] / a[1]
    if s == "pow":
        return np.power(a[0], a[1])
    if s == "neg":
        return -a[0]
    return {"sin": np.sin, "cos": np.cos, "exp": np.exp, "log": np.log, "sqrt": np.sqrt}[s](a[0])


def variables_used(node: Node | Sequence[Node]) -> list[str]:
    """Input variables (x1..x9) used, sorted by index."""
    steps = (node,) if isinstance(node, Node) else tuple(node)
    used = {n.symbol for s in steps for n in s.walk() if n.symbol in VARIABLES}
    return sorted(used, key=lambda v: int(v[1:]))
