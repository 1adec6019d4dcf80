"""Units: reading them, checking formulas with them, dimensional analysis, and the benchmark's
units (every formula balances, or is listed in ``DIMENSIONALLY_LOOSE`` and really does not)."""

from __future__ import annotations

import math
import tomllib
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from physdocs.benchmark import (
    DEFAULT_PATH,
    DIMENSIONALLY_LOOSE,
    BenchmarkError,
    Equation,
    get_equation,
    load_benchmark,
)
from physdocs.grammar import Node, parse_infix
from physdocs.units import (
    DIMENSIONLESS,
    Analysis,
    UnitError,
    analyse,
    consistent,
    parse_unit,
    parse_units_spec,
    tree_dimension,
)

EQUATIONS = load_benchmark()
IDS = [eq.id for eq in EQUATIONS]
M, L, S, K = parse_unit("kg"), parse_unit("m"), parse_unit("s"), parse_unit("K")


def _dim(formula: str, **units: str) -> object:
    """The dimension of ``formula`` over variables named by ``units`` (``a="m"``)."""
    names = {name: f"x{k}" for k, name in enumerate(units, start=1)}
    dims = {names[name]: parse_unit(u) for name, u in units.items()}
    return tree_dimension(parse_infix(formula, names), dims)


# ---------------------------------------------------------------- reading units


def test_parse_unit_derived_and_pure() -> None:
    assert parse_unit("N") == parse_unit("kg*m/s**2") == M * L / S**2
    assert parse_unit("J/(kg*K)") == L**2 / S**2 / K
    assert str(parse_unit("J/(kg*K)")) == "L^2 T^-2 Θ^-1"
    assert parse_unit("1") == parse_unit("") == parse_unit("rad") == DIMENSIONLESS
    assert parse_unit("m**(1/2)").exps[1] == Fraction(1, 2)


@pytest.mark.parametrize(("unit", "fault"), [("kgg", "cannot read"), ("m/", "cannot read"), ("pixel", "outside SI")])
def test_parse_unit_error_names_the_item(unit: str, fault: str) -> None:
    with pytest.raises(UnitError, match=fault) as info:
        parse_unit(unit, "variable 'm'")
    assert str(info.value).startswith("variable 'm'") and repr(unit) in str(info.value)


def test_parse_units_spec() -> None:
    assert parse_units_spec("m=kg, v = m/s,, p=kg*m/s") == {"m": "kg", "v": "m/s", "p": "kg*m/s"}
    with pytest.raises(UnitError, match="not NAME=UNIT"):
        parse_units_spec("m kg")
    with pytest.raises(UnitError, match="--units: v"):
        parse_units_spec("m=kg, v=furlongs_per_fortnightt")


# ---------------------------------------------------------------- checking formulas


def test_tree_dimension_consistent() -> None:
    assert _dim("m*c**2", m="kg", c="m/s") == parse_unit("J")
    assert _dim("v0*t + 1/2*a*t**2", v0="m/s", t="s", a="m/s**2") == L
    assert _dim("exp(-t/(R*C))", t="s", R="ohm", C="F") == DIMENSIONLESS
    assert _dim("(3*pi**2*n)**(2/3)", n="1/m**3") == L**-2


def test_tree_dimension_sqrt_halves() -> None:
    assert _dim("sqrt(a)", a="m") == L ** Fraction(1, 2)
    assert _dim("sqrt(L/g)", L="m", g="m/s**2") == S


@pytest.mark.parametrize(
    ("formula", "units"),
    [("a + t", {"a": "m", "t": "s"}), ("exp(a)", {"a": "m"}), ("sin(a)*t", {"a": "m", "t": "s"}),
     ("a**t", {"a": "m", "t": "1"}), ("t**a", {"t": "1", "a": "m"})],
)
def test_tree_dimension_inconsistent(formula: str, units: dict[str, str]) -> None:
    assert _dim(formula, **units) is None


def test_tree_dimension_fitted_exponent() -> None:
    power = Node("pow", (Node("x1"), Node("C")))
    assert tree_dimension(power, {"x1": L}, [0.5]) == L ** Fraction(1, 2)
    assert tree_dimension(power, {"x1": L}, [3.0]) == L**3
    assert tree_dimension(power, {"x1": L}, [math.sqrt(2)]) is None  # irrational exponent
    assert tree_dimension(power, {"x1": DIMENSIONLESS}, [math.sqrt(2)]) == DIMENSIONLESS
    # No fitted value (NaN) or an overflowed one: not checkable, so not consistent.
    assert tree_dimension(power, {"x1": L}) is None
    assert tree_dimension(power, {"x1": L}, [math.inf]) is None


def test_tree_dimension_steps_refer_back() -> None:
    steps = [parse_infix("p*c", {"p": "x1", "c": "x2"}), parse_infix("sqrt(s1**2 + s1**2)", {"s1": "s1"})]
    dims = {"x1": parse_unit("kg*m/s"), "x2": parse_unit("m/s")}
    assert tree_dimension(steps, dims) == parse_unit("J")


