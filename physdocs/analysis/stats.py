"""Statistics for the claims: bootstrap CIs, Spearman with CI, permutation tests.

Every function is deterministic given ``rng`` (a :class:`numpy.random.Generator`); ``None``
means ``np.random.default_rng(DEFAULT_SEED)``. ``groups`` (one label per item, e.g. the
equation a token belongs to) makes the bootstrap resample whole groups and the permutation
test shuffle labels only within a group.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.stats import rankdata, spearmanr

from physdocs.constants import ALPHA, DEFAULT_SEED

FloatArray = NDArray[np.float64]


def _rng(rng: np.random.Generator | None) -> np.random.Generator:
    return np.random.default_rng(DEFAULT_SEED) if rng is None else rng


def _resampler(n: int, groups: ArrayLike | None) -> Callable[[np.random.Generator], NDArray[np.intp]]:
    """A function drawing the indices of one bootstrap resample: of items, or of whole groups."""
    if groups is None:
        return lambda gen: gen.integers(0, n, size=n)
    g = np.asarray(groups)
    if g.shape != (n,):
        raise ValueError(f"groups has shape {g.shape}, expected ({n},)")
    members = [np.flatnonzero(g == u) for u in np.unique(g)]
    return lambda gen: np.concatenate([members[i] for i in gen.integers(0, len(members), size=len(members))])


def _percentile_ci(boot: FloatArray, alpha: float) -> tuple[float, float]:
    boot = boot[np.isfinite(boot)]
    if boot.size == 0:
        return float("nan"), float("nan")
    low, high = np.quantile(boot, [alpha / 2, 1 - alpha / 2])
    return float(low), float(high)


def distinct_bootstrap_ci(
    n: int, stat_fn: Callable[[np.ndarray], float], *, n_boot: int = 2000, alpha: float = ALPHA,
    rng: np.random.Generator | None = None,
) -> tuple[float, float]:
    """Percentile interval of ``stat_fn(idx)`` over bootstrap draws of ``n`` items with each
    drawn item kept once (about 63% of them): for statistics that split the items in halves,
    where a repeated item landing in both halves would agree with itself and inflate them."""
    gen = _rng(rng)
    boot = np.array([stat_fn(np.unique(gen.integers(0, n, size=n))) for _ in range(n_boot)])
    return _percentile_ci(boot, alpha)


def paired_bootstrap_ci(
    arrays: Sequence[ArrayLike],
    stat_fn: Callable[..., float],
    *,
    n_boot: int = 2000,
    alpha: float = ALPHA,
    groups: ArrayLike | None = None,
    rng: np.random.Generator | None = None,
) -> tuple[float, float, float]:
    """Percentile bootstrap of ``stat_fn(*arrays)``, resampling axis 0 of all arrays jointly.

    Returns ``(estimate, low, high)`` with ``estimate`` the statistic on the data as given.
    """
    arrs = [np.asarray(a) for a in arrays]
    n = arrs[0].shape[0]
    if any(a.shape[0] != n for a in arrs):
        raise ValueError(f"arrays differ in length: {[a.shape[0] for a in arrs]}")
    if n == 0:
        return float("nan"), float("nan"), float("nan")
    gen = _rng(rng)
    estimate = float(stat_fn(*arrs))
    if groups is None and stat_fn is np.mean and len(arrs) == 1 and arrs[0].ndim == 1:
        # The common case (a mean over items), drawn as one [n_boot, n] index matrix.
        boot = arrs[0][gen.integers(0, n, size=(n_boot, n))].mean(axis=1)
        return (estimate, *_percentile_ci(boot, alpha))
    draw = _resampler(n, groups)
    boot = np.empty(n_boot)
    for b in range(n_boot):
        idx = draw(gen)
        boot[b] = stat_fn(*(a[idx] for a in arrs))
    return (estimate, *_percentile_ci(boot, alpha))


def bootstrap_ci(
    values: ArrayLike,
    stat_fn: Callable[[np.ndarray], float] = np.mean,
    *,
    n_boot: int = 2000,
    alpha: float = ALPHA,
    groups: ArrayLike | None = None,
    rng: np.random.Generator | None = None,
) -> tuple[float, float, float]:
    """``(estimate, low, high)``: percentile bootstrap CI of ``stat_fn(values)`` over axis-0 items."""
    return paired_bootstrap_ci([values], stat_fn, n_boot=n_boot, alpha=alpha, groups=groups, rng=rng)


def _rowwise_spearman(x: FloatArray, y: FloatArray) -> FloatArray:
    """Spearman rho of each row pair of ``x``, ``y`` ([B, n]); nan where a row is constant."""
    rx = rankdata(x, axis=-1)
    ry = rankdata(y, axis=-1)
    rx = rx - rx.mean(axis=-1, keepdims=True)
    ry = ry - ry.mean(axis=-1, keepdims=True)
    denom = np.sqrt((rx**2).sum(axis=-1) * (ry**2).sum(axis=-1))
    num = (rx * ry).sum(axis=-1)
    return np.divide(num, denom, out=np.full(num.shape, np.nan), where=denom > 1e-12)


def spearman(x: ArrayLike, y: ArrayLike) -> float:
    """Spearman rank correlation; nan (no warning) if either input is constant or n < 2."""
    xa, ya = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if xa.shape != ya.shape or xa.ndim != 1:
        raise ValueError(f"x and y must be 1-D of equal length, got {xa.shape} and {ya.shape}")
    if xa.size < 2:
        return float("nan")
    return float(_rowwise_spearman(xa[None], ya[None])[0])


def spearman_with_ci(
    x: ArrayLike,
    y: ArrayLike,
    *,
    n_boot: int = 2000,
    alpha: float = ALPHA,
    groups: ArrayLike | None = None,
    rng: np.random.Generator | None = None,
) -> tuple[float, float, float, float]:
    """``(rho, low, high, p)``: Spearman rho, bootstrap CI over items (or groups), two-sided p.

    ``p`` is scipy's asymptotic p-value (it assumes independent items; with ``groups`` trust
    the cluster-bootstrap CI instead). Constant input gives nan throughout.
    """
    xa, ya = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    rho = spearman(xa, ya)
    if not np.isfinite(rho):
        return rho, float("nan"), float("nan"), float("nan")
    p = float(spearmanr(xa, ya).pvalue)
    gen = _rng(rng)
    if groups is None:  # all resamples at once: [n_boot, n]
        idx = gen.integers(0, xa.size, size=(n_boot, xa.size))
        boot = _rowwise_spearman(xa[idx], ya[idx])
    else:  # cluster resamples differ in length: one at a time
        draw = _resampler(xa.size, groups)
        boot = np.empty(n_boot)
        for b in range(n_boot):
            i = draw(gen)
            boot[b] = spearman(xa[i], ya[i])
    return (rho, *_percentile_ci(boot, alpha), p)


def permute_within(labels: ArrayLike, groups: ArrayLike | None, rng: np.random.Generator) -> np.ndarray:
    """A random permutation of ``labels``, shuffling only within each group when given."""
    lab = np.asarray(labels)
    if groups is None:
        return rng.permutation(lab)
    g = np.asarray(groups)
    if g.shape != lab.shape:
        raise ValueError(f"groups has shape {g.shape}, labels {lab.shape}")
    by_group = np.argsort(g, kind="stable")  # positions grouped
    shuffled = np.lexsort((rng.random(lab.size), g))  # same groups, random order inside each
    out = lab.copy()
    out[by_group] = lab[shuffled]
    return out


def mean_difference(values: np.ndarray, labels: np.ndarray, target_label: Hashable) -> float:
    """``mean(values[labels == target]) - mean(values[labels != target])``; nan if a side is empty."""
    sel = labels == target_label
    if sel.all() or not sel.any():
        return float("nan")
    return float(values[sel].mean() - values[~sel].mean())


def permutation_test(
    values: ArrayLike,
    labels: ArrayLike,
    target_label: Hashable,
    statistic: Callable[[np.ndarray, np.ndarray, Hashable], float] = mean_difference,
    *,
    n_perm: int = 2000,
    groups: ArrayLike | None = None,
    rng: np.random.Generator | None = None,
    two_sided: bool = False,
) -> tuple[float, float]:
    """Permutation test that ``statistic`` is large: ``(observed, p)``.

    Labels are shuffled (within ``groups`` if given) ``n_perm`` times;
    ``p = (1 + #{perm >= observed}) / (1 + n_perm)``. nan statistics count as not >= observed.
    ``two_sided``: twice the smaller one-sided p-value, capped at 1.
    """
    v = np.asarray(values, dtype=float)
    lab = np.asarray(labels)
    if v.shape[0] != lab.shape[0]:
        raise ValueError(f"{v.shape[0]} values but {lab.shape[0]} labels")
    gen = _rng(rng)
    observed = float(statistic(v, lab, target_label))
    if not np.isfinite(observed):
        return observed, float("nan")
    perm = np.array([statistic(v, permute_within(lab, groups, gen), target_label) for _ in range(n_perm)])
    exceed = int((perm >= observed - 1e-12).sum())
    p = (1 + exceed) / (1 + n_perm)
    if two_sided:
        below = int((perm <= observed + 1e-12).sum())
        p = min(1.0, 2 * min(p, (1 + below) / (1 + n_perm)))
    return observed, p



def sign_flip_p(values: ArrayLike, *, n_perm: int = 2000, rng: np.random.Generator | None = None) -> float:
    """Two-sided sign-flip permutation p-value that the mean of ``values`` is 0 (nan dropped).

    Each value is one independent unit (an equation), so the p-value is at the unit the
    claim's n counts. ``p = (1 + #{|perm mean| >= |observed|}) / (1 + n_perm)``.
    """
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if v.size < 2:
        return float("nan")
    gen = _rng(rng)
    observed = abs(v.mean())
    signs = gen.choice([-1.0, 1.0], size=(n_perm, v.size))
    perm = np.abs((signs * v).mean(axis=1))
    return float((1 + int((perm >= observed - 1e-12).sum())) / (1 + n_perm))


def mcnemar_p(lost: int, gained: int) -> float:
    """Exact two-sided McNemar p-value of paired successes: of the ``lost + gained`` units that
    changed, is one direction more common than a fair coin gives? 1.0 when none changed."""
    from scipy.stats import binom

    n = lost + gained
    if n == 0:
        return 1.0
    return float(min(1.0, 2 * binom.cdf(min(lost, gained), n, 0.5)))


def holm(pvalues: Sequence[float | None]) -> list[float | None]:
    """Holm-Bonferroni adjusted p-values for one family of tests (None and nan stay None).

    Controls the family-wise error at the nominal level: the k-th smallest of m p-values is
    multiplied by ``m - k + 1``, then made monotone and capped at 1.
    """
    finite = [(p, i) for i, p in enumerate(pvalues) if p is not None and np.isfinite(p)]
    m = len(finite)
    out: list[float | None] = [None] * len(pvalues)
    running = 0.0
    for k, (p, i) in enumerate(sorted(finite)):
        running = max(running, min(1.0, (m - k) * p))
        out[i] = running
    return out


def rank_residuals(y: ArrayLike, covariate: ArrayLike) -> FloatArray:
    """The ranks of ``y`` minus their least-squares fit on the ranks of ``covariate`` (``[n]``,
    or ``[n, k]``: several covariates held fixed at once)."""
    ry = rankdata(np.asarray(y, dtype=float)).astype(float)
    z = np.asarray(covariate, dtype=float)
    rz = np.column_stack([rankdata(c) for c in (z[:, None] if z.ndim == 1 else z).T]).astype(float)
    design = np.column_stack([np.ones(len(ry)), rz])
    coef, *_ = np.linalg.lstsq(design, ry, rcond=None)
    return ry - design @ coef


def partial_permutation_p(
    x: ArrayLike, y: ArrayLike, covariate: ArrayLike, *, n_perm: int = 2000, rng: np.random.Generator | None = None
) -> float:
    """Two-sided permutation p-value of the rank partial correlation of ``x`` and ``y`` given ``covariate``.

    Freedman and Lane's scheme: the ranks of ``y`` are regressed on the covariate's ranks and
    the residuals permuted, so the covariate's share of ``y`` stays in place and only the
    part the claim is about is shuffled. nan when the correlation is undefined.
    """
    za = np.asarray(covariate, dtype=float)
    if za.size < 4:
        return float("nan")
    ex, ey = rank_residuals(x, za), rank_residuals(y, za)
    sx, sy = np.sqrt((ex**2).sum()), np.sqrt((ey**2).sum())
    if sx < 1e-9 or sy < 1e-9:
        return float("nan")
    observed = abs((ex * ey).sum())
    gen = _rng(rng)
    perms = np.array([gen.permutation(ey) for _ in range(n_perm)])  # [n_perm, n]
    # regress each permuted residual on the covariate again, as the scheme prescribes
    rz = rankdata(za).astype(float)
    design = np.column_stack([np.ones_like(rz), rz])
    coef, *_ = np.linalg.lstsq(design, perms.T, rcond=None)
    perms = perms - (design @ coef).T
    stats = np.abs(perms @ ex) / np.sqrt((perms**2).sum(1))
    return float((1 + int((stats >= observed / sy - 1e-12).sum())) / (1 + n_perm))
