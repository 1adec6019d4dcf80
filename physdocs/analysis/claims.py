"""The seed's seven summary findings (its section 9) as computed tests.

The seed computed them on random weights, so they are hypotheses here: each is tested
with a statistic, an uncertainty and controls, and the page states the verdict the numbers give.

Each ``claim_*`` function takes plain arrays (per equation, per head or per token -- never a
model) and returns a :class:`ClaimResult`: a statistic, its uncertainty, a control, and a
verdict sentence generated from those numbers. The seed's own value is carried along as a
string (``seed_reported``) for the page to show beside ours; no result is written into a
template.

Decision rule (:func:`claim_holds`)
-----------------------------------
A claim **holds** iff both

1. it is significant in the claimed direction: for CI-tested claims (a ``null`` is given)
   the 95% bootstrap CI lies entirely beyond the null -- above it for "greater" claims,
   below it for "less" claims; for permutation-tested claims (no ``null``) the one-sided
   permutation p-value is below 0.05; and
2. the estimate beats the control's estimate in the same direction. A control whose
   statistic is undefined (nan, e.g. a correlation with constant uniform-attention entropy)
   shows no effect, so condition 1 already covers it.

3. the effect is large enough to matter: the estimate exceeds the control's value (or the
   null when the control has none) by at least the minimum effect declared for the claim
   in :data:`MIN_EFFECTS`, before any number is computed. Significance alone lets almost
   any trained model pass against a near-uniform random one.

An undefined estimate (nan: nothing to measure) never holds.

Where a statistic is positive even for noise (a divergence, a spread across heads) the null
is the control's value itself, so "significant" means "the CI lies above the control".
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike

from physdocs.analysis.metrics import OPERATOR_TYPES, masked_mean
from physdocs.analysis.stats import (
    bootstrap_ci,
    mean_difference,
    paired_bootstrap_ci,
    permutation_test,
    spearman,
    spearman_with_ci,
)

ALPHA = 0.05
Direction = Literal["greater", "less"]

#: Minimum effect per claim, in the statistic's own units, and why (shown on the findings page).
MIN_EFFECTS: dict[str, tuple[float, str]] = {
    "inducing_specialisation": (
        0.05 * math.log(2),
        "5% of the largest possible JS divergence (ln 2) above the control",
    ),
    "entropy_tier_nats": (0.1, "a Spearman rho of at least 0.1 (a small correlation) beyond the control's"),
    "entropy_tier_normalised": (0.1, "a Spearman rho of at least 0.1 (a small correlation) beyond the control's"),
    "head_specialisation": (0.02, "heads' normalised entropies spread 2 percentage points more than the control's"),
    "cross_attention_operators": (0.02, "operators' concentration over observations 0.02 above other tokens'"),
    "operators_receive_most": (0.1, "operators receive 10% of their uniform share more than the next type"),
    "coarse_to_fine": (0.1, "a Spearman rho of at least 0.1 (a small correlation) beyond the control's"),
    "head_roles": (0.05, "heads' damage profiles differ from the average by 5 percentage points more than the control's"),
    "leaf_attention_tier": (0.1, "a Spearman rho of at least 0.1 (a small correlation) beyond the control's"),
    "smooth_trajectories": (
        0.0,
        "the threshold itself: a drop in fewer than 1 of 20 step-to-step transitions of a position",
    ),
}


def format_p(p: float | None, n_perm: int | None = None) -> str:
    """``"p = 0.012"``, or at the permutation floor ``"p < 0.001 (1000 permutations)"``."""
    if p is None or not math.isfinite(p):
        return "p undefined"
    if n_perm and p <= 1.0 / (n_perm + 1) + 1e-12:
        return f"p < {10 ** math.ceil(math.log10(1.0 / n_perm)):g} ({n_perm} permutations)"
    return f"p = {p:.3g}"


@dataclass(frozen=True)
class ClaimResult:
    """One tested claim: our statistic with its uncertainty, a control, and the verdict."""

    key: str
    title: str
    statistic_name: str
    value: float
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    control_value: float | None
    control_name: str | None
    holds: bool
    verdict: str
    seed_reported: str
    n: int | None = None  # number of items (equations, tokens, trajectories) behind the statistic
    n_unit: str = "equations"  # what n counts; CIs resample equations
    min_effect: float | None = None
    min_effect_reason: str = ""
    p_text: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict; nan and inf become None."""
        return {
            k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in asdict(self).items()
        }


