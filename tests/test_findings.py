"""Every registered finding against a planted effect and against its null (with its confound).

Each finding of :data:`physdocs.analysis.findings.REGISTRY` needs an entry in :data:`PLANTED`
and in :data:`NULLS`: the planted evidence carries the claimed effect, so the finding must
hold; the null evidence carries none -- but does carry the confound the finding names (the
value tracks length rather than tier, the step tracks position rather than depth), so a
statistic that ignored its confound would wrongly hold.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np
import pytest

from physdocs.analysis import findings as F
from physdocs.analysis.claims import Measurement, judge
from physdocs.analysis.schema import ClaimResult
from physdocs.report.pages import SECTION_PAGES

E, LAYERS, HEADS, TYPES = 80, 4, 8, 5
SETTINGS = F.Settings(n_boot=200, n_perm=200, seed=2026)


def _model(rng: np.random.Generator, tier: np.ndarray, length: np.ndarray, types, groups, dec,
           extra: np.random.Generator) -> F.ModelEvidence:
    """Null evidence of one model: every statistic follows its confound, none the claim
    (``extra`` draws the readout's arrays, so the others' draws stay as they were)."""
    n_tok = len(types)
    depth, step, position, step_group = dec
    counts = rng.integers(2, 6, size=(E, TYPES)).astype(float)
    damage = 0.2 * rng.random(HEADS * LAYERS)[:, None] + 0.1 * rng.random(TYPES)[None, :]  # importance + difficulty
    roles = np.zeros((E, LAYERS + 1, HEADS, TYPES))
    noise = rng.normal(0, 0.3, size=(E, LAYERS * HEADS, TYPES))
    roles[:, :-1] = (counts[:, None, :] * (damage[None] + noise)).reshape(E, LAYERS, HEADS, TYPES)
    roles[:, -1, 0] = counts
    return F.ModelEvidence(
        inducing_specialisation=0.05 + 0.01 * rng.standard_normal(E),
        entropy_nats=0.1 * length + 0.05 * rng.standard_normal(E),
        entropy_normalised=0.02 * length + 0.05 * rng.standard_normal(E),
        head_entropy=0.5 + 0.01 * rng.standard_normal((E, LAYERS, HEADS)),
        leaf_ratio=1.0 + 0.03 * length + 0.05 * rng.standard_normal(E),
        obs_selectivity=0.005 + 0.001 * rng.random(E),
        token_concentration=0.01 * rng.random(n_tok),
        token_ratio=1.0 + 0.1 * rng.standard_normal(n_tok),
        depth=depth, step=step, position=position, step_group=step_group,
        drop_rate=0.2 + 0.02 * rng.standard_normal(E),
        roles=roles,
        obs_blocked_loss=0.05 + 0.05 * rng.standard_normal(E),
        obs_blocked_derived=np.zeros(E),
        # losing any key hurts alike, whatever its weight: the knockouts' confound
        knockout_cross=0.2 + 0.05 * extra.standard_normal((E, 1)) + 0.02 * extra.standard_normal((E, 3)),
        knockout_self=0.5 + 0.1 * extra.standard_normal((E, 1)) + 0.05 * extra.standard_normal((E, 3)),
        decision_sums=_decisions(extra),
        indirect=0.01 * extra.standard_normal(E),
    )


def _decisions(rng: np.random.Generator, leaf_layers: tuple[int, int] = (1, 4)) -> np.ndarray:
    """Per equation (sum, count) of decision layers of operators (drawn from layers 1..4), then
    of leaves (drawn from ``leaf_layers``); some equations have none of a class."""
    n_op, n_leaf = rng.integers(0, 5, E), rng.integers(0, 5, E)
    op = [rng.integers(1, 5, n).sum() for n in n_op]
    leaf = [rng.integers(leaf_layers[0], leaf_layers[1] + 1, n).sum() for n in n_leaf]
    return np.column_stack([op, n_op, leaf, n_leaf]).astype(float)


def _causal(rng: np.random.Generator, model: F.ModelEvidence, decoded: bool) -> F.ModelEvidence:
    """The causal artifact's null numbers (drawn apart, so the other fields keep their draws)."""
    k = HEADS * LAYERS
    return replace(
        model, resample_loss=0.05 + 0.05 * rng.standard_normal(E),
        head_loss=0.1 * rng.random((1, k)) + 0.05 * rng.standard_normal((E, k)),
        # derivations lost at random, whatever the head's loss; the control is not decoded
        head_derived=-(rng.random((E, k)) < 0.1).astype(float) if decoded else None)


