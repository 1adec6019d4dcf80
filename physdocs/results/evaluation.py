"""The evaluation's results as typed records: what ``physdocs evaluate`` writes to
``evaluation.json`` and the report reads by attribute and by typed queries
(:meth:`Evaluation.summary_row`, :meth:`Variants.cell`, ...), never by probing dicts.

``Evaluation.from_json(doc).to_json() == doc`` (a test holds the shipped file to it): a key
the evaluation writes for some rows only (the variant, a shifted box, a trajectory's
statistics) is a field that defaults to None and is left out again when None. A block a
partial document lacks reads as None or an empty tuple, so the report asks ``if ev.credit:``.
The rows' records are in :mod:`physdocs.results.evaluation_rows`; this module holds the
probes and the whole document, and names every record for its readers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from physdocs import methods as M
from physdocs.constants import R2_THRESHOLD
from physdocs.results import nan_if_none
from physdocs.results.evaluation_rows import (
    CreditRow,
    Guess,
    Outcome,
    ProposerRow,
    Rate,
    Record,
    ResultRow,
    SummaryRow,
    TimingRow,
    count_outcomes,
    many,
    tuple_rows,
)

__all__ = [
    "Audit", "AuditEquation", "Budget", "ConfusionTable", "CreditRow", "Evaluation", "Grid", "GridRow",
    "Guess", "Meta", "Outcome", "ProposerRow", "Rate", "ResultRow", "SummaryRow", "Synthetic",
    "SyntheticRow", "SyntheticSummary", "TimingRow", "VariantSummary", "Variants",
]


def _index(rows: Iterable[Any], *keys: str) -> dict[tuple, Any]:
    """``rows`` by the values of ``keys`` (a document has one row per key; were there two, the later wins)."""
    return {tuple(getattr(r, k) for k in keys): r for r in rows}


@dataclass(frozen=True)
class SyntheticRow(Record):
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

    @property
    def derived(self) -> bool:
        """Held-out R² above the threshold, as :attr:`ResultRow.derived` decides it."""
        return self.r2_test > R2_THRESHOLD


@dataclass(frozen=True)
class SyntheticSummary(Record):
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
class Synthetic(Record):
    """The synthetic probe: skeletons training drew against skeletons it never saw."""

    results: tuple[SyntheticRow, ...] = ()
    summary: tuple[SyntheticSummary, ...] = ()

    _read = {"results": many(SyntheticRow), "summary": many(SyntheticSummary)}


@dataclass(frozen=True)
class GridRow(Record):
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
class ConfusionTable(Record):
    """One family of competing shapes: ``counts[true shape][derived label]``, the last label "other"."""

    shapes: tuple[str, ...]
    labels: tuple[str, ...]
    counts: tuple[tuple[int, ...], ...]

    _read = {"shapes": tuple, "labels": tuple, "counts": tuple_rows}


def _confusion(d: Mapping[str, Any]) -> dict[str, dict[str, dict[str, ConfusionTable]]]:
    return {decoder: {stage: {k: ConfusionTable.from_json(t) for k, t in tables.items()}
                      for stage, tables in by.items()} for decoder, by in d.items()}


@dataclass(frozen=True)
class Grid(Record):
    """The capability grid: its rows and, per decoder and stage ("final", "first"), a
    :class:`ConfusionTable` per variable count (a JSON key: ``"1"`` .. ``"4"``)."""

    results: tuple[GridRow, ...] = ()
    confusion: Mapping[str, Mapping[str, Mapping[str, ConfusionTable]]] = field(default_factory=dict)

    _read = {"results": many(GridRow), "confusion": _confusion}


@dataclass(frozen=True)
class AuditEquation(Record):
    """A benchmark equation's skeleton, its split side and how often training drew it (None: not logged)."""

    id: str
    tier: str
    skeleton: str
    split: str
    shares_skeleton_with: tuple[str, ...]
    training_draws: int | None

    _read = {"shares_skeleton_with": tuple}


@dataclass(frozen=True)
class Audit(Record):
    """The memorisation audit: every benchmark equation against the training run's skeleton log."""

    training_samples: int | None
    equations: tuple[AuditEquation, ...] = ()

    _read = {"equations": many(AuditEquation)}


@dataclass(frozen=True)
class VariantSummary(Record):
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
class Variants(Record):
    """Generalisation: the shifted and noisy copies' rows, and the rates by group (original included)."""

    results: tuple[ResultRow, ...] = ()
    summary: tuple[VariantSummary, ...] = ()

    _read = {"results": many(ResultRow), "summary": many(VariantSummary)}

    @cached_property
    def _cells(self) -> dict[tuple, VariantSummary]:
        return _index(self.summary, "decoder", "variant", "by", "group")

    def cell(self, decoder: str, variant: str, by: str, group: str) -> VariantSummary | None:
        """One decoder's rates on one variant over one group (``by``: all, tier, exposure or
        variables), or None when the evaluation has none there."""
        return self._cells.get((decoder, variant, by, group))