def _finite(x: float | None) -> bool:
    return x is not None and math.isfinite(x)


def format_number(x: float | None) -> str:
    """How numbers appear in verdicts: three significant digits, 'undefined' for nan/None."""
    return f"{x:.3g}" if _finite(x) else "undefined"


def claim_holds(
    value: float,
    *,
    ci_low: float | None = None,
    ci_high: float | None = None,
    p_value: float | None = None,
    null: float | None = None,
    direction: Direction = "greater",
    control_value: float | None = None,
    alpha: float = ALPHA,
    min_effect: float | None = None,
) -> bool:
    """The decision rule of this module (see the module docstring)."""
    if not _finite(value):
        return False
    if min_effect is not None:
        reference = control_value if _finite(control_value) else (null if null is not None else 0.0)
        step = 1.0 if direction == "greater" else -1.0
        if step * (value - reference) < min_effect:
            return False
    sign = 1.0 if direction == "greater" else -1.0
    if null is not None:
        bound = ci_low if direction == "greater" else ci_high
        significant = _finite(bound) and sign * (bound - null) > 0
    elif p_value is not None:
        significant = _finite(p_value) and p_value < alpha
    else:
        raise ValueError("claim_holds needs a null (CI test) or a p_value (permutation test)")
    beats_control = not _finite(control_value) or sign * (value - control_value) > 0
    return bool(significant and beats_control)


def verdict_sentence(
    holds: bool,
    claim: str,
    statistic_name: str,
    value: float,
    *,
    ci_low: float | None = None,
    ci_high: float | None = None,
    p_value: float | None = None,
    control_name: str | None = None,
    control_value: float | None = None,
    n: int | None = None,
    confidence: float = 1 - ALPHA,
    n_perm: int | None = None,
    n_unit: str = "",
) -> str:
    """The verdict as a sentence generated from the numbers.

    ``"Holds: <claim> (<statistic> = v, 95% CI [lo, hi], p = p, n = n); <control> gives c."``
    or the same starting ``"Does not hold: "``.
    """
    head = "Holds" if holds else "Does not hold"
    if not _finite(value):
        tail = f"; n = {n}" if n is not None else ""
        return f"{head}: {claim} -- {statistic_name} is undefined on these data{tail}."
    parts = [f"{statistic_name} = {format_number(value)}"]
    if ci_low is not None and ci_high is not None:
        parts.append(f"{confidence:.0%} CI [{format_number(ci_low)}, {format_number(ci_high)}]")
    if p_value is not None:
        parts.append(format_p(p_value, n_perm))
    if n is not None:
        parts.append(f"n = {n}" + (f" {n_unit}" if n_unit else ""))
    sentence = f"{head}: {claim} ({', '.join(parts)})"
    if control_name is not None and control_value is not None:
        shown = format_number(control_value) if _finite(control_value) else "no defined value"
        sentence += f"; the {control_name} gives {shown}"
    return sentence + "."


