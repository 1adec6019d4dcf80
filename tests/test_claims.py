import numpy as np
import pytest

from physdocs.analysis import claims as c


def rng(seed=0):
    return np.random.default_rng(seed)


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


def test_a_significant_but_tiny_effect_does_not_hold():
    from physdocs.analysis.claims import claim_holds

    # CI clear of the null, beats the control, but by less than the declared minimum effect.
    assert claim_holds(0.011, ci_low=0.0105, ci_high=0.0115, null=0.01, control_value=0.01)
    assert not claim_holds(0.011, ci_low=0.0105, ci_high=0.0115, null=0.01, control_value=0.01, min_effect=0.02)
    assert claim_holds(0.05, ci_low=0.04, ci_high=0.06, null=0.01, control_value=0.01, min_effect=0.02)
    assert not claim_holds(0.04, ci_low=0.03, ci_high=0.05, null=0.05, direction="less", min_effect=0.02)


def test_p_values_at_the_permutation_floor_say_so():
    from physdocs.analysis.claims import format_p
    from physdocs.analysis.findings import REGISTRY

    assert format_p(1 / 1001, 1000) == "p < 0.001 (1000 permutations)"
    assert format_p(0.0123, 1000) == "p = 0.0123"
    assert format_p(None) == "p undefined"
    assert all(f.min_effect_reason for f in REGISTRY)



def test_partial_spearman_removes_the_covariate():
    from physdocs.analysis.metrics import partial_spearman
    from physdocs.analysis.stats import partial_permutation_p, spearman

    g = rng(0)
    z = g.normal(size=200)
    x, y = z + 0.3 * g.normal(size=200), z + 0.3 * g.normal(size=200)
    assert spearman(x, y) > 0.7  # through z alone
    assert abs(partial_spearman(x, y, z)) < 0.15
    assert partial_permutation_p(x, y, z, n_perm=300, rng=g) > 0.05
    y2 = y + 0.5 * x
    assert partial_spearman(x, y2, z) > 0.3
    assert partial_permutation_p(x, y2, z, n_perm=300, rng=g) < 0.01


def test_holm_adjusts_and_keeps_order():
    from physdocs.analysis.stats import holm

    assert holm([0.01, 0.04, 0.03, None]) == pytest.approx([0.03, 0.06, 0.06, None])
    assert holm([0.5, 0.9]) == [1.0, 1.0]


def test_stratified_difference_ignores_a_difference_between_strata():
    from physdocs.analysis.metrics import stratified_difference

    strata = np.repeat([0, 1], 50)
    derived = np.concatenate([np.ones(40, bool), np.zeros(10, bool), np.ones(10, bool), np.zeros(40, bool)])
    values = strata * 1.0  # the stratum alone sets the value
    pooled = values[derived].mean() - values[~derived].mean()
    assert pooled < -0.5
    assert stratified_difference(values, derived, strata) == pytest.approx(0.0)


def test_drop_rate_counts_only_drops_above_epsilon():
    from physdocs.analysis.metrics import confidence_drop_rate

    conf = np.array([[0.5, 0.5], [0.49, 0.9], [0.3, 0.95]])
    assert confidence_drop_rate(conf, eps=0.05) == pytest.approx(1 / 4)
    assert confidence_drop_rate(conf, eps=0.0) == pytest.approx(2 / 4)


def test_head_role_size_is_in_nats_and_ignores_noise():
    from physdocs.analysis.metrics import head_role_size

    g = rng(2)
    counts = np.full((60, 5), 4.0)
    noise = g.normal(0, 0.5, size=(60, 8, 5))
    roles = np.zeros((60, 2, 8, 5))
    roles[:, 0] = counts[:, None, :] * noise
    roles[:, 1, 0] = counts
    size, _ = head_role_size(roles)
    assert abs(size) < 0.08
    planted = roles.copy()
    interaction = np.zeros((8, 5))
    interaction[0, 0], interaction[1, 1] = 0.8, 0.8
    planted[:, 0] += counts[:, None, :] * interaction
    size, reliability = head_role_size(planted)
    assert size > 0.1 and reliability > 0.5
