"""Knockouts of attended keys and the regression of which observations are favoured."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from physdocs.analysis import faithful as FA
from physdocs.analysis.passes import batches, logits, token_loss
from tests.conftest import tiny_model_on

IDS = ("feynman_001", "feynman_046", "feynman_101", "feynman_020")


@pytest.fixture(scope="module")
def setup():
    return tiny_model_on(IDS)


def test_knocked_out_follows_the_weights_and_spares_ineligible_keys():
    pattern = torch.tensor([0.1, 0.4, 0.2, 0.3])[None, None, None].repeat(1, 2, 1, 1)  # [B, H, q, k]
    eligible = torch.tensor([[[True, True, True, False]]])  # the last key (z) may not be lost
    pick = {mode: FA.knocked_out(pattern, eligible, mode, 1, torch.Generator().manual_seed(0))[0, 0]
            for mode in ("top", "bottom")}
    assert pick["top"].tolist() == [False, True, False, False]
    assert pick["bottom"].tolist() == [True, False, False, False]
    for seed in range(20):
        rnd = FA.knocked_out(pattern, eligible, "random", 2, torch.Generator().manual_seed(seed))[0, 0]
        assert int(rnd.sum()) == 2 and not rnd[3]
    # a row with no more eligible keys than k loses none
    assert not FA.knocked_out(pattern, eligible, "top", 3).any()
    with pytest.raises(ValueError, match="mode"):
        FA.knocked_out(pattern, eligible, "middle", 1)


def test_knockout_is_the_softmax_with_the_keys_masked():
    scores = torch.randn(2, 3, 4, 6)
    eligible = torch.ones(2, 4, 6, dtype=torch.bool)
    drop = FA.knocked_out(scores.softmax(-1), eligible, "top", 2)
    knocked = FA.knockout(scores.softmax(-1), eligible, "top", 2, torch.Generator())
    masked = scores.masked_fill(drop[:, None], float("-inf")).softmax(-1)
    torch.testing.assert_close(knocked, masked)


def test_knockouts_measure_a_loss_rise_per_equation(setup):
    model, inp, keys = setup
    bs = batches("ar_decoder", inp.canvas, inp.lengths, keys, level=0.5, seed=1, bucket=2)
    with torch.no_grad():
        base = [token_loss(logits(model, b), b) for b in bs]
    out = FA.knockouts(model, bs, base, len(IDS), block="self_attn", mode="top", k=1, seed=3)
    assert out.rise.shape == (len(IDS),) and np.isfinite(out.rise).all()
    least = FA.knockouts(model, bs, base, len(IDS), block="self_attn", mode="bottom", k=1, seed=3)
    assert out.weight > least.weight > 0  # the top key held more of each row's weight than the bottom one
    assert out.by_key_type is not None and out.by_key_type[:, 1].sum() > 0
    assert out.by_key_type[3, 1] == 0  # the AR decoder reads no masked keys
    cross = FA.knockouts(model, bs, base, len(IDS), block="cross_attn", mode="random", k=5, seed=3)
    assert cross.n_keys == 50 and cross.by_key_type is None
    again = FA.knockouts(model, bs, base, len(IDS), block="cross_attn", mode="random", k=5, seed=3)
    np.testing.assert_array_equal(cross.rise, again.rise)  # seeded


def test_point_features_rank_what_they_name():
    rng = np.random.default_rng(0)
    x = rng.uniform(1, 2, size=(40, 2))
    x[7] = [9.0, 9.0]  # far from the others: extreme, high leverage
    y = x[:, 0] * 3.0
    y[3] = 100.0  # the largest output
    f = FA.point_features(x, y)
    assert f.shape == (40, 4) and f.min() >= 0 and f.max() <= 1
    assert f[3, 0] == 1.0 and f[7, 2] == 1.0
    assert f[7, 1] >= 0.95  # at an end of every input's range (the points at the other ends tie with it)
    assert f[int(np.argmin(np.abs(x - np.median(x, 0)).max(1))), 1] < 0.2  # the most central point
    assert f[3, 3] == 1.0  # the jump to y = 100 is the steepest local slope


def test_favoured_points_recovers_a_planted_preference_and_not_a_null():
    rng = np.random.default_rng(1)
    features, planted, null = [], [], []
    for _ in range(60):
        x, y = rng.uniform(1, 3, size=(50, 2)), rng.uniform(-5, 5, 50)
        f = FA.point_features(x, y)
        features.append(f)
        w = np.exp(0.8 * f[:, 0] + 0.1 * rng.standard_normal(50))
        planted.append(w / w.sum())
        w0 = np.exp(0.1 * rng.standard_normal(50))
        null.append(w0 / w0.sum())
    draws = rng.integers(0, 60, size=(200, 60))
    coef, low, high = FA.favoured_points(planted, features, draws)
    assert coef[0] == pytest.approx(0.8, abs=0.05) and low[0] > 0.7
    assert all(low[1:] < 0.05) and all(high[1:] > -0.05)
    coef0, low0, high0 = FA.favoured_points(null, features, draws)
    assert (low0 < 0).all() and (high0 > 0).all()
