"""The evaluation's results as typed records: what ``physdocs evaluate`` writes to
``evaluation.json`` and the report reads by attribute.

``Evaluation.from_json(doc).to_json() == doc`` (a test holds the shipped file to it): a key
the evaluation writes for some rows only (the variant, a shifted box, a trajectory's
statistics) is a field that defaults to None and is left out again when None. A block a
partial document lacks reads as None or an empty tuple, so the report asks ``if ev.credit:``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import MISSING, dataclass, field, fields
from typing import Any, ClassVar

from physdocs.constants import R2_THRESHOLD
from physdocs.intervals import rate_with_interval
from physdocs.methods import label
from physdocs.results import jsonable, nan_if_none


def _plain(value: Any) -> Any:
    """A field's value as JSON: nested records through their own ``to_json``, nan as None."""
    if isinstance(value, _Record):
        return value.to_json()
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    return jsonable(value)


def _many(record: type[_Record]) -> Callable[[Sequence[Any]], tuple]:
    """The reader of a JSON list of ``record``."""
    return lambda rows: tuple(record.from_json(r) for r in rows)


def _tuples(rows: Sequence[Sequence[Any]]) -> tuple[tuple, ...]:
    return tuple(tuple(r) for r in rows)


class _Record:
    """The one ``to_json`` and ``from_json`` of every record.

    ``to_json``: the fields, nested records through their own, nan as None (:func:`jsonable`).
    ``from_json``: a key the JSON lacks leaves the field's default; ``_read`` names how a
    field's value is read where it is not taken as it is. A JSON null stays None, except where
    the reader is :func:`nan_if_none` (a float field: nan, for arithmetic).
    """

    _read: ClassVar[Mapping[str, Callable[[Any], Any]]] = {}

    def to_json(self) -> dict[str, Any]:
        return {f.name: _plain(getattr(self, f.name)) for f in fields(self)}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Any:
        kw = {}
        for f in fields(cls):
            if f.name in d:
                value, read = d[f.name], cls._read.get(f.name)
                kw[f.name] = read(value) if read and (value is not None or read is nan_if_none) else value
        return cls(**kw)


