"""The findings, each declared once: claim, statistic, control, confound, minimum effect, pages.

A :class:`Finding` holds everything about one claim: its key, title and claim text (and the
opposite, should the data point the other way), the statistic (a pure function in
:mod:`.metrics`), the minimum effect that matters and why (declared before any number is
computed), the confound its test controls, the seed's reported value, the report pages it
appears on, and a compute function ``(Evidence, Settings) -> Measurement``.
:func:`evaluate_all` runs :data:`REGISTRY`; :func:`~physdocs.analysis.claims.judge` applies
the decision rule. Adding a finding means adding an entry here, its statistic to
``metrics.py``, and its planted-effect and null tests to ``tests/test_findings.py``.

Torch-free: the inputs are plain arrays gathered by :mod:`.run` into :class:`Evidence`.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np

from physdocs.analysis import metrics as M
from physdocs.analysis import paired as P
from physdocs.analysis.claims import Direction, Measurement, judge
from physdocs.analysis.schema import TOKEN_TYPES, ClaimResult, Detail
from physdocs.analysis.stats import (
    bootstrap_ci,
    distinct_bootstrap_ci,
    paired_bootstrap_ci,
    partial_permutation_p,
    permutation_test,
    sign_flip_p,
    spearman,
)
from physdocs.constants import DEFAULT_SEED
from physdocs.results.readout import K_CLAIM, K_SELF

# ----------------------------------------------------------------- inputs


@dataclass(frozen=True)
class ModelEvidence:
    """Per-equation (``[E]``), per-token and per-head numbers of one model.

    Token arrays run over every real token of every equation (aligned with
    :attr:`Evidence.token_types`); the decoded-canvas arrays (``depth``, ``step``,
    ``position``, ``step_group``) over the tokens of the model's own argmax decoding.
    """

    inducing_specialisation: np.ndarray  # [E] JS divergence between ISAB 1 inducing points
    entropy_nats: np.ndarray  # [E] diffuser self-attention, over real keys
    entropy_normalised: np.ndarray  # [E]
    head_entropy: np.ndarray  # [E, layer, head] normalised
    leaf_ratio: np.ndarray  # [E] variables and constants: received / uniform
    obs_selectivity: np.ndarray  # [E] cross-attention concentration over observations
    token_concentration: np.ndarray  # [n_tok] cross-attention concentration per token
    token_ratio: np.ndarray  # [n_tok] self-attention received / uniform per token
    depth: np.ndarray  # [n_dec] tree depth in the decoded canvas
    step: np.ndarray  # [n_dec] step at which it resolved
    position: np.ndarray  # [n_dec] its position in the canvas
    step_group: np.ndarray  # [n_dec] equation index
    drop_rate: np.ndarray  # [E] confidence drops above metrics.DROP_EPS per transition
    roles: np.ndarray | None = None  # [E, layer + 1, head, type]: head-ablation damage and counts
    dec_operator: np.ndarray | None = None  # [n_dec] 1 for an operator of the decoded canvas, else 0
    drop_sweep: tuple[tuple[float, np.ndarray], ...] | None = None  # ((eps, [E] drop rate), ...)
    # The causal artifact's per-equation numbers (None without one, nan where undefined):
    obs_blocked_loss: np.ndarray | None = None  # [E] masked-token loss increase, observation keys blocked
    obs_blocked_derived: np.ndarray | None = None  # [E] derived blocked minus intact (-1, 0, 1)
    resample_loss: np.ndarray | None = None  # [E] loss increase, a partner's observation keys
    head_loss: np.ndarray | None = None  # [E, heads] loss increase, each head's output mean-ablated
    head_derived: np.ndarray | None = None  # [E, heads] derived ablated minus intact; None: not decoded
    # (value, low, high) as the causal page shows it, so the finding and the page show one
    # interval for one statistic; None: bootstrapped here
    obs_blocked_loss_ci: tuple[float, float, float] | None = None
    # The diffuser's knockouts, logit lens and path patching (physdocs.analysis.readout):
    knockout_cross: np.ndarray | None = None  # [E, 3] loss rise, top / random / bottom observation keys lost
    knockout_self: np.ndarray | None = None  # [E, 3] the same, one token key lost per row
    decision_sums: np.ndarray | None = None  # [E, 4] decision layers of operators, then leaves: (sum, count)
    indirect: np.ndarray | None = None  # [E] total minus direct effect, over the layers before the last
    resample_loss_ci: tuple[float, float, float] | None = None
    head_agreement_ci: tuple[float, float, float] | None = None


@dataclass(frozen=True)
class Evidence:
    """What the findings are computed from: both models over the same equations."""

    tier: np.ndarray  # [E] tier index, 0 = trivial .. 4 = multi_step
    length: np.ndarray  # [E] real tokens, BOS .. EOS
    token_types: tuple[str, ...]  # [n_tok] grammar type of each real token
    token_groups: np.ndarray  # [n_tok] equation index of each real token
    trained: ModelEvidence
    control: ModelEvidence


@dataclass(frozen=True)
class Settings:
    n_boot: int = 1000
    n_perm: int = 1000
    seed: int = DEFAULT_SEED
    key: str = ""  # the finding being computed: set by :func:`evaluate`, never typed in a compute function

    def rng(self) -> np.random.Generator:
        """A generator per finding, so adding one leaves the others' numbers as they were."""
        return np.random.default_rng([self.seed, zlib.crc32(self.key.encode())])


