"""Attention statistics over the keys that exist: planted PAD mass and its absence."""

import numpy as np

from physdocs.analysis.records import _entropies, _received, _uniform_entropy, pad_mass, visible_rows


def planted(n: int, total: int, pad: float) -> np.ndarray:
    """[layer=1, head=1, q=total, k=total]: real rows spread (1 - pad) evenly on n keys, pad on the tail."""
    a = np.zeros((1, 1, total, total))
    a[..., :n] = (1 - pad) / n
    if pad:
        a[..., n:] = pad / (total - n)
    return a


def test_pad_mass_is_measured_and_removed_from_the_entropy():
    with_pad, without = planted(5, 48, 0.64), planted(5, 48, 0.0)
    assert np.isclose(pad_mass(with_pad, 5), 0.64) and np.isclose(pad_mass(without, 5), 0.0)
    # Over the keys that exist, both are uniform on 5 keys: the same entropy, whatever the PAD mass.
    assert np.isclose(_entropies("diffuser.self", with_pad, 5)[0], np.log(5))
    assert np.isclose(_entropies("diffuser.self", without, 5)[0], np.log(5))
    assert np.isclose(_entropies("diffuser.self", with_pad, 5)[1], 1.0)
    assert np.isclose(_uniform_entropy("diffuser.self", with_pad, 5), np.log(5))
    assert visible_rows("diffuser.self", with_pad, 5).shape == (1, 1, 5, 5)


def test_token_type_shares_sum_to_one_and_the_ar_baseline_is_causal():
    tokens = ["BOS", "mul", "x1", "x2", "EOS"]
    rec = _received("diffuser.self", planted(5, 48, 0.5), 5, tokens)
    assert np.isclose(sum(rec.received.values()), 1.0) and np.isclose(sum(rec.uniform.values()), 1.0)
    assert all(np.isclose(v, 1.0) for v in rec.ratio.values())  # uniform attention: every ratio 1
    causal = np.tril(np.ones((5, 5)))
    causal = (causal / causal.sum(1, keepdims=True))[None, None]
    ar = _received("decoder.self", causal, 5, tokens)
    assert all(np.isclose(v, 1.0) for v in ar.ratio.values())  # causal uniform against its own baseline


def test_coarse_to_fine_reads_depth_and_step_from_the_same_decoded_canvas():
    from types import SimpleNamespace

    from physdocs.analysis.records import decoded_depth_steps
    from physdocs.grammar import MASK_ID, TOKEN_TO_ID

    final = ["BOS", "mul", "x1", "x2", "EOS"] + ["PAD"] * 3
    ids = np.array([TOKEN_TO_ID[t] for t in final])
    traj_tokens = np.full((4, len(final)), MASK_ID)
    traj_tokens[:, 0] = ids[0]
    traj_tokens[1:, 1] = ids[1]  # the root resolves at step 1
    traj_tokens[2:, 2:] = ids[2:]  # the leaves and the tail at step 2
    d, st = decoded_depth_steps(SimpleNamespace(tokens=final, trajectory_tokens=traj_tokens))
    assert d == [-1, 0, 1, 1, -1] and st == [0, 1, 2, 2, 2]


def test_masked_canvas_masks_the_training_share_and_never_bos():
    import torch

    from physdocs.analysis.capture import masked_canvas
    from physdocs.grammar import BOS_ID, MASK_ID, TOKEN_TO_ID

    canvas = torch.full((3, 48), TOKEN_TO_ID["x1"])
    canvas[:, 0] = BOS_ID
    out = masked_canvas(canvas, 0.5, torch.Generator().manual_seed(0))
    assert ((out == MASK_ID).sum(1) == 24).all() and (out[:, 0] == canvas[:, 0]).all()


def test_derived_vs_failed_within_tiers_detects_a_planted_difference_and_not_the_tier():
    from physdocs.analysis.split import compare

    rng = np.random.default_rng(0)
    tiers = np.repeat(np.arange(4), 30)
    derived = rng.random(120) < (0.9 - 0.25 * tiers)  # easy tiers mostly derived
    by_tier = -0.5 * tiers + 0.05 * rng.standard_normal(120)  # the value tracks the tier only
    kw = {"n_boot": 300, "n_perm": 300}
    confounded = compare(by_tier, derived, tiers, rng=np.random.default_rng(1), **kw)
    assert confounded["difference"] > 0.3  # pooled: looks like a difference
    assert confounded["ci_low"] < 0 < confounded["ci_high"] and confounded["p_value"] > 0.05
    planted = compare(by_tier + 0.5 * derived, derived, tiers, rng=np.random.default_rng(1), **kw)
    assert planted["ci_low"] > 0.4 and planted["p_value"] < 0.01


def test_split_rows_are_holm_adjusted_and_split_by_their_own_decoder():
    from physdocs.analysis.split import STATISTICS, split_rows

    ids = [f"e{i}" for i in range(40)]
    records = [{"id": i, "models": {"trained": {
        "entropy": {"diffuser.self": {"normalised": k % 2 + 0.01 * k}, "decoder.self": {"normalised": 0.5}},
        "cross_obs_concentration": 0.01, "cross_z_mass": 0.2, "pad_mass": {"mean": 0.3},
        "trajectory": {"confidence_drop_rate": None}, "inducing_specialisation": 0.01}}}
        for k, i in enumerate(ids)]
    evaluation = {"results": [
        {"id": i, "model": "trained", "decoder": "diffusion", "r2_test": 1.0 if k % 2 else 0.0} for k, i in enumerate(ids)
    ] + [{"id": i, "model": "trained", "decoder": "ar", "r2_test": 1.0 if k < 10 else None}
         for k, i in enumerate(ids)]}
    rows = split_rows(records, evaluation, {i: k % 2 for k, i in enumerate(ids)}, n_boot=100, n_perm=100)
    assert [r.statistic for r in rows] == [label for label, _, _ in STATISTICS]
    by = {r.statistic: r for r in rows}
    diffuser = by["diffuser self-attention, normalised entropy"]
    assert (diffuser.decoder, diffuser.n_derived) == ("diffusion", 20)
    assert by["AR self-attention, normalised entropy"].n_derived == 10
    assert all(r.p_holm is None or r.p_value is None or r.p_holm >= r.p_value for r in rows)
