"""The 120-equation benchmark: a TOML data file and a typed loader that validates it.

The data lives in ``physdocs/data/equations.toml`` (one ``[[equation]]`` table per
equation). Loading parses every formula with :func:`physdocs.grammar.parse_infix`,
checks it, and returns frozen :class:`Equation` objects. Any fault raises
:class:`BenchmarkError` naming the file, the equation id, the fault and the fix.

Every variable and output carries an SI unit in pint's syntax (``unit``, ``output_unit``;
absent or ``"1"``: a pure number). Units are read when loading; that each formula is
dimensionally consistent in them is a test (``tests/test_units.py``), not a load-time
rule, so a custom file may hold a formula whose units do not balance.
"""

from __future__ import annotations

import functools
import hashlib
import keyword
import math
import re
import tomllib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from physdocs import grammar
from physdocs.constants import DEFAULT_SEED, MAX_TOKENS
from physdocs.errors import InputError
from physdocs.grammar import ARITY, MAX_STEPS, MAX_VARIABLES, VARIABLES, GrammarError, Node
from physdocs.paths import BENCHMARK_FILE
from physdocs.units import Dimension, UnitError, parse_unit

TIERS: tuple[str, ...] = ("trivial", "simple", "moderate", "complex", "multi_step")
#: Inclusive id-number range of each tier (``feynman_001`` .. ``feynman_020`` are trivial).
TIER_RANGES: dict[str, tuple[int, int]] = {
    "trivial": (1, 20),
    "simple": (21, 45),
    "moderate": (46, 75),
    "complex": (76, 100),
    "multi_step": (101, 120),
}
TIER_COUNTS: dict[str, int] = {t: hi - lo + 1 for t, (lo, hi) in TIER_RANGES.items()}
N_EQUATIONS = sum(TIER_COUNTS.values())
#: Longest allowed model token sequence (BOS .. EOS, STEP markers included).
#: Points used to check that steps reproduce the flat formula, and their tolerance.
CHECK_POINTS = 64
CHECK_RTOL = 1e-9
CHECK_SEED = DEFAULT_SEED

DEFAULT_PATH = BENCHMARK_FILE

#: Equations whose formula, as written, balances in no faithful choice of units (a textbook
#: form that drops a constant, say), each with the reason; tests/test_units.py proves every
#: other formula consistent and every one listed here inconsistent. None so far.
DIMENSIONALLY_LOOSE: tuple[str, ...] = ()

_ID = re.compile(r"feynman_(\d{3})")
_EQUATION_KEYS = {"id", "name", "tier", "output", "formula", "variables"}
_VARIABLE_KEYS = {"name", "meaning", "low", "high"}
#: Optional keys; a missing unit means a pure number, so files written before units still load.
_EQUATION_OPTIONAL = {"steps", "output_unit"}
_VARIABLE_OPTIONAL = {"unit"}
_STEP_KEYS = {"name", "meaning", "formula"}
# Display names the plain sympy symbol printer would get wrong (``lam`` is ``lambda``).
_GREEK_PREFIX = {"lam": "lambda"}


class BenchmarkError(InputError, ValueError):
    """The benchmark file is malformed; the message names file, equation, fault and fix."""


@dataclass(frozen=True)
class Variable:
    """One input quantity: display ``name``, grammar ``token`` (``x1`` ..), its range and SI
    ``unit`` in pint's syntax (``""``: a pure number)."""

    name: str
    token: str
    meaning: str
    low: float
    high: float
    unit: str = ""


@dataclass(frozen=True)
class Step:
    """One derivation step; ``tree`` refers to earlier steps as ``s1``, ``s2``, ..."""

    name: str
    meaning: str
    formula: str
    tree: Node