def _result(
    *,
    key: str,
    title: str,
    claim: str,
    statistic_name: str,
    value: float,
    ci_low: float | None,
    ci_high: float | None,
    p_value: float | None,
    null: float | None,
    direction: Direction,
    control_value: float | None,
    control_name: str | None,
    seed_reported: str,
    n: int,
    n_perm: int | None = None,
    n_unit: str = "equations",
) -> ClaimResult:
    min_effect, reason = MIN_EFFECTS.get(key, (None, ""))
    holds = claim_holds(
        value,
        ci_low=ci_low,
        ci_high=ci_high,
        p_value=p_value,
        null=null,
        direction=direction,
        control_value=control_value,
        min_effect=min_effect,
    )
    verdict = verdict_sentence(
        holds,
        claim,
        statistic_name,
        value,
        ci_low=ci_low,
        ci_high=ci_high,
        p_value=p_value,
        control_name=control_name,
        control_value=control_value,
        n=n,
        n_perm=n_perm,
        n_unit=n_unit,
    )
    return ClaimResult(
        key=key,
        title=title,
        statistic_name=statistic_name,
        value=float(value),
        ci_low=ci_low,
        ci_high=ci_high,
        p_value=p_value,
        control_value=control_value,
        control_name=control_name,
        holds=holds,
        verdict=verdict,
        seed_reported=seed_reported,
        n=n,
        n_unit=n_unit,
        min_effect=min_effect,
        min_effect_reason=reason,
        p_text="" if p_value is None else format_p(p_value, n_perm),
    )


def _float_array(x: ArrayLike) -> np.ndarray:
    return np.asarray(x, dtype=float)


def _mean_or_none(x: ArrayLike | None) -> float | None:
    if x is None:
        return None
    return float(masked_mean(_float_array(x).ravel()))


# --------------------------------------------------------------------------- 1. ISAB


def claim_inducing_specialisation(
    trained_scores: ArrayLike,
    control_scores: ArrayLike,
    *,
    seed_reported: str = "",
    control_name: str = "random-initialised encoder",
    statistic_name: str = "mean pairwise JS divergence between inducing points (nats)",
    n_boot: int = 2000,
    n_perm: int = 2000,
    rng: np.random.Generator | None = None,
) -> ClaimResult:
    """Finding 1: inducing points specialise to different subsets of observations.

    ``trained_scores`` / ``control_scores``: one specialisation score per equation (and/or
    layer), e.g. :func:`~physdocs.analysis.metrics.inducing_specialisation`. The CI is for the
    trained mean and the null is the control's mean; the p-value (trained vs control labels
    shuffled) is reported.
    """
    t = _float_array(trained_scores).ravel()
    c = _float_array(control_scores).ravel()
    t, c = t[np.isfinite(t)], c[np.isfinite(c)]
    value, lo, hi = bootstrap_ci(t, n_boot=n_boot, rng=rng)
    control = _mean_or_none(c)
    labels = np.array(["trained"] * t.size + ["control"] * c.size)
    _, p = permutation_test(np.concatenate([t, c]), labels, "trained", n_perm=n_perm, rng=rng)
    return _result(
        key="inducing_specialisation",
        title="ISAB inducing points specialise",
        claim="inducing points attend to different subsets of observations",
        statistic_name=statistic_name,
        value=value,
        ci_low=lo,
        ci_high=hi,
        p_value=p,
        null=control,
        direction="greater",
        control_value=control,
        control_name=control_name,
        seed_reported=seed_reported,
        n=int(t.size),
        n_perm=n_perm,
    )


# --------------------------------------------------------------------------- 2. entropy vs tier


def claim_entropy_rises_with_tier(
    tier_index: ArrayLike,
    entropy: ArrayLike,
    control_entropy: ArrayLike,
    *,
    normalised: bool = True,
    seed_reported: str = "",
    control_name: str = "random-initialised model",
    n_boot: int = 2000,
    rng: np.random.Generator | None = None,
) -> ClaimResult:
    """Finding 2: self-attention entropy rises with tier.

    ``tier_index [n_eq]`` (0 = trivial ... 4 = multi_step), ``entropy [n_eq]`` and
    ``control_entropy [n_eq]`` (random-init model, or length-matched uniform attention, whose
    raw entropy rises with length alone). Statistic: Spearman rho(tier, entropy), bootstrap CI
    over equations; null 0.
    """
    tier, h, hc = _float_array(tier_index), _float_array(entropy), _float_array(control_entropy)
    ok = np.isfinite(tier) & np.isfinite(h)
    rho, lo, hi, p = spearman_with_ci(tier[ok], h[ok], n_boot=n_boot, rng=rng)
    okc = np.isfinite(tier) & np.isfinite(hc)
    control = spearman(tier[okc], hc[okc])
    what = "normalised self-attention entropy" if normalised else "self-attention entropy (nats)"
    return _result(
        key="entropy_tier" + ("_normalised" if normalised else "_nats"),
        title=f"{what[0].upper()}{what[1:]} rises with tier",
        claim=f"{what} rises with tier",
        statistic_name="Spearman rho",
        value=rho,
        ci_low=lo,
        ci_high=hi,
        p_value=p,
        null=0.0,
        direction="greater",
        control_value=control,
        control_name=control_name,
        seed_reported=seed_reported,
        n=int(ok.sum()),
    )


