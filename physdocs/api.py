"""Derive a formula from your own measurements: numpy arrays (:func:`derive`) or a CSV file.

    >>> import numpy as np
    >>> from physdocs import derive
    >>> m = np.random.default_rng(0).uniform(8e-31, 1e-30, 200)   # kg
    >>> v = np.random.default_rng(1).uniform(5e5, 2e6, 200)       # m/s
    >>> result = derive(np.c_[m, v], m * v, names=["m", "v"], target="p")
    >>> result.formula, result.r2_heldout                          # doctest: +SKIP
    ('m*v', 1.0)

What happens:

1. Rows holding NaN or inf are dropped (``n_dropped`` says how many).
2. The rows are split by the seed: a fifth (at least 2 rows) is held out for the R^2
   that is reported (``rows_heldout``). Of the others, a quarter (at most 1,000) is held
   back for the choice (``rows_heldback``) and the rest fit every constant
   (``rows_fit``, a deterministic subsample above 20,000; Operon reads 2,000 of them and
   its formulas are refitted on all). The model reads 50 rows at a time: with more
   fitting rows, two disjoint draws of 50 each propose candidates, sharing the decoders'
   budget (:data:`~physdocs.decoding.search.MAX_DRAWS`).
3. Every column and the target are scaled by exact powers of two to the middle of the
   training boxes, as in training (:mod:`physdocs.decoding.scaling`); each candidate is
   fitted with an overall constant, which absorbs the scales.
4. The pipeline derives the formula (:func:`decoding.search.search`): both decoders
   propose, the best distinct candidates seed Operon, and the formula is chosen on rows
   held back from every fit, with a size penalty. It is mapped back to the original units
   and written with the column names; ``front`` lists the best formula at each size.
   ``decoder="ar"`` or ``"diffusion"`` runs one decoder alone: the same search with Operon off.
   A column no scale brings into float16 (more than 2**36 between its smallest and largest
   magnitude) cannot be read by the model: the search then runs without it, and a warning says so.
5. The verdict: ``found`` is True only when the chosen formula reaches held-out R^2 of
   :data:`~physdocs.constants.FOUND_R2` and uses at least one column. Otherwise the result
   says "no formula found" (``formula`` still holds the best candidate, never presented as
   a law), and scripts read ``found``.
"""

from __future__ import annotations

import csv
import math
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from physdocs.constants import DEFAULT_SEED, FOUND_R2
from physdocs.decoding.constants import predict, r2_score
from physdocs.decoding.derive import Derivation
from physdocs.decoding.scaling import Scaling, choose_scaling, span_note
from physdocs.methods import DECODERS
from physdocs.observations import N_INPUT_SLOTS
from physdocs.results import finite

MIN_ROWS = 10
HELDOUT_SHARE = 0.2


class UserDataError(ValueError):
    """Input the user can fix; the message names the file, the row or column, and the fix."""


@dataclass
class UserResult:
    """A formula for the user's data, in their units and with their column names."""

    formula: str
    latex: str
    target: str
    columns: tuple[str, ...]
    r2_fit: float
    r2_heldout: float | None
    n_rows: int
    n_dropped: int
    rows_fit: int  # rows every constant fit, the Operon stage and the final refit read
    rows_heldback: int  # rows the formula is chosen on (none of them fitted)
    rows_heldout: int  # rows the reported R^2 is measured on (untouched by the derivation)
    rows_model: int  # rows the model read (disjoint draws of at most 50)
    scaling: Scaling
    decoder: str
    seconds: float
    derivation: Derivation = field(repr=False)
    front: list[dict] = field(default_factory=list)  # per size, the best candidate (pipeline only)
    warnings: list[str] = field(default_factory=list)  # columns too narrow to identify a law
    alternatives: list[dict] = field(default_factory=list)  # other forms that fit as well (front members)
    found: bool = False  # held-out R^2 >= FOUND_R2 and a formula of the columns, not a constant
    verdict: str = ""  # one line: why nothing was found (empty when found)
    units: dict | None = None  # with units: groups found, which search was chosen, candidates rejected

    def to_json(self) -> dict[str, Any]:
        return {
            "formula": self.formula, "latex": self.latex, "target": self.target, "columns": list(self.columns),
            "r2_fit": finite(self.r2_fit), "r2_heldout": finite(self.r2_heldout), "n_rows": self.n_rows,
            "n_dropped": self.n_dropped, "rows_fit": self.rows_fit, "rows_heldback": self.rows_heldback,
            "rows_heldout": self.rows_heldout, "rows_model": self.rows_model,
            "scale_exponents": {"columns": dict(zip(self.columns, self.scaling.x_exp, strict=True)),
                                "target": self.scaling.y_exp},
            "decoder": self.decoder, "seconds": round(self.seconds, 3),
            "status": self.derivation.status, "note": self.derivation.note,
            "front": self.front, "warnings": self.warnings, "alternatives": self.alternatives,
            "found": self.found, "verdict": self.verdict, "units": self.units,
        }


