"""Attention metrics: pure functions of numpy arrays (no torch, no models).

Conventions
-----------
* Attention arrays are ``[..., query, key]`` -- usually ``[head, query, key]`` or
  ``[layer, head, query, key]`` -- captured after softmax; each row sums to 1 over the keys
  that row can see.
* ``key_mask [key]`` is boolean, True for a real key and False for padding.
  ``query_mask [query]`` marks the query rows to average over.
* ``causal=True``: query row ``i`` sees keys ``0..i`` (``i + 1`` keys, padding excluded).
* Entropy is in nats (natural log, ``0 ln 0 = 0``). Normalised entropy is
  ``H / ln(n_visible)``; a row that sees fewer than two keys has no choice to make, so its
  normalised entropy is **nan** and averages skip it. Normalising matters because raw
  entropy rises with the number of visible keys even for uniform attention (ln 6 = 1.79,
  ln 18 = 2.89), so a trend in raw nats across lengths says little.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray

from physdocs.analysis.schema import OPERATOR, OPERATOR_TYPES
from physdocs.analysis.stats import rank_residuals, spearman
from physdocs.constants import ALPHA, DEFAULT_SEED

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]

# --------------------------------------------------------------------------- masks, means


def visible_keys(
    n_query: int, n_key: int, key_mask: ArrayLike | None = None, causal: bool = False
) -> BoolArray:
    """Boolean ``[query, key]``: True where query row ``i`` may attend to key ``j``."""
    vis = np.ones((n_query, n_key), dtype=bool)
    if key_mask is not None:
        km = np.asarray(key_mask, dtype=bool)
        if km.shape != (n_key,):
            raise ValueError(f"key_mask has shape {km.shape}, expected ({n_key},)")
        vis &= km[None, :]
    if causal:
        vis &= np.tril(np.ones((n_query, n_key), dtype=bool))
    return vis


def masked_mean(values: ArrayLike, valid: ArrayLike | None = None, axis: int = -1) -> FloatArray:
    """Mean of ``values`` along ``axis`` over entries that are ``valid`` and finite.

    Returns nan (without a warning) where no entry qualifies.
    """
    x = np.asarray(values, dtype=float)
    ok = np.isfinite(x)
    if valid is not None:
        ok &= np.broadcast_to(np.asarray(valid, dtype=bool), x.shape)
    total = np.where(ok, x, 0.0).sum(axis=axis)
    count = ok.sum(axis=axis)
    return np.divide(total, count, out=np.full(np.shape(total), np.nan), where=count > 0)


def _query_valid(n_query: int, query_mask: ArrayLike | None) -> BoolArray:
    if query_mask is None:
        return np.ones(n_query, dtype=bool)
    qm = np.asarray(query_mask, dtype=bool)
    if qm.shape != (n_query,):
        raise ValueError(f"query_mask has shape {qm.shape}, expected ({n_query},)")
    return qm


# --------------------------------------------------------------------------- entropy


def row_entropy(attn: ArrayLike, key_mask: ArrayLike | None = None, causal: bool = False) -> FloatArray:
    """Entropy in nats of each attention row: ``[..., query, key] -> [..., query]``.

    Only keys the row can see count (padding and, if ``causal``, future keys are ignored).
    """
    a = np.asarray(attn, dtype=float)
    vis = visible_keys(a.shape[-2], a.shape[-1], key_mask, causal)
    a = np.where(vis & (a > 0), a, 0.0)
    plogp = a * np.log(np.where(a > 0, a, 1.0))  # 0 ln 0 = 0
    return -plogp.sum(axis=-1)


def n_visible(
    n_query: int, n_key: int, key_mask: ArrayLike | None = None, causal: bool = False
) -> NDArray[np.int64]:
    """Number of keys each query row can see: ``[query]``."""
    return visible_keys(n_query, n_key, key_mask, causal).sum(axis=-1)


def normalised_row_entropy(
    attn: ArrayLike, key_mask: ArrayLike | None = None, causal: bool = False
) -> FloatArray:
    """``H / ln(n_visible)`` per row, in [0, 1]; nan for rows that see fewer than two keys."""
    a = np.asarray(attn, dtype=float)
    h = row_entropy(a, key_mask, causal)
    n = n_visible(a.shape[-2], a.shape[-1], key_mask, causal)
    log_n = np.log(np.maximum(n, 1)).astype(float)
    log_n = np.broadcast_to(log_n, h.shape)
    return np.divide(h, log_n, out=np.full(h.shape, np.nan), where=log_n > 0)


def row_concentration(attn: ArrayLike, key_mask: ArrayLike | None = None, causal: bool = False) -> FloatArray:
    """``1 - normalised entropy`` per row: 0 for uniform attention, 1 for one-hot; nan if < 2 keys.

    Rows sum to 1, so the *mass* a query sends is always 1; concentration is the sensible
    per-query measure of how sharply it reads its keys (e.g. cross-attention to memory).
    """
    return 1.0 - normalised_row_entropy(attn, key_mask, causal)


def uniform_attention(
    n_query: int, n_key: int, key_mask: ArrayLike | None = None, causal: bool = False
) -> FloatArray:
    """Length-matched uniform control ``[query, key]``: each row spreads evenly over its visible keys.

    Rows that see no key are all zeros.
    """
    vis = visible_keys(n_query, n_key, key_mask, causal).astype(float)
    n = vis.sum(axis=-1, keepdims=True)
    return np.divide(vis, n, out=np.zeros_like(vis), where=n > 0)


# --------------------------------------------------------------------------- keys that exist


def restrict_keys(attn: ArrayLike, n_keys: int) -> tuple[FloatArray, FloatArray]:
    """Keep keys ``0 .. n_keys-1`` and renormalise each row: ``(attention, mass outside)``.

    The diffuser attends over its whole 48-slot canvas, PAD tail included; statistics about
    how it reads the *equation* must exclude those slots (issue: PAD counted as attention).
    Returns ``[..., query, n_keys]`` rows summing to 1 (all-zero rows stay zero) and the mass
    each row had put outside them, ``[..., query]``.
    """
    a = np.asarray(attn, dtype=float)
    kept = a[..., :n_keys]
    total = kept.sum(axis=-1, keepdims=True)
    renorm = np.divide(kept, total, out=np.zeros_like(kept), where=total > 0)
    return renorm, 1.0 - total[..., 0]


def causal_uniform_share(key_types: Sequence[str]) -> dict[str, float]:
    """Share of attention each type gets from causal uniform attention (row ``i`` over ``0..i``).

    The baseline for a causal decoder: early keys are seen by more rows, so BOS gets far
    more than ``1/n`` of uniform attention. Values sum to 1.
    """
    n = len(key_types)
    if n == 0:
        raise ValueError("key_types is empty")
    return attention_received_by_type(uniform_attention(n, n, causal=True), key_types)


# --------------------------------------------------------------------------- attention received


def received_per_key(attn: ArrayLike, query_mask: ArrayLike | None = None) -> FloatArray:
    """Attention mass landing on each key, averaged over heads/layers and valid query rows: ``[key]``."""
    a = np.asarray(attn, dtype=float)
    qv = _query_valid(a.shape[-2], query_mask)
    per_query = a.reshape(-1, a.shape[-2], a.shape[-1]).mean(axis=0)  # [query, key]
    if not qv.any():
        return np.full(a.shape[-1], np.nan)
    return per_query[qv].mean(axis=0)


def received_ratio_per_key(
    attn: ArrayLike,
    key_mask: ArrayLike | None = None,
    query_mask: ArrayLike | None = None,
    causal: bool = False,
) -> FloatArray:
    """Received mass per key divided by what length-matched uniform attention gives it: ``[key]``.

    1 means "as much as uniform"; nan for keys uniform attention never reaches (padding).
    """
    a = np.asarray(attn, dtype=float)
    got = received_per_key(a, query_mask)
    base = received_per_key(uniform_attention(a.shape[-2], a.shape[-1], key_mask, causal), query_mask)
    return np.divide(got, base, out=np.full(got.shape, np.nan), where=base > 0)


def _check_types(key_types: Sequence[str], n_key: int) -> list[str]:
    types = list(key_types)
    if len(types) != n_key:
        raise ValueError(f"got {len(types)} key types for {n_key} keys")
    return types


def attention_received_by_type(
    attn: ArrayLike, key_types: Sequence[str], query_mask: ArrayLike | None = None
) -> dict[str, float]:
    """Mean (over heads and valid query rows) of the total attention mass on keys of each type.

    ``key_types`` names one type per key (e.g. from :func:`physdocs.grammar.token_type`);
    the values sum to 1 when every row sums to 1.
    """
    per_key = received_per_key(attn, query_mask)
    types = _check_types(key_types, per_key.shape[0])
    out: dict[str, float] = {}
    for t, mass in zip(types, per_key, strict=True):
        out[t] = out.get(t, 0.0) + float(mass)
    return out


def uniform_share(key_types: Sequence[str]) -> dict[str, float]:
    """Share of the keys of each type (count / n): what bidirectional uniform attention gives.

    For causal attention use ``attention_received_by_type(uniform_attention(..., causal=True), types)``.
    """
    types = list(key_types)
    if not types:
        raise ValueError("key_types is empty")
    return {t: types.count(t) / len(types) for t in dict.fromkeys(types)}


def received_ratio(received: Mapping[str, float], share: Mapping[str, float]) -> dict[str, float]:
    """``received / share`` per type (1 = as much as uniform attention); nan where share is 0."""
    return {t: (received[t] / share[t] if share.get(t, 0) > 0 else float("nan")) for t in received}


# --------------------------------------------------------------------------- rollout, ISAB


def induced_map(mab1: ArrayLike, mab2: ArrayLike) -> FloatArray:
    """Point-to-point attention an ISAB induces: ``mab2 [.., N, m] @ mab1 [.., m, N] -> [.., N, N]``.

    ``mab1``: inducing points (queries) attend to the N points; ``mab2``: points attend back
    to the m inducing points. Leading (head) axes broadcast.
    """
    return np.matmul(np.asarray(mab2, dtype=float), np.asarray(mab1, dtype=float))


def _as_inducing_rows(mab1: ArrayLike) -> FloatArray:
    a = np.asarray(mab1, dtype=float)
    if a.ndim == 3:
        a = a.mean(axis=0)  # head-average -> [m, N]
    if a.ndim != 2:
        raise ValueError(f"expected [head, m, N] or [m, N], got shape {np.shape(mab1)}")
    return a


def inducing_specialisation(mab1: ArrayLike) -> float:
    """Mean pairwise Jensen-Shannon divergence (nats, in [0, ln 2]) between inducing points' rows.

    ``mab1`` is ``[head, m, N]`` (heads averaged first) or ``[m, N]``. 0 when every inducing
    point reads the observations the same way; ln 2 when they read disjoint sets.
    """
    p = _as_inducing_rows(mab1)
    m = p.shape[0]
    if m < 2:
        raise ValueError(f"need at least two inducing points, got {m}")
    pi, pj = p[:, None, :], p[None, :, :]  # [m, 1, N], [1, m, N]
    mid = 0.5 * (pi + pj)

    def kl(x: FloatArray, y: FloatArray) -> FloatArray:
        ratio = np.divide(x, y, out=np.ones(np.broadcast_shapes(x.shape, y.shape)), where=(x > 0) & (y > 0))
        return (x * np.log(ratio)).sum(axis=-1)

    js = 0.5 * kl(pi, mid) + 0.5 * kl(pj, mid)  # [m, m]
    return float(js[np.triu_indices(m, k=1)].mean())


def argmax_coverage(mab1: ArrayLike) -> float:
    """Distinct top keys over inducing points, as a fraction of m (1 = every point has its own)."""
    p = _as_inducing_rows(mab1)
    return len(np.unique(p.argmax(axis=-1))) / p.shape[0]


# --------------------------------------------------------------------------- trajectories


def flicker_rate(trajectory_tokens: ArrayLike, mask_id: int) -> float:
    """Fraction of transitions of already-unmasked positions that change token.

    ``trajectory_tokens [step, pos]`` holds the sequence after each refinement step. A
    transition ``(t, pos) -> (t + 1, pos)`` counts when ``tokens[t, pos] != mask_id``; it
    flickers when the token at ``t + 1`` differs (re-masking counts). nan if there is no such
    transition. A decoder that never revises unmasked positions has rate 0 by construction.
    """
    tok = np.asarray(trajectory_tokens)
    if tok.ndim != 2:
        raise ValueError(f"expected [step, pos], got shape {tok.shape}")
    before, after = tok[:-1], tok[1:]
    counted = before != mask_id
    n = int(counted.sum())
    return float(((before != after) & counted).sum() / n) if n else float("nan")


def confidence_monotonicity(conf: ArrayLike) -> float:
    """Fraction of consecutive-step pairs ``(t, t + 1)`` per position where confidence does not drop.

    ``conf [step, pos]``; pairs with a nan (e.g. a masked position) are skipped; nan if none remain.
    """
    return 1.0 - confidence_drop_rate(conf, eps=0.0)


def resolution_steps(trajectory_tokens: ArrayLike, mask_id: int) -> NDArray[np.int64]:
    """First step (row index) from which each position stays at its final token: ``[pos]``.

    -1 for positions whose final token is still ``mask_id`` (never resolved).
    """
    tok = np.asarray(trajectory_tokens)
    if tok.ndim != 2:
        raise ValueError(f"expected [step, pos], got shape {tok.shape}")
    final = tok[-1]
    differs = tok != final[None, :]  # [step, pos]
    # last step that differs from the final token, + 1; 0 if it never differs
    any_diff = differs.any(axis=0)
    last_diff = tok.shape[0] - 1 - np.argmax(differs[::-1], axis=0)
    steps = np.where(any_diff, last_diff + 1, 0)
    return np.where(final == mask_id, -1, steps).astype(np.int64)


def tree_depths(prefix_tokens: Sequence[str], arity: Mapping[str, int]) -> list[int]:
    """Depth of each token of a prefix sequence (root = 0); -1 for tokens not in ``arity``.

    Several trees in a row (multi-step sequences) each start again at depth 0; markers such
    as ``STEP`` / ``END_STEP`` / ``PAD`` get -1.
    """
    open_slots: list[int] = []  # depths of child slots still to fill
    depths: list[int] = []
    for tok in prefix_tokens:
        if tok not in arity:
            depths.append(-1)
            continue
        d = open_slots.pop() if open_slots else 0
        depths.append(d)
        open_slots.extend([d + 1] * arity[tok])
    return depths


# --------------------------------------------------------------------------- finding statistics
# The statistics the findings test (``physdocs.analysis.findings``): each controls the
# confound its finding names, so a verdict cannot come from sequence length or position.


def partial_spearman(x: ArrayLike, y: ArrayLike, covariate: ArrayLike) -> float:
    """Spearman rho of ``x`` and ``y`` with ``covariate`` held fixed (rank partial correlation).

    ``covariate``: ``[n]``, or ``[n, k]`` to hold several fixed. The three are ranked; the ranks of ``x`` and ``y`` are each regressed on the rank of
    ``covariate`` and the residuals correlated. nan when fewer than 4 items or a residual
    is constant (nothing left once the covariate is accounted for).
    """
    xa, ya, za = (np.asarray(a, dtype=float) for a in (x, y, covariate))
    if not (xa.shape == ya.shape == za.shape[:1]) or xa.ndim != 1 or za.ndim > 2:
        raise ValueError(f"x, y and covariate must be 1-D of equal length, got {xa.shape}, {ya.shape}, {za.shape}")
    if xa.size < 4:
        return float("nan")
    ex, ey = rank_residuals(xa, za), rank_residuals(ya, za)
    sx, sy = np.sqrt((ex**2).sum()), np.sqrt((ey**2).sum())
    if sx < 1e-9 or sy < 1e-9:
        return float("nan")
    return float((ex * ey).sum() / (sx * sy))


def within_group_partial_spearman(
    x: ArrayLike, y: ArrayLike, covariate: ArrayLike, groups: ArrayLike
) -> tuple[FloatArray, NDArray]:
    """:func:`partial_spearman` inside each group: ``(rho per group, group labels)``.

    Used for coarse-to-fine: depth against resolution step within one equation, with the
    token's position held fixed, so neither equation length nor left-to-right order can
    make the correlation. Groups where it is undefined give nan.
    """
    g = np.asarray(groups)
    xa, ya, za = (np.asarray(a, dtype=float) for a in (x, y, covariate))
    labels = np.unique(g)
    rho = np.array([partial_spearman(xa[g == u], ya[g == u], za[g == u]) for u in labels])
    return rho, labels


def double_centred(profile: ArrayLike) -> FloatArray:
    """``[unit, type]`` minus unit means and type means, plus the grand mean: the interaction alone.

    What is left is how a unit (a head) hurts one token type more than its own average and
    more than that type's average over units: a role, not overall importance.
    """
    p = np.asarray(profile, dtype=float)
    return p - p.mean(axis=1, keepdims=True) - p.mean(axis=0, keepdims=True) + p.mean()


def _half_profile(roles: FloatArray) -> FloatArray:
    """:func:`role_profile` of some equations, flattened to ``[layer * head, type]``."""
    prof = role_profile(roles)
    return prof.reshape(-1, prof.shape[-1])


def head_role_size(roles: ArrayLike, *, n_splits: int = 10, seed: int = DEFAULT_SEED) -> tuple[float, float]:
    """Reliable head-by-type damage, in nats per masked token, and its split-half reliability.

    ``roles [E, layer + 1, head, type]``: per equation, the summed loss increase of each
    token type when one head is zeroed, and (extra layer, first head) the token counts.
    The equations are split in random halves ``n_splits`` times; each half gives a damage
    profile ``[head, type]`` whose interaction (:func:`double_centred`) is kept. The size is
    ``sqrt(mean(I1 * I2))`` (signed): noise independent between halves averages out of the
    product, so only roles that replicate count, and their size stays in nats. The
    reliability is the correlation of ``I1`` and ``I2``. Types absent from either half are
    left out. nan with fewer than 4 equations.
    """
    r = np.asarray(roles, dtype=float)
    n = r.shape[0]
    if n < 4:
        return float("nan"), float("nan")
    gen = np.random.default_rng(seed)
    products, correlations = [], []
    for _ in range(n_splits):
        order = gen.permutation(n)
        a, b = _half_profile(r[order[: n // 2]]), _half_profile(r[order[n // 2:]])
        keep = np.isfinite(a).all(0) & np.isfinite(b).all(0)
        if keep.sum() < 2:
            continue
        ia, ib = double_centred(a[:, keep]), double_centred(b[:, keep])
        products.append(float((ia * ib).mean()))
        sa, sb = ia.std(), ib.std()
        correlations.append(float((ia * ib).mean() / (sa * sb)) if sa > 0 and sb > 0 else float("nan"))
    if not products:
        return float("nan"), float("nan")
    c = float(np.mean(products))
    return float(np.sign(c) * np.sqrt(abs(c))), float(np.nanmean(correlations)) if correlations else float("nan")


#: A confidence drop smaller than this (in probability) is not counted as a drop.
DROP_EPS = 0.05


def confidence_drop_rate(conf: ArrayLike, eps: float = DROP_EPS) -> float:
    """Fraction of consecutive-step pairs per position where confidence falls by more than ``eps``.

    ``conf [step, pos]``; pairs with a nan (a masked position) are skipped; nan if none remain.
    A small wobble is not a reversal, so only drops above ``eps`` count: with ``eps = 0`` the
    rate of a noisy but flat confidence would sit near 0.5 whatever the model does.
    """
    c = np.asarray(conf, dtype=float)
    if c.ndim != 2:
        raise ValueError(f"expected [step, pos], got shape {c.shape}")
    before, after = c[:-1], c[1:]
    ok = np.isfinite(before) & np.isfinite(after)
    n = int(ok.sum())
    return float(((after < before - eps) & ok).sum() / n) if n else float("nan")


def stratified_difference(values: ArrayLike, in_group: ArrayLike, strata: ArrayLike) -> float:
    """Mean of ``values`` in the group minus out of it, within each stratum, weighted and averaged.

    Strata with both sides present count, each weighted by ``n_in * n_out / (n_in + n_out)``
    (the Cochran-Mantel-Haenszel weight), so a stratum that is nearly all one side adds
    little. Used for derived against failed within tiers: the tier cannot make the
    difference. nan when no stratum has both sides.
    """
    v, a, s = np.asarray(values, dtype=float), np.asarray(in_group, dtype=bool), np.asarray(strata)
    num = den = 0.0
    for u in np.unique(s):
        sel = (s == u) & np.isfinite(v)
        x, y = v[sel & a], v[sel & ~a]
        if x.size and y.size:
            w = x.size * y.size / (x.size + y.size)
            num += w * (x.mean() - y.mean())
            den += w
    return num / den if den > 0 else float("nan")


def observation_selectivity(cross_obs: ArrayLike) -> float:
    """Mean concentration of cross-attention rows over the observation keys alone.

    ``cross_obs [..., query, point]``: rows renormalised over the observations (the pooled
    z slot left out). 0 = uniform over the observations, 1 = all mass on one observation.
    """
    rows = restrict_keys(np.asarray(cross_obs, dtype=float), np.asarray(cross_obs).shape[-1])[0]
    return float(np.nanmean(row_concentration(rows)))


def head_spread(head_entropies: ArrayLike) -> float:
    """Spread of heads: std across heads of the per-head mean (over equations), averaged over layers.

    ``head_entropies [n_eq, layer, head]`` (or ``[n_eq, head]``).
    """
    x = np.asarray(head_entropies, dtype=float)
    if x.ndim == 2:
        x = x[:, None, :]
    if x.ndim != 3:
        raise ValueError(f"expected [n_eq, layer, head], got shape {x.shape}")
    per_head = masked_mean(x, axis=0)  # [layer, head]
    return float(masked_mean(per_head.std(axis=-1)))


def operator_label(token_type: str, merged: bool) -> str:
    """'operator' for binary/unary; otherwise the type itself, or 'other' when ``merged``."""
    return OPERATOR if token_type in OPERATOR_TYPES else ("other" if merged else token_type)


def operator_margin(values: np.ndarray, labels: np.ndarray, target_label: object = OPERATOR) -> float:
    """Mean of the target (operator) items minus the largest mean among the other labels."""
    sel = labels == target_label
    others = [values[labels == lab].mean() for lab in np.unique(labels[~sel])]
    if not sel.any() or not others:
        return float("nan")
    return float(values[sel].mean() - max(others))


def named_roles(roles: ArrayLike, types: Sequence[str], *, min_size: float, n_splits: int = 10,
                seed: int = DEFAULT_SEED) -> list[tuple[int, int, str, float]]:
    """The heads with a reliable role: ``(layer, head, token type, excess damage)``, 1-based.

    A head's role is the token type its ablation hurts most beyond the head's own average and
    that type's average over heads (:func:`double_centred`). Among many heads and types the
    largest excess is large by chance, so a role is named only when its excess is at least
    ``min_size`` and beyond its noise with every head-type cell counted (Bonferroni at
    :data:`~physdocs.constants.ALPHA`): the noise is the spread of the halves' difference
    over ``n_splits`` random splits of the equations, pooled over the cells.
    """
    from scipy.stats import norm

    r = np.asarray(roles, dtype=float)
    n = r.shape[0]
    whole = _half_profile(r)
    keep = np.isfinite(whole).all(0)
    if n < 4 or keep.sum() < 2:
        return []
    whole = double_centred(whole[:, keep])
    gen = np.random.default_rng(seed)
    diffs = []
    for _ in range(n_splits):
        order = gen.permutation(n)
        a, b = (_half_profile(r[idx])[:, keep] for idx in (order[: n // 2], order[n // 2:]))
        if np.isfinite(a).all() and np.isfinite(b).all():
            diffs.append((double_centred(a) - double_centred(b)) / 2)
    if not diffs:
        return []
    se = float(np.sqrt(np.mean(np.square(diffs))))  # the whole's noise, pooled over cells (one cell's is unstable)
    z = float(norm.ppf(1 - ALPHA / (2 * whole.size)))
    best = whole.argmax(1)
    names, n_heads = np.asarray(types)[keep], r.shape[2]
    return [(u // n_heads + 1, u % n_heads + 1, str(names[t]), float(whole[u, t]))
            for u, t in enumerate(best) if whole[u, t] >= max(min_size, z * se)]


def role_profile(roles: ArrayLike) -> FloatArray:
    """``[E, layer + 1, head, type]`` ablation sums and counts -> mean loss increase per masked
    token of each type, per head: ``[layer, head, type]`` (nan where a type never occurs)."""
    r = np.asarray(roles, dtype=float)
    counts = r[:, -1, 0].sum(0)  # [type]
    sums = r[:, :-1].sum(0)  # [layer, head, type]
    return np.divide(sums, counts, out=np.full(sums.shape, np.nan), where=counts > 0)


def mean_increase(delta: ArrayLike) -> float:
    """Mean of per-equation changes under an intervention (intervened minus intact), nan dropped."""
    d = np.asarray(delta, dtype=float).ravel()
    d = d[np.isfinite(d)]
    return float(d.mean()) if d.size else float("nan")


def head_agreement(head_loss: ArrayLike, head_change: ArrayLike) -> float:
    """Across heads, Spearman rho of the mean loss increase and the share of derivations lost.

    ``head_loss`` and ``head_change`` are ``[E, heads]``: per equation, the loss increase and
    the derived change (ablated minus intact: -1 lost, 1 gained) of each head's ablation.
    nan when either side is constant across heads (no head changes a derivation).
    """
    loss, change = np.asarray(head_loss, dtype=float), np.asarray(head_change, dtype=float)
    with np.errstate(all="ignore"):
        return spearman(np.nanmean(loss, axis=0), -np.nanmean(change, axis=0))


def operator_difference(values: np.ndarray, labels: np.ndarray, target_label: object = OPERATOR) -> float:
    """Mean of the target (operator) items minus the mean of all others; nan if a side is empty."""
    sel = labels == target_label
    if sel.all() or not sel.any():
        return float("nan")
    return float(values[sel].mean() - values[~sel].mean())


# --------------------------------------------------------------------------- knockouts and readout


def faithfulness_gap(rises: ArrayLike) -> float:
    """How faithfully attention ranks its keys: ``rises`` [E, 3] holds each equation's loss rise
    when the top, random and bottom keys are knocked out. The smaller of the two mean gaps,
    top - random and random - bottom: positive only when both steps of the order hold (nan
    rows left out; nan without any)."""
    r = np.asarray(rises, dtype=float).reshape(-1, 3)
    r = r[np.isfinite(r).all(1)]
    if not len(r):
        return float("nan")
    top, random, bottom = r.mean(0)
    return float(min(top - random, random - bottom))


def decision_gap(sums: ArrayLike) -> float:
    """``sums`` [E, 4]: per equation (sum, count) of the decision layers of its operators, then
    its leaves -> the pooled mean decision layer of leaves minus that of operators (positive:
    operators are decided at earlier layers); nan when either class has no token."""
    s = np.asarray(sums, dtype=float).reshape(-1, 4).sum(0)
    if s[1] <= 0 or s[3] <= 0:
        return float("nan")
    return float(s[2] / s[3] - s[0] / s[1])