def _decoded(rng: np.random.Generator, length: np.ndarray, coarse_to_fine: bool):
    """Depth grows with position (prefix trees go deeper to the right); the step follows position,
    and with ``coarse_to_fine`` also depth at a given position."""
    depth, step, position, group = [], [], [], []
    for i, n in enumerate(length):
        pos = np.arange(n, dtype=float)
        d = np.minimum(pos, np.floor(pos / 2) + rng.integers(0, 3, size=n))
        s = pos + rng.normal(0, 1.0, size=n) + (2.0 * d if coarse_to_fine else 0.0)
        depth += d.tolist()
        step += s.tolist()
        position += pos.tolist()
        group += [i] * n
    return tuple(np.array(a, dtype=float) for a in (depth, step, position)) + (np.array(group),)


def null_evidence(seed: int = 0) -> F.Evidence:
    rng = np.random.default_rng(seed)
    tier = rng.integers(0, 5, size=E)
    length = 5 + 3 * tier + rng.integers(0, 4, size=E)  # tier and length strongly correlated
    types, groups = [], []
    for i, n in enumerate(length):
        types += ["special"] + list(rng.choice(["binary", "unary", "variable", "constant"], size=n - 2)) + ["special"]
        groups += [i] * n
    extra = np.random.default_rng([seed, 28])
    trained = _model(rng, tier, length, types, groups, _decoded(rng, length, False), extra)
    control = _model(rng, tier, length, types, groups, _decoded(rng, length, False), extra)
    causal = np.random.default_rng([seed, 1])
    trained, control = _causal(causal, trained, True), _causal(causal, control, False)
    return F.Evidence(tier=tier, length=length, token_types=tuple(types), token_groups=np.array(groups),
                      trained=trained, control=control)


def _plant(ev: F.Evidence, **fields) -> F.Evidence:
    return replace(ev, trained=replace(ev.trained, **fields))


def _operators(ev: F.Evidence) -> np.ndarray:
    return np.isin(np.array(ev.token_types), ["binary", "unary"])


def _plant_roles(ev: F.Evidence) -> F.Evidence:
    roles = ev.trained.roles.copy()
    interaction = np.random.default_rng(9).normal(0, 0.3, size=(LAYERS, HEADS, TYPES))
    roles[:, :-1] += roles[:, -1, 0][:, None, None, :] * interaction[None]
    return _plant(ev, roles=roles)


def _plant_coarse_to_fine(ev: F.Evidence) -> F.Evidence:
    depth, step, position, group = _decoded(np.random.default_rng(3), ev.length, True)
    return _plant(ev, depth=depth, step=step, position=position, step_group=group)


