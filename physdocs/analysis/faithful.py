"""Is the attention faithful? Jain and Wallace's question, asked by knockout (torch), and which
observations cross-attention favours (a torch-free regression).

In every layer of a decoder at once, each query row loses ``k`` keys: its ``k`` most attended
(by the row's weight averaged over heads, the weight the maps show), ``k`` random ones, or its
``k`` least attended. A lost key is gone from every head of the row: its weight is set to zero
and the row renormalised over the rest, which is what the softmax gives when the key is
masked. The attention is faithful to what the decoder uses when losing the top ``k`` raises
the loss more than losing a random ``k``, and that more than losing the bottom ``k``.

* cross-attention: observation keys (z, the last key, is never lost);
* self-attention: the token keys the row can see; the loss rise is also read by the type of
  the key each scored row lost.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from physdocs.analysis.passes import Batch, logits, per_equation, token_loss
from physdocs.constants import ALPHA
from physdocs.grammar import VOCAB, token_type
from physdocs.results.readout import KEY_TYPES, MODES

BLOCKS = ("cross_attn", "self_attn")


def key_type(symbol: str) -> str:
    """A self-attention key's type (:data:`KEY_TYPES`)."""
    if symbol == "MASK":
        return "masked"
    kind = token_type(symbol)
    return {"binary": "operator", "unary": "operator", "variable": "leaf", "constant": "leaf"}.get(kind, "special")


_KEY_TYPE_OF_ID = torch.tensor([KEY_TYPES.index(key_type(s)) for s in VOCAB])


def knocked_out(pattern: torch.Tensor, eligible: torch.Tensor, mode: str, k: int,
                generator: torch.Generator | None = None) -> torch.Tensor:
    """``[B, Tq, Tk]`` bool: the ``k`` keys each row loses, chosen by ``mode`` among its
    ``eligible`` keys (``[B, Tq, Tk]``) by its weight averaged over heads (``pattern`` is
    ``[B, H, Tq, Tk]``). A row with no more than ``k`` eligible keys loses none."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    weight = pattern.mean(1)  # (B, Tq, Tk)
    if mode == "top":
        score = weight
    elif mode == "bottom":
        score = -weight
    else:
        score = torch.rand(weight.shape, generator=generator)
    k_eff = min(k, weight.shape[-1])
    idx = score.masked_fill(~eligible, float("-inf")).topk(k_eff, dim=-1).indices  # (B, Tq, k)
    drop = torch.zeros_like(eligible).scatter(-1, idx, True) & eligible
    return drop & (eligible.sum(-1) > k)[..., None]


def knockout(pattern: torch.Tensor, eligible: torch.Tensor, mode: str, k: int, generator: torch.Generator,
             record: list | None = None) -> torch.Tensor:
    """``pattern`` [B, H, Tq, Tk] with keys knocked out (:func:`knocked_out`) in every head and
    each row renormalised; ``record`` collects ``(mask [B, Tq, Tk], the weight the row lost
    [B, Tq])``, the weight averaged over heads."""
    drop = knocked_out(pattern, eligible, mode, k, generator)
    if record is not None:
        record.append((drop, (pattern.mean(1) * drop).sum(-1)))
    kept = pattern.masked_fill(drop[:, None], 0.0)
    return kept / kept.sum(-1, keepdim=True).clamp_min(1e-30)


def eligible_keys(b: Batch, block: str) -> torch.Tensor:
    """``[B, Tq, Tk]``: the keys a row may lose -- the observation keys for cross-attention,
    the real token keys the row can see for self-attention."""
    B, T = b.tokens.shape
    if block == "cross_attn":
        keys = torch.ones(B, T, b.keys.shape[1], dtype=torch.bool)
        keys[..., -1] = False  # z is not an observation
        return keys
    if block != "self_attn":
        raise ValueError(f"block must be one of {BLOCKS}, got {block!r}")
    see = b.self_mask[:, None, :].expand(B, T, T)
    if b.part == "ar_decoder":
        see = see & torch.ones(T, T, dtype=torch.bool).tril()
    return see.clone()


@dataclass(frozen=True)
class Knockouts:
    """One knockout over every equation.

    ``rise`` [E]: the loss rise, nats per scored token. ``n_keys``: the mean number of keys a
    scored row could lose; ``weight``: the mean weight (averaged over heads) a scored row lost,
    over layers. ``by_key_type`` (self-attention) [type, 2]: each scored row's rise
    weighted by the share of its lost keys (over layers) of each type (:data:`KEY_TYPES`),
    pooled over equations as (weighted sum of rises, sum of weights).
    """

    block: str
    mode: str
    k: int
    rise: np.ndarray
    n_keys: float
    weight: float
    by_key_type: np.ndarray | None = None


@torch.no_grad()
def knockouts(model, bs: Sequence[Batch], base: Sequence[torch.Tensor], n_equations: int, *, block: str,
              mode: str, k: int, seed: int) -> Knockouts:
    """The loss rise in every equation when each row of ``block`` loses ``k`` keys chosen by
    ``mode``, in every layer at once; ``base[i]`` [B, T] is batch ``i``'s intact token loss."""
    rise = np.full(n_equations, np.nan)
    by_type = np.zeros((len(KEY_TYPES), 2))
    n_keys, n_rows = 0.0, 0
    generator = torch.Generator().manual_seed(seed)
    prefix = f"{bs[0].part}.layers." if bs else ""
    current: dict[str, torch.Tensor] = {}
    record: list[tuple[torch.Tensor, torch.Tensor]] = []
    lost_weight, n_lost = 0.0, 0

    def hook(pattern: torch.Tensor, point) -> torch.Tensor:
        return knockout(pattern, current["eligible"], mode, k, generator, record)

    # one hook for every batch: attaching hooks walks the module tree
    with model.hooks([(lambda n: n.startswith(prefix) and n.endswith(f"{block}.hook_pattern"), hook)]):
        for b, intact in zip(bs, base, strict=True):
            current["eligible"] = eligible = eligible_keys(b, block)
            record.clear()
            delta = token_loss(logits(model, b), b) - intact  # (B, T)
            rise[b.rows] = per_equation(delta, b.scored)
            n_keys += float(eligible.sum(-1)[b.scored].sum())
            n_rows += int(b.scored.sum())
            for drop, weight in record:
                hit = b.scored & drop.any(-1)
                lost_weight += float(weight[hit].sum())
                n_lost += int(hit.sum())
            if block == "self_attn":
                types = torch.nn.functional.one_hot(_KEY_TYPE_OF_ID[b.tokens], len(KEY_TYPES)).float()  # (B, Tk, type)
                lost = sum(torch.einsum("bqk,bkt->bqt", r.float(), types) for r, _ in record)  # (B, Tq, type)
                w = lost / lost.sum(-1, keepdim=True).clamp_min(1) * b.scored[..., None]
                by_type[:, 0] += (w * delta[..., None]).sum((0, 1)).double().numpy()
                by_type[:, 1] += w.sum((0, 1)).double().numpy()
    return Knockouts(block, mode, k, rise, n_keys / max(n_rows, 1), lost_weight / max(n_lost, 1),
                     by_type if block == "self_attn" else None)


