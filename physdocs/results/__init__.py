"""Typed result records, torch-free: what the evaluation and the analysis write and the
report reads. Each record has one ``to_json``/``from_json``; JSON has no nan, so
:func:`jsonable` (the one nan -> None conversion) runs on the way out, and ``None`` reads
back as nan only where a record's field is a float.
"""

from __future__ import annotations

import math
from typing import Any


def finite(x: float | None, digits: int | None = None) -> float | None:
    """``x`` as a float, rounded to ``digits`` when given; None for None, nan and inf."""
    if x is None:
        return None
    x = float(x)
    if not math.isfinite(x):
        return None
    return round(x, digits) if digits is not None else x


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