def claim_leaf_attention_rises_with_tier(
    tier_index: ArrayLike,
    leaf_share: ArrayLike,
    control_share: ArrayLike,
    *,
    seed_reported: str = "",
    control_name: str = "random-initialised model",
    n_boot: int = 2000,
    rng: np.random.Generator | None = None,
) -> ClaimResult:
    """Finding 7b: attention to variables and constants rises with tier.

    ``leaf_share [n_eq]``: per equation, the received-to-uniform ratio of variable and
    constant keys (so a tier with more leaves does not rise by count alone). Statistic:
    Spearman rho(tier, ratio), bootstrap CI over equations; null 0.
    """
    tier, v, vc = _float_array(tier_index), _float_array(leaf_share), _float_array(control_share)
    ok = np.isfinite(tier) & np.isfinite(v)
    rho, lo, hi, p = spearman_with_ci(tier[ok], v[ok], n_boot=n_boot, rng=rng)
    okc = np.isfinite(tier) & np.isfinite(vc)
    return _result(
        key="leaf_attention_tier",
        title="Variable and constant attention rises with tier",
        claim="the self-attention variables and constants receive, relative to uniform, rises with tier",
        statistic_name="Spearman rho(tier, leaf received ratio)",
        value=rho,
        ci_low=lo,
        ci_high=hi,
        p_value=p,
        null=0.0,
        direction="greater",
        control_value=spearman(tier[okc], vc[okc]),
        control_name=control_name,
        seed_reported=seed_reported,
        n=int(ok.sum()),
    )


# --------------------------------------------------------------------------- 3. heads


def head_spread(head_entropies: ArrayLike) -> float:
    """Spread of heads: std across heads of the per-head mean (over equations), averaged over layers.

    ``head_entropies [n_eq, layer, head]`` (or ``[n_eq, head]``).
    """
    x = _float_array(head_entropies)
    if x.ndim == 2:
        x = x[:, None, :]
    if x.ndim != 3:
        raise ValueError(f"expected [n_eq, layer, head], got shape {x.shape}")
    per_head = masked_mean(x, axis=0)  # [layer, head]
    return float(masked_mean(per_head.std(axis=-1)))


def claim_head_specialisation(
    head_entropies: ArrayLike,
    control_head_entropies: ArrayLike,
    *,
    seed_reported: str = "",
    control_name: str = "random-initialised model",
    n_boot: int = 2000,
    rng: np.random.Generator | None = None,
) -> ClaimResult:
    """Finding 3: heads specialise, measured as a spread of per-head normalised entropy.

    ``head_entropies`` / ``control_head_entropies``: ``[n_eq, layer, head]`` mean normalised
    row entropy per head. Statistic: :func:`head_spread`, bootstrap over equations; the null
    is the control's spread.
    """
    x = _float_array(head_entropies)
    value, lo, hi = bootstrap_ci(x, head_spread, n_boot=n_boot, rng=rng)
    control = head_spread(control_head_entropies)
    return _result(
        key="head_specialisation",
        title="Heads specialise",
        claim="heads differ in how broadly they attend",
        statistic_name="std across heads of mean normalised entropy",
        value=value,
        ci_low=lo,
        ci_high=hi,
        p_value=None,
        null=control,
        direction="greater",
        control_value=control,
        control_name=control_name,
        seed_reported=seed_reported,
        n=int(x.shape[0]),
    )


