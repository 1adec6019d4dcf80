"""Your own data: the Python API, the CSV reader, scaling at SI magnitudes, one-line errors."""

import csv
import json
import re

import numpy as np
import pytest
import sympy as sp

from physdocs.api import UserDataError, clean_rows, narrow_columns, read_csv
from physdocs.cli import main
from physdocs.decoding.scaling import ScalingError, choose_scaling, column_exponent


def write_csv(path, header, rows):
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return path


def momentum(n=120, seed=0):
    rng = np.random.default_rng(seed)
    m, v = rng.uniform(8e-31, 1e-30, n), rng.uniform(5e5, 2e6, n)
    return m, v, m * v


# ------------------------------------------------------------------ scaling


def test_scaling_is_exact_powers_of_two_to_the_middle_of_the_training_boxes():
    m, v, p = momentum()
    s = choose_scaling(np.c_[m, v], p, ["m", "v"], "p")
    assert s.x_exp == (-101, 19) and s.y_exp == -81
    xs, ys = s.apply(np.c_[m, v], p)
    assert np.array_equal(np.ldexp(xs[:, 0], -101), m)
    assert np.array_equal(s.unscale_y(ys), p)  # exact: no digit lost
    for col in (*xs.T, ys):  # every column's median lands in [2, 4)
        assert 2 <= np.median(np.abs(col)) < 4


@pytest.mark.parametrize(("low", "high", "expected"), [(1, 5, 0), (1, 10, 1), (100, 400, 6), (0.5, 2, -1), (-5, -1, 0)])
def test_scaling_moves_any_range_not_only_out_of_float16(low, high, expected):
    x = np.random.default_rng(1).uniform(low, high, (50, 1))
    assert column_exponent(x[:, 0], "a") == expected
    assert 2 <= np.median(np.abs(np.ldexp(x[:, 0], -expected))) < 4


def test_scaling_refuses_a_column_no_single_scale_can_hold():
    with pytest.raises(ScalingError, match="'q'.*logarithm"):
        column_exponent(np.array([1e-20, 1.0, 1e20]), "q")


# ------------------------------------------------------------------ input checks