# ----------------------------------------------------------------- which observations are favoured


def _rank01(v: np.ndarray) -> np.ndarray:
    """Ranks scaled to [0, 1], ties sharing their mean rank."""
    v = np.asarray(v, dtype=float)
    _, inverse, counts = np.unique(v, return_inverse=True, return_counts=True)
    first = np.concatenate([[0], np.cumsum(counts)[:-1]])
    mean_rank = first + (counts - 1) / 2.0
    return mean_rank[inverse] / max(len(v) - 1, 1)


def point_features(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``[n, 4]`` features of an equation's observations (``x`` [n, d], ``y`` [n]), each a
    within-equation rank in [0, 1], in the order of :data:`~physdocs.results.readout.POINT_FEATURES`:

    * ``|y|``: the size of the output;
    * ``extreme x``: how far the point lies from the middle of the inputs (the largest, over
      variables, distance of its rank from the median rank);
    * ``leverage``: the diagonal of the hat matrix of ``[1, x]``;
    * ``local slope``: ``|dy| / |dx|`` to the nearest other point, in standardised units.

    Ranks make the features indifferent to each equation's units and scale.
    """
    y = np.asarray(y, dtype=float)
    n = len(y)
    x = np.asarray(x, dtype=float).reshape(n, -1)
    sd = x.std(0)
    xs = (x - x.mean(0)) / np.where(sd > 0, sd, 1.0)
    extreme = np.abs(np.column_stack([_rank01(c) for c in x.T]) - 0.5).max(1)
    design = np.column_stack([np.ones(n), xs])
    leverage = np.einsum("ij,ji->i", design, np.linalg.pinv(design))
    dist = np.sqrt(((xs[:, None] - xs[None]) ** 2).sum(-1))
    np.fill_diagonal(dist, np.inf)
    nearest = dist.argmin(1)
    ys = (y - y.mean()) / (y.std() if y.std() > 0 else 1.0)
    slope = np.abs(ys - ys[nearest]) / np.maximum(dist[np.arange(n), nearest], 1e-12)
    return np.column_stack([_rank01(np.abs(y)), _rank01(extreme), _rank01(leverage), _rank01(slope)])


def favoured_points(weights: Sequence[np.ndarray], features: Sequence[np.ndarray], draws: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Which observations cross-attention favours: per feature ``(coefficient, low, high)``.

    ``weights[i]`` [n]: equation ``i``'s attention per observation (over the observation keys
    alone, summing to 1); the response is ``ln(n * weight)`` (0: a uniform share).
    ``features[i]`` [n, F] (:func:`point_features`). OLS with one intercept per equation: a
    coefficient is the change of the log ratio from the lowest to the highest point on its
    feature, the others held fixed. The 95% interval resamples whole equations (``draws``
    [n_boot, E], indices with repeats).
    """
    grams, moments = [], []
    for w, f in zip(weights, features, strict=True):
        r = np.log(np.maximum(len(w) * np.asarray(w, dtype=float), 1e-12))
        f = np.asarray(f, dtype=float)
        r, f = r - r.mean(), f - f.mean(0)  # the equation's own intercept
        grams.append(f.T @ f)
        moments.append(f.T @ r)
    grams_a, moments_a = np.array(grams), np.array(moments)  # (E, F, F), (E, F)

    def fit(counts: np.ndarray) -> np.ndarray:
        return np.linalg.lstsq(np.tensordot(counts, grams_a, 1), counts @ moments_a, rcond=None)[0]

    coef = fit(np.ones(len(grams)))
    boots = np.array([fit(np.bincount(d, minlength=len(grams)).astype(float)) for d in draws])
    low, high = np.percentile(boots, [100 * ALPHA / 2, 100 * (1 - ALPHA / 2)], axis=0)
    return coef, low, high
