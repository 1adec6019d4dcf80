"""The 120-equation benchmark: data file contents, physics spot checks, loader validation."""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path

import numpy as np
import pytest

from physdocs import grammar
from physdocs.benchmark import (
    MAX_TOKENS,
    TIER_COUNTS,
    TIERS,
    BenchmarkError,
    Equation,
    by_tier,
    get_equation,
    load_benchmark,
    validate_counts,
)

EQUATIONS = load_benchmark()
IDS = [eq.id for eq in EQUATIONS]
FLOAT16_MAX = 6e4
FLOAT16_TINY = 6e-5

SEED_EQUATIONS = {
    "feynman_001": ("Einstein Mass-Energy Equivalence", "E", "m*c**2"),
    "feynman_020": ("Angular Momentum (Simple)", "L", "r*p"),
    "feynman_021": ("Kinematic Displacement", "s", "v0*t + 1/2*a*t**2"),
    "feynman_045": ("Thermal Expansion", "dL", "L0*alpha*dT"),
    "feynman_046": ("Coulomb's Law (Full Form)", "F", "q1*q2/(4*pi*epsilon*r**2)"),
    "feynman_048": ("Gravitational Potential", "U", "-G*M/r"),
    "feynman_075": ("Transformer Voltage Ratio", "V2", "V1*N2/N1"),
    "feynman_076": ("Electric Field of Charged Sphere", "E", "Q*r/(4*pi*epsilon*R**3)"),
    "feynman_100": ("Larmor Radiation Power", "P", "q**2*a**2/(6*pi*epsilon*c**3)"),
    "feynman_101": ("Relativistic Energy-Momentum", "E", "sqrt((p*c)**2 + (m*c**2)**2)"),
    "feynman_120": ("Fermi Energy (Free Electron Model)", "E_F", "hbar**2/(2*m_e)*(3*pi**2*n)**(2/3)"),
}


# ---------------------------------------------------------------- contents


def test_120_equations_with_tier_counts() -> None:
    assert len(EQUATIONS) == 120
    assert IDS == [f"feynman_{k:03d}" for k in range(1, 121)]
    assert (
        {t: len(by_tier(t)) for t in TIERS}
        == TIER_COUNTS
        == {
            "trivial": 20,
            "simple": 25,
            "moderate": 30,
            "complex": 25,
            "multi_step": 20,
        }
    )
    validate_counts(EQUATIONS)


def test_names_unique_and_coulomb_present() -> None:
    names = [eq.name for eq in EQUATIONS]
    assert len(set(names)) == len(names)
    assert any("Coulomb" in n for n in names)


def test_default_load_is_cached() -> None:
    assert load_benchmark() is load_benchmark()


@pytest.mark.parametrize("eq_id", sorted(SEED_EQUATIONS))
def test_seed_equations_exact(eq_id: str) -> None:
    name, output, formula = SEED_EQUATIONS[eq_id]
    eq = get_equation(eq_id)
    assert (eq.name, eq.output, eq.formula) == (name, output, formula)


def test_seed_multi_step_structure() -> None:
    assert get_equation("feynman_101").tier == get_equation("feynman_120").tier == "multi_step"
    assert [s.formula for s in get_equation("feynman_101").steps][:2] == ["p*c", "m*c**2"]


@pytest.mark.parametrize("eq", EQUATIONS, ids=IDS)
def test_finite_and_float16_range(eq: Equation) -> None:
    """Finite, one-signed and inside float16 range on 1000 seeded samples and every corner."""
    corners = np.array(list(itertools.product(*[(v.low, v.high) for v in eq.variables])))
    x = np.vstack([eq.sample(1000, np.random.default_rng(0)), corners])
    result = eq.evaluate(x)
    assert result.ok, (result.n_nan, result.n_inf)
    y = np.abs(result.values)
    assert y.max() < FLOAT16_MAX
    assert y.min() > FLOAT16_TINY
    assert np.all(np.sign(result.values) == np.sign(result.values[0]))