#: What ``derive`` runs unless told otherwise: model candidates, seeded Operon, held-back choice.
PIPELINE = "pipeline"


_MODELS: dict[str, Any] = {}


def _model(weights: str | Path | None):
    from physdocs.models.checkpoint import DEFAULT_WEIGHTS, load_checkpoint

    key = str(Path(weights) if weights else DEFAULT_WEIGHTS)
    if key not in _MODELS:
        _MODELS[key] = load_checkpoint(Path(key)).model
    return _MODELS[key]


def clean_rows(x: np.ndarray, y: np.ndarray, where: str = "the data") -> tuple[np.ndarray, np.ndarray, int]:
    """Drop rows with a NaN or inf anywhere; refuse what cannot be derived from."""
    xa = np.asarray(x, dtype=np.float64)
    ya = np.asarray(y, dtype=np.float64)
    if xa.ndim == 1:
        xa = xa[:, None]
    if xa.ndim != 2 or ya.ndim != 1 or xa.shape[0] != ya.shape[0]:
        raise UserDataError(f"{where}: need x [rows, columns] and y [rows]; got x {xa.shape}, y {ya.shape}")
    if xa.shape[1] > N_INPUT_SLOTS:
        raise UserDataError(
            f"{where}: {xa.shape[1]} input columns, more than the model's {N_INPUT_SLOTS}: "
            "choose at most 9 (--columns a,b,c)"
        )
    keep = np.isfinite(xa).all(1) & np.isfinite(ya)
    xa, ya = xa[keep], ya[keep]
    dropped = int((~keep).sum())
    if len(ya) < MIN_ROWS:
        raise UserDataError(
            f"{where}: {len(ya)} usable rows (after dropping {dropped} with NaN or inf), fewer than "
            f"{MIN_ROWS}: add measurements"
        )
    if np.ptp(ya) == 0:
        raise UserDataError(f"{where}: the target is constant ({ya[0]:g} in every row): there is nothing to derive")
    return xa, ya, dropped