def role_profile(roles: ArrayLike) -> np.ndarray:
    """``[E, layer + 1, head, type]`` (see ``run.head_roles``) -> mean loss increase per masked
    token of each type, per head: ``[layer, head, type]`` (nan where a type never occurs)."""
    r = _float_array(roles)
    counts = r[:, -1, 0].sum(0)  # [type]
    sums = r[:, :-1].sum(0)  # [layer, head, type]
    return np.divide(sums, counts, out=np.full(sums.shape, np.nan), where=counts > 0)


def role_specificity(roles: ArrayLike) -> float:
    """How differently heads hurt token types: mean over heads of the total-variation distance
    between the head's share of damage per type and the mean share over heads (0 = no roles)."""
    prof = np.clip(np.nan_to_num(role_profile(roles)), 0, None)  # [layer, head, type]
    flat = prof.reshape(-1, prof.shape[-1])
    totals = flat.sum(1, keepdims=True)
    keep = totals[:, 0] > 0
    if keep.sum() < 2:
        return float("nan")
    shares = flat[keep] / totals[keep]
    return float(0.5 * np.abs(shares - shares.mean(0)).sum(1).mean())


def claim_head_roles(
    roles: ArrayLike,
    control_roles: ArrayLike,
    *,
    seed_reported: str = "",
    control_name: str = "random-initialised model",
    n_boot: int = 2000,
    rng: np.random.Generator | None = None,
) -> ClaimResult:
    """Heads take functional roles: removing different heads hurts different token types.

    ``roles`` / ``control_roles``: ``[E, layer + 1, head, type]`` ablation sums and counts.
    Statistic: :func:`role_specificity`, bootstrap over equations; the null is the control's.
    """
    r = _float_array(roles)
    value, lo, hi = bootstrap_ci(r, role_specificity, n_boot=n_boot, rng=rng)
    control = role_specificity(control_roles)
    return _result(
        key="head_roles",
        title="Heads take functional roles",
        claim="removing different diffuser heads hurts different token types",
        statistic_name="mean total-variation distance of a head's damage profile from the average",
        value=value,
        ci_low=lo,
        ci_high=hi,
        p_value=None,
        null=control,
        direction="greater",
        control_value=control,
        control_name=control_name,
        seed_reported=seed_reported,
        n=int(r.shape[0]),
    )


# --------------------------------------------------------------------------- token-type claims


def _type_labels(types: Sequence[str], operators_merged: bool) -> np.ndarray:
    """'operator' for binary/unary; otherwise the type itself, or 'other' when ``operators_merged``."""
    return np.array(
        ["operator" if t in OPERATOR_TYPES else ("other" if operators_merged else t) for t in types]
    )


def _token_claim_data(
    values: ArrayLike, types: Sequence[str], groups: ArrayLike | None, control: ArrayLike | None
) -> tuple[np.ndarray, list[str], np.ndarray | None, np.ndarray | None]:
    """Drop special tokens and nan values; return (values, types, groups, control) aligned."""
    v = _float_array(values)
    t = list(types)
    if len(t) != v.shape[0]:
        raise ValueError(f"{v.shape[0]} values but {len(t)} types")
    keep = np.isfinite(v) & np.array([x != "special" for x in t], dtype=bool)
    g = None if groups is None else np.asarray(groups)[keep]
    c = None if control is None else _float_array(control)[keep]
    return v[keep], [x for x, k in zip(t, keep, strict=True) if k], g, c


def operator_margin(values: np.ndarray, labels: np.ndarray, target_label: object = "operator") -> float:
    """Mean of the target (operator) items minus the largest mean among the other labels."""
    sel = labels == target_label
    others = [values[labels == lab].mean() for lab in np.unique(labels[~sel])]
    if not sel.any() or not others:
        return float("nan")
    return float(values[sel].mean() - max(others))


