"""The evaluation's row records (their one ``to_json``/``from_json``: :class:`physdocs.results.Record`); :mod:`physdocs.results.evaluation` holds the probes and the whole document.

:class:`Outcome` is no part of the JSON: it is what the rows give per method and tier,
counted once (:attr:`physdocs.results.evaluation.Evaluation.outcomes`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import MISSING, dataclass, fields
from typing import Any

from physdocs.constants import R2_THRESHOLD
from physdocs.intervals import rate_with_interval
from physdocs.methods import label
from physdocs.results import Record, nan_if_none


def many(record: type[Record]) -> Callable[[Sequence[Any]], tuple]:
    """The reader of a JSON list of ``record``."""
    return lambda rows: tuple(record.from_json(r) for r in rows)


def tuple_rows(rows: Sequence[Sequence[Any]]) -> tuple[tuple, ...]:
    return tuple(tuple(r) for r in rows)


@dataclass(frozen=True)
class Rate(Record):
    """A success rate with its Wilson 95% interval and count, as :func:`rate_with_interval` gives it."""

    n: int
    k: int
    rate: float
    low: float
    high: float

    _read = dict.fromkeys(("rate", "low", "high"), float)

    @classmethod
    def of(cls, flags: Sequence[bool]) -> Rate:
        return cls.from_json(rate_with_interval(list(flags)))


@dataclass(frozen=True)
class Guess(Record):
    """A scored answer in brief: the first guess beside a final answer (R² nan: unusable)."""

    prediction: str | None
    r2_test: float
    exact: bool
    source: str

    _read = {"r2_test": nan_if_none}


#: Optional keys the evaluation writes together with another, None included: the rendering
#: of a decoded answer (gplearn's rows have none) and the argmax trajectory's statistics.
_WRITTEN_WITH = {
    "latex": "constants", "tokens": "constants", "note": "constants",
    **dict.fromkeys(("first_equation_step", "pad_only_steps", "repeated_variable", "revisions"), "equation_steps"),
}


@dataclass(frozen=True)
class ResultRow(Record):
    """One equation x model x decoder x variant: the final answer, held-out R² (nan: unusable),
    exact recovery, the first guess and the seconds, with what each method adds."""

    id: str
    tier: str
    model: str
    decoder: str
    prediction: str | None
    r2_test: float
    exact: bool
    source: str
    status: str
    match_reason: str
    r2_support: float
    seconds: float
    first: Guess
    variant: str | None = None  # None: a method run on the benchmark's own boxes only
    n_vars: int | None = None
    constants: tuple[float, ...] | None = None
    latex: str | None = None
    tokens: tuple[str, ...] | None = None
    note: str | None = None
    n_candidates: int | None = None
    box: tuple[tuple[float, float], ...] | None = None  # the shifted variant's box per variable
    own_box: bool | None = None  # shifted: no finite shifted box, it kept its own
    equation_steps: int | None = None  # diffusion: physdocs.trajectory.TrajectoryStats
    first_equation_step: int | None = None
    pad_only_steps: int | None = None
    repeated_variable: bool | None = None
    revisions: int | None = None
    program: str | None = None  # gplearn's own program
    size: int | None = None  # pipeline, model alone and Operon: physdocs.decoding.search
    true_size: int | None = None
    proposed_by: tuple[str, ...] | None = None
    counts: Mapping[str, Any] | None = None
    front: tuple[Mapping[str, Any], ...] | None = None

    _read = {"r2_test": nan_if_none, "r2_support": nan_if_none, "first": Guess.from_json, "box": tuple_rows,
             **dict.fromkeys(("constants", "tokens", "proposed_by", "front"), tuple)}

    @property
    def derived(self) -> bool:
        """Held-out R² above the threshold: the equation was derived."""
        return self.r2_test > R2_THRESHOLD

    @property
    def method(self) -> str:
        """The reader's name of the row's (model, decoder) pair (:func:`physdocs.methods.label`)."""
        return label(self.model, self.decoder)

    @property
    def original(self) -> bool:
        """On the benchmark's own boxes (not a shifted or noisy copy)."""
        return self.variant in (None, "original")

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in super().to_json().items()
                if k in _REQUIRED_RESULT or getattr(self, _WRITTEN_WITH.get(k, k)) is not None}


_REQUIRED_RESULT = frozenset(f.name for f in fields(ResultRow) if f.default is MISSING)


@dataclass(frozen=True)
class SummaryRow(Record):
    """Per (model, decoder, tier or "all"): shares at R² > 0.99 and exact, final and first
    guess, the share repaired and the median R² (nan: not finite)."""

    model: str
    decoder: str
    tier: str
    n: int
    r2_gt_099: float
    exact: float
    first_r2_gt_099: float
    first_exact: float
    repaired: float
    median_r2: float

    _read = {"median_r2": nan_if_none}


@dataclass(frozen=True)
class TimingRow(Record):
    """Seconds per (model, decoder, tier): apart from the rates, which a seed repeats."""

    model: str
    decoder: str
    tier: str
    mean_seconds: float
    max_seconds: float


@dataclass(frozen=True)
class CreditRow(Record):
    """One stage's credit at equal budget (``stage``: "first" guess or "final"), per tier, with
    the median formula size against the truth's (nan: not a final stage, or no sizes)."""

    method: str
    stage: str
    tier: str
    n: int
    r2_gt_099: Rate
    exact: Rate
    median_size: float
    median_true_size: float

    _read = {**dict.fromkeys(("r2_gt_099", "exact"), Rate.from_json),
             **dict.fromkeys(("median_size", "median_true_size"), nan_if_none)}


@dataclass(frozen=True)
class ProposerRow(Record):
    """Of a pipeline-like method's derived answers: how many each stage proposed, and proposed alone."""

    decoder: str
    n: int
    derived: int
    proposed: Mapping[str, int]
    only: Mapping[str, int]


@dataclass(frozen=True)
class Outcome:
    """One method's outcomes on the benchmark's own boxes over a tier (or "all"), counted per
    equation: exact recovery and R² > 0.99, each a :class:`Rate` with its Wilson interval.

    The evaluation's own credit has no control model; these are counted from the rows."""

    model: str
    decoder: str
    tier: str
    exact: Rate
    r2_gt_099: Rate


def count_outcomes(rows: Sequence[ResultRow]) -> tuple[Outcome, ...]:
    """Every (model, decoder, tier and "all") of ``rows`` on their own boxes, in order of first row."""
    flags: dict[tuple[str, str, str], tuple[list[bool], list[bool]]] = {}
    for r in rows:
        if not r.original:
            continue
        for tier in (r.tier, "all"):
            exact, derived = flags.setdefault((r.model, r.decoder, tier), ([], []))
            exact.append(r.exact)
            derived.append(r.derived)
    return tuple(Outcome(*key, exact=Rate.of(exact), r2_gt_099=Rate.of(derived))
                 for key, (exact, derived) in flags.items())