def _consistent(formula: str, target: str, constants: list[float], carriers: list[str], **units: str) -> bool:
    names = {name: f"x{k}" for k, name in enumerate(units, start=1)}
    dims = {names[name]: parse_unit(u) for name, u in units.items()}
    return consistent(parse_infix(formula, names), dims, constants, parse_unit(target),
                      [parse_unit(c) for c in carriers])


@pytest.mark.parametrize(
    ("formula", "target", "constants", "carriers", "units", "ok"),
    [
        # v = sqrt(2 g h) with g not in the data: C*sqrt(h) is a speed only when C may carry g.
        ("C*sqrt(h)", "m/s", [4.43], ["m/s**2"], {"h": "m"}, True),
        ("C*sqrt(h)", "m/s", [4.43], [], {"h": "m"}, False),
        ("sqrt(C*h)", "m/s", [19.6], ["m/s**2"], {"h": "m"}, True),
        # c (a speed) cannot make sqrt(h) a speed: no power of m/s times m^(1/2) is m/s.
        ("C*sqrt(h)", "m/s", [4.43], ["m/s"], {"h": "m"}, False),
        # A sum still needs like terms: h + C is a length only if C is, and no power of g is.
        ("h + C", "m", [1.0], ["m/s**2"], {"h": "m"}, False),
        # exp(-C t) with a decay rate declared: C carries 1/s, the argument is a pure number.
        ("exp(-C*t)", "1", [0.3], ["1/s"], {"t": "s"}, True),
        ("exp(-C*t)", "1", [0.3], ["m"], {"t": "s"}, False),
        # Two constants, two numbers: E = C1 * m * C2 with G and c declared -> m c^2 needs c^2.
        ("C*m", "J", [9e16], ["m**3/(kg*s**2)", "m/s"], {"m": "kg"}, True),
        # The same equations for every C: (C*t) and (C*h) under one sum must agree.
        ("C*t + C*h", "m", [1.0, 1.0], ["m/s", "1/s"], {"t": "s", "h": "m"}, True),
        ("C*t + C*h", "m", [1.0, 1.0], ["m/s**2"], {"t": "s", "h": "m"}, False),
    ],
)
def test_declared_constants_may_sit_in_the_fitted_numbers(formula, target, constants, carriers, units, ok) -> None:
    assert _consistent(formula, target, constants, carriers, **units) is ok


def test_without_declared_constants_consistent_is_the_plain_check() -> None:
    for formula, units, target in [("m*c**2", {"m": "kg", "c": "m/s"}, "J"), ("a + t", {"a": "m", "t": "s"}, "m"),
                                   ("C*sqrt(L/g)", {"L": "m", "g": "m/s**2"}, "s")]:
        names = {name: f"x{k}" for k, name in enumerate(units, start=1)}
        dims = {names[n]: parse_unit(u) for n, u in units.items()}
        tree = parse_infix(formula, names)
        assert consistent(tree, dims, [1.0], parse_unit(target)) is (tree_dimension(tree, dims, [1.0])
                                                                     == parse_unit(target))


# ---------------------------------------------------------------- dimensional analysis


def test_analyse_coulomb() -> None:
    """F = q1 q2 / (4 pi eps r^2): F over q1^2/(eps r^2) is a pure number of the one group q1/q2."""
    inputs = [parse_unit(u) for u in ("C", "C", "F/m", "m")]
    result = analyse(inputs, parse_unit("N"))
    assert result == Analysis(monomial=(Fraction(2), Fraction(0), Fraction(-1), Fraction(-2)),
                              groups=((1, -1, 0, 0),))
    x = np.random.default_rng(0).uniform(1, 5, size=(50, 4))
    y = x[:, 0] * x[:, 1] / (4 * np.pi * x[:, 2] * x[:, 3] ** 2)
    groups, reduced = result.transform(x, y)
    np.testing.assert_allclose(groups[:, 0], x[:, 0] / x[:, 1])
    np.testing.assert_allclose(reduced, 1 / (4 * np.pi * groups[:, 0]))


def test_the_simplest_groups_are_chosen_whatever_the_columns_order() -> None:
    """n = n0 exp(-m g x / (k_B T)): a nullspace basis gives n0 x^3 and n0 (k_B T / (m g))^3,
    and the law's group m g x / (k_B T) is a cube root of their ratio, so no function of
    those two writes the law simply. The simplest groups are n0 x^3 and m g x / (k_B T)."""
    units = {"n0": "1/m**3", "m": "kg", "g": "m/s**2", "x": "m", "k_B": "J/K", "T": "K"}
    result = analyse([parse_unit(u) for u in units.values()], parse_unit("1/m**3"))
    assert result is not None and result.monomial == (1, 0, 0, 0, 0, 0)
    assert set(result.groups) == {(1, 0, 0, 3, 0, 0), (0, 1, 1, 1, -1, -1)}
    for group in result.groups:  # dimensionless, and in lowest terms
        product = DIMENSIONLESS
        for unit, e in zip(units.values(), group, strict=True):
            product = product * parse_unit(unit) ** e
        assert product == DIMENSIONLESS and math.gcd(*group) == 1


