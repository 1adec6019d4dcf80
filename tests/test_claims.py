import json

import numpy as np
import pytest

from physdocs.analysis import claims as c

N_BOOT = 300
N_PERM = 300


def rng(seed=0):
    return np.random.default_rng(seed)


def check_verdict(result, holds):
    assert result.holds is holds
    text = result.verdict
    assert text.startswith("Holds:" if holds else "Does not hold:")
    assert c.format_number(result.value) in text
    if result.ci_low is not None and np.isfinite(result.value):
        assert c.format_number(result.ci_low) in text and c.format_number(result.ci_high) in text
    json.dumps(result.to_dict(), allow_nan=False)


def test_verdict_sentence_contains_numbers():
    text = c.verdict_sentence(
        False,
        "normalised entropy rises with tier",
        "Spearman rho",
        0.0123,
        ci_low=-0.2,
        ci_high=0.25,
        control_name="random-initialised model",
        control_value=0.05,
        n=120,
    )
    assert "does not hold" in text.lower()
    for part in ("0.0123", "[-0.2, 0.25]", "0.05", "n = 120", "95% CI"):
        assert part in text


def test_claim_holds_rule():
    assert c.claim_holds(0.4, ci_low=0.2, ci_high=0.6, null=0.0, control_value=0.1)
    assert not c.claim_holds(0.4, ci_low=-0.1, ci_high=0.6, null=0.0, control_value=0.1)  # CI crosses null
    assert not c.claim_holds(0.4, ci_low=0.2, ci_high=0.6, null=0.0, control_value=0.5)  # control wins
    assert c.claim_holds(0.01, ci_low=0.0, ci_high=0.02, null=0.05, direction="less")
    assert c.claim_holds(0.3, p_value=0.01, control_value=float("nan"))
    assert not c.claim_holds(0.3, p_value=0.2)
    assert not c.claim_holds(float("nan"), p_value=0.0)


def test_inducing_specialisation():
    control = rng(1).normal(0.02, 0.005, size=40)
    planted = c.claim_inducing_specialisation(
        rng(2).normal(0.3, 0.05, size=40), control, n_boot=N_BOOT, n_perm=N_PERM, seed_reported="qualitative"
    )
    check_verdict(planted, True)
    assert planted.seed_reported == "qualitative"
    null = c.claim_inducing_specialisation(
        rng(3).normal(0.02, 0.005, size=40), control, n_boot=N_BOOT, n_perm=N_PERM
    )
    check_verdict(null, False)


def test_entropy_rises_with_tier():
    tier = np.repeat(np.arange(5), 24)
    flat_control = rng(1).normal(0.8, 0.05, size=120)
    planted = c.claim_entropy_rises_with_tier(
        tier, 0.5 + 0.05 * tier + rng(2).normal(0, 0.05, 120), flat_control, n_boot=N_BOOT, rng=rng()
    )
    check_verdict(planted, True)
    null = c.claim_entropy_rises_with_tier(
        tier, rng(3).normal(0.7, 0.05, 120), flat_control, n_boot=N_BOOT, rng=rng()
    )
    check_verdict(null, False)
    # a length-matched uniform control whose raw entropy tracks tier perfectly beats the same trend
    uniform_like = np.log(4 + 3 * tier)
    beaten = c.claim_entropy_rises_with_tier(
        tier,
        1.5 + 0.05 * tier + rng(4).normal(0, 0.05, 120),
        uniform_like,
        normalised=False,
        control_name="length-matched uniform attention",
        n_boot=N_BOOT,
        rng=rng(),
    )
    check_verdict(beaten, False)
    assert "uniform" in beaten.verdict
    # constant normalised uniform control (all 1.0) gives an undefined control rho, not a crash
    const = c.claim_entropy_rises_with_tier(
        tier, 0.5 + 0.05 * tier + rng(2).normal(0, 0.05, 120), np.ones(120), n_boot=N_BOOT, rng=rng()
    )
    assert const.holds and const.control_value is not None and np.isnan(const.control_value)


def test_head_specialisation():
    control = 0.95 + rng(1).normal(0, 0.01, size=(60, 4, 4))
    spread_heads = np.array([0.3, 0.5, 0.7, 0.9])
    planted = c.claim_head_specialisation(
        spread_heads + rng(2).normal(0, 0.05, (60, 4, 4)), control, n_boot=N_BOOT
    )
    check_verdict(planted, True)
    null = c.claim_head_specialisation(0.95 + rng(3).normal(0, 0.01, size=(60, 4, 4)), control, n_boot=N_BOOT)
    check_verdict(null, False)


def _token_data(n_eq=30, per_eq=8, seed=0):
    types = ["binary", "unary", "variable", "constant", "variable", "binary", "constant", "special"] * n_eq
    groups = np.repeat(np.arange(n_eq), per_eq)
    is_op = np.array([t in ("binary", "unary") for t in types])
    noise = rng(seed).normal(0, 0.1, size=len(types))
    return types, groups, is_op, noise


def test_cross_attention_operators():
    types, groups, is_op, noise = _token_data()
    control = 0.05 + rng(9).normal(0, 0.01, size=len(types))
    planted = c.claim_cross_attention_operators(
        0.3 + 0.3 * is_op + noise,
        types,
        groups=groups,
        control_concentration=control,
        n_boot=N_BOOT,
        n_perm=N_PERM,
        rng=rng(),
    )
    check_verdict(planted, True)
    assert planted.n == 30 and planted.n_unit == "equations"  # n counts what the CI resamples
    null = c.claim_cross_attention_operators(
        0.3 + noise,
        types,
        groups=groups,
        control_concentration=control,
        n_boot=N_BOOT,
        n_perm=N_PERM,
        rng=rng(),
    )
    check_verdict(null, False)
    # a single-slot memory: every normalised entropy is nan -> untestable, does not hold
    single = c.claim_cross_attention_operators(
        np.full(len(types), np.nan), types, n_boot=N_BOOT, n_perm=N_PERM
    )
    check_verdict(single, False)
    assert "undefined" in single.verdict