def derive(
    x: np.ndarray,
    y: np.ndarray,
    *,
    names: list[str] | tuple[str, ...] | None = None,
    target: str = "y",
    decoder: str | None = None,
    weights: str | Path | None = None,
    seed: int = DEFAULT_SEED,
    where: str = "the data",
    budget: float = 1.0,
    progress=None,
    units: Mapping[str, str] | None = None,
    constants: Mapping[str, str] | None = None,
) -> UserResult:
    """Derive ``y = f(x)`` from measurements at any magnitude (1e-30 .. 1e30); see the module doc.

    ``names`` are the columns' names (default ``x1 ..``); they name the variables in
    ``formula`` and ``latex``. ``decoder`` defaults to the pipeline (``"ar"`` or
    ``"diffusion"``: one decoder alone). ``budget`` multiplies every count of the pipeline's
    budget (0.5: about half the time); ``progress`` receives one line per stage. ``units``:
    ``{name: unit}`` for every column and the target (pint syntax, ``"1"`` for a pure
    number); then no formula with other units than the target's is chosen, and dimensional
    analysis runs first (:mod:`physdocs.decoding.dimensional`). ``constants``: ``{name:
    unit}`` of physical constants the law holds that are not columns (``{"g": "m/s**2"}``);
    fitted numbers may then carry their units. Raises :class:`UserDataError` for input that
    cannot be used.
    """

    from physdocs.decoding.dimensional import UnitsError, search_with_units
    from physdocs.decoding.search import SearchConfig, search

    t0 = time.perf_counter()
    xa, ya, dropped = clean_rows(x, y, where)
    k = xa.shape[1]
    names = tuple(names) if names is not None else tuple(f"x{i}" for i in range(1, k + 1))
    if len(names) != k:
        raise UserDataError(f"{where}: {len(names)} names for {k} columns: give one name per column")
    rng = np.random.default_rng([seed, 91])
    order = rng.permutation(len(ya))
    n_held = max(2, round(HELDOUT_SHARE * len(ya)))
    held, rest = np.sort(order[:n_held]), np.sort(order[n_held:])
    # Chosen once, on the rows the derivation reads, and passed down. A column no scale
    # brings into float16 is no reason to refuse: the search runs in float64 without the model.
    scaling = choose_scaling(xa[rest], ya[rest], names, target, strict=False)
    wide = [span_note(v, n) for v, n in [*zip(xa[rest].T, names, strict=True), (ya[rest], target)]]
    notes = [f"{w}: the model cannot read the data, so Operon and the constant fit derived it alone; taking "
             "its logarithm lets the model read it" for w in wide if w]
    decoder = decoder or PIPELINE
    if decoder != PIPELINE and decoder not in DECODERS:
        raise ValueError(f"decoder {decoder!r}: use {PIPELINE!r} or one of {', '.join(DECODERS)}")
    symbols = {f"x{i}": n for i, n in enumerate(names, start=1)}
    # One decoder alone is the pipeline with Operon off: the same split, fits and choice.
    alone = {} if decoder == PIPELINE else {"use_operon": False, "decoders": (decoder,)}
    if scaling.too_wide:
        if decoder != PIPELINE:
            raise UserDataError(f"{where}: {wide[[w is not None for w in wide].index(True)]}: decoder "
                                f"{decoder!r} alone cannot read it; use the pipeline, or take its logarithm")
        alone = {"use_model": False}
    dims = _dimensions(units, names, target, where) if units is not None else None
    carriers = _constants(constants, units, names, target, where)
    try:
        if dims is None:
            searched = search(_model(weights), xa[rest], ya[rest], cfg=SearchConfig().scaled(budget), seed=seed,
                              names=symbols, progress=progress, scaling=scaling, **alone)
        else:
            searched = search_with_units(
                _model(weights), xa[rest], ya[rest], inputs=dims[0], target=dims[1], target_name=target,
                cfg=SearchConfig().scaled(budget), seed=seed, names=symbols, progress=progress, scaling=scaling,
                carriers=carriers, **alone)
    except UnitsError as exc:
        raise UserDataError(f"{where}: {exc}") from None
    result, front = searched.derivation, searched.front
    r2_held = None
    formula, latex, uses_columns = "(no usable formula)", "", False
    if result.steps is not None:  # the derivation's own rendering, in the columns' names
        r2_held = r2_score(ya[held], predict(result.steps, xa[held], result.constants))
        formula, latex = str(result.expression), result.latex or ""
        uses_columns = bool(result.expression.free_symbols)
    found, why = verdict(r2_held, uses_columns, len(held))
    return UserResult(
        formula=formula, latex=latex, target=target, columns=names, r2_fit=result.r2_fit, r2_heldout=r2_held,
        n_rows=len(ya), n_dropped=dropped, rows_fit=searched.counts["rows_fit"],
        rows_heldback=searched.counts["rows_heldback"], rows_heldout=len(held),
        rows_model=searched.counts["rows_model"], scaling=scaling,
        decoder=decoder, seconds=time.perf_counter() - t0, derivation=result, front=front,
        warnings=notes + narrow_columns(xa, names), alternatives=alternatives(front) if found else [],
        found=found, verdict=why,
        units=None if dims is None else {**searched.counts["units"], "rejected": searched.counts["inconsistent"],
                                         **({"constants": dict(constants)} if constants else {})},
    )


def _constants(constants: Mapping[str, str] | None, units: Mapping[str, str] | None, names: Sequence[str],
               target: str, where: str) -> tuple:
    """The declared constants' dimensions (empty without any); they need units for the columns."""
    from physdocs.units import UnitError, parse_unit

    if not constants:
        return ()
    if units is None:
        raise UserDataError(f"{where}: constants with units ({', '.join(constants)}) need the columns' units "
                            "as well: give --units for every column and the target")
    clash = sorted(set(constants) & {*names, target})
    if clash:
        raise UserDataError(f"{where}: {', '.join(clash)} is a column, not a constant: its units go in --units, "
                            "and a constant is one the data do not hold")
    try:
        return tuple(parse_unit(u, f"{where}: unit of the constant {n!r}") for n, u in constants.items())
    except UnitError as exc:
        raise UserDataError(str(exc)) from None