def _permutation_claim(
    *,
    key: str,
    title: str,
    claim: str,
    statistic_name: str,
    statistic: Any,
    values: np.ndarray,
    labels: np.ndarray,
    groups: np.ndarray | None,
    control: np.ndarray | None,
    control_name: str | None,
    seed_reported: str,
    n_boot: int,
    n_perm: int,
    rng: np.random.Generator | None,
) -> ClaimResult:
    observed, p = permutation_test(
        values, labels, "operator", statistic, n_perm=n_perm, groups=groups, rng=rng
    )
    if np.isfinite(observed):
        _, lo, hi = paired_bootstrap_ci(
            [values, labels],
            lambda v, lab: statistic(v, lab, "operator"),
            n_boot=n_boot,
            groups=groups,
            rng=rng,
        )
    else:
        lo = hi = float("nan")
    control_value = None if control is None else float(statistic(control, labels, "operator"))
    return _result(
        key=key,
        title=title,
        claim=claim,
        statistic_name=statistic_name,
        value=observed,
        ci_low=lo,
        ci_high=hi,
        p_value=p,
        null=None,
        direction="greater",
        control_value=control_value,
        control_name=control_name if control is not None else None,
        seed_reported=seed_reported,
        n=int(len(np.unique(groups))) if groups is not None else int(values.size),
        n_perm=n_perm,
        n_unit="equations" if groups is not None else "tokens",
    )


def claim_cross_attention_operators(
    concentration: ArrayLike,
    types: Sequence[str],
    *,
    groups: ArrayLike | None = None,
    control_concentration: ArrayLike | None = None,
    seed_reported: str = "",
    control_name: str = "random-initialised model",
    n_boot: int = 2000,
    n_perm: int = 2000,
    rng: np.random.Generator | None = None,
) -> ClaimResult:
    """Finding 4: operator tokens read the encoder memory most sharply.

    Rows sum to 1, so every query sends the same mass; the per-token measure is the
    concentration of its cross-attention row (``1 - normalised entropy``,
    :func:`~physdocs.analysis.metrics.row_concentration`, averaged over heads/layers).
    ``concentration [n_tok]``, ``types [n_tok]`` (grammar token types), ``groups [n_tok]``
    (equation ids: labels are shuffled within equations, CIs resample equations). Special
    tokens and nan rows (a single-slot memory gives nan everywhere) are dropped.
    Statistic: mean concentration of operators minus other tokens; one-sided permutation test.
    """
    v, t, g, c = _token_claim_data(concentration, types, groups, control_concentration)
    return _permutation_claim(
        key="cross_attention_operators",
        title="Operator tokens read the encoder memory most",
        claim="operator tokens read the encoder memory more sharply than other tokens",
        statistic_name="difference in mean cross-attention concentration (operators - others)",
        statistic=mean_difference,
        values=v,
        labels=_type_labels(t, operators_merged=True),
        groups=g,
        control=c,
        control_name=control_name,
        seed_reported=seed_reported,
        n_boot=n_boot,
        n_perm=n_perm,
        rng=rng,
    )


def claim_operators_receive_most(
    received_ratio: ArrayLike,
    types: Sequence[str],
    *,
    groups: ArrayLike | None = None,
    control_ratio: ArrayLike | None = None,
    seed_reported: str = "",
    control_name: str = "random-initialised model",
    n_boot: int = 2000,
    n_perm: int = 2000,
    rng: np.random.Generator | None = None,
) -> ClaimResult:
    """Finding 7: operator tokens receive the most self-attention for their number.

    ``received_ratio [n_item]``: attention received relative to length-matched uniform
    attention (:func:`~physdocs.analysis.metrics.received_ratio_per_key`), one item per token
    -- or one per (equation, type) -- with its grammar type and equation id in ``groups``.
    Statistic: mean ratio of operators minus the largest mean ratio among the other types
    (variable, constant); type labels are shuffled within equations. Uniform attention gives 0.
    """
    v, t, g, c = _token_claim_data(received_ratio, types, groups, control_ratio)
    return _permutation_claim(
        key="operators_receive_most",
        title="Operator tokens receive the most attention",
        claim="operator tokens receive more attention than any other token type, relative to uniform",
        statistic_name="operator received-ratio margin over the next type",
        statistic=operator_margin,
        values=v,
        labels=_type_labels(t, operators_merged=False),
        groups=g,
        control=c,
        control_name=control_name,
        seed_reported=seed_reported,
        n_boot=n_boot,
        n_perm=n_perm,
        rng=rng,
    )