@pytest.mark.parametrize("eq", EQUATIONS, ids=IDS)
def test_steps_equal_flat_formula_and_tokens_fit(eq: Equation) -> None:
    x = eq.sample(256, 1)
    flat = grammar.evaluate(eq.tree, x).values
    np.testing.assert_allclose(eq.evaluate(x).values, flat, rtol=1e-9)
    np.testing.assert_allclose(grammar.evaluate(grammar.flatten(eq.step_trees), x).values, flat, rtol=1e-9)
    assert len(eq.tokens) <= MAX_TOKENS == 48
    assert 1 <= eq.n_variables <= 9
    if eq.tier == "multi_step":
        assert 2 <= len(eq.steps) <= 4
        assert eq.tokens.count("STEP") == len(eq.steps)
        assert eq.steps[-1].name == eq.output
    else:
        assert eq.steps == () and eq.step_trees == (eq.tree,)
    assert grammar.decode_sequence(eq.tokens) == eq.step_trees


def test_tier_complexity_rises() -> None:
    mean_len = [np.mean([len(eq.tokens) for eq in by_tier(t)]) for t in TIERS]
    assert mean_len == sorted(mean_len)
    assert all(1 <= eq.n_variables <= 3 for eq in by_tier("trivial"))
    assert {eq.n_variables for eq in EQUATIONS} == set(range(1, 10))


def test_api_sample_latex_dict() -> None:
    eq = get_equation("feynman_046")
    x = eq.sample(10, 3)
    assert x.shape == (10, 4)
    for k, v in enumerate(eq.variables):
        assert v.token == f"x{k + 1}"
        assert np.all((x[:, k] >= v.low) & (x[:, k] <= v.high))
    assert eq.latex.startswith("F = ") and r"\pi" in eq.latex and r"\epsilon" in eq.latex
    assert r"\Delta L" in get_equation("feynman_045").latex
    d = json.loads(json.dumps(eq.to_dict()))
    assert d["id"] == "feynman_046" and d["tokens"][0] == "BOS" and d["variables"][0]["name"] == "q1"
    with pytest.raises(KeyError):
        get_equation("feynman_999")
    with pytest.raises(KeyError):
        by_tier("hard")


# ---------------------------------------------------------------- physics spot checks


def _value(eq_id: str, **values: float) -> float:
    eq = get_equation(eq_id)
    x = np.array([[values[v.name] for v in eq.variables]])
    return float(eq.evaluate(x).values[0])


def test_coulomb_si_values() -> None:
    # Two 1 uC charges 1 m apart: F = k q1 q2 / r^2 = 8.988e-3 N.
    f = _value("feynman_046", q1=1e-6, q2=1e-6, epsilon=8.8541878128e-12, r=1.0)
    assert f == pytest.approx(8.98755e-3, rel=1e-5)
    assert _value("feynman_030", k_e=8.98755e9, q1=1e-6, q2=1e-6, r=1.0) == pytest.approx(f, rel=1e-5)


def test_physics_spot_values() -> None:
    c = 2.99792458e8
    assert _value("feynman_001", m=1.0, c=c) == pytest.approx(8.98755e16, rel=1e-5)
    assert _value("feynman_021", v0=2.0, t=3.0, a=4.0) == pytest.approx(24.0)
    assert _value("feynman_026", L=9.81, g=9.81) == pytest.approx(2 * math.pi)
    # Electron rest energy 0.511 MeV; at p = 0 the energy-momentum relation gives m c^2.
    me, e = 9.1093837e-31, 1.602176634e-19
    assert _value("feynman_101", p=0.0, m=me, c=c) / e / 1e6 == pytest.approx(0.511, rel=1e-3)
    # Hydrogen ground state -13.6 eV, both from Bohr levels (n=1) and via the Bohr radius.
    eps, h = 8.8541878128e-12, 6.62607015e-34
    assert _value("feynman_078", m_e=me, q=e, epsilon=eps, h=h, n=1.0) / e == pytest.approx(
        -13.6057, rel=1e-4
    )
    assert _value("feynman_114", epsilon=eps, hbar=h / (2 * math.pi), m_e=me, q=e) / e == pytest.approx(
        -13.6057, rel=1e-4
    )
    # Fermi energy of copper (n = 8.47e28 m^-3) is about 7.0 eV.
    ef = _value("feynman_120", hbar=h / (2 * math.pi), m_e=me, n=8.47e28) / e
    assert ef == pytest.approx(7.03, rel=1e-2)
    # Lorentz factor at v = 0.6 c is 1.25.
    assert _value("feynman_047", v=0.6, c=1.0) == pytest.approx(1.25)