@dataclass(frozen=True)
class Finding:
    """One finding, declared once (see the module docstring)."""

    key: str
    title: str
    claim: str
    opposite: str  # the claim in the other direction, stated when the data show it
    statistic_name: str
    statistic: Callable  # the pure function of metrics.py behind the number
    min_effect: float
    min_effect_reason: str
    confound: str  # what the test holds fixed or compares against: "Tested against <confound>."
    seed_reported: str
    pages: tuple[str, ...]
    compute: Callable[[Evidence, Settings], Measurement] = field(repr=False)
    direction: Direction = "greater"
    control_name: str = "random-initialised model"
    control_in_rule: bool = True  # False: the control is shown beside the number but not part of the rule
    needs: str | None = None  # a ModelEvidence field that is None when its stage was not run
    # The statistic on a draw of equations, for the paired interval of (trained - control)
    # that the verdict rests on (:mod:`.paired`); None: the control is not part of the rule.
    paired: P.Paired | None = field(default=None, repr=False)
    paired_boot_share: float = 1.0  # of Settings.n_boot (an expensive statistic draws fewer)


# ----------------------------------------------------------------- compute functions


def _finite(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=float).ravel()
    return x[np.isfinite(x)]


def _inducing(ev: Evidence, s: Settings) -> Measurement:
    t, c = _finite(ev.trained.inducing_specialisation), _finite(ev.control.inducing_specialisation)
    rng = s.rng()
    value, lo, hi = bootstrap_ci(t, n_boot=s.n_boot, rng=rng)
    labels = np.array(["trained"] * t.size + ["control"] * c.size)
    _, p = permutation_test(np.concatenate([t, c]), labels, "trained", n_perm=s.n_perm, rng=rng)
    control = float(c.mean()) if c.size else None
    return Measurement(value, lo, hi, p, control, t.size, null=control, n_perm=s.n_perm)


def _tier_partial(values_of: Callable[[ModelEvidence], np.ndarray]) -> Callable:
    """Spearman rho(tier, value) with sequence length held fixed; permutation within lengths."""

    def compute(ev: Evidence, s: Settings) -> Measurement:
        rng = s.rng()
        v, vc = np.asarray(values_of(ev.trained), float), np.asarray(values_of(ev.control), float)
        ok = np.isfinite(v)
        tier, length = ev.tier[ok].astype(float), ev.length[ok].astype(float)

        idx = np.arange(ok.sum())
        value, lo, hi = paired_bootstrap_ci(
            [idx], lambda i: M.partial_spearman(tier[i], v[ok][i], length[i]), n_boot=s.n_boot, rng=rng)
        p = partial_permutation_p(tier, v[ok], length, n_perm=s.n_perm, rng=rng)
        okc = np.isfinite(vc)
        control = M.partial_spearman(ev.tier[okc].astype(float), vc[okc], ev.length[okc].astype(float))
        details = (
            Detail("Spearman rho(tier, value), length not held fixed", spearman(tier, v[ok])),
            Detail("Spearman rho(length, value)", spearman(length, v[ok])),
            Detail("Spearman rho(tier, length)", spearman(tier, length)),
        )
        return Measurement(value, lo, hi, p, control, int(ok.sum()), n_perm=s.n_perm, details=details)

    return compute


def _head_spread(ev: Evidence, s: Settings) -> Measurement:
    x = np.asarray(ev.trained.head_entropy, float)
    value, lo, hi = bootstrap_ci(x, M.head_spread, n_boot=s.n_boot, rng=s.rng())
    control = M.head_spread(ev.control.head_entropy)
    return Measurement(value, lo, hi, None, control, x.shape[0], null=control)


