"""The paired decision rule's interval: trained minus control, resampled together over equations.

A finding's verdict must not compare the trained model's interval with the control's point
value: the control has sampling error too. One bootstrap draws equations with replacement
and recomputes the finding's statistic for *both* models on the same draw; the interval
of the differences is what must clear the finding's minimum effect
(:func:`physdocs.analysis.claims.claim_holds`).

Each finding declares a :data:`Paired` statistic: its number for one model on a draw of
equations (``idx``, with repeats) and of their tokens (``tok``, every real token of each
drawn equation, repeated with it). Torch-free and pure apart from small per-model memos.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np

from physdocs.analysis import metrics as M
from physdocs.constants import ALPHA, DEFAULT_SEED

if TYPE_CHECKING:
    from physdocs.analysis.findings import Evidence, ModelEvidence

#: ``(model, evidence, equation draw, token draw) -> the finding's statistic on that draw``.
Paired = Callable[["ModelEvidence", "Evidence", np.ndarray, np.ndarray], float]


def mean_of(values_of: Callable[[ModelEvidence], np.ndarray]) -> Paired:
    """The mean of a per-equation value over the drawn equations (nan values left out)."""

    def stat(m, ev, idx, tok) -> float:
        v = np.asarray(values_of(m), dtype=float)[idx]
        v = v[np.isfinite(v)]
        return float(v.mean()) if v.size else float("nan")

    return stat


def of_rows(values_of: Callable[[ModelEvidence], np.ndarray], statistic: Callable[[np.ndarray], float]) -> Paired:
    """``statistic`` of per-equation rows (``[E, ...]``) over the drawn equations."""

    def stat(m, ev, idx, tok) -> float:
        return statistic(np.asarray(values_of(m), dtype=float)[idx])

    return stat


def tier_rho(values_of: Callable[[ModelEvidence], np.ndarray]) -> Paired:
    """Spearman rho(tier, value) with length held fixed, over the drawn equations."""

    def stat(m, ev, idx, tok) -> float:
        v = np.asarray(values_of(m), dtype=float)[idx]
        ok = np.isfinite(v)
        return M.partial_spearman(ev.tier[idx][ok].astype(float), v[ok], ev.length[idx][ok].astype(float))

    return stat


def head_spread(m, ev, idx, tok) -> float:
    return M.head_spread(np.asarray(m.head_entropy, dtype=float)[idx])


def head_roles(m, ev, idx, tok) -> float:
    """Reliable head-by-type damage over the *distinct* drawn equations: a repeated equation
    landing in both split halves would inflate the split-half product."""
    return M.head_role_size(np.asarray(m.roles, dtype=float)[np.unique(idx)], n_splits=4, seed=DEFAULT_SEED)[0]


def head_agreement(m, ev, idx, tok) -> float:
    """Spearman rho across heads of the mean loss increase and the share of derivations lost
    over the drawn equations (nan where the model's heads were not decoded)."""
    if m.head_loss is None or m.head_derived is None:
        return float("nan")
    return M.head_agreement(np.asarray(m.head_loss, dtype=float)[idx], np.asarray(m.head_derived, dtype=float)[idx])


@lru_cache(maxsize=8)
def _labels(token_types: tuple[str, ...], merged: bool) -> np.ndarray:
    return np.array([M.operator_label(t, merged) for t in token_types])


def tokens(values_of: Callable[[ModelEvidence], np.ndarray], statistic: Callable, merged: bool) -> Paired:
    """Operators against other tokens (special tokens left out) over the drawn equations' tokens."""

    def stat(m, ev, idx, tok) -> float:
        v = np.asarray(values_of(m), dtype=float)[tok]
        labels = _labels(tuple(ev.token_types), merged)[tok]
        keep = np.isfinite(v) & (labels != "special")
        return float(statistic(v[keep], labels[keep], "operator"))

    return stat


def coarse_to_fine_rho(m: ModelEvidence, n_eq: int, *, by_class: bool = True,
                       operators_only: bool = False) -> np.ndarray:
    """Per equation (``[n_eq]``, nan where undefined): rho(depth, step) within its own decode,
    with the token's position held fixed and, ``by_class``, whether it is an operator or a
    leaf (leaves sit deeper and are placed last, which alone would look coarse to fine).
    ``operators_only``: among the operators alone, position held fixed."""
    ok = (m.depth >= 0) & (m.step >= 0)
    cls = m.dec_operator if m.dec_operator is not None else None
    if operators_only:
        ok &= cls == 1 if cls is not None else np.zeros_like(ok)
    covariate = m.position[ok]
    if by_class and cls is not None and not operators_only:
        covariate = np.column_stack([m.position[ok], cls[ok]])
    rho, groups = M.within_group_partial_spearman(m.depth[ok], m.step[ok], covariate, m.step_group[ok])
    per = np.full(n_eq, np.nan)
    per[groups.astype(int)] = rho
    return per


def per_equation_rho() -> Paired:
    """Coarse to fine: the mean over drawn equations of :func:`coarse_to_fine_rho` (computed
    once per model)."""
    memo: dict[int, tuple[object, np.ndarray]] = {}

    def stat(m, ev, idx, tok) -> float:
        if id(m) not in memo or memo[id(m)][0] is not m:
            memo[id(m)] = (m, coarse_to_fine_rho(m, len(ev.tier)))
        v = memo[id(m)][1][idx]
        v = v[np.isfinite(v)]
        return float(v.mean()) if v.size else float("nan")

    return stat


def _all_tokens(ev: Evidence) -> np.ndarray:
    """Every real token, grouped by equation in order (the token draw of all equations)."""
    return np.argsort(ev.token_groups, kind="stable")


def undefined_for_control(stat: Paired, ev: Evidence) -> bool:
    """Whether the control's statistic is undefined on all the equations (then on any draw of
    them): the paired difference is the trained statistic minus the finding's null."""
    return not np.isfinite(stat(ev.control, ev, np.arange(len(ev.tier)), _all_tokens(ev)))


def paired_difference(stat: Paired, ev: Evidence, *, n_boot: int, rng: np.random.Generator,
                      control_null: float | None = None) -> tuple[float, float, float]:
    """``(trained - control, low, high)``: the point difference on all equations and its
    ``1 - ALPHA`` percentile interval over ``n_boot`` draws shared by both models.

    ``control_null``: the control's value where its statistic is undefined (a random model
    that fixes every position at once has no order to correlate: it shows no effect)."""
    n_eq = len(ev.tier)
    order = _all_tokens(ev)
    starts = np.searchsorted(ev.token_groups[order], np.arange(n_eq + 1))

    def diff(idx: np.ndarray) -> float:
        tok = np.concatenate([order[starts[i]:starts[i + 1]] for i in idx]) if len(order) else order
        control = stat(ev.control, ev, idx, tok)
        if control_null is not None and not np.isfinite(control):
            control = control_null
        return stat(ev.trained, ev, idx, tok) - control

    point = diff(np.arange(n_eq))
    draws = np.array([diff(rng.integers(0, n_eq, n_eq)) for _ in range(n_boot)])
    draws = draws[np.isfinite(draws)]
    if not draws.size:
        return point, float("nan"), float("nan")
    low, high = np.percentile(draws, [100 * ALPHA / 2, 100 * (1 - ALPHA / 2)])
    return float(point), float(low), float(high)