# ---------------------------------------------------------------- validation errors

GOOD_VAR = '{ name = "m", meaning = "mass", low = 1.0, high = 5.0 }'


def _toml(
    *,
    id: str = "feynman_002",
    tier: str = "trivial",
    name: str = "Test Equation",
    formula: str = "m*a",
    variables: str = f'[{GOOD_VAR}, {{ name = "a", meaning = "acceleration", low = 1.0, high = 5.0 }}]',
    extra: str = "",
    output: str = "F",
) -> str:
    return (
        f'[[equation]]\nid = "{id}"\nname = "{name}"\ntier = "{tier}"\noutput = "{output}"\n'
        f'formula = "{formula}"\nvariables = {variables}\n{extra}\n'
    )


def _load_text(tmp_path: Path, text: str, **kwargs: bool) -> tuple[Equation, ...]:
    path = tmp_path / "bench.toml"
    path.write_text(text)
    return load_benchmark(path, **kwargs)


def _fails(tmp_path: Path, text: str, *fragments: str, eq_id: str = "feynman_002") -> str:
    with pytest.raises(BenchmarkError) as info:
        _load_text(tmp_path, text)
    message = str(info.value)
    assert "bench.toml" in message and eq_id in message and "Fix:" in message
    for fragment in fragments:
        assert fragment in message
    return message


def test_custom_file_loads(tmp_path: Path) -> None:
    (eq,) = _load_text(tmp_path, _toml())
    assert eq.id == "feynman_002" and eq.tokens == ["BOS", "mul", "x1", "x2", "EOS"]


def test_custom_file_counts_optional(tmp_path: Path) -> None:
    with pytest.raises(BenchmarkError, match="expected 120"):
        _load_text(tmp_path, _toml(), full=True)


def test_error_unknown_symbol(tmp_path: Path) -> None:
    _fails(tmp_path, _toml(formula="m*b"), "unknown symbol", "'b'")


def test_error_unknown_function(tmp_path: Path) -> None:
    _fails(tmp_path, _toml(formula="tanh(m)*a"), "unknown symbol", "tanh")


def test_error_wrong_arity(tmp_path: Path) -> None:
    _fails(tmp_path, _toml(formula="sin(m, a)"), "arity")


def test_error_too_many_variables(tmp_path: Path) -> None:
    names = [f"v{k}" for k in range(10)]
    variables = (
        "[" + ", ".join(f'{{ name = "{n}", meaning = "q", low = 1.0, high = 2.0 }}' for n in names) + "]"
    )
    _fails(tmp_path, _toml(formula="+".join(names), variables=variables), "more than 9 variables")


def test_error_empty_range(tmp_path: Path) -> None:
    variables = '[{ name = "m", meaning = "mass", low = 2.0, high = 2.0 }, { name = "a", meaning = "x", low = 1.0, high = 5.0 }]'
    _fails(tmp_path, _toml(variables=variables), "empty range", "'m'")


def test_error_inverted_range(tmp_path: Path) -> None:
    variables = '[{ name = "m", meaning = "mass", low = 5.0, high = 1.0 }, { name = "a", meaning = "x", low = 1.0, high = 5.0 }]'
    _fails(tmp_path, _toml(variables=variables), "inverted range", "'m'")


