"""Typed result records, torch-free: what the evaluation and the analysis write and the
report reads. Each record has one ``to_json``/``from_json``; JSON has no nan, so
:func:`jsonable` (the one nan -> None conversion) runs on the way out, and ``None`` reads
back as nan only where a record's field is a float.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import fields
from typing import Any, ClassVar


def finite(x: float | None, digits: int | None = None) -> float | None:
    """``x`` as a float, rounded to ``digits`` when given; None for None, nan and inf."""
    if x is None:
        return None
    x = float(x)
    if not math.isfinite(x):
        return None
    return round(x, digits) if digits is not None else x


def significant(x: float | None, figures: int = 5) -> float | None:
    """``x`` as a float to ``figures`` significant figures; None for None, nan and inf.

    For a measure that can be tiny (a random model's divergence, a mass on a few keys): rounding
    to decimal places would store 3e-7 as 0, and the report would print a small value as none.
    """
    x = finite(x)
    if x is None or x == 0:
        return x
    return round(x, figures - 1 - math.floor(math.log10(abs(x))))


def jsonable(value: Any) -> Any:
    """``value`` with every non-finite float (nested in dicts, lists and tuples) as None."""
    if isinstance(value, float):
        return finite(value)
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return value


def nan_if_none(x: float | None) -> float:
    """The reading side of :func:`finite`: a JSON null as nan, for arithmetic."""
    return math.nan if x is None else float(x)


def _plain(value: Any) -> Any:
    """A field's value as JSON: nested records through their own ``to_json``, nan as None."""
    if isinstance(value, Record):
        return value.to_json()
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    return jsonable(value)


class Record:
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
