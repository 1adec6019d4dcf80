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

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]

#: Token types that count as operators in the claims.
OPERATOR_TYPES: tuple[str, ...] = ("binary", "unary")


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
    c = np.asarray(conf, dtype=float)
    if c.ndim != 2:
        raise ValueError(f"expected [step, pos], got shape {c.shape}")
    before, after = c[:-1], c[1:]
    ok = np.isfinite(before) & np.isfinite(after)
    n = int(ok.sum())
    return float(((after >= before) & ok).sum() / n) if n else float("nan")


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