def test_analyse_impossible_target() -> None:
    assert analyse([L, S], M) is None


# ---------------------------------------------------------------- the benchmark's units


def _dims(eq: Equation) -> dict[str, object]:
    inputs, _ = eq.dimensions
    return {v.token: d for v, d in zip(eq.variables, inputs, strict=True)}


def test_every_benchmark_quantity_has_a_unit_key() -> None:
    """The packaged file states every unit (a missing one would silently mean a pure number)."""
    tables = tomllib.loads(DEFAULT_PATH.read_text(encoding="utf-8"))["equation"]
    assert len(tables) == 120
    for table in tables:
        assert "output_unit" in table, table["id"]
        assert all("unit" in v for v in table["variables"]), table["id"]


@pytest.mark.parametrize("eq", [e for e in EQUATIONS if e.id not in DIMENSIONALLY_LOOSE],
                         ids=[i for i in IDS if i not in DIMENSIONALLY_LOOSE])
def test_benchmark_formula_dimensionally_consistent(eq: Equation) -> None:
    _, output = eq.dimensions
    assert tree_dimension(eq.step_trees, _dims(eq)) == output
    assert tree_dimension(eq.tree, _dims(eq)) == output


def test_dimensionally_loose_list_is_current() -> None:
    """Every listed equation exists and really does not balance, so the list cannot go stale."""
    assert len(set(DIMENSIONALLY_LOOSE)) == len(DIMENSIONALLY_LOOSE)
    for eq_id in DIMENSIONALLY_LOOSE:
        eq = get_equation(eq_id)
        assert tree_dimension(eq.step_trees, _dims(eq)) != eq.dimensions[1], eq_id


def test_equation_dimensions_and_dict() -> None:
    eq = get_equation("feynman_046")
    assert eq.output_unit == "N" and [v.unit for v in eq.variables] == ["C", "C", "F/m", "m"]
    assert eq.dimensions == ((parse_unit("C"),) * 2 + (parse_unit("F/m"), L), parse_unit("N"))
    d = eq.to_dict()
    assert d["output_unit"] == "N" and d["variables"][2]["unit"] == "F/m"


# ---------------------------------------------------------------- units in a custom file


def _toml(m_unit: str = 'unit = "kg", ', output_unit: str = 'output_unit = "N"\n') -> str:
    return (
        '[[equation]]\nid = "feynman_002"\nname = "Test"\ntier = "trivial"\noutput = "F"\n'
        f'{output_unit}formula = "m*a"\nvariables = [\n'
        f'  {{ name = "m", meaning = "mass", {m_unit}low = 1.0, high = 5.0 }},\n'
        '  { name = "a", meaning = "acceleration", unit = "m/s**2", low = 1.0, high = 5.0 },\n]\n'
    )


def _load(tmp_path: Path, text: str) -> tuple[Equation, ...]:
    path = tmp_path / "bench.toml"
    path.write_text(text)
    return load_benchmark(path)


def test_custom_file_units(tmp_path: Path) -> None:
    (eq,) = _load(tmp_path, _toml())
    assert eq.output_unit == "N" and eq.variables[0].unit == "kg"
    assert tree_dimension(eq.tree, _dims(eq)) == eq.dimensions[1]
    # A file without units still loads: its quantities are pure numbers.
    (eq,) = _load(tmp_path, _toml(m_unit="", output_unit=""))
    assert eq.output_unit == eq.variables[0].unit == "" and eq.dimensions[1] == DIMENSIONLESS


@pytest.mark.parametrize(
    ("m_unit", "output_unit", "fragments"),
    [('unit = "kgg", ', 'output_unit = "N"\n', ("variable 'm' unit", "'kgg'", "set unit to")),
     ('unit = 1, ', 'output_unit = "N"\n', ("variable 'm' unit = 1 is not a string", "set unit to")),
     ('unit = "kg", ', 'output_unit = "Nm/"\n', ("output 'F' output_unit", "'Nm/'", "set output_unit to"))],
)
def test_error_malformed_unit(tmp_path: Path, m_unit: str, output_unit: str, fragments: tuple[str, ...]) -> None:
    with pytest.raises(BenchmarkError) as info:
        _load(tmp_path, _toml(m_unit, output_unit))
    message = str(info.value)
    assert "bench.toml" in message and "feynman_002" in message and "Fix:" in message
    for fragment in fragments:
        assert fragment in message