@dataclass(frozen=True)
class Equation:
    """A benchmark equation: flat ``tree`` plus ``step_trees`` (``(tree,)`` unless multi-step);
    ``output_unit`` is the output's SI unit in pint's syntax (``""``: a pure number)."""

    id: str
    name: str
    tier: str
    output: str
    formula: str
    variables: tuple[Variable, ...]
    steps: tuple[Step, ...]
    tree: Node
    step_trees: tuple[Node, ...]
    output_unit: str = ""

    @property
    def n_variables(self) -> int:
        return len(self.variables)

    @property
    def tokens(self) -> list[str]:
        """Model token sequence (``BOS ... EOS``; multi-step wraps steps in STEP/END_STEP)."""
        return grammar.encode_sequence(self.step_trees)

    @property
    def display_names(self) -> dict[str, str]:
        """Leaf token -> LaTeX-ready symbol name (``{"x1": "m"}``)."""
        return {v.token: display_name(v.name) for v in self.variables}

    @property
    def plain_names(self) -> dict[str, str]:
        """Leaf token -> the variable's own name, for formulas written as text (``{"x1": "q1"}``)."""
        return {v.token: v.name for v in self.variables}

    @property
    def dimensions(self) -> tuple[tuple[Dimension, ...], Dimension]:
        """The inputs' dimensions in variable order, and the output's (units checked when loading)."""
        return tuple(parse_unit(v.unit) for v in self.variables), parse_unit(self.output_unit)

    @property
    def latex(self) -> str:
        """``output = formula`` in LaTeX, with the variables' display names."""
        import sympy as sp

        lhs = sp.latex(sp.Symbol(display_name(self.output)))
        return f"{lhs} = {grammar.to_latex(self.tree, self.display_names)}"

    def sample(self, n: int, rng: np.random.Generator | int | None = None) -> np.ndarray:
        """``n`` points drawn uniformly from the variables' ranges: shape ``[n, n_variables]``."""
        gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        low = np.array([v.low for v in self.variables])
        high = np.array([v.high for v in self.variables])
        return gen.uniform(low, high, size=(n, self.n_variables))

    def evaluate(self, x: np.ndarray) -> grammar.Evaluation:
        """Values at ``x`` (``[n_points, n_variables]``), computed through the steps."""
        return grammar.evaluate(self.step_trees, x)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready description."""
        return {
            "id": self.id,
            "name": self.name,
            "tier": self.tier,
            "output": self.output,
            "output_unit": self.output_unit,
            "formula": self.formula,
            "latex": self.latex,
            "tokens": self.tokens,
            "variables": [
                {"name": v.name, "token": v.token, "meaning": v.meaning, "low": v.low, "high": v.high,
                 "unit": v.unit}
                for v in self.variables
            ],
            "steps": [
                {
                    "name": s.name,
                    "meaning": s.meaning,
                    "formula": s.formula,
                    "prefix": grammar.tree_to_prefix(s.tree),
                }
                for s in self.steps
            ],
        }


def display_name(name: str) -> str:
    """Symbol name for sympy's LaTeX printer: ``lam1`` -> ``lambda1``, ``dT`` -> ``\\Delta T``."""
    if len(name) > 1 and name[0] == "d" and (name[1].isupper() or name[1:] in ("v", "t", "lam")):
        import sympy as sp

        return r"\Delta " + sp.latex(sp.Symbol(display_name(name[1:])))
    for short, greek in _GREEK_PREFIX.items():
        if name == short or (name.startswith(short) and not name[len(short)].isalpha()):
            return greek + name[len(short) :]
    return name


# ---------------------------------------------------------------- loading


def benchmark_sha256(path: str | Path | None = None) -> str:
    """SHA-256 (hex) of a benchmark file's bytes (None: the packaged one): what results name it by."""
    return hashlib.sha256(Path(path or DEFAULT_PATH).read_bytes()).hexdigest()


def load_benchmark(path: str | Path | None = None, *, full: bool = False) -> tuple[Equation, ...]:
    """Load and validate the benchmark, sorted by id; ``path=None`` is the packaged file (cached).

    The packaged file must hold exactly 120 equations with 20/25/30/25/20 per tier
    (:func:`validate_counts`); a custom file is held to that only with ``full=True``.
    """
    if path is None:
        return _load_default()
    equations = _load(Path(path))
    if full:
        validate_counts(equations, path)
    return equations