def test_operators_receive_most():
    types, groups, is_op, noise = _token_data(seed=1)
    planted = c.claim_operators_receive_most(
        1.0 + 1.0 * is_op + noise,
        types,
        groups=groups,
        control_ratio=np.ones(len(types)),
        n_boot=N_BOOT,
        n_perm=N_PERM,
        rng=rng(),
    )
    check_verdict(planted, True)
    assert planted.control_value == pytest.approx(0.0)
    # variables, not operators, get the most: the operator margin is negative
    is_var = np.array([t == "variable" for t in types])
    null = c.claim_operators_receive_most(
        1.0 + 1.0 * is_var + noise, types, groups=groups, n_boot=N_BOOT, n_perm=N_PERM, rng=rng()
    )
    check_verdict(null, False)
    assert null.value < 0


def test_coarse_to_fine():
    n_eq, per_eq = 30, 10
    depth = np.tile(np.arange(per_eq) % 5, n_eq)
    groups = np.repeat(np.arange(n_eq), per_eq)
    random_steps = rng(1).integers(0, 20, size=depth.size)
    planted = c.claim_coarse_to_fine(
        depth,
        3 * depth + rng(2).integers(0, 4, size=depth.size),
        groups=groups,
        control_steps=random_steps,
        n_boot=N_BOOT,
        rng=rng(),
    )
    check_verdict(planted, True)
    null = c.claim_coarse_to_fine(
        depth,
        rng(3).integers(0, 20, size=depth.size),
        groups=groups,
        control_steps=random_steps,
        n_boot=N_BOOT,
        rng=rng(),
    )
    check_verdict(null, False)
    fine_to_coarse = c.claim_coarse_to_fine(depth, 20 - 3 * depth, n_boot=N_BOOT, rng=rng())
    check_verdict(fine_to_coarse, False)


def test_smooth_trajectories():
    zeros = np.zeros(50)
    planted = c.claim_monotone_confidence(rng(1).uniform(0, 0.02, size=50), flicker_rates=zeros, n_boot=N_BOOT, rng=rng())
    check_verdict(planted, True)
    null = c.claim_monotone_confidence(rng(2).uniform(0.05, 0.3, size=50), flicker_rates=zeros, n_boot=N_BOOT, rng=rng())
    check_verdict(null, False)
    assert "0.05" in null.verdict


def test_monotone_confidence_planted_and_null():
    from physdocs.analysis.claims import claim_monotone_confidence

    rng = np.random.default_rng(0)
    smooth = claim_monotone_confidence(
        rng.uniform(0.0, 0.02, 100), flicker_rates=np.zeros(100), control_rates=rng.uniform(0.2, 0.4, 100), rng=rng
    )
    assert smooth.holds and smooth.verdict.startswith("Holds")
    rough = claim_monotone_confidence(
        rng.uniform(0.1, 0.3, 100), flicker_rates=np.zeros(100), control_rates=rng.uniform(0.2, 0.4, 100), rng=rng
    )
    assert not rough.holds and "not hold" in rough.verdict
    assert "zero by construction" in rough.verdict


def test_a_significant_but_tiny_effect_does_not_hold():
    from physdocs.analysis.claims import claim_holds

    # CI clear of the null, beats the control, but by less than the declared minimum effect.
    assert claim_holds(0.011, ci_low=0.0105, ci_high=0.0115, null=0.01, control_value=0.01)
    assert not claim_holds(0.011, ci_low=0.0105, ci_high=0.0115, null=0.01, control_value=0.01, min_effect=0.02)
    assert claim_holds(0.05, ci_low=0.04, ci_high=0.06, null=0.01, control_value=0.01, min_effect=0.02)
    assert not claim_holds(0.04, ci_low=0.03, ci_high=0.05, null=0.05, direction="less", min_effect=0.02)


def test_p_values_at_the_permutation_floor_say_so():
    from physdocs.analysis.claims import MIN_EFFECTS, format_p

    assert format_p(1 / 1001, 1000) == "p < 0.001 (1000 permutations)"
    assert format_p(0.0123, 1000) == "p = 0.0123"
    assert format_p(None) == "p undefined"
    assert all(reason for _, reason in MIN_EFFECTS.values())


def test_head_roles_detects_planted_roles_and_not_their_absence():
    from physdocs.analysis.claims import claim_head_roles, role_specificity

    rng = np.random.default_rng(0)
    E, L, H, T = 40, 2, 4, 5

    def roles(planted: bool) -> np.ndarray:
        r = np.zeros((E, L + 1, H, T))
        r[:, L, 0] = 10.0  # ten masked tokens of each type per equation
        base = rng.uniform(0.9, 1.1, (E, L, H, T))
        if planted:  # head h of each layer hurts type h (and h+1) far more
            for h in range(H):
                base[:, :, h, h] += 5.0
        r[:, :L] = base * 10.0
        return r

    planted, flat = roles(True), roles(False)
    assert role_specificity(planted) > 0.3 > 0.05 > role_specificity(flat)
    holds = claim_head_roles(planted, flat, n_boot=200, rng=np.random.default_rng(1))
    assert holds.holds and holds.n == E
    assert not claim_head_roles(flat, flat, n_boot=200, rng=np.random.default_rng(1)).holds