@dataclass(frozen=True)
class Budget(Record):
    """The decoding budget the evaluation's configuration set, in counts (not seconds): the
    config is ``EvalConfig.to_dict()``, whose typed form needs torch. A key it lacks is None."""

    n_samples: int | None = None
    beam_size: int | None = None
    ar_samples: int | None = None
    restarts: int | None = None
    seed: int | None = None
    n_support: int | None = None
    n_test: int | None = None
    refine: Mapping[str, Any] | None = None  # RefineConfig.to_dict(); None: no refinement
    diffusion_beam: Mapping[str, Any] | None = None  # the BeamConfig as a dict; None: no beam (or not recorded)
    gp: Mapping[str, Any] | None = None  # gplearn's settings
    baselines: tuple[str, ...] | None = None

    _read = {"baselines": tuple}


@dataclass(frozen=True)
class Meta(Record):
    """What was evaluated and how: the weights' and the benchmark's hashes, the configuration
    (``EvalConfig.to_dict()``, as written; :attr:`budget` reads its counts), the seconds and
    the best decoder."""

    weights_sha256: str
    weights: str | None = None
    benchmark_sha256: str | None = None
    benchmark: str | None = None  # None: the packaged benchmark
    config: Mapping[str, Any] = field(default_factory=dict)
    seconds_total: float | None = None
    best_decoder: str | None = None
    cpu_count: int | None = None
    cpu: str | None = None  # the processor's model (physdocs.evaluation.jobs.cpu_model); None: not recorded

    @property
    def budget(self) -> Budget:
        return Budget.from_json(self.config)

    def to_json(self) -> dict[str, Any]:
        d = super().to_json()
        if self.cpu is None:  # evaluations from before it was recorded read back as written
            d.pop("cpu")
        return d


@dataclass(frozen=True)
class Evaluation(Record):
    """The whole evaluation document: meta, the benchmark's rows and rates, and the probes.

    Its queries look a row up by its keys (None: not evaluated there) through indexes built on
    first use; the record is frozen, so they never go stale.
    """

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

    _read = {"meta": Meta.from_json, "results": many(ResultRow), "summary": many(SummaryRow),
             "timing": many(TimingRow), "credit": many(CreditRow), "proposers": many(ProposerRow),
             "synthetic": Synthetic.from_json, "grid": Grid.from_json, "audit": Audit.from_json,
             "variants": Variants.from_json}

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in super().to_json().items() if v is not None}

    @cached_property
    def _summary(self) -> dict[tuple, SummaryRow]:
        return _index(self.summary, "model", "decoder", "tier")

    @cached_property
    def _timing(self) -> dict[tuple, TimingRow]:
        return _index(self.timing, "model", "decoder", "tier")

    @cached_property
    def _credit(self) -> dict[tuple, CreditRow]:
        return _index(self.credit, "method", "stage", "tier")

    @cached_property
    def _results(self) -> dict[tuple, ResultRow]:
        return _index(self.results, "id", "model", "decoder")

    @cached_property
    def _by_equation(self) -> dict[str, tuple[ResultRow, ...]]:
        out: dict[str, list[ResultRow]] = {}
        for r in self.results:
            out.setdefault(r.id, []).append(r)
        return {k: tuple(v) for k, v in out.items()}

    @cached_property
    def outcomes(self) -> tuple[Outcome, ...]:
        """Each method's exact and R² > 0.99 rates per tier and over "all", counted from the rows."""
        return count_outcomes(self.results)

    @cached_property
    def _outcomes(self) -> dict[tuple, Outcome]:
        return _index(self.outcomes, "model", "decoder", "tier")

    def summary_row(self, model: str, decoder: str, tier: str) -> SummaryRow | None:
        """The evaluation's own rates of one method over one tier ("all": the benchmark)."""
        return self._summary.get((model, decoder, tier))

    @cached_property
    def untimed(self) -> frozenset[tuple[str, str]]:
        """``(model, decoder)`` of the methods whose rows carry another run's seconds, not their own.

        The model alone is chosen inside the pipeline's search. An evaluation made before the
        search timed its model stage (no ``model_seconds`` in the pipeline rows' counts) gave
        the model alone the whole run's seconds: those are the pipeline's, not the model's.
        """
        inside = (M.BY_KEY["model"].model, M.BY_KEY["model"].decoder)
        outer = [r for r in self.results if (r.model, r.decoder) == (M.BY_KEY["pipeline"].model,
                                                                    M.BY_KEY["pipeline"].decoder)]
        timed = any(r.counts and "model_seconds" in r.counts for r in outer)
        return frozenset() if timed or not outer else frozenset({inside})

    def timing_row(self, model: str, decoder: str, tier: str) -> TimingRow | None:
        """The seconds of one method over one tier ("all": the benchmark); None where the method
        was not run or not timed apart (:attr:`untimed`)."""
        return None if (model, decoder) in self.untimed else self._timing.get((model, decoder, tier))

    def credit_row(self, method: str, stage: str, tier: str) -> CreditRow | None:
        """One method's credit (``method``: its label) at one stage ("first", "final") and tier."""
        return self._credit.get((method, stage, tier))

    def rows_of(self, eq_id: str) -> tuple[ResultRow, ...]:
        """Every row of one equation, in the document's order (empty: not evaluated)."""
        return self._by_equation.get(eq_id, ())

    def result(self, eq_id: str, model: str, decoder: str) -> ResultRow | None:
        """One method's row on one equation (``results`` holds the benchmark's own boxes only)."""
        return self._results.get((eq_id, model, decoder))

    def outcome(self, model: str, decoder: str, tier: str) -> Outcome | None:
        """One method's :class:`Outcome` over one tier ("all": the benchmark)."""
        return self._outcomes.get((model, decoder, tier))