def _plant_derivations(ev: F.Evidence) -> F.Evidence:
    lost = np.zeros(E)
    lost[: E // 3] = -1.0
    return _plant(ev, obs_blocked_derived=lost)


def _plant_head_agreement(ev: F.Evidence) -> F.Evidence:
    """Heads that raise the loss more lose more derivations."""
    rng = np.random.default_rng(5)
    strength = np.linspace(0, 1, HEADS * LAYERS)
    loss = strength[None, :] + 0.05 * rng.standard_normal((E, HEADS * LAYERS))
    lost = -(rng.random((E, HEADS * LAYERS)) < 0.6 * strength[None, :]).astype(float)
    return _plant(ev, head_loss=loss, head_derived=lost)


PLANTED: dict[str, Callable[[F.Evidence], F.Evidence]] = {
    "inducing_specialisation": lambda ev: _plant(ev, inducing_specialisation=ev.trained.inducing_specialisation + 0.2),
    "entropy_tier_nats": lambda ev: _plant(ev, entropy_nats=ev.trained.entropy_nats + 0.5 * ev.tier),
    "entropy_tier_normalised": lambda ev: _plant(ev, entropy_normalised=ev.trained.entropy_normalised + 0.3 * ev.tier),
    "head_specialisation": lambda ev: _plant(
        ev, head_entropy=ev.trained.head_entropy + np.linspace(-0.2, 0.2, HEADS)[None, None, :]),
    "head_roles": _plant_roles,
    "cross_attention_operators": lambda ev: _plant(
        ev, token_concentration=ev.trained.token_concentration + 0.2 * _operators(ev)),
    "coarse_to_fine": _plant_coarse_to_fine,
    "smooth_trajectories": lambda ev: _plant(ev, drop_rate=np.full(E, 0.01)),
    "operators_receive_most": lambda ev: _plant(ev, token_ratio=ev.trained.token_ratio + 0.6 * _operators(ev)),
    "leaf_attention_tier": lambda ev: _plant(ev, leaf_ratio=ev.trained.leaf_ratio + 0.3 * ev.tier),
    "observations_lower_loss": lambda ev: _plant(ev, obs_blocked_loss=ev.trained.obs_blocked_loss + 1.0),
    "observations_make_derivations": _plant_derivations,
    "observations_specific": lambda ev: _plant(ev, resample_loss=ev.trained.resample_loss + 1.0),
    "heads_loss_behaviour": _plant_head_agreement,
    "observation_selectivity": lambda ev: _plant(ev, obs_selectivity=ev.trained.obs_selectivity + 0.3),
    "faithful_cross": lambda ev: _plant(ev, knockout_cross=ev.trained.knockout_cross + [0.2, 0.1, 0.0]),
    "faithful_self": lambda ev: _plant(ev, knockout_self=ev.trained.knockout_self + [0.6, 0.2, 0.0]),
    "operators_decided_first": lambda ev: _plant(ev, decision_sums=_decisions(np.random.default_rng(5), (3, 4))),
    "indirect_layers": lambda ev: _plant(ev, indirect=ev.trained.indirect + 0.3),
}

#: The null is the shared null evidence, unless a finding needs its own.
NULLS: dict[str, Callable[[F.Evidence], F.Evidence]] = {key: (lambda ev: ev) for key in PLANTED}


def test_every_finding_has_a_planted_and_a_null_test():
    keys = {f.key for f in F.REGISTRY}
    assert keys == set(PLANTED), f"planted tests missing or stale: {keys ^ set(PLANTED)}"
    assert keys == set(NULLS), f"null tests missing or stale: {keys ^ set(NULLS)}"


@pytest.mark.parametrize("key", sorted(PLANTED))
def test_planted_effect_holds(key):
    result = F.evaluate(F.BY_KEY[key], PLANTED[key](null_evidence()), SETTINGS)
    assert result.outcome == "holds", result.verdict


@pytest.mark.parametrize("key", sorted(NULLS))
def test_null_does_not_hold(key):
    result = F.evaluate(F.BY_KEY[key], NULLS[key](null_evidence()), SETTINGS)
    assert result.outcome != "holds", result.verdict


def test_null_carries_the_confound():
    """Without length held fixed the null evidence would pass the tier claims: the confound is real."""
    from physdocs.analysis.stats import spearman

    ev = null_evidence()
    assert spearman(ev.tier, ev.trained.entropy_normalised) > 0.5
    t = ev.trained
    assert spearman(t.depth, t.step) > 0.3  # depth 'predicts' step through position alone


def test_opposite_direction_is_named():
    ev = _plant(null_evidence(), entropy_normalised=null_evidence().trained.entropy_normalised - 0.3 * null_evidence().tier)
    result = F.evaluate(F.BY_KEY["entropy_tier_normalised"], ev, SETTINGS)
    assert result.outcome == "opposite"
    assert result.verdict.startswith("Does not hold; the opposite holds: normalised diffuser self-attention entropy falls")


def test_every_verdict_states_its_confound():
    for result in F.evaluate_all(null_evidence(), SETTINGS):
        assert f"Tested against {F.BY_KEY[result.key].confound}." in result.verdict


def test_every_finding_is_placed_on_generated_pages():
    for f in F.REGISTRY:
        assert f.pages, f.key
        for page in f.pages:
            assert page in SECTION_PAGES, f"{f.key}: page {page} is not generated"
        assert f.statistic.__module__ == "physdocs.analysis.metrics", f.key


def test_claim_result_round_trips():
    result = F.evaluate(F.BY_KEY["coarse_to_fine"], null_evidence(), SETTINGS)
    assert ClaimResult.from_json(result.to_json()) == result


def test_missing_stage_skips_its_findings():
    ev = null_evidence()
    ev = replace(ev, trained=replace(ev.trained, roles=None), control=replace(ev.control, roles=None))
    keys = [r.key for r in F.evaluate_all(ev, SETTINGS)]
    assert "head_roles" not in keys and "coarse_to_fine" in keys


def test_judge_uses_the_declared_minimum_effect():
    f = F.BY_KEY["entropy_tier_nats"]
    tiny = Measurement(0.05, 0.01, 0.09, 0.01, 0.0, 100)  # significant but below 0.1
    assert judge(f, tiny).outcome == "does not hold"
    big = Measurement(0.3, 0.2, 0.4, 0.001, 0.0, 100)
    assert judge(f, big).outcome == "holds"


def test_every_finding_appears_on_its_pages():
    from physdocs.report.pages import render_pages
    from physdocs.results.analysis import Results
    from tests.report_fakes import FakeAnalysisConfig, synthetic_run

    results, _ = synthetic_run(FakeAnalysisConfig())
    rendered = render_pages(Results.from_json(results), set())
    for f in F.REGISTRY:
        for page in f.pages:
            assert f.title in rendered[page], f"{f.key} missing from {page}"
        assert f.title in rendered["findings.md"]


def _shared(ev: F.Evidence, field: str, effect: np.ndarray) -> F.Evidence:
    """The same planted effect in the trained model and in the control."""
    return replace(ev, trained=replace(ev.trained, **{field: getattr(ev.trained, field) + effect}),
                   control=replace(ev.control, **{field: getattr(ev.control, field) + effect}))


@pytest.mark.parametrize(("key", "field", "size"), [
    ("entropy_tier_normalised", "entropy_normalised", 0.3),
    ("observations_lower_loss", "obs_blocked_loss", 1.0),
    ("observations_specific", "resample_loss", 1.0),
    ("inducing_specialisation", "inducing_specialisation", 0.2),
])
def test_the_paired_rule_rejects_an_effect_the_control_shares_and_accepts_a_real_one(key, field, size):
    ev = null_evidence()
    effect = size * ev.tier if "tier" in key else np.full(E, size)
    shared = F.evaluate(F.BY_KEY[key], _shared(ev, field, effect), SETTINGS)
    assert shared.outcome != "holds" and shared.diff_low < F.BY_KEY[key].min_effect, shared.verdict
    real = F.evaluate(F.BY_KEY[key], _plant(ev, **{field: getattr(ev.trained, field) + effect}), SETTINGS)
    assert real.outcome == "holds" and real.diff_low > F.BY_KEY[key].min_effect, real.verdict
    assert "(paired over equations), against a minimum effect of" in real.verdict


def test_the_control_point_value_alone_no_longer_decides():
    """Beyond the control's point value by more than the minimum effect, but the paired interval
    of (trained - control) does not clear it: the claim does not hold."""
    from physdocs.analysis.claims import claim_holds

    kw = dict(ci_low=0.3, ci_high=0.7, null=0.0, control_value=0.2, min_effect=0.1)
    assert claim_holds(0.5, **kw)  # against the point value alone
    assert not claim_holds(0.5, **kw, diff_low=0.05, diff_high=0.55)
    assert claim_holds(0.5, **kw, diff_low=0.15, diff_high=0.55)
    assert not claim_holds(-0.5, direction="less", **{**kw, "ci_low": -0.7, "ci_high": -0.3},
                           diff_low=-0.55, diff_high=-0.05)


def test_coarse_to_fine_holds_token_class_fixed():
    """Leaves sit deeper and are placed last, but within each class depth says nothing about the
    step: with the class held fixed the finding does not hold, though position alone would."""
    rng = np.random.default_rng(4)
    ev = null_evidence()
    depth, step, position, group, operator = [], [], [], [], []
    for i, n in enumerate(ev.length):
        op = rng.random(n) < 0.5
        d = np.where(op, rng.integers(0, 3, n), rng.integers(2, 6, n)).astype(float)
        s = np.where(op, rng.normal(5, 2, n), rng.normal(15, 2, n))  # leaves last, whatever their depth
        depth += d.tolist()
        step += s.tolist()
        position += rng.permutation(n).astype(float).tolist()
        group += [i] * n
        operator += op.astype(float).tolist()
    arrays = dict(depth=np.array(depth), step=np.array(step), position=np.array(position),
                  step_group=np.array(group), dec_operator=np.array(operator))
    result = F.evaluate(F.BY_KEY["coarse_to_fine"], _plant(ev, **arrays), SETTINGS)
    assert result.outcome != "holds", result.verdict
    by_label = {d.label: d.value for d in result.details}
    assert by_label["mean rho(depth, step | position), token class not held fixed"] > 0.3
    assert abs(result.value) < 0.1


def test_head_role_draws_never_repeat_an_equation():
    """The head-roles interval draws each equation at most once: a copy in both split halves
    would agree with itself and inflate the split-half statistic."""
    from physdocs.analysis.stats import distinct_bootstrap_ci

    seen = []
    distinct_bootstrap_ci(50, lambda idx: seen.append(idx) or 0.0, n_boot=100, rng=np.random.default_rng(1))
    assert all(len(np.unique(idx)) == len(idx) for idx in seen) and min(len(i) for i in seen) < 40

    # Pure noise duplicated: every equation twice. Halves that share copies replicate the noise.
    from physdocs.analysis import metrics as M

    ev = null_evidence()
    noise = ev.trained.roles
    doubled = np.concatenate([noise, noise])
    inflated = M.head_role_size(doubled, seed=3)[0]
    honest = M.head_role_size(doubled[np.unique(np.arange(len(doubled)) % len(noise))], seed=3)[0]
    assert inflated > 1.5 * honest


def test_reliable_roles_are_named_by_the_type_they_hurt():
    ev = _plant_roles(null_evidence())
    result = F.evaluate(F.BY_KEY["head_roles"], ev, SETTINGS)
    named = [d for d in result.details if d.label.startswith("layer ")]
    assert named and all("hurts" in d.label and d.value >= F.BY_KEY["head_roles"].min_effect for d in named)
    assert not [d for d in F.evaluate(F.BY_KEY["head_roles"], null_evidence(), SETTINGS).details
                if d.label.startswith("layer ")]


def test_smoothness_is_shown_over_a_threshold_sweep():
    sweep = tuple((eps, np.full(E, 0.3 - eps)) for eps in (0.01, 0.05, 0.1, 0.2))
    ev = _plant(null_evidence(), drop_sweep=sweep)
    details = {d.label: d.value for d in F.evaluate(F.BY_KEY["smooth_trajectories"], ev, SETTINGS).details}
    assert [round(details[f"mean rate of confidence drops above {eps:g} (the threshold swept)"], 2)
            for eps in (0.01, 0.05, 0.1, 0.2)] == [0.29, 0.25, 0.2, 0.1]


def test_a_control_without_a_defined_statistic_counts_as_no_effect():
    """A random model that fixes every position in one step has no within-equation order: its
    coarse-to-fine correlation is undefined, and the paired rule reads it as the null (0)."""
    ev = _plant_coarse_to_fine(null_evidence())
    flat = replace(ev.control, step=np.zeros_like(ev.control.step))
    result = F.evaluate(F.BY_KEY["coarse_to_fine"], replace(ev, control=flat), SETTINGS)
    assert result.outcome == "holds" and result.diff is not None and result.diff_low > 0.1, result.verdict


def test_knockouts_hold_only_when_both_steps_of_the_order_do():
    """Top hurting most is not enough: random must also hurt more than bottom."""
    ev = null_evidence()
    half = F.evaluate(F.BY_KEY["faithful_cross"], _plant(ev, knockout_cross=ev.trained.knockout_cross + [0.3, 0.0, 0.0]),
                      SETTINGS)
    assert half.outcome != "holds", half.verdict
    reversed_ = F.evaluate(F.BY_KEY["faithful_cross"], _plant(ev, knockout_cross=ev.trained.knockout_cross + [0.0, 0.1, 0.2]),
                           SETTINGS)
    assert reversed_.outcome == "opposite", reversed_.verdict


def test_a_decision_gap_the_control_shares_does_not_hold():
    ev = null_evidence()
    both = replace(ev, trained=replace(ev.trained, decision_sums=_decisions(np.random.default_rng(5), (3, 4))),
                   control=replace(ev.control, decision_sums=_decisions(np.random.default_rng(6), (3, 4))))
    result = F.evaluate(F.BY_KEY["operators_decided_first"], both, SETTINGS)
    assert result.outcome != "holds" and result.value > 0.5, result.verdict


def test_a_control_without_a_statistic_gives_one_interval_not_two():
    """The control's heads are not decoded, so its correlation is undefined: trained minus the
    null is the statistic itself, shown with its own interval, not a second bootstrap's."""
    result = F.evaluate(F.BY_KEY["heads_loss_behaviour"], _plant_head_agreement(null_evidence()), SETTINGS)
    assert (result.diff, result.diff_low, result.diff_high) == (result.value, result.ci_low, result.ci_high)
    assert result.outcome == "holds" and result.diff_low > F.BY_KEY["heads_loss_behaviour"].min_effect
