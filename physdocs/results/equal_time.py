"""The equal-time benchmark as a typed record: what ``benchmarks/equal_time.py`` writes.

The evaluation gives Operon alone the pipeline's *counted* budget; this benchmark gives it
the pipeline's wall-clock seconds on one thread, on our equations and on held-out synthetic
skeletons. Seconds depend on the machine, so it is kept apart from the evaluation, in its
own file, and the report shows it only for the weights the evaluation used.

``EqualTime.from_json(doc).to_json() == doc``. A part a stopped run has not reached yet has
an empty summary; a rate is a :class:`~physdocs.results.evaluation_rows.Rate`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from physdocs.results.evaluation_rows import Rate, Record


@dataclass(frozen=True)
class EqualTimeMethod(Record):
    """One method over one part: R² > 0.99 and exact recovery with Wilson intervals, and the
    median seconds per equation."""

    r2_gt_099: Rate
    exact: Rate
    median_seconds: float

    _read = {"r2_gt_099": Rate.from_json, "exact": Rate.from_json, "median_seconds": float}


def _methods(d: Mapping[str, Any]) -> dict[str, EqualTimeMethod]:
    return {key: EqualTimeMethod.from_json(v) for key, v in d.items()}


@dataclass(frozen=True)
class EqualTimePart(Record):
    """One set of equations: ``summary`` by method key (``"pipeline"``, ``"operon"``) and the
    rows as written (one per equation, both methods' answers and seconds)."""

    summary: Mapping[str, EqualTimeMethod] = field(default_factory=dict)
    rows: tuple[Mapping[str, Any], ...] = ()

    _read = {"summary": _methods, "rows": tuple}


@dataclass(frozen=True)
class EqualTime(Record):
    """The whole document: the weights it ran with, the machine's cores and threads used, and
    the two parts (our benchmark's equations, and the held-out synthetic skeletons)."""

    weights_sha256: str
    cpu_count: int | None = None
    threads: int | None = None
    benchmark: EqualTimePart = field(default_factory=EqualTimePart)
    heldout_synthetic: EqualTimePart = field(default_factory=EqualTimePart)

    _read = {"benchmark": EqualTimePart.from_json, "heldout_synthetic": EqualTimePart.from_json}