@functools.cache
def _load_default() -> tuple[Equation, ...]:
    equations = _load(DEFAULT_PATH)
    validate_counts(equations, DEFAULT_PATH)
    return equations


def get_equation(equation_id: str) -> Equation:
    """The packaged equation with this id (``"feynman_046"``)."""
    for eq in load_benchmark():
        if eq.id == equation_id:
            return eq
    raise KeyError(f"no benchmark equation {equation_id!r}; ids run feynman_001 .. feynman_{N_EQUATIONS:03d}")


def by_tier(tier: str) -> tuple[Equation, ...]:
    """The packaged equations of one tier, in id order."""
    if tier not in TIERS:
        raise KeyError(f"unknown tier {tier!r}; tiers: {', '.join(TIERS)}")
    return tuple(eq for eq in load_benchmark() if eq.tier == tier)


def validate_counts(equations: tuple[Equation, ...], path: str | Path = DEFAULT_PATH) -> None:
    """Require exactly :data:`N_EQUATIONS` equations with :data:`TIER_COUNTS` per tier."""
    counts = Counter(eq.tier for eq in equations)
    wrong = {t: counts.get(t, 0) for t in TIERS if counts.get(t, 0) != TIER_COUNTS[t]}
    if len(equations) != N_EQUATIONS or wrong:
        raise BenchmarkError(
            f"{path}: the benchmark has {len(equations)} equations (tier counts {dict(counts)}); "
            f"expected {N_EQUATIONS} with {TIER_COUNTS}. Fix: add or remove equations so every "
            "tier's id range is filled exactly once."
        )


def _load(path: Path) -> tuple[Equation, ...]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise BenchmarkError(f"{path}: not valid TOML: {exc}. Fix: correct the TOML syntax.") from exc
    tables = data.get("equation")
    if not isinstance(tables, list) or not tables:
        raise BenchmarkError(f"{path}: no [[equation]] tables found. Fix: add at least one [[equation]].")
    seen_ids: set[str] = set()
    seen_names: dict[str, str] = {}
    equations = []
    for k, table in enumerate(tables):
        label = (
            str(table.get("id", f"equation #{k + 1}")) if isinstance(table, dict) else f"equation #{k + 1}"
        )
        eq = _parse_equation(table, _Where(path, label))
        if eq.id in seen_ids:
            raise BenchmarkError(
                f"{path}: equation {eq.id}: duplicate id {eq.id!r}. Fix: give each equation its own id."
            )
        if eq.name in seen_names:
            raise BenchmarkError(
                f"{path}: equation {eq.id}: duplicate name {eq.name!r} (also {seen_names[eq.name]}). "
                "Fix: give each equation a distinct name."
            )
        seen_ids.add(eq.id)
        seen_names[eq.name] = eq.id
        equations.append(eq)
    return tuple(sorted(equations, key=lambda e: e.id))


@dataclass(frozen=True)
class _Where:
    path: Path
    label: str

    def error(self, fault: str, fix: str) -> BenchmarkError:
        return BenchmarkError(f"{self.path}: equation {self.label}: {fault}. Fix: {fix}.")


def _check_keys(table: Any, required: set[str], allowed: set[str], what: str, where: _Where) -> dict:
    if not isinstance(table, dict):
        raise where.error(
            f"{what} is not a table", f"write {what} as a TOML table with keys {sorted(required)}"
        )
    missing = sorted(required - table.keys())
    if missing:
        raise where.error(f"{what} has missing keys {missing}", f"add {', '.join(missing)} to {what}")
    unknown = sorted(table.keys() - allowed)
    if unknown:
        raise where.error(
            f"{what} has unknown keys {unknown}", f"remove them; allowed keys: {sorted(allowed)}"
        )
    for key in ("id", "name", "tier", "output", "formula", "meaning"):
        if key in table and (not isinstance(table[key], str) or not table[key].strip()):
            raise where.error(
                f"{what} key {key!r} is not a non-empty string", f"set {key} to a non-empty string"
            )
    return table