def _dimensions(units: Mapping[str, str], names: Sequence[str], target: str, where: str):
    """The columns' and the target's dimensions from ``{name: unit}``; every one must be given."""
    from physdocs.units import UnitError, parse_unit

    missing = [n for n in (*names, target) if n not in units]
    unknown = sorted(set(units) - {*names, target})
    if missing or unknown:
        raise UserDataError(
            f"{where}: units are needed for every column and the target ({'missing: ' + ', '.join(missing) if missing else ''}"
            f"{'; ' if missing and unknown else ''}{'not a column: ' + ', '.join(unknown) if unknown else ''}); "
            "give each as NAME=UNIT, 1 for a pure number")
    try:
        return tuple(parse_unit(units[n], f"{where}: unit of {n!r}") for n in names), \
            parse_unit(units[target], f"{where}: unit of {target!r}")
    except UnitError as exc:
        raise UserDataError(str(exc)) from None


def verdict(r2_heldout: float | None, uses_columns: bool, n_heldout: int) -> tuple[bool, str]:
    """``(found, why not)``: a law needs held-out R^2 >= :data:`FOUND_R2` and a formula of the
    columns (a fitted constant explains nothing)."""
    if r2_heldout is None or not math.isfinite(r2_heldout):
        return False, "no candidate could be evaluated on the held-out rows"
    if r2_heldout < FOUND_R2:
        return False, (f"the best formula reaches held-out R2 {r2_heldout:.4f} on {n_heldout} rows, below "
                       f"{FOUND_R2}: the data do not determine a law among the forms searched")
    if not uses_columns:
        return False, "the best formula is a constant: the target does not depend on the columns given"
    return True, ""


def alternatives(front: list[dict]) -> list[dict]:
    """Front members of another form that fit the held-back rows as well as the chosen one
    (``1 - R^2`` within twice the chosen's, and at least :data:`FOUND_R2`): the data cannot
    decide between them."""
    if not front:
        return []
    chosen = min(front, key=lambda r: r["score"])
    if chosen["r2_heldout"] is None:
        return []
    bound = max(2 * (1 - chosen["r2_heldout"]), 1e-9)
    return [r for r in front if r is not chosen and r["r2_heldout"] is not None and 1 - r["r2_heldout"] <= bound
            and r["r2_heldout"] >= FOUND_R2]


#: Delimiters a CSV may use; the first line decides among them.
DELIMITERS = ",;\t"
_DECIMAL_COMMA = re.compile(r"^[+-]?\d*,\d+([eE][+-]?\d+)?$")
_THOUSANDS = (
    re.compile(r"^[+-]?\d{1,3}([' ]\d{3})+([.,]\d+)?$"),  # 1 234.5, 1'234.5
    re.compile(r"^[+-]?\d{1,3}(,\d{3})+\.\d+$"),  # 1,234.5
    re.compile(r"^[+-]?\d{1,3}(,\d{3}){2,}$"),  # 1,234,567
    re.compile(r"^[+-]?\d{1,3}(\.\d{3})+,\d+$"),  # 1.234,5
    re.compile(r"^[+-]?\d{1,3}(\.\d{3}){2,}$"),  # 1.234.567
)
_COMMA_THOUSANDS = re.compile(r"^[+-]?\d{1,3}(,\d{3})+$")  # 1,234: thousands in a comma file


def _text(path: Path) -> str:
    """The file as text: UTF-8 (with or without BOM), else Latin-1; binary files are refused."""
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    if "\x00" in text or any(ord(ch) < 32 and ch not in "\t\r\n" for ch in text[:4096]):
        raise UserDataError(f"{path}: not a text file (UTF-8 or Latin-1): export the data as CSV")
    return text