@dataclass(frozen=True)
class Rate(_Record):
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
class Guess(_Record):
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
class ResultRow(_Record):
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

    _read = {"r2_test": nan_if_none, "r2_support": nan_if_none, "first": Guess.from_json, "box": _tuples,
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
class SummaryRow(_Record):
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
class TimingRow(_Record):
    """Seconds per (model, decoder, tier): apart from the rates, which a seed repeats."""

    model: str
    decoder: str
    tier: str
    mean_seconds: float
    max_seconds: float


@dataclass(frozen=True)
class SyntheticRow(_Record):
    """One fresh generator equation (split "train" or "heldout" skeletons) and one decoder."""

    model: str
    split: str
    index: int
    decoder: str
    truth: str
    skeleton: str
    prediction: str | None
    r2_test: float
    exact: bool
    source: str
    first: Guess
    seconds: float

    _read = {"r2_test": nan_if_none, "first": Guess.from_json}


@dataclass(frozen=True)
class SyntheticSummary(_Record):
    """Per (decoder, split): the shares, final and first guess, with the final's intervals."""

    decoder: str
    split: str
    n: int
    r2_gt_099: float
    exact: float
    first_r2_gt_099: float
    first_exact: float
    r2_interval: Rate
    exact_interval: Rate

    _read = dict.fromkeys(("r2_interval", "exact_interval"), Rate.from_json)


@dataclass(frozen=True)
class Synthetic(_Record):
    """The synthetic probe: skeletons training drew against skeletons it never saw."""

    results: tuple[SyntheticRow, ...] = ()
    summary: tuple[SyntheticSummary, ...] = ()

    _read = {"results": _many(SyntheticRow), "summary": _many(SyntheticSummary)}


@dataclass(frozen=True)
class GridRow(_Record):
    """One capability-grid instance: the true shape and the family member derived, final and first."""

    model: str
    n_vars: int
    shape: str
    instance: int
    decoder: str
    prediction: str | None
    final: str
    first: str


@dataclass(frozen=True)
class ConfusionTable(_Record):
    """One family of competing shapes: ``counts[true shape][derived label]``, the last label "other"."""

    shapes: tuple[str, ...]
    labels: tuple[str, ...]
    counts: tuple[tuple[int, ...], ...]

    _read = {"shapes": tuple, "labels": tuple, "counts": _tuples}


def _confusion(d: Mapping[str, Any]) -> dict[str, dict[str, dict[str, ConfusionTable]]]:
    return {decoder: {stage: {k: ConfusionTable.from_json(t) for k, t in tables.items()}
                      for stage, tables in by.items()} for decoder, by in d.items()}


@dataclass(frozen=True)
class Grid(_Record):
    """The capability grid: its rows and, per decoder and stage ("final", "first"), a
    :class:`ConfusionTable` per variable count (a JSON key: ``"1"`` .. ``"4"``)."""

    results: tuple[GridRow, ...] = ()
    confusion: Mapping[str, Mapping[str, Mapping[str, ConfusionTable]]] = field(default_factory=dict)

    _read = {"results": _many(GridRow), "confusion": _confusion}


@dataclass(frozen=True)
class AuditEquation(_Record):
    """A benchmark equation's skeleton, its split side and how often training drew it (None: not logged)."""

    id: str
    tier: str
    skeleton: str
    split: str
    shares_skeleton_with: tuple[str, ...]
    training_draws: int | None

    _read = {"shares_skeleton_with": tuple}


@dataclass(frozen=True)
class Audit(_Record):
    """The memorisation audit: every benchmark equation against the training run's skeleton log."""

    training_samples: int | None
    equations: tuple[AuditEquation, ...] = ()

    _read = {"equations": _many(AuditEquation)}


@dataclass(frozen=True)
class VariantSummary(_Record):
    """Per (decoder, variant) of the trained model and one group (``by``: all, tier, exposure
    or variables): R² > 0.99 and exact with intervals."""

    decoder: str
    variant: str
    by: str
    group: str
    r2_gt_099: Rate
    exact: Rate

    _read = dict.fromkeys(("r2_gt_099", "exact"), Rate.from_json)


@dataclass(frozen=True)
class Variants(_Record):
    """Generalisation: the shifted and noisy copies' rows, and the rates by group (original included)."""

    results: tuple[ResultRow, ...] = ()
    summary: tuple[VariantSummary, ...] = ()

    _read = {"results": _many(ResultRow), "summary": _many(VariantSummary)}


@dataclass(frozen=True)
class CreditRow(_Record):
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
class ProposerRow(_Record):
    """Of a pipeline-like method's derived answers: how many each stage proposed, and proposed alone."""

    decoder: str
    n: int
    derived: int
    proposed: Mapping[str, int]
    only: Mapping[str, int]


@dataclass(frozen=True)
class Meta(_Record):
    """What was evaluated and how: the weights' and the benchmark's hashes, the configuration
    (``EvalConfig.to_dict()``: its typed form needs torch), the seconds and the best decoder."""

    weights_sha256: str
    weights: str | None = None
    benchmark_sha256: str | None = None
    benchmark: str | None = None  # None: the packaged benchmark
    config: Mapping[str, Any] = field(default_factory=dict)
    seconds_total: float | None = None
    best_decoder: str | None = None
    cpu_count: int | None = None


@dataclass(frozen=True)
class Evaluation(_Record):
    """The whole evaluation document: meta, the benchmark's rows and rates, and the probes."""

    meta: Meta
    results: tuple[ResultRow, ...] = ()
    summary: tuple[SummaryRow, ...] = ()
    timing: tuple[TimingRow, ...] = ()
    credit: tuple[CreditRow, ...] = ()
    proposers: tuple[ProposerRow, ...] = ()
    synthetic: Synthetic | None = None
    grid: Grid | None = None
    audit: Audit | None = None
    variants: Variants | None = None

    _read = {"meta": Meta.from_json, "results": _many(ResultRow), "summary": _many(SummaryRow),
             "timing": _many(TimingRow), "credit": _many(CreditRow), "proposers": _many(ProposerRow),
             "synthetic": Synthetic.from_json, "grid": Grid.from_json, "audit": Audit.from_json,
             "variants": Variants.from_json}

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in super().to_json().items() if v is not None}