def _check_identifier(name: str, what: str, where: _Where) -> None:
    if not name.isidentifier() or keyword.iskeyword(name) or name in ARITY:
        raise where.error(
            f"{what} name {name!r} is not usable",
            "use a Python identifier that is not a keyword or a grammar symbol "
            "(pi, C, x1..x9, s1..s4, operator names)",
        )


def _parse_equation(table: Any, where: _Where) -> Equation:
    keys = _EQUATION_KEYS | _EQUATION_OPTIONAL
    table = _check_keys(table, _EQUATION_KEYS, keys, "the equation", where)
    eq_id, tier = table["id"], table["tier"]
    match = _ID.fullmatch(eq_id)
    if match is None:
        raise where.error(f"id {eq_id!r} is malformed", "write ids as feynman_NNN with three digits")
    if tier not in TIERS:
        raise where.error(f"unknown tier {tier!r}", f"use one of {', '.join(TIERS)}")
    lo, hi = TIER_RANGES[tier]
    if not lo <= int(match.group(1)) <= hi:
        raise where.error(
            f"id {eq_id} is outside tier {tier!r} (ids {lo:03d}-{hi:03d})",
            "renumber the equation or change its tier",
        )
    _check_identifier(table["output"], "output", where)
    output_unit = _unit(table, "output_unit", f"output {table['output']!r}", where)
    variables = _parse_variables(table["variables"], where)
    names = {v.name: v.token for v in variables}
    tree = _parse_formula(table["formula"], names, "formula", where)

    if tier == "multi_step":
        if "steps" not in table:
            raise where.error(
                "multi_step equation has missing keys ['steps']",
                "add steps = [ {name, meaning, formula}, ... ]",
            )
        steps = _parse_steps(table["steps"], names, table["output"], where)
        step_trees = tuple(s.tree for s in steps)
    else:
        if "steps" in table:
            raise where.error(f"steps given for tier {tier!r}", "only tier multi_step has steps; remove them")
        steps, step_trees = (), (tree,)

    used = set(grammar.variables_used(tree)) | set(grammar.variables_used(step_trees))
    unused = [v.name for v in variables if v.token not in used]
    if unused:
        raise where.error(
            f"variable(s) {unused} declared but unused", "remove them or use them in the formula"
        )

    eq = Equation(
        id=eq_id,
        name=table["name"].strip(),
        tier=tier,
        output=table["output"],
        formula=table["formula"],
        variables=variables,
        steps=steps,
        tree=tree,
        step_trees=step_trees,
        output_unit=output_unit,
    )
    _check_values(eq, where)
    n_tokens = len(eq.tokens)
    if n_tokens > MAX_TOKENS:
        raise where.error(
            f"token sequence has {n_tokens} tokens (limit {MAX_TOKENS})", "shorten the formula or its steps"
        )
    return eq


def _parse_variables(raw: Any, where: _Where) -> tuple[Variable, ...]:
    if not isinstance(raw, list) or not raw:
        raise where.error(
            "variables is not a non-empty array",
            "list the variables as [{name, meaning, unit, low, high}, ...]",
        )
    if len(raw) > MAX_VARIABLES:
        raise where.error(
            f"{len(raw)} variables; more than {MAX_VARIABLES} variables",
            f"use at most {MAX_VARIABLES} (the grammar has x1..x{MAX_VARIABLES})",
        )
    out = []
    for token, item in zip(VARIABLES, raw, strict=False):
        allowed = _VARIABLE_KEYS | _VARIABLE_OPTIONAL
        item = _check_keys(item, _VARIABLE_KEYS, allowed, f"variable {token}", where)
        name = item["name"]
        _check_identifier(name, "variable", where)
        if any(v.name == name for v in out):
            raise where.error(f"duplicate variable name {name!r}", "give each variable its own name")
        bounds = []
        for key in ("low", "high"):
            value = item[key]
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise where.error(
                    f"variable {name!r} {key} = {value!r} is not a number", f"set {key} to a finite number"
                )
            if not math.isfinite(value):
                raise where.error(
                    f"variable {name!r} has non-finite bound {key} = {value}", f"set {key} to a finite number"
                )
            bounds.append(float(value))
        low, high = bounds
        if low == high:
            raise where.error(f"variable {name!r} has an empty range [{low}, {high}]", "make low < high")
        if low > high:
            raise where.error(
                f"variable {name!r} has an inverted range: low {low} > high {high}", "swap low and high"
            )
        unit = _unit(item, "unit", f"variable {name!r}", where)
        meaning = item["meaning"].strip()
        out.append(Variable(name=name, token=token, meaning=meaning, low=low, high=high, unit=unit))
    return tuple(out)


