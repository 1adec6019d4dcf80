import math

import numpy as np
import pytest

from physdocs.analysis import metrics as m
from physdocs.grammar import ARITY


@pytest.mark.parametrize("n", [2, 6, 18])
def test_uniform_rows_give_ln_n(n):
    attn = np.full((3, n, n), 1.0 / n)  # [head, q, k]
    np.testing.assert_allclose(m.row_entropy(attn), math.log(n))
    np.testing.assert_allclose(m.normalised_row_entropy(attn), 1.0)


def test_one_hot_rows_give_zero():
    attn = np.eye(5)[None].repeat(2, axis=0)
    np.testing.assert_allclose(m.row_entropy(attn), 0.0)
    np.testing.assert_allclose(m.normalised_row_entropy(attn), 0.0)
    np.testing.assert_allclose(m.row_concentration(attn), 1.0)


def test_causal_rows_use_i_plus_one_keys():
    n = 7
    attn = m.uniform_attention(n, n, causal=True)
    np.testing.assert_allclose(attn.sum(-1), 1.0)
    np.testing.assert_allclose(m.row_entropy(attn, causal=True), np.log(np.arange(1, n + 1)))
    norm = m.normalised_row_entropy(attn, causal=True)
    assert np.isnan(norm[0])  # one visible key: no choice, excluded from means
    np.testing.assert_allclose(norm[1:], 1.0)
    # the same matrix read as bidirectional is not uniform over n keys
    assert np.nanmean(m.normalised_row_entropy(attn)) < 0.9


def test_padding_is_masked():
    key_mask = np.array([True, True, True, True, False, False])
    attn = m.uniform_attention(6, 6, key_mask)
    np.testing.assert_allclose(attn[:, 4:], 0.0)
    np.testing.assert_allclose(m.row_entropy(attn, key_mask), math.log(4))
    np.testing.assert_allclose(m.normalised_row_entropy(attn, key_mask), 1.0)  # ln 4, not ln 6
    # stray mass on a padded key is ignored, not counted as entropy
    leaky = attn.copy()
    leaky[:, 5] = 0.5
    np.testing.assert_allclose(m.row_entropy(leaky, key_mask), math.log(4))


def test_received_by_type_on_hand_built_matrix():
    types = ["binary", "variable", "constant", "variable"]
    attn = np.array(
        [
            [1.0, 0.0, 0.0, 0.0],
            [0.5, 0.5, 0.0, 0.0],
            [0.5, 0.0, 0.5, 0.0],
            [0.0, 0.5, 0.0, 0.5],
        ]
    )[None]
    got = m.attention_received_by_type(attn, types)
    assert got == pytest.approx({"binary": 0.5, "variable": 0.375, "constant": 0.125})
    share = m.uniform_share(types)
    assert share == pytest.approx({"binary": 0.25, "variable": 0.5, "constant": 0.25})
    assert m.received_ratio(got, share) == pytest.approx({"binary": 2.0, "variable": 0.75, "constant": 0.5})
    only_first_row = m.attention_received_by_type(attn, types, query_mask=np.array([1, 0, 0, 0], bool))
    assert only_first_row == pytest.approx({"binary": 1.0, "variable": 0.0, "constant": 0.0})
    with pytest.raises(ValueError, match="3 key types for 4 keys"):
        m.attention_received_by_type(attn, types[:3])


def test_received_ratio_per_key_is_one_for_uniform_causal():
    a = m.uniform_attention(5, 5, causal=True)
    np.testing.assert_allclose(m.received_ratio_per_key(a[None], causal=True), 1.0)
    assert m.received_ratio_per_key(np.eye(5)[None], causal=True)[0] < 1.0


def test_induced_map_and_specialisation():
    mab1 = np.array([[1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.5, 0.5]])  # [m=2, N=4]
    mab2 = np.full((4, 2), 0.5)  # [N, m]
    induced = m.induced_map(mab1, mab2)
    assert induced.shape == (4, 4)
    np.testing.assert_allclose(induced.sum(-1), 1.0)
    assert m.inducing_specialisation(mab1) == pytest.approx(math.log(2))  # disjoint supports
    assert m.inducing_specialisation(np.full((3, 4, 10), 0.1)) == pytest.approx(0.0)
    assert m.argmax_coverage(mab1) == 1.0
    assert m.argmax_coverage(np.full((4, 10), 0.1)) == 0.25


def test_flicker_rate_on_hand_built_trajectory():
    M = 99
    traj = np.array(
        [
            [M, M, M],
            [5, M, M],  # pos0 unmasked
            [6, 7, M],  # pos0 flickers 5->6
            [6, 7, 8],
            [6, 7, 8],
        ]
    )
    # counted transitions (before unmasked): pos0 at t=1,2,3 (3); pos1 at t=2,3 (2); pos2 at t=3 (1) -> 6
    assert m.flicker_rate(traj, M) == pytest.approx(1 / 6)
    assert m.flicker_rate(traj[:, 1:], M) == 0.0
    assert np.isnan(m.flicker_rate(np.full((3, 2), M), M))
    np.testing.assert_array_equal(m.resolution_steps(traj, M), [2, 2, 3])
    np.testing.assert_array_equal(m.resolution_steps(np.array([[M, 1], [M, 1]]), M), [-1, 0])


def test_confidence_monotonicity():
    conf = np.array([[0.1, np.nan], [0.3, 0.9], [0.2, 0.95]])
    # pairs: pos0 0.1->0.3 ok, 0.3->0.2 drop; pos1 nan skipped, 0.9->0.95 ok
    assert m.confidence_monotonicity(conf) == pytest.approx(2 / 3)


def test_tree_depths():
    assert m.tree_depths("mul x1 pow x2 2".split(), ARITY) == [0, 1, 1, 2, 2]
    assert m.tree_depths("add sin x1 x2".split(), ARITY) == [0, 1, 2, 1]
    seq = "STEP mul x1 x2 END_STEP STEP sqrt s1 END_STEP".split()
    assert m.tree_depths(seq, ARITY) == [-1, 0, 1, 1, -1, -1, 0, 1, -1]


def test_restrict_keys_cuts_the_pad_tail_and_reports_its_mass():
    from physdocs.analysis.metrics import restrict_keys, row_entropy

    row = np.array([[0.2, 0.2, 0.6, 0.0]])  # two real keys, then PAD keys holding 0.6
    kept, outside = restrict_keys(row, 2)
    assert np.allclose(kept, [[0.5, 0.5]]) and np.allclose(outside, [0.6])
    assert np.isclose(row_entropy(kept)[0], np.log(2))  # uniform over what exists
    none, _ = restrict_keys(np.array([[0.0, 0.0, 1.0]]), 2)
    assert np.all(none == 0)


def test_causal_uniform_share_favours_early_keys_and_sums_to_one():
    from physdocs.analysis.metrics import causal_uniform_share, uniform_share

    types = ["special", "binary", "variable", "variable", "special"]
    causal = causal_uniform_share(types)
    assert np.isclose(sum(causal.values()), 1.0)
    assert causal["special"] > uniform_share(types)["special"]  # BOS is seen by every row