@pytest.mark.parametrize(
    ("header", "rows", "match"),
    [
        ([f"c{i}" for i in range(11)], [[1.0 + j] * 11 for j in range(20)], "10 input columns, more than"),
        (["a", "y"], [[1.0 + j, 2.0 + j] for j in range(5)], "5 usable rows"),
        (["a", "y"], [[1.0, 2.0], ["abc", 3.0]] + [[1.0 + j, 2.0 + j] for j in range(12)], "row 3, column 'a'"),
        (["a", "y"], [[1.0 + j, 7.0] for j in range(20)], "target is constant"),
    ],
)
def test_bad_csv_is_one_line_and_exit_2(tmp_path, capsys, header, rows, match):
    path = write_csv(tmp_path / "bad.csv", header, rows)
    assert main(["derive", "--csv", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and match in err and str(path) in err


def _lines(header, rows, sep, decimal="."):
    def cell(v):
        return f"{v}".replace(".", decimal) if isinstance(v, float) else str(v)

    return "\n".join([sep.join(header), *(sep.join(cell(v) for v in row) for row in rows)]) + "\n"


ROWS = [[1.5 + j, 2.0 + j, (1.5 + j) * (2.0 + j)] for j in range(12)]


@pytest.mark.parametrize(
    ("text", "encoding"),
    [
        (_lines(["a", "b", "y"], ROWS, ","), "utf-8"),
        (_lines(["a", "b", "y"], ROWS, ";", decimal=","), "utf-8"),  # decimal comma, semicolons
        (_lines(["a", "b", "y"], ROWS, "\t", decimal=","), "utf-8"),  # decimal comma, tabs
        (_lines(["a", "b", "y"], ROWS, "\t"), "utf-8"),
        ("\ufeff" + _lines(["a", "b", "y"], ROWS, ","), "utf-8"),  # a byte-order mark
        (_lines(["a", "b", "y"], ROWS, ";", decimal=","), "latin-1"),
        (_lines(['"a"', '"b"', '"y"'], [[f'"{v}"' for v in row] for row in ROWS], ","), "utf-8"),  # quoted
    ],
    ids=["comma", "semicolon-decimal-comma", "tab-decimal-comma", "tab", "bom", "latin-1", "quoted"],
)
def test_csv_files_as_people_write_them(tmp_path, text, encoding):
    path = tmp_path / "d.csv"
    path.write_bytes(text.encode(encoding))
    x, y, names, target = read_csv(path)
    assert names == ["a", "b"] and target == "y"
    np.testing.assert_allclose(np.c_[x, y], np.array(ROWS))


def test_a_latin1_header_keeps_its_name(tmp_path):
    path = tmp_path / "d.csv"
    path.write_bytes(_lines(["µ", "y"], [[1.0 + j, 2.0 + j] for j in range(12)], ";", ",").encode("latin-1"))
    assert read_csv(path)[2] == ["µ"]


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (b"a,y\n1\x00,2\n", "not a text file"),
        (b'a,y\n"1,234.5",2\n', "row 2, column 'a': '1,234.5' is thousands separators are not read"),
        (b"a;y\n1.234,5;2\n", "row 2, column 'a': '1.234,5' is thousands separators are not read"),
        (b"a;y\n1;2\n1;x\n", "row 3, column 'y': 'x' is not a number"),
    ],
    ids=["binary", "thousands-comma", "thousands-dot", "text-cell"],
)
def test_csv_refusals_are_one_line_exit_2_without_a_traceback(tmp_path, capsys, content, match):
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    assert main(["derive", "--csv", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and match in err and str(path) in err and "Traceback" not in err


def test_a_column_that_hardly_varies_gets_a_warning_naming_it():
    x = np.c_[np.linspace(1, 5, 40), np.linspace(9.7, 9.9, 40)]
    warnings = narrow_columns(x, ["L", "g"])
    assert len(warnings) == 1 and warnings[0].startswith("column 'g' varies by only 2.0%")


def test_rows_with_nan_or_inf_are_dropped_and_counted(tmp_path):
    rows = [[1.0 + j, 2.0 * (1.0 + j)] for j in range(15)] + [["nan", 1.0], [1.0, "inf"], ["", 2.0]]
    x, y, names, target = read_csv(write_csv(tmp_path / "d.csv", ["a", "y"], rows))
    xa, ya, dropped = clean_rows(x, y)
    assert dropped == 3 and len(ya) == 15 and names == ["a"] and target == "y"


def test_csv_target_and_columns_are_checked(tmp_path):
    path = write_csv(tmp_path / "d.csv", ["a", "b", "y"], [[1, 2, 3]] * 12)
    with pytest.raises(UserDataError, match="no column 'z'"):
        read_csv(path, target="z")
    with pytest.raises(UserDataError, match="no column"):
        read_csv(path, columns=["a", "c"])
    x, y, names, target = read_csv(path, target="b", columns=["a"])
    assert names == ["a"] and target == "b" and x.shape == (12, 1)


# ------------------------------------------------------------------ derivation with the shipped weights


@pytest.mark.slow  # a whole pipeline, mkdocs build or process group: `nox -s slow`
def test_momentum_at_si_scale_is_derived_like_at_benchmark_scale(tmp_path, capsys):
    """p = m*v with m near 9.1e-31 kg and v near 1e6 m/s: the formula at benchmark scale, R^2 > 0.99."""
    from physdocs import derive

    m, v, p = momentum()
    result = derive(np.c_[m, v], p, names=["m", "v"], target="p")
    assert result.formula == "m*v" and result.r2_heldout > 0.99
    assert result.scaling.x_exp == (-101, 19) and "m" in result.latex
    path = write_csv(tmp_path / "momentum.csv", ["m", "v", "p"], [[a, b, c] for a, b, c in zip(m, v, p, strict=True)])
    assert main(["derive", "--csv", str(path)]) == 0
    out = capsys.readouterr().out
    assert "p = m*v" in out and "0 dropped" in out


@pytest.mark.slow  # a whole pipeline, mkdocs build or process group: `nox -s slow`
@pytest.mark.parametrize(("low", "high"), [(1, 10), (100, 400)])
def test_a_ratio_over_wide_inputs_is_derived_from_a_csv(tmp_path, capsys, low, high):
    """k = omega/c with both columns in [1, 10] (or [100, 400]): outside the old training boxes."""
    rng = np.random.default_rng(3)
    omega, c = rng.uniform(low, high, 250), rng.uniform(low, high, 250)
    rows = [[a, b, a / b] for a, b in zip(omega, c, strict=True)]
    path = write_csv(tmp_path / "wave.csv", ["omega", "c", "k"], rows)
    assert main(["derive", "--csv", str(path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert sp.simplify(sp.sympify(out["formula"]) - sp.Symbol("omega") / sp.Symbol("c")) == 0


def test_the_pendulum_with_a_narrow_g_says_so(tmp_path, capsys):
    """T = 2 pi sqrt(L/g) with g in [9.7, 9.9] and 1% noise: the data cannot identify the law in g."""
    rng = np.random.default_rng(4)
    length, g = rng.uniform(0.5, 2.0, 120), rng.uniform(9.7, 9.9, 120)
    period = 2 * np.pi * np.sqrt(length / g) * (1 + 0.01 * rng.standard_normal(120))
    rows = [[a, b, c] for a, b, c in zip(length, g, period, strict=True)]
    path = write_csv(tmp_path / "pendulum.csv", ["L", "g", "T"], rows)
    assert main(["derive", "--csv", str(path), "--budget", "0.25"]) == 0
    out = capsys.readouterr().out
    assert "warning:   column 'g' varies by only" in out and "column 'L'" not in out


def test_noise_is_no_formula_found_and_a_law_is_found(tmp_path, capsys):
    """A target of pure noise is "no formula found" (found false, exit 0, no "also fits"); the
    same columns with a real law give the law, found true."""
    rng = np.random.default_rng(5)
    a, b = rng.uniform(1, 5, 200), rng.uniform(1, 5, 200)
    noise = write_csv(tmp_path / "noise.csv", ["a", "b", "y"],
                      [[u, v, w] for u, v, w in zip(a, b, rng.standard_normal(200), strict=True)])
    assert main(["derive", "--csv", str(noise), "--budget", "0.25"]) == 0
    out = capsys.readouterr().out
    assert "no formula found:" in out and "(not a law)" in out and "also fits" not in out
    assert "formula:   y =" not in out
    assert main(["derive", "--csv", str(noise), "--budget", "0.25", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["found"] is False and doc["alternatives"] == [] and doc["verdict"]
    law = write_csv(tmp_path / "law.csv", ["a", "b", "y"], [[u, v, u * v] for u, v in zip(a, b, strict=True)])
    assert main(["derive", "--csv", str(law), "--budget", "0.25", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["found"] is True and doc["verdict"] == ""
    assert sp.simplify(sp.sympify(doc["formula"]) - sp.Symbol("a") * sp.Symbol("b")) == 0


def test_the_verdict_rule():
    from physdocs.api import verdict
    from physdocs.constants import FOUND_R2

    assert verdict(0.999, True, 40) == (True, "")
    assert verdict(FOUND_R2 - 0.01, True, 40)[0] is False
    found, why = verdict(0.999, False, 40)
    assert not found and "constant" in why
    assert verdict(None, True, 40)[0] is False and verdict(float("nan"), True, 40)[0] is False


def test_one_decoder_alone_is_the_search_with_operon_off():
    """``decoder="ar"``: every candidate and the answer come from the AR decoder, chosen on the
    held-back rows like the pipeline's; an unknown decoder is refused by name."""
    from physdocs import derive

    rng = np.random.default_rng(6)
    x = rng.uniform(1, 5, (120, 2))
    result = derive(x, x[:, 0] * x[:, 1], names=["a", "b"], decoder="ar", budget=0.25)
    assert result.decoder == "ar" and result.front
    assert all(r["source"].split()[0] == "ar" for r in result.front)
    assert result.derivation.source.split()[0] == "ar"
    with pytest.raises(ValueError, match="'beam'.*ar"):
        derive(x, x[:, 0], decoder="beam")


@pytest.mark.slow  # a whole pipeline, mkdocs build or process group: `nox -s slow`
def test_a_target_over_eighteen_decades_is_derived_without_the_model_and_says_so(tmp_path, capsys):
    """A Boltzmann factor f = exp(-E/T) spanning more than 18 decades: no scale brings it into
    float16, so Operon and the fit derive it in float64; the output notes it (exit 0) instead
    of refusing the file."""
    rng = np.random.default_rng(7)
    energy, temperature = rng.uniform(1, 8, 250), rng.uniform(0.15, 1, 250)
    rows = [[a, b, np.exp(-a / b)] for a, b in zip(energy, temperature, strict=True)]
    assert np.log10(max(r[2] for r in rows) / min(r[2] for r in rows)) > 18
    path = write_csv(tmp_path / "boltzmann.csv", ["E", "T", "f"], rows)
    assert main(["derive", "--csv", str(path), "--budget", "0.25", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["formula"] != "(no usable formula)" and doc["r2_heldout"] is not None
    assert any("'f' spans" in w and "model cannot read" in w for w in doc["warnings"])
    assert main(["derive", "--csv", str(path), "--decoder", "ar"]) == 2  # a decoder alone cannot read it
    assert "'f' spans" in capsys.readouterr().err


@pytest.mark.slow  # a whole pipeline, mkdocs build or process group: `nox -s slow`
def test_every_row_is_fitted_and_the_model_reads_disjoint_draws():
    """1,000 rows: a fifth held out, 1,000 * 4/5 split into held-back and fitting rows, and
    the model reads two disjoint draws of 50; the counts add up to the rows given."""
    from physdocs import derive

    rng = np.random.default_rng(8)
    x = rng.uniform(1, 5, (1000, 2))
    result = derive(x, x[:, 0] / x[:, 1], names=["a", "b"], budget=0.25)
    assert result.rows_heldout == 200 and result.rows_heldback == 200 and result.rows_fit == 600
    assert result.rows_fit + result.rows_heldback + result.rows_heldout == result.n_rows
    assert result.rows_model == 100 and result.found
    doc = result.to_json()
    assert (doc["rows_fit"], doc["rows_heldback"], doc["rows_heldout"]) == (600, 200, 200)


@pytest.mark.slow  # a whole pipeline, mkdocs build or process group: `nox -s slow`
def test_ten_thousand_noisy_rows_give_the_law_that_fifty_rows_miss(tmp_path, capsys):
    """y = a/(1 + b*c) with 5% noise: from the first 62 rows (50 to derive from, as before
    every row was used) the pipeline returns another form; from all 10,000 rows, with at
    least 7,000 fitting every constant, it returns the law."""
    rng = np.random.default_rng(11)
    x = rng.uniform(1, 5, (10_000, 3))
    y = x[:, 0] / (1 + x[:, 1] * x[:, 2]) * (1 + 0.05 * rng.standard_normal(10_000))
    law = sp.Symbol("a") / (1 + sp.Symbol("b") * sp.Symbol("c"))
    for n, is_law in ((62, False), (10_000, True)):
        path = write_csv(tmp_path / f"rows{n}.csv", ["a", "b", "c", "y"], np.c_[x[:n], y[:n]].tolist())
        assert main(["derive", "--csv", str(path), "--json"]) == 0
        doc = json.loads(capsys.readouterr().out)
        assert (sp.simplify(sp.sympify(doc["formula"]) - law) == 0) is is_law, (n, doc["formula"])
    assert doc["rows_fit"] >= 7_000 and doc["rows_heldout"] == 2_000 and doc["found"]


@pytest.mark.parametrize(("units", "match"), [
    ("q1=C, q2=C, F=N", r"units are needed for every column and the target \(missing: eps, r\)"),
    ("q1=C, q2=C, eps=F/m, r=m, F=N, z=s", "not a column: z"),
    ("q1=C, q2=C, eps=F/m, r=blorp, F=N", r"--units: r: cannot read the unit .blorp."),
    ("q1 C, q2=C", "is not NAME=UNIT"),
    ("q1=C, q2=C, eps=C, r=C, F=kg", "no product of powers of the columns has the units of 'F'"),
])
def test_units_that_cannot_be_used_are_one_clear_line(tmp_path, capsys, units, match):
    rng = np.random.default_rng(9)
    x = rng.uniform(1, 5, (60, 4))
    rows = np.c_[x, x[:, 0] * x[:, 1] / (x[:, 2] * x[:, 3] ** 2)].tolist()
    path = write_csv(tmp_path / "coulomb.csv", ["q1", "q2", "eps", "r", "F"], rows)
    assert main(["derive", "--csv", str(path), "--units", units, "--budget", "0.1"]) == 2
    assert re.search(match, capsys.readouterr().err)


@pytest.mark.slow  # a whole pipeline, mkdocs build or process group: `nox -s slow`
def test_coulomb_with_units_is_derived_through_its_dimensionless_group(tmp_path, capsys):
    """Four columns, one dimensionless group (q1/q2): the law comes back, in the units given."""
    rng = np.random.default_rng(3)
    x = rng.uniform(1, 5, (250, 4))
    rows = np.c_[x, x[:, 0] * x[:, 1] / (4 * np.pi * x[:, 2] * x[:, 3] ** 2)].tolist()
    path = write_csv(tmp_path / "coulomb.csv", ["q1", "q2", "eps", "r", "F"], rows)
    assert main(["derive", "--csv", str(path), "--units", "q1=C, q2=C, eps=F/m, r=m, F=N", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    q1, q2, eps, r = sp.symbols("q1 q2 eps r")
    ratio = sp.simplify(sp.sympify(doc["formula"]) / (q1 * q2 / (eps * r**2)))
    assert ratio.is_number and abs(float(ratio) - 1 / (4 * np.pi)) < 1e-5
    assert doc["found"] and doc["units"]["groups"] == 1 and doc["units"]["rejected"] >= 0


@pytest.mark.parametrize(("args", "match"), [
    (["--constant", "g=m/s**2"], "constants with units .g. need the columns' units as well"),
    (["--units", "h=m, v=m/s"], r"declare that constant \(--constant NAME=UNIT\)"),
    (["--units", "h=m, v=m/s", "--constant", "h=m/s**2"], "h is a column, not a constant"),
    (["--units", "h=m, v=m/s", "--constant", "g=blorp"], "--constant: g: cannot read the unit 'blorp'"),
    (["--units", "h=m, v=m/s", "--constant", "g m/s"], r"--constant: 'g m/s' is not NAME=UNIT"),
])
def test_declared_constants_that_cannot_be_used_are_one_clear_line(tmp_path, capsys, args, match):
    h = np.random.default_rng(4).uniform(1, 5, 60)
    path = write_csv(tmp_path / "fall.csv", ["h", "v"], np.c_[h, np.sqrt(2 * 9.81 * h)].tolist())
    assert main(["derive", "--csv", str(path), *args, "--budget", "0.1"]) == 2
    assert re.search(match, capsys.readouterr().err)


@pytest.mark.slow  # a whole pipeline, mkdocs build or process group: `nox -s slow`
def test_a_constant_with_units_outside_the_data_is_declared_and_carried(tmp_path, capsys):
    """v = sqrt(2 g h) from h alone: no monomial of h is a speed, so units refuse it, until g
    is declared; then the fitted number carries g's units and the law comes back."""
    h = np.random.default_rng(5).uniform(1, 5, 250)
    path = write_csv(tmp_path / "fall.csv", ["h", "v"], np.c_[h, np.sqrt(2 * 9.81 * h)].tolist())
    assert main(["derive", "--csv", str(path), "--units", "h=m, v=m/s", "--json"]) == 2
    assert "no product of powers of the columns has the units of 'v'" in capsys.readouterr().err
    assert main(["derive", "--csv", str(path), "--units", "h=m, v=m/s", "--constant", "g=m/s**2", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    ratio = sp.simplify(sp.sympify(doc["formula"]) / sp.sqrt(sp.Symbol("h")))
    assert doc["found"] and ratio.is_number and abs(float(ratio) - np.sqrt(2 * 9.81)) < 1e-3
    assert doc["units"]["constants"] == {"g": "m/s**2"}