def _unit(table: dict, key: str, what: str, where: _Where) -> str:
    """``table[key]`` (``""`` when absent), checked to be a unit pint reads in SI."""
    unit = table.get(key, "")
    fix = f'set {key} to an SI unit as pint reads it, e.g. "kg*m/s**2", "1" for a pure number'
    if not isinstance(unit, str):
        raise where.error(f"{what} {key} = {unit!r} is not a string", fix)
    try:
        parse_unit(unit, f"{what} {key}")
    except UnitError as exc:
        raise where.error(str(exc), fix) from None
    return unit.strip()


def _parse_formula(text: str, names: dict[str, str], what: str, where: _Where) -> Node:
    try:
        return grammar.parse_infix(text, names)
    except GrammarError as exc:
        raise where.error(
            f"{what}: {exc}",
            "use only declared variables (and earlier step names), pi, integers 1-9, "
            "+ - * / ** and one-argument sin cos exp log sqrt",
        ) from exc


def _parse_steps(raw: Any, names: dict[str, str], output: str, where: _Where) -> tuple[Step, ...]:
    if not isinstance(raw, list) or not 2 <= len(raw) <= MAX_STEPS:
        n = len(raw) if isinstance(raw, list) else "no"
        raise where.error(f"multi_step equation has {n} steps", f"give 2 to {MAX_STEPS} steps")
    table = dict(names)
    steps = []
    for k, item in enumerate(raw, start=1):
        item = _check_keys(item, _STEP_KEYS, _STEP_KEYS, f"step {k}", where)
        name = item["name"]
        _check_identifier(name, "step", where)
        if name in table:
            raise where.error(f"step {k} name {name!r} repeats a variable or step name", "rename the step")
        tree = _parse_formula(item["formula"], table, f"step {k} ({name})", where)
        steps.append(Step(name=name, meaning=item["meaning"].strip(), formula=item["formula"], tree=tree))
        table[name] = f"s{k}"
    if steps[-1].name != output:
        raise where.error(
            f"the last step is {steps[-1].name!r} but the output is {output!r}",
            "name the last step after the output",
        )
    return tuple(steps)


def _check_values(eq: Equation, where: _Where) -> None:
    """The flat formula is finite on the box and the steps reproduce it."""
    x = eq.sample(CHECK_POINTS, np.random.default_rng(CHECK_SEED))
    flat = grammar.evaluate(eq.tree, x)
    if not flat.ok:
        raise where.error(
            f"formula is not finite on its ranges ({flat.n_nan} NaN, {flat.n_inf} inf of {CHECK_POINTS} points)",
            "narrow the variable ranges to the formula's domain",
        )
    if eq.steps:
        stepped = grammar.evaluate(eq.step_trees, x).values
        if not np.allclose(stepped, flat.values, rtol=CHECK_RTOL, atol=0.0):
            worst = int(np.argmax(np.abs(stepped - flat.values)))
            raise where.error(
                f"the steps do not evaluate to the flat formula (e.g. {float(stepped[worst]):.6g} vs {float(flat.values[worst]):.6g})",
                "correct the steps or the formula so they agree",
            )