def _delimiter(text: str) -> str:
    """Comma, semicolon or tab: the one that splits the header line into the most cells."""
    first = next((line for line in text.splitlines() if line.strip()), "")
    try:
        return csv.Sniffer().sniff(first, delimiters=DELIMITERS).delimiter
    except csv.Error:
        counts = {d: first.count(d) for d in DELIMITERS}
        return max(counts, key=lambda d: counts[d]) if any(counts.values()) else ","


def _number(cell: str, delimiter: str) -> float:
    """A cell as a float: empty, nan and inf as NaN/inf; a decimal comma where the delimiter allows it."""
    if not cell:
        return math.nan
    if any(p.match(cell) for p in _THOUSANDS) or (delimiter == "," and _COMMA_THOUSANDS.match(cell)):
        raise ValueError("thousands separators are not read: write the number without them (1234.5)")
    if delimiter != "," and _DECIMAL_COMMA.match(cell):
        cell = cell.replace(",", ".")
    return float(cell)


def read_csv(path: str | Path, target: str | None = None, columns: list[str] | None = None):
    """``(x, y, column names, target name)`` from a CSV with a header row.

    The file may be UTF-8 or Latin-1, separated by commas, semicolons or tabs (detected
    from the header line); with semicolons or tabs a decimal comma is read (``1,5``).
    Quoted numbers are read. The target defaults to the last column and the inputs to all
    the others. Empty cells, ``nan`` and ``inf`` are read as NaN (their rows are dropped
    later, and counted); any other non-numeric cell, and a number with thousands
    separators, is an error naming its row and column.
    """
    path = Path(path)
    if not path.is_file():
        raise UserDataError(f"{path}: no such file: check the path")
    text = _text(path)
    delimiter = _delimiter(text)
    rows = [row for row in csv.reader(text.splitlines(), delimiter=delimiter) if any(c.strip() for c in row)]
    if not rows or not any(c.strip() for c in rows[0]):
        raise UserDataError(f"{path}: no header row: the first line must name the columns")
    header = [c.strip() for c in rows[0]]
    dupes = sorted({h for h in header if header.count(h) > 1})
    if dupes:
        raise UserDataError(f"{path}: column name(s) {', '.join(map(repr, dupes))} appear twice: rename them")
    target = target or header[-1]
    if target not in header:
        raise UserDataError(f"{path}: no column {target!r} (columns: {', '.join(header)}): fix --target")
    inputs = columns or [h for h in header if h != target]
    missing = [c for c in inputs if c not in header]
    if missing:
        raise UserDataError(f"{path}: no column(s) {', '.join(map(repr, missing))} (columns: {', '.join(header)}): "
                            "fix --columns")
    if target in inputs:
        raise UserDataError(f"{path}: the target {target!r} is also an input column: leave it out of --columns")
    if len(inputs) > N_INPUT_SLOTS:
        raise UserDataError(f"{path}: {len(inputs)} input columns, more than the model's {N_INPUT_SLOTS}: "
                            "choose at most 9 with --columns a,b,c")
    want = [header.index(c) for c in [*inputs, target]]
    values = np.empty((len(rows) - 1, len(want)))
    for r, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise UserDataError(f"{path}: row {r} has {len(row)} cells, the header {len(header)}: fix that row")
        for j, c in enumerate(want):
            cell = row[c].strip()
            try:
                values[r - 2, j] = _number(cell, delimiter)
            except ValueError as exc:
                why = str(exc) if "thousands" in str(exc) else "not a number: fix or delete that row"
                raise UserDataError(f"{path}: row {r}, column {header[c]!r}: {cell!r} is {why}") from None
    return values[:, :-1], values[:, -1], inputs, target


#: A column whose spread (max - min) is under this share of its typical magnitude gets a warning.
NARROW_SPREAD = 0.05


def narrow_columns(x: np.ndarray, names: tuple[str, ...] | list[str]) -> list[str]:
    """One warning per column that hardly varies: its law cannot be identified from these data."""
    out = []
    for i, name in enumerate(names):
        col = np.asarray(x[:, i], dtype=np.float64)
        typical = float(np.median(np.abs(col)))
        spread = float(col.max() - col.min())
        if typical > 0 and spread < NARROW_SPREAD * typical:
            out.append(f"column {name!r} varies by only {100 * spread / typical:.1f}% ({col.min():.4g} to "
                       f"{col.max():.4g}): how the target depends on it cannot be identified from these data; "
                       "measure over a wider range")
    return out