@pytest.mark.parametrize("bound", ["inf", "nan", "-inf"])
def test_error_non_finite_bound(tmp_path: Path, bound: str) -> None:
    variables = f'[{{ name = "m", meaning = "mass", low = 1.0, high = {bound} }}, {{ name = "a", meaning = "x", low = 1.0, high = 5.0 }}]'
    _fails(tmp_path, _toml(variables=variables), "non-finite bound")


def test_error_duplicate_id(tmp_path: Path) -> None:
    _fails(tmp_path, _toml() + _toml(name="Other Equation"), "duplicate id")


def test_error_duplicate_name(tmp_path: Path) -> None:
    _fails(tmp_path, _toml() + _toml(id="feynman_003"), "duplicate name", eq_id="feynman_003")


def test_error_unknown_tier(tmp_path: Path) -> None:
    _fails(tmp_path, _toml(tier="easy"), "unknown tier", "'easy'")


def test_error_id_outside_tier(tmp_path: Path) -> None:
    _fails(tmp_path, _toml(id="feynman_050", tier="trivial"), "outside tier", eq_id="feynman_050")


def test_error_unused_variable(tmp_path: Path) -> None:
    _fails(tmp_path, _toml(formula="m*2"), "declared but unused", "'a'")


def test_error_missing_keys(tmp_path: Path) -> None:
    text = _toml().replace('output = "F"\n', "")
    _fails(tmp_path, text, "missing keys", "output")


def test_error_missing_variable_keys(tmp_path: Path) -> None:
    variables = (
        '[{ name = "m", low = 1.0, high = 5.0 }, { name = "a", meaning = "x", low = 1.0, high = 5.0 }]'
    )
    _fails(tmp_path, _toml(variables=variables), "missing keys", "meaning")


def test_error_missing_steps(tmp_path: Path) -> None:
    _fails(tmp_path, _toml(id="feynman_101", tier="multi_step"), "missing keys", "steps", eq_id="feynman_101")


MULTI_VARS = '[{ name = "m", meaning = "mass", low = 1.0, high = 5.0 }, { name = "c", meaning = "c", low = 1.0, high = 5.0 }]'


def _multi(steps: str, formula: str = "m*c**2/2") -> str:
    return _toml(
        id="feynman_105",
        tier="multi_step",
        formula=formula,
        variables=MULTI_VARS,
        output="E",
        extra=f"steps = {steps}",
    )


def test_multi_step_loads_with_step_refs(tmp_path: Path) -> None:
    steps = '[{ name = "E0", meaning = "rest energy", formula = "m*c**2" }, { name = "E", meaning = "half", formula = "E0/2" }]'
    (eq,) = _load_text(tmp_path, _multi(steps))
    assert grammar.tree_to_prefix(eq.step_trees[1]) == ["div", "s1", "2"]
    assert eq.tokens[:2] == ["BOS", "STEP"] and eq.tokens.count("END_STEP") == 2


def test_error_step_differs_from_flat(tmp_path: Path) -> None:
    steps = '[{ name = "E0", meaning = "rest energy", formula = "m*c**2" }, { name = "E", meaning = "third", formula = "E0/3" }]'
    _fails(tmp_path, _multi(steps), "steps do not evaluate to the flat formula", eq_id="feynman_105")


def test_error_step_uses_later_step(tmp_path: Path) -> None:
    steps = '[{ name = "E0", meaning = "rest energy", formula = "E/2" }, { name = "E", meaning = "x", formula = "m*c**2" }]'
    _fails(tmp_path, _multi(steps), "unknown symbol", "'E'", eq_id="feynman_105")


def test_error_formula_not_finite(tmp_path: Path) -> None:
    _fails(tmp_path, _toml(formula="log(m - 6)*a"), "not finite")
