"""Each method's answer on one equation, as its page shows it: verdicts and the formula as mathematics.

The evaluation writes most answers' LaTeX itself, in the equation's own names. gplearn's rows
hold only text over the grammar's tokens (``x1*x2**2``), simplified by sympy, which writes the
imaginary unit as ``I``; :func:`answer_tex` reads such text through sympy with each token
mapped to its variable's display name, so ``I`` stays the imaginary unit (printed *i*) and a
variable named ``I`` keeps its own symbol. An answer that cannot be read is shown as code, and
the page says so.

Pure functions of the evaluation rows; sympy is imported only when an answer needs it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from physdocs import methods as M
from physdocs.benchmark import display_name
from physdocs.constants import R2_THRESHOLD
from physdocs.report.evaluation_page import untimed_note
from physdocs.report.render import fmt, tex_ok
from physdocs.results.evaluation import Evaluation, ResultRow

#: The grammar's leaf tokens (``x1``, ``x2``, ...): an answer naming one is written over tokens.
_TOKEN = re.compile(r"x\d+")
#: Text sympy may read: names, numbers, arithmetic and brackets, nothing else (no attribute
#: access, strings, subscripts or keywords reach ``parse_expr``, which evaluates its input).
_LEXEME = re.compile(r"\s+|[A-Za-z][A-Za-z0-9_]*|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|\*\*|[-+*/(),]")
#: Names sympy reads as its own: functions, and the constants of text written over tokens.
_FUNCTIONS = frozenset({"sqrt", "log", "exp", "sin", "cos", "tan", "Abs"})
_CONSTANTS = frozenset({"pi", "E", "I"})
#: The threshold as the pages write it.
THRESHOLD = f"{R2_THRESHOLD:g}"
#: Significant digits of a fitted constant, as the evaluation writes its own LaTeX.
_DIGITS = 4
#: What the page says of an answer holding sympy's imaginary unit ``I``.
IMAGINARY = ("here i is the imaginary unit (sympy's I), so as written the answer takes a root or a "
             "logarithm of a negative quantity")
#: An answer longer than this is not read (its LaTeX would be unreadable anyway).
MAX_TEXT = 4000


@dataclass(frozen=True)
class Answer:
    """One method's row on one equation: its verdicts and its answer.

    ``derived``: held-out R² above :data:`~physdocs.constants.R2_THRESHOLD`. ``latex``: the
    answer in the equation's names (None: shown as ``text``, as written). ``note``: the
    evaluation's note and how the answer is written, one lower-case sentence (None: nothing).
    """

    key: str | None
    label: str
    derived: bool
    exact: bool
    r2: float
    seconds: float
    status: str
    latex: str | None
    text: str | None
    note: str | None


def _field(v: Any, key: str) -> Any:
    return v[key] if isinstance(v, Mapping) else getattr(v, key)


def display_names(variables: Iterable[Any]) -> dict[str, str]:
    """``{token: display name}`` and ``{name: display name}`` of an equation's variables."""
    out = {}
    for v in variables:
        shown = display_name(_field(v, "name"))
        out[_field(v, "token")] = shown
        out[_field(v, "name")] = shown
    return out


def answer_tex(text: str, variables: Iterable[Any]) -> tuple[str | None, str | None]:
    """``(LaTeX, note)`` of an answer written as text; ``(None, why)`` when it cannot be read.

    Text naming a grammar token (``x1``) is read over tokens: ``I``, ``E`` and ``pi`` are
    sympy's constants there. Otherwise the text is over the variables' own names, and a
    variable named ``I`` or ``E`` is that variable. Fitted constants keep four significant
    digits, as in the evaluation's own LaTeX.
    """
    import sympy as sp
    from sympy.parsing.sympy_parser import parse_expr, standard_transformations

    names = display_names(variables)
    lexemes = _LEXEME.findall(text)
    if len(text) > MAX_TEXT or "".join(lexemes) != text:
        return None, "it holds text that is not a formula"
    words = {w for w in lexemes if w[:1].isalpha()}
    over_tokens = any(_TOKEN.fullmatch(w) for w in words)
    known = {w: sp.Symbol(names[w]) for w in words if w in names and bool(_TOKEN.fullmatch(w)) == over_tokens}
    allowed = _FUNCTIONS | (_CONSTANTS if over_tokens else {"pi"})
    unknown = sorted(words - set(known) - allowed)
    if unknown:
        return None, f"it names {', '.join(unknown)}, which is not one of this equation's variables"
    try:
        expr = parse_expr(text, local_dict=known, global_dict=_sympy_names(allowed),
                          transformations=standard_transformations)
        expr = expr.xreplace({f: sp.Float(f, _DIGITS) for f in expr.atoms(sp.Float)})
        latex = sp.latex(expr)
    except Exception as exc:  # noqa: BLE001 - any failure to read means: show it as written
        return None, f"sympy could not read it ({type(exc).__name__})"
    if not tex_ok(latex):
        return None, "its LaTeX cannot be shown on the page"
    note = IMAGINARY if expr.has(sp.I) else None
    return latex, note


