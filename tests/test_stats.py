import numpy as np
import pytest
from scipy.stats import spearmanr

from physdocs.analysis import stats as s


def test_bootstrap_ci_covers_true_mean_on_large_sample():
    values = np.random.default_rng(1).normal(3.0, 1.0, size=5000)
    est, low, high = s.bootstrap_ci(values, n_boot=500, rng=np.random.default_rng(2))
    assert low < 3.0 < high
    assert est == pytest.approx(values.mean())
    assert high - low < 0.1


def test_bootstrap_is_deterministic_given_rng():
    values = np.arange(20.0)
    a = s.bootstrap_ci(values, np.median, n_boot=200, rng=np.random.default_rng(5))
    b = s.bootstrap_ci(values, np.median, n_boot=200, rng=np.random.default_rng(5))
    assert a == b


def test_cluster_bootstrap_is_wider_for_clustered_data():
    rng = np.random.default_rng(3)
    groups = np.repeat(np.arange(10), 50)
    values = rng.normal(size=10)[groups] + 0.01 * rng.normal(size=500)  # all variance between groups
    _, lo_i, hi_i = s.bootstrap_ci(values, n_boot=300, rng=np.random.default_rng(4))
    _, lo_g, hi_g = s.bootstrap_ci(values, n_boot=300, groups=groups, rng=np.random.default_rng(4))
    assert hi_g - lo_g > 3 * (hi_i - lo_i)


def test_spearman_with_ci():
    rng = np.random.default_rng(0)
    x = rng.normal(size=200)
    y = x + 0.5 * rng.normal(size=200)
    rho, low, high, p = s.spearman_with_ci(x, y, n_boot=500, rng=rng)
    assert rho == pytest.approx(spearmanr(x, y).statistic)
    assert 0 < low < rho < high
    assert p < 1e-6
    assert all(np.isnan(s.spearman_with_ci(x, np.ones(200), n_boot=10)))


def test_spearman_with_groups_runs():
    x = np.tile(np.arange(5.0), 6)
    groups = np.repeat(np.arange(6), 5)
    rho, low, high, _ = s.spearman_with_ci(x, 2 * x, n_boot=50, groups=groups, rng=np.random.default_rng(0))
    assert rho == pytest.approx(1.0) and low == pytest.approx(1.0) and high == pytest.approx(1.0)


def test_permutation_test_finds_planted_effect():
    rng = np.random.default_rng(10)
    labels = np.array(["op"] * 30 + ["other"] * 70)
    values = rng.normal(size=100) + (labels == "op") * 1.5
    obs, p = s.permutation_test(values, labels, "op", n_perm=1000, rng=np.random.default_rng(11))
    assert obs > 1.0
    assert p < 0.01


def test_permutation_test_accepts_null():
    rng = np.random.default_rng(12)
    labels = np.array(["op"] * 30 + ["other"] * 70)
    values = rng.normal(size=100)
    _, p = s.permutation_test(values, labels, "op", n_perm=1000, rng=np.random.default_rng(13))
    assert p > 0.05


def test_permute_within_groups_keeps_group_label_counts():
    labels = np.array(list("aabbbcab"))
    groups = np.array([0, 0, 0, 1, 1, 1, 1, 1])
    out = s.permute_within(labels, groups, np.random.default_rng(0))
    for g in (0, 1):
        assert sorted(out[groups == g]) == sorted(labels[groups == g])