# --------------------------------------------------------------------------- 5, 6. trajectories


def claim_coarse_to_fine(
    depths: ArrayLike,
    resolution_steps: ArrayLike,
    *,
    groups: ArrayLike | None = None,
    control_steps: ArrayLike | None = None,
    control_depths: ArrayLike | None = None,
    seed_reported: str = "",
    control_name: str = "random-initialised model",
    n_boot: int = 2000,
    rng: np.random.Generator | None = None,
) -> ClaimResult:
    """Finding 5: refinement is coarse-to-fine -- tokens near the root resolve first.

    Depth and step must describe the same sequence (matched pairs): the depth of each token
    of the *decoded* canvas and the step at which that position resolved. The control decodes
    its own canvas, so it brings its own ``control_depths``.

    ``depths [n_tok]`` (:func:`~physdocs.analysis.metrics.tree_depths`) and
    ``resolution_steps [n_tok]`` pooled over equations; items with a negative depth or step
    (markers, unresolved) are dropped. Statistic: Spearman rho(depth, step), positive =
    coarse-to-fine; CI resamples equations when ``groups`` is given; null 0.
    """
    d, s = _float_array(depths), _float_array(resolution_steps)
    if d.shape != s.shape:
        raise ValueError(f"depths {d.shape} and resolution_steps {s.shape} differ")
    ok = (d >= 0) & (s >= 0)
    g = None if groups is None else np.asarray(groups)[ok]
    rho, lo, hi, p = spearman_with_ci(d[ok], s[ok], n_boot=n_boot, groups=g, rng=rng)
    control = None
    if control_steps is not None:
        cs = _float_array(control_steps)
        cd = d if control_depths is None else _float_array(control_depths)
        okc = (cd >= 0) & (cs >= 0)
        control = spearman(cd[okc], cs[okc])
    return _result(
        key="coarse_to_fine",
        title="Refinement resolves coarse to fine",
        claim="tokens nearer the root of the tree are resolved earlier",
        statistic_name="Spearman rho(depth, step)",
        value=rho,
        ci_low=lo,
        ci_high=hi,
        p_value=p,
        null=0.0,
        direction="greater",
        control_value=control,
        control_name=control_name if control is not None else None,
        seed_reported=seed_reported,
        n=int(len(np.unique(g))) if g is not None else int(ok.sum()),
        n_unit="equations" if g is not None else "tokens",
    )


def claim_monotone_confidence(
    drop_rates: ArrayLike,
    *,
    flicker_rates: ArrayLike,
    threshold: float = 0.05,
    control_rates: ArrayLike | None = None,
    seed_reported: str = "",
    control_name: str = "random-initialised model",
    n_boot: int = 2000,
    rng: np.random.Generator | None = None,
) -> ClaimResult:
    """Finding 6, testable form: per-position confidence rarely drops between steps.

    ``drop_rates [n_traj]``: ``1 - confidence_monotonicity`` per trajectory. Flicker (an
    unmasked token changing) cannot happen with a sampler that never revises fixed tokens,
    so its measured rate is reported in the claim text rather than tested.
    """
    r = _float_array(drop_rates).ravel()
    r = r[np.isfinite(r)]
    value, lo, hi = bootstrap_ci(r, n_boot=n_boot, rng=rng)
    flicker = _mean_or_none(flicker_rates)
    control = _mean_or_none(control_rates)
    return _result(
        key="smooth_trajectories",
        title="Refinement trajectories are smooth",
        claim=(
            f"a position's confidence drops between consecutive steps at a rate below {format_number(threshold)} "
            f"(measured token flicker: {format_number(flicker)}, zero by construction of the sampler)"
        ),
        statistic_name="mean confidence drop rate",
        value=value,
        ci_low=lo,
        ci_high=hi,
        p_value=None,
        null=threshold,
        direction="less",
        control_value=control,
        control_name=control_name if control is not None else None,
        seed_reported=seed_reported,
        n=int(r.size),
        n_unit="trajectories",
    )
