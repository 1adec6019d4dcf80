"""Derived against failed: does the attention of a model that succeeds look different?

Each per-equation statistic is split by the success of the decoder it describes (diffuser
statistics by the diffuser's derivations, AR statistics by the AR decoder's; the encoder
serves both and is split by the AR decoder, the better one) and compared **within tiers**:
the trivial tiers are mostly derived, so a pooled difference would restate the tier. The
p-values shuffle the derived label within tiers and are Holm-adjusted over the table's
family. Computed once, in the analysis (:func:`split_rows`); the report shows the rows.
Torch-free.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from physdocs.analysis.metrics import stratified_difference
from physdocs.analysis.schema import SplitRow
from physdocs.analysis.stats import holm, permute_within
from physdocs.constants import DEFAULT_SEED, R2_THRESHOLD

#: (label, decoder whose success splits, how to read it from an equation's trained-model record)
STATISTICS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("diffuser self-attention, normalised entropy", "diffusion", ("entropy", "diffuser.self", "normalised")),
    ("diffuser cross-attention, concentration over observations", "diffusion", ("cross_obs_concentration",)),
    ("diffuser cross-attention, mass on z", "diffusion", ("cross_z_mass",)),
    ("diffuser self-attention, mass on PAD", "diffusion", ("pad_mass", "mean")),
    ("trajectory confidence drop rate", "diffusion", ("trajectory", "confidence_drop_rate")),
    ("AR self-attention, normalised entropy", "ar", ("entropy", "decoder.self", "normalised")),
    ("ISAB 1 inducing-point specialisation (JS, nats)", "ar", ("inducing_specialisation",)),
)


def _read(record: Mapping, path: tuple[str, ...]) -> float:
    value = record
    for key in path:
        value = value[key]
    return float("nan") if value is None else float(value)


def derived_ids(evaluation: Mapping, decoder: str) -> set[str]:
    """Equations the trained model derives with ``decoder`` (held-out R^2 > 0.99)."""
    return {r["id"] for r in evaluation["results"]
            if r["model"] == "trained" and r["decoder"] == decoder and (r["r2_test"] or -1.0) > R2_THRESHOLD}


def compare(values: np.ndarray, derived: np.ndarray, tiers: np.ndarray, *, n_boot: int, n_perm: int,
            rng: np.random.Generator) -> dict:
    """Pooled and within-tier difference (derived - failed), bootstrap CI within cells, permutation p."""
    ok = np.isfinite(values)
    v, a, t = values[ok], derived[ok], tiers[ok]
    out = {"n_derived": int(a.sum()), "n_failed": int((~a).sum()), "derived": None, "failed": None,
           "difference": None, "within_tier": None, "ci_low": None, "ci_high": None, "p_value": None}
    if a.any():
        out["derived"] = float(v[a].mean())
    if (~a).any():
        out["failed"] = float(v[~a].mean())
    if a.any() and (~a).any():
        out["difference"] = float(v[a].mean() - v[~a].mean())
    observed = stratified_difference(v, a, t)
    if not np.isfinite(observed):
        return out
    out["within_tier"] = float(observed)
    cells = [np.flatnonzero((t == u) & (a == side)) for u in np.unique(t) for side in (True, False)]
    cells = [c for c in cells if c.size]
    boots = np.array([stratified_difference(v[i], a[i], t[i])
                      for i in (np.concatenate([rng.choice(c, c.size) for c in cells]) for _ in range(n_boot))])
    boots = boots[np.isfinite(boots)]
    if boots.size:
        out["ci_low"], out["ci_high"] = (float(x) for x in np.percentile(boots, [2.5, 97.5]))
    perm = np.array([stratified_difference(v, permute_within(a, t, rng), t) for _ in range(n_perm)])
    out["p_value"] = float((1 + int((np.abs(perm) >= abs(observed) - 1e-12).sum())) / (1 + n_perm))
    return out


def split_rows(records: Sequence[Mapping], evaluation: Mapping, tier_of: Mapping[str, int], *,
               model: str = "trained", n_boot: int = 1000, n_perm: int = 1000, seed: int = DEFAULT_SEED) -> list[SplitRow]:
    """One :class:`SplitRow` per statistic of :data:`STATISTICS`, Holm-adjusted together.

    ``records``: the analysis's equation records; ``tier_of``: equation id -> tier index.
    """
    derived = {d: derived_ids(evaluation, d) for d in {d for _, d, _ in STATISTICS}}
    ids = [r["id"] for r in records]
    tiers = np.array([tier_of[i] for i in ids])
    raw = []
    for k, (label, decoder, path) in enumerate(STATISTICS):
        values = np.array([_read(r["models"][model], path) for r in records])
        flags = np.array([i in derived[decoder] for i in ids])
        rng = np.random.default_rng([seed, k])
        raw.append((label, decoder, compare(values, flags, tiers, n_boot=n_boot, n_perm=n_perm, rng=rng)))
    adjusted = holm([r["p_value"] for _, _, r in raw])
    return [SplitRow(statistic=label, decoder=decoder, **r, p_holm=p,
                     differs=p is not None and p < 0.05)
            for (label, decoder, r), p in zip(raw, adjusted, strict=True)]


__all__ = ["STATISTICS", "compare", "derived_ids", "split_rows"]