def _head_roles(ev: Evidence, s: Settings) -> Measurement:
    r, rc = np.asarray(ev.trained.roles, float), np.asarray(ev.control.roles, float)
    value, reliability = M.head_role_size(r, seed=s.seed)
    # Each draw keeps an equation once: a copy in both halves would replicate itself.
    lo, hi = distinct_bootstrap_ci(r.shape[0], lambda idx: M.head_role_size(r[idx], n_splits=4, seed=s.seed)[0],
                                   n_boot=max(1, s.n_boot // 5), rng=s.rng())
    control, control_reliability = M.head_role_size(rc, seed=s.seed)
    roles = M.named_roles(r, TOKEN_TYPES, min_size=BY_KEY["head_roles"].min_effect, seed=s.seed)
    details = (Detail("split-half reliability of the head-by-type damage (trained)", reliability),
               Detail("split-half reliability of the head-by-type damage (control)", control_reliability),
               *(Detail(f"layer {layer}, head {head}: hurts {kind} tokens most (nats per token beyond its "
                        "average, beyond its noise over all heads and types)", excess)
                 for layer, head, kind, excess in roles))
    return Measurement(value, lo, hi, None, control, r.shape[0], null=control, details=details)


def _token_permutation(values_of: Callable[[ModelEvidence], np.ndarray], statistic: Callable,
                       merged: bool) -> Callable:
    """Operators against other tokens: the CI resamples whole equations and decides (null 0); the
    two-sided p-value shuffles type labels within equations."""

    def compute(ev: Evidence, s: Settings) -> Measurement:
        rng = s.rng()
        v, vc = np.asarray(values_of(ev.trained), float), np.asarray(values_of(ev.control), float)
        types = np.array(ev.token_types)
        keep = np.isfinite(v) & (types != "special")
        labels = np.array([M.operator_label(t, merged) for t in types[keep]])
        groups = ev.token_groups[keep]
        observed, p = permutation_test(v[keep], labels, "operator", statistic, n_perm=s.n_perm, groups=groups,
                                       rng=rng, two_sided=True)
        _, lo, hi = paired_bootstrap_ci([v[keep], labels], lambda a, b: statistic(a, b, "operator"),
                                        n_boot=s.n_boot, groups=groups, rng=rng)
        control = float(statistic(vc[keep], labels, "operator"))
        return Measurement(observed, lo, hi, p, control, len(np.unique(groups)), n_perm=s.n_perm)

    return compute


def _coarse_to_fine(ev: Evidence, s: Settings) -> Measurement:
    rng, n_eq = s.rng(), len(ev.tier)
    rho = _finite(P.coarse_to_fine_rho(ev.trained, n_eq))
    rho_c = _finite(P.coarse_to_fine_rho(ev.control, n_eq))
    value, lo, hi = bootstrap_ci(rho, n_boot=s.n_boot, rng=rng)
    p = sign_flip_p(rho, n_perm=s.n_perm, rng=rng)

    def mean(x: np.ndarray) -> float:
        x = _finite(x)
        return float(x.mean()) if x.size else float("nan")

    t = ev.trained
    ok = (t.depth >= 0) & (t.step >= 0)
    details = (
        Detail("mean rho(depth, step | position), token class not held fixed",
               mean(P.coarse_to_fine_rho(t, n_eq, by_class=False))),
        Detail("mean rho(depth, step | position) among operators alone",
               mean(P.coarse_to_fine_rho(t, n_eq, operators_only=True))),
        Detail("Spearman rho(depth, step), tokens pooled, position not held fixed",
               spearman(t.depth[ok], t.step[ok])),
        Detail("Spearman rho(position, step), tokens pooled", spearman(t.position[ok], t.step[ok])),
    )
    control = float(rho_c.mean()) if rho_c.size else float("nan")
    return Measurement(value, lo, hi, p, control, rho.size, n_perm=s.n_perm, details=details)


def _drops(ev: Evidence, s: Settings) -> Measurement:
    r = _finite(ev.trained.drop_rate)
    value, lo, hi = bootstrap_ci(r, n_boot=s.n_boot, rng=s.rng())
    c = _finite(ev.control.drop_rate)
    details = tuple(Detail(f"mean rate of confidence drops above {eps:g} (the threshold swept)",
                           float(_finite(rates).mean()) if _finite(rates).size else float("nan"))
                    for eps, rates in ev.trained.drop_sweep or ())
    return Measurement(value, lo, hi, None, float(c.mean()) if c.size else None, r.size, "trajectories",
                       null=SMOOTH_THRESHOLD, details=details)


def _blocked(field_name: str) -> Callable:
    """Mean per-equation effect of blocking the observation keys, against the control's."""

    def compute(ev: Evidence, s: Settings) -> Measurement:
        d = _finite(getattr(ev.trained, field_name))
        shown = getattr(ev.trained, field_name + "_ci", None)
        if shown is not None:  # the causal page's own estimate: one interval for one statistic
            value, lo, hi = shown
        else:
            value, lo, hi = bootstrap_ci(d, n_boot=s.n_boot, rng=s.rng())
        c = _finite(getattr(ev.control, field_name))
        return Measurement(value, lo, hi, None, float(c.mean()) if c.size else float("nan"), d.size)

    return compute


#: The drop rate below which trajectories count as smooth (one transition in 20 per position).
SMOOTH_THRESHOLD = 0.05

_TIER_CONFOUND = ("sequence length: the rank correlation with tier is partial, length held fixed, and the "
                  "p-value permutes only what length does not explain (Freedman-Lane)")
_TOKEN_CONFOUND = ("equation identity: type labels are shuffled only within an equation and the CI "
                   "resamples whole equations; a token's position in the prefix sequence is not held fixed")
_SMALL_RHO = "a partial Spearman rho of at least 0.1 (a small correlation) beyond the control's"

REGISTRY: tuple[Finding, ...] = (
    Finding(
        key="inducing_specialisation",
        title="ISAB inducing points specialise",
        claim="inducing points attend to different subsets of observations",
        opposite="inducing points attend to the observations more alike than at random initialisation",
        statistic_name="mean pairwise JS divergence between inducing points (nats)",
        statistic=M.inducing_specialisation,
        min_effect=0.05 * float(np.log(2)),
        min_effect_reason="5% of the largest possible JS divergence (ln 2) above the control",
        confound="the random-initialised encoder, whose own divergence is the null",
        seed_reported="inducing points 'develop specialised attention profiles' (qualitative, random weights)",
        pages=("encoder.md",),
        compute=_inducing,
        paired=P.mean_of(lambda m: m.inducing_specialisation),
        control_name="random-initialised encoder",
    ),
    Finding(
        key="entropy_tier_nats",
        title="Self-attention entropy (nats) rises with tier",
        claim="diffuser self-attention entropy in nats rises with tier at a given sequence length",
        opposite="diffuser self-attention entropy in nats falls with tier at a given sequence length",
        statistic_name="partial Spearman rho(tier, entropy | length)",
        statistic=M.partial_spearman,
        min_effect=0.1,
        min_effect_reason=_SMALL_RHO,
        confound=_TIER_CONFOUND,
        seed_reported="1.778 / 2.255 / 2.327 / 2.826 / 2.909 nats by tier, +63.6% (random weights)",
        pages=("diffuser-self-attention.md", "entropy-scaling.md"),
        compute=_tier_partial(lambda m: m.entropy_nats),
        paired=P.tier_rho(lambda m: m.entropy_nats),
    ),
    Finding(
        key="entropy_tier_normalised",
        title="Normalised self-attention entropy rises with tier",
        claim="normalised diffuser self-attention entropy rises with tier at a given sequence length",
        opposite="normalised diffuser self-attention entropy falls with tier at a given sequence length",
        statistic_name="partial Spearman rho(tier, normalised entropy | length)",
        statistic=M.partial_spearman,
        min_effect=0.1,
        min_effect_reason=_SMALL_RHO,
        confound=_TIER_CONFOUND,
        seed_reported="not reported (raw nats only)",
        pages=("diffuser-self-attention.md", "entropy-scaling.md"),
        compute=_tier_partial(lambda m: m.entropy_normalised),
        paired=P.tier_rho(lambda m: m.entropy_normalised),
    ),
    Finding(
        key="head_specialisation",
        title="Heads differ in how broadly they attend",
        claim="diffuser heads differ in how broadly they attend",
        opposite="diffuser heads attend more alike in breadth than at random initialisation",
        statistic_name="std across heads of mean normalised entropy",
        statistic=M.head_spread,
        min_effect=0.02,
        min_effect_reason="heads' normalised entropies spread 2 percentage points more than the control's",
        confound=("the random-initialised model, whose near-uniform heads set the null; breadth is not "
                  "function, which the head-roles finding tests by ablation"),
        seed_reported="'evident' (qualitative, random weights)",
        pages=("diffuser-self-attention.md",),
        compute=_head_spread,
        paired=P.head_spread,
    ),
    Finding(
        key="head_roles",
        title="Heads take functional roles",
        claim="removing different diffuser heads hurts different token types, reliably across equations",
        opposite="removing different diffuser heads hurts token types less differently than at random initialisation",
        statistic_name="reliable head-by-type damage (nats per masked token, split-half)",
        statistic=M.head_role_size,
        min_effect=0.02,
        min_effect_reason=("a head-by-type damage difference of 0.02 nats per masked token (about 2% in "
                           "probability) that replicates across halves of the equations, beyond the control's"),
        confound=("chance differences between heads: only the part of the damage profile that replicates "
                  "between random halves of the equations counts, and heads' overall importance and token "
                  "types' overall difficulty are removed first"),
        seed_reported="heads 'take functional roles' (qualitative, random weights)",
        pages=("diffuser-self-attention.md",),
        compute=_head_roles,
        paired=P.head_roles,
        paired_boot_share=0.2,
        needs="roles",
    ),
    Finding(
        key="cross_attention_operators",
        title="Operator tokens read the encoder memory most",
        claim="operator tokens read the encoder memory more sharply than other tokens",
        opposite="operator tokens read the encoder memory less sharply than other tokens",
        statistic_name="difference in mean cross-attention concentration (operators - others)",
        statistic=M.operator_difference,
        min_effect=0.02,
        min_effect_reason="operators' concentration over observations 0.02 above other tokens'",
        confound=_TOKEN_CONFOUND,
        seed_reported="operators 'show stronger cross-attention' (single memory slot: every weight is 1.0)",
        pages=("cross-attention.md",),
        compute=_token_permutation(lambda m: m.token_concentration, M.operator_difference, True),
        paired=P.tokens(lambda m: m.token_concentration, M.operator_difference, True),
    ),
    Finding(
        key="coarse_to_fine",
        title="Refinement resolves coarse to fine",
        claim="within an equation, tokens nearer the root resolve earlier than their position predicts",
        opposite="within an equation, tokens nearer the root resolve later than their position predicts",
        statistic_name="mean over equations of partial Spearman rho(depth, step | position, token class)",
        statistic=M.within_group_partial_spearman,
        min_effect=0.1,
        min_effect_reason=_SMALL_RHO,
        confound=("left-to-right order and token class: depth is correlated with the resolution step inside "
                  "each equation with the token's position and whether it is an operator or a leaf held fixed "
                  "(leaves sit deeper and are placed last); the p-value flips signs of whole equations"),
        seed_reported="'top-level operators first, then variables, then constants' (3 trajectories, random weights)",
        pages=("trajectories.md",),
        compute=_coarse_to_fine,
        paired=P.per_equation_rho(),
    ),
    Finding(
        key="smooth_trajectories",
        title="Refinement trajectories are smooth",
        claim=(f"a position's confidence falls by more than {M.DROP_EPS:g} between consecutive steps in fewer "
               f"than {SMOOTH_THRESHOLD:g} of transitions"),
        opposite=f"a position's confidence falls by more than {M.DROP_EPS:g} in more than {SMOOTH_THRESHOLD:g} "
                 "of transitions",
        statistic_name=f"mean rate of confidence drops above {M.DROP_EPS:g}",
        statistic=M.confidence_drop_rate,
        min_effect=0.0,
        min_effect_reason=(f"the threshold itself: the CI must lie below {SMOOTH_THRESHOLD:g}; the control's "
                           "rate is shown but not used, since a random model's flat confidences cannot drop"),
        direction="less",
        control_in_rule=False,
        confound=(f"wobble: only drops above {M.DROP_EPS:g} in probability count, so a noisy but flat "
                  "confidence is not called rough"),
        seed_reported="'smooth, monotonic' with some flickering (3 trajectories, random weights)",
        pages=("trajectories.md",),
        compute=_drops,
    ),
    Finding(
        key="operators_receive_most",
        title="Operator tokens receive the most attention",
        claim="operator tokens receive more attention than any other token type, relative to uniform",
        opposite="operator tokens receive less attention than another token type, relative to uniform",
        statistic_name="operator received-ratio margin over the next type",
        statistic=M.operator_margin,
        min_effect=0.1,
        min_effect_reason="operators receive 10% of their uniform share more than the next type",
        confound=_TOKEN_CONFOUND,
        seed_reported="'operators receive more attention than variables or constants across all tiers' "
                      "(random weights)",
        pages=("evidence.md",),
        compute=_token_permutation(lambda m: m.token_ratio, M.operator_margin, False),
        paired=P.tokens(lambda m: m.token_ratio, M.operator_margin, False),
    ),
    Finding(
        key="leaf_attention_tier",
        title="Variable and constant attention rises with tier",
        claim=("the self-attention variables and constants receive, relative to uniform, rises with tier at a "
               "given sequence length"),
        opposite=("the self-attention variables and constants receive, relative to uniform, falls with tier at "
                  "a given sequence length"),
        statistic_name="partial Spearman rho(tier, leaf received ratio | length)",
        statistic=M.partial_spearman,
        min_effect=0.1,
        min_effect_reason=_SMALL_RHO,
        confound=_TIER_CONFOUND,
        seed_reported="'variable and constant attention increases with complexity' (random weights)",
        pages=("evidence.md",),
        compute=_tier_partial(lambda m: m.leaf_ratio),
        paired=P.tier_rho(lambda m: m.leaf_ratio),
    ),
)

def _selectivity(ev: Evidence, s: Settings) -> Measurement:
    t, c = _finite(ev.trained.obs_selectivity), _finite(ev.control.obs_selectivity)
    value, lo, hi = bootstrap_ci(t, n_boot=s.n_boot, rng=s.rng())
    return Measurement(value, lo, hi, None, float(c.mean()) if c.size else float("nan"), t.size)


REGISTRY += (
    Finding(
        key="observation_selectivity",
        title="Tokens pick out individual observations",
        claim="equation tokens concentrate their cross-attention on a few observations",
        opposite="equation tokens attend to the observations more evenly than at random initialisation",
        statistic_name="mean cross-attention concentration over the observation keys (0 = uniform, 1 = one)",
        statistic=M.observation_selectivity,
        min_effect=0.1,
        min_effect_reason="a tenth of the way from reading all observations alike to reading one, beyond the control",
        confound=("the pooled z slot: it is left out and the rows renormalised over the observations, so "
                  "a token that reads z is not counted as selective; the random-initialised model is the null"),
        seed_reported="not reported (single memory slot)",
        pages=("cross-attention.md",),
        compute=_selectivity,
        paired=P.mean_of(lambda m: m.obs_selectivity),
    ),
)

_CAUSAL_CONFOUND = ("the random-initialised model under the same intervention: disturbing any attention "
                    "moves a loss, so only the excess over the control counts")
def _head_agreement(ev: Evidence, s: Settings) -> Measurement:
    """Across heads, Spearman rho(loss increase, share of derivations lost) as the causal page
    shows it; the control's heads are not decoded (it derives almost nothing), so its rho is
    undefined and the paired rule reads it as the null."""
    loss = np.asarray(ev.trained.head_loss, dtype=float)
    if ev.trained.head_agreement_ci is not None:  # the causal page's own estimate
        value, lo, hi = ev.trained.head_agreement_ci
    else:
        value, lo, hi = paired_bootstrap_ci([loss, np.asarray(ev.trained.head_derived, dtype=float)],
                                            M.head_agreement, n_boot=s.n_boot, rng=s.rng())
    details = (Detail("heads whose ablation changes at least one derivation",
                      float((np.abs(np.nan_to_num(ev.trained.head_derived)) > 0).any(0).sum())),
               Detail("heads ablated", float(loss.shape[1])))
    return Measurement(value, lo, hi, None, None, loss.shape[0], details=details)


REGISTRY += (
    Finding(
        key="observations_lower_loss",
        title="Diffuser predictions use the observations",
        claim="blocking the observation keys of every cross-attention layer raises the masked-token loss",
        opposite="blocking the observation keys of every cross-attention layer lowers the masked-token loss",
        statistic_name="mean increase of the masked-token loss (nats), observation keys blocked",
        statistic=M.mean_increase,
        min_effect=0.1,
        min_effect_reason="0.1 nats per masked token (about 10% in probability) beyond the control's increase",
        confound=_CAUSAL_CONFOUND,
        seed_reported="not tested (the seed shows attention weights only)",
        pages=("causal.md",),
        compute=_blocked("obs_blocked_loss"),
        paired=P.mean_of(lambda m: m.obs_blocked_loss),
        needs="obs_blocked_loss",
    ),
    Finding(
        key="observations_make_derivations",
        title="Derivations need the observations",
        claim="blocking the observation keys loses derivations the intact model makes",
        opposite="blocking the observation keys adds derivations",
        statistic_name=("change of the derived share (the evaluation's sampler without refinement, held-out "
                        "R² > 0.99), observation keys blocked"),
        statistic=M.mean_increase,
        min_effect=0.05,
        min_effect_reason="five equations in a hundred beyond the control's change",
        direction="less",
        confound=_CAUSAL_CONFOUND + "; a model that derives nothing intact can only gain",
        seed_reported="not tested (the seed shows attention weights only)",
        pages=("causal.md",),
        compute=_blocked("obs_blocked_derived"),
        paired=P.mean_of(lambda m: m.obs_blocked_derived),
        needs="obs_blocked_derived",
    ),
    Finding(
        key="observations_specific",
        title="Predictions read the observations of their own equation",
        claim=("another equation's observations (same length, the equation's own z) raise the masked-token loss: "
               "the diffuser reads what is specific to its data, not only that data is there"),
        opposite="another equation's observations lower the masked-token loss",
        statistic_name="mean increase of the masked-token loss (nats), observation keys resampled from a partner",
        statistic=M.mean_increase,
        min_effect=0.1,
        min_effect_reason="0.1 nats per masked token (about 10% in probability) beyond the control's increase",
        confound=(_CAUSAL_CONFOUND + "; the resampled keys are real observations of another equation, an input "
                  "on the model's distribution, unlike blocked keys"),
        seed_reported="not tested (the seed shows attention weights only)",
        pages=("causal.md",),
        compute=_blocked("resample_loss"),
        paired=P.mean_of(lambda m: m.resample_loss),
        needs="resample_loss",
    ),
    Finding(
        key="heads_loss_behaviour",
        title="Heads that matter for the loss matter for derivations",
        claim=("across the diffuser's heads, the ones whose ablation raises the masked-token loss more lose more "
               "derivations"),
        opposite="across the diffuser's heads, the ones whose ablation raises the loss more lose fewer derivations",
        statistic_name="Spearman rho across heads (loss increase, share of derivations lost), mean ablation",
        statistic=M.head_agreement,
        min_effect=0.3,
        min_effect_reason="a moderate rank correlation (0.3): the loss ranks heads roughly as derivations do",
        confound=("the random-initialised model, whose heads' effects on derivations are not decoded: it derives "
                  "almost nothing, so its correlation is undefined and counts as none; the interval resamples "
                  "equations, so a few equations cannot carry it"),
        seed_reported="not tested (the seed shows attention weights only)",
        pages=("causal.md",),
        compute=_head_agreement,
        paired=P.head_agreement,
        needs="head_derived",
    ),
)



def _defined_rows(x: np.ndarray) -> int:
    return int(np.isfinite(x.reshape(len(x), -1)).all(1).sum())


def _rows(values_of: Callable[[ModelEvidence], np.ndarray], statistic: Callable[[np.ndarray], float],
          n_of: Callable[[np.ndarray], int] = _defined_rows) -> Callable:
    """A statistic of per-equation rows (``[E, ...]``): its bootstrap CI over equations, the
    control's value beside it, null 0; ``n_of`` counts the equations that enter it."""

    def compute(ev: Evidence, s: Settings) -> Measurement:
        t, c = np.asarray(values_of(ev.trained), float), np.asarray(values_of(ev.control), float)
        value, lo, hi = bootstrap_ci(t, statistic, n_boot=s.n_boot, rng=s.rng())
        return Measurement(value, lo, hi, None, statistic(c), n_of(t))

    return compute


_KNOCKOUT_CONFOUND = ("what losing any keys does -- the same number of random keys is the middle of the order -- "
                      "and the random-initialised model under the same knockouts; a lost key is masked as the "
                      "softmax masks it (the row renormalised), so no row reads a key that is not there")
REGISTRY += (
    Finding(
        key="faithful_cross",
        title="Cross-attention weights rank the observations the diffuser uses",
        claim=(f"knocking out the {K_CLAIM} observations a masked token's cross-attention weights most raises the "
               f"diffuser's loss more than knocking out {K_CLAIM} random ones, and those more than the {K_CLAIM} "
               "it weights least"),
        opposite=(f"knocking out the {K_CLAIM} observations a masked token's cross-attention weights least raises "
                  "the diffuser's loss more than random ones, and those more than the most weighted"),
        statistic_name=(f"smaller step of the order top > random > bottom in masked-token loss rise (nats), "
                        f"{K_CLAIM} observation keys lost per row in every layer"),
        statistic=M.faithfulness_gap,
        min_effect=0.02,
        min_effect_reason="each step of the order 0.02 nats per masked token (about 2% in probability) beyond the control's",
        confound=_KNOCKOUT_CONFOUND + "; z is never knocked out",
        seed_reported="not tested (the seed shows attention weights only)",
        pages=("faithfulness.md",),
        compute=_rows(lambda m: m.knockout_cross, M.faithfulness_gap),
        paired=P.of_rows(lambda m: m.knockout_cross, M.faithfulness_gap),
        needs="knockout_cross",
    ),
    Finding(
        key="faithful_self",
        title="Self-attention weights rank the tokens the diffuser uses",
        claim=("knocking out the token a diffuser position's self-attention weights most raises the loss more "
               "than knocking out a random token, and that more than the token it weights least"),
        opposite=("knocking out the token a diffuser position's self-attention weights least raises the loss "
                  "more than a random token, and that more than the most weighted"),
        statistic_name=(f"smaller step of the order top > random > bottom in masked-token loss rise (nats), "
                        f"{K_SELF} token key lost per row in every layer"),
        statistic=M.faithfulness_gap,
        min_effect=0.02,
        min_effect_reason="each step of the order 0.02 nats per masked token (about 2% in probability) beyond the control's",
        confound=_KNOCKOUT_CONFOUND,
        seed_reported="not tested (the seed shows attention weights only)",
        pages=("faithfulness.md",),
        compute=_rows(lambda m: m.knockout_self, M.faithfulness_gap),
        paired=P.of_rows(lambda m: m.knockout_self, M.faithfulness_gap),
        needs="knockout_self",
    ),
    Finding(
        key="operators_decided_first",
        title="Operators are decided at earlier layers than leaves",
        claim=("in the diffuser's per-layer readout, a masked operator becomes and stays the top prediction at an "
               "earlier layer than a masked variable or constant"),
        opposite=("in the diffuser's per-layer readout, a masked variable or constant becomes and stays the top "
                  "prediction at an earlier layer than a masked operator"),
        statistic_name=("mean decision layer of leaves minus operators (layers; masked tokens the output gets right "
                        "and the embedding alone does not)"),
        statistic=M.decision_gap,
        min_effect=0.25,
        min_effect_reason="a quarter of a layer (of four): one token in four decided a whole layer earlier",
        confound=("the readout's prior: a token the embedding alone already reads out and keeps (a common operator "
                  "at every masked position) is left out, so a class is not early for being frequent; the "
                  "random-initialised model, whose readout gets almost nothing right, shows no gap"),
        seed_reported=("'top-level operators first, then variables, then constants' (over refinement steps, "
                       "3 trajectories, random weights; not over layers)"),
        pages=("readout.md",),
        compute=_rows(lambda m: m.decision_sums, M.decision_gap, lambda x: int((x[:, 1] + x[:, 3] > 0).sum())),
        paired=P.of_rows(lambda m: m.decision_sums, M.decision_gap),
        needs="decision_sums",
    ),
    Finding(
        key="indirect_layers",
        title="Earlier layers act through later ones",
        claim=("a diffuser layer before the last moves the prediction more through the layers after it than "
               "straight into the readout, when its output is patched from a run on another equation's data"),
        opposite=("a diffuser layer before the last moves the prediction more straight into the readout than "
                  "through the layers after it"),
        statistic_name=("mean over the layers before the last of total minus direct effect (nats per masked "
                        "token), the layer's output patched from a run on a partner equation's memory"),
        statistic=M.mean_increase,
        min_effect=0.1,
        min_effect_reason="0.1 nats per masked token (about 10% in probability) beyond the control's",
        confound=("the random-initialised model under the same patches; the patch comes from a run on another "
                  "benchmark equation's observations (in distribution), not from noise"),
        seed_reported="not tested (the seed shows attention weights only)",
        pages=("readout.md",),
        compute=_rows(lambda m: m.indirect, M.mean_increase),
        paired=P.mean_of(lambda m: m.indirect),
        needs="indirect",
    ),
)

BY_KEY: dict[str, Finding] = {f.key: f for f in REGISTRY}


def evaluate(finding: Finding, evidence: Evidence, settings: Settings = Settings()) -> ClaimResult:  # noqa: B008
    """One finding measured and judged (its random draws keyed by its own key), with the
    paired interval of (trained - control) when the control is part of its rule."""
    s = replace(settings, key=finding.key)
    m = finding.compute(evidence, s)
    if finding.paired is not None and finding.control_in_rule:
        n_boot = max(1, round(s.n_boot * finding.paired_boot_share))
        # The paired interval replaces a test against the control's point value (a null set to it).
        null_is_control = m.null is not None and m.null == m.control_value
        control_null = None if null_is_control else m.null
        if control_null is not None and P.undefined_for_control(finding.paired, evidence):
            # trained minus a constant: the statistic's own interval, shifted, so one number
            # does not appear with two intervals from two bootstraps
            diff, low, high = (None if x is None else x - control_null for x in (m.value, m.ci_low, m.ci_high))
        else:
            diff, low, high = P.paired_difference(
                finding.paired, evidence, n_boot=n_boot,
                rng=np.random.default_rng([s.seed, zlib.crc32(finding.key.encode()), 1]), control_null=control_null)
        m = replace(m, diff=diff, diff_low=low, diff_high=high, null=control_null)
    return judge(finding, m)


def available(finding: Finding, evidence: Evidence) -> bool:
    """Whether the stage a finding needs (head ablation, the causal analyses) ran for this evidence."""
    return finding.needs is None or getattr(evidence.trained, finding.needs) is not None


def evaluate_all(evidence: Evidence, settings: Settings = Settings()) -> list[ClaimResult]:  # noqa: B008
    """Every registered finding whose stage ran, in registry order."""
    return [evaluate(f, evidence, settings) for f in REGISTRY if available(f, evidence)]
