"""Derived against failed: does the attention of a model that succeeds look different?

A pure function of per-equation statistics and the set of equations the model derives
(held-out R^2 > 0.99 in the evaluation). Torch-free, so the report can call it once the
evaluation is attached.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

import numpy as np

#: (label, how to read it from an equation's trained-model record)
STATISTICS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("diffuser self-attention, normalised entropy", ("entropy", "diffuser.self", "normalised")),
    ("AR self-attention, normalised entropy", ("entropy", "decoder.self", "normalised")),
    ("diffuser cross-attention, concentration over observations", ("cross_obs_concentration",)),
    ("diffuser cross-attention, mass on z", ("cross_z_mass",)),
    ("diffuser self-attention, mass on PAD", ("pad_mass", "mean")),
    ("ISAB 1 inducing-point specialisation (JS, nats)", ("inducing_specialisation",)),
    ("trajectory confidence drop rate", ("trajectory", "confidence_drop_rate")),
)


def _read(record: Mapping, path: tuple[str, ...]) -> float:
    value = record
    for key in path:
        value = value.get(key) if isinstance(value, Mapping) else None
        if value is None:
            return float("nan")
    return float(value)


def derived_vs_failed(
    values: Mapping[str, float], derived: Collection[str], *, n_boot: int = 1000, seed: int = 2026
) -> dict[str, float | int | None]:
    """Means of the derived and failed equations, their difference and its 95% bootstrap CI.

    Each group is resampled on its own. With fewer than two equations in a group the
    difference is reported without a CI (None).
    """
    a = np.array([v for k, v in values.items() if k in derived and np.isfinite(v)])
    b = np.array([v for k, v in values.items() if k not in derived and np.isfinite(v)])
    out: dict[str, float | int | None] = {"n_derived": int(a.size), "n_failed": int(b.size),
                                          "derived": None, "failed": None, "difference": None,
                                          "ci_low": None, "ci_high": None}
    if a.size:
        out["derived"] = float(a.mean())
    if b.size:
        out["failed"] = float(b.mean())
    if a.size and b.size:
        out["difference"] = float(a.mean() - b.mean())
    if a.size >= 2 and b.size >= 2:
        rng = np.random.default_rng(seed)
        boots = np.array([rng.choice(a, a.size).mean() - rng.choice(b, b.size).mean() for _ in range(n_boot)])
        lo, hi = np.percentile(boots, [2.5, 97.5])
        out["ci_low"], out["ci_high"] = float(lo), float(hi)
    return out


def split_table(records: list[Mapping], derived: Collection[str], model: str = "trained",
                n_boot: int = 1000, seed: int = 2026) -> list[dict]:
    """One row per statistic of :data:`STATISTICS`: derived against failed equations."""
    rows = []
    for label, path in STATISTICS:
        values = {r["id"]: _read(r["models"][model], path) for r in records}
        rows.append({"statistic": label, **derived_vs_failed(values, derived, n_boot=n_boot, seed=seed)})
    return rows


__all__ = ["STATISTICS", "derived_vs_failed", "split_table"]