def _sympy_names(allowed: Iterable[str]) -> dict[str, Any]:
    """The global names ``parse_expr`` sees: sympy's own objects for ``allowed``, its number types."""
    import sympy as sp

    out = {name: getattr(sp, name) for name in allowed}
    out.update(Integer=sp.Integer, Float=sp.Float, Rational=sp.Rational, Symbol=sp.Symbol)
    return out


def answer(row: ResultRow, variables: Sequence[Any], untimed: str | None = None) -> Answer:
    """A row as its equation's page shows it: the evaluation's LaTeX, else the text read by sympy.
    ``untimed``: why the row's seconds are not its own (they are then not shown)."""
    method = M.BY_ROWS.get((row.model, row.decoder))
    latex, text, note = None, None, None
    if row.latex and tex_ok(row.latex):
        latex = row.latex
    elif row.prediction:
        latex, why = answer_tex(row.prediction, variables)
        if latex is None:
            text, note = row.prediction, f"shown as written: {why}"
        else:
            note = why
    notes = "; ".join(s.rstrip(".") for s in (row.note, note, untimed and f"seconds {untimed}") if s)
    return Answer(
        key=method.key if method else None,
        label=row.method,
        derived=row.derived,
        exact=bool(row.exact),
        r2=row.r2_test,
        seconds=None if untimed else row.seconds,
        status=row.status,
        latex=latex,
        text=text,
        note=notes + "." if notes else None,
    )


def answers(rows: Sequence[ResultRow], variables: Sequence[Any], evaluation: Evaluation | None = None) -> list[Answer]:
    """Every evaluated method's answer on one equation, in the registry's order (others after, by name)."""
    order = {(m.model, m.decoder): i for i, m in enumerate(M.REGISTRY)}
    ranked = sorted(rows, key=lambda r: (order.get((r.model, r.decoder), len(order)), r.model, r.decoder))
    untimed = (lambda r: untimed_note(evaluation, r.model, r.decoder)) if evaluation else (lambda r: None)
    return [answer(r, variables, untimed(r)) for r in ranked]


@dataclass(frozen=True)
class Behind:
    """The pipeline scored below Operon alone on one equation, by held-out R².

    The R² are formatted with enough digits to tell them apart (None: no usable answer).
    """

    pipeline: str
    operon: str
    pipeline_r2: str | None
    operon_r2: str
    pipeline_derives: bool
    operon_derives: bool

    @property
    def title(self) -> str:
        return f"{self.pipeline} scores below {self.operon} here"

    @property
    def sentence(self) -> str:
        """The comparison, plainly: both R², then what each derives."""
        first = (f"On this equation {self.pipeline} scores below {self.operon}: held-out R² "
                 f"{self.pipeline_r2} against {self.operon_r2}." if self.pipeline_r2 is not None else
                 f"On this equation {self.pipeline} has no usable answer, and {self.operon} reaches a "
                 f"held-out R² of {self.operon_r2}.")
        if self.pipeline_derives:
            then = f"Both derive it (R² > {THRESHOLD})."
        elif self.operon_derives:
            then = f"{self.operon} derives it (R² > {THRESHOLD}) and {self.pipeline} does not."
        else:
            then = f"Neither derives it (R² > {THRESHOLD})."
        return f"{first} {then}"


def _score(r2: float) -> float:
    return r2 if math.isfinite(r2) else -math.inf  # unusable (nan) scores below any number


def distinct(a: float, b: float, digits: int = 3, most: int = 12) -> tuple[str, str]:
    """``a`` and ``b`` formatted with the fewest significant digits (from ``digits``) that tell them apart."""
    if not (math.isfinite(a) and math.isfinite(b)):
        return fmt(a, digits), fmt(b, digits)
    for d in range(digits, most + 1):
        fa, fb = fmt(a, d), fmt(b, d)
        if float(fa) != float(fb):  # "1.000" and "1.00" are the same number
            return fa, fb
    return fmt(a, most), fmt(b, most)


def behind_operon(rows: Sequence[ResultRow]) -> Behind | None:
    """When the model-seeded pipeline scores below Operon alone on this equation (held-out R²),
    the comparison; else None (either not evaluated, or the pipeline scores as high or higher)."""
    pipe, operon = M.BY_KEY["pipeline"], M.BY_KEY["operon"]
    found = {(r.model, r.decoder): r for r in rows}
    p, o = found.get((pipe.model, pipe.decoder)), found.get((operon.model, operon.decoder))
    if p is None or o is None or not _score(p.r2_test) < _score(o.r2_test):
        return None
    if math.isfinite(p.r2_test):
        pr2, or2 = distinct(p.r2_test, o.r2_test)
    else:
        pr2, or2 = None, fmt(o.r2_test)
    return Behind(pipe.label, operon.label, pr2, or2, pipeline_derives=p.derived, operon_derives=o.derived)
