"""The causal interventions on hand-built patterns and a tiny model (physdocs.analysis.causal)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from physdocs.analysis import causal as K
from physdocs.grammar import PAD_ID, TOKEN_TO_ID
from physdocs.models import DecoderConfig, EncoderConfig, PhysDiffuserPlus, SystemConfig

torch.set_num_threads(1)


def softmax_pattern(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed)).softmax(-1)


def ids(*tokens: str, length: int = 8) -> list[int]:
    return [TOKEN_TO_ID[t] for t in tokens] + [PAD_ID] * (length - len(tokens))


# ----------------------------------------------------------------- blocking


def test_blocking_renormalises_each_row_over_the_keys_left():
    pattern = softmax_pattern(2, 4, 5, 7)  # [B, H, query, key]: 6 observation keys + z
    obs_blocked = K.block_keys(("obs",))(pattern, None)
    assert torch.allclose(obs_blocked[..., -1], torch.ones(2, 4, 5))  # all of it on z
    assert (obs_blocked[..., :-1] == 0).all()
    z_blocked = K.block_keys(("z",))(pattern, None)
    assert (z_blocked[..., -1] == 0).all()
    assert torch.allclose(z_blocked.sum(-1), torch.ones(2, 4, 5))
    # the observation keys keep their proportions
    ratio = z_blocked[..., :-1] / pattern[..., :-1]
    assert torch.allclose(ratio, ratio[..., :1].expand_as(ratio))
    assert (K.block_keys(("obs", "z"))(pattern, None) == 0).all()


# ----------------------------------------------------------------- head ablation hooks


def test_zero_and_mean_ablation_on_a_hand_built_pattern():
    pattern = softmax_pattern(3, 2, 4, 4, seed=1)  # [B, H, q, k]
    zeroed = K.zero_head(1)(pattern, None)
    assert (zeroed[:, 1] == 0).all() and torch.equal(zeroed[:, 0], pattern[:, 0])
    meaned = K.mean_head(0)(pattern, None)
    assert torch.allclose(meaned[:, 0], pattern[:, 0].mean(0, keepdim=True).expand(3, 4, 4))
    assert torch.equal(meaned[:, 1], pattern[:, 1])
    assert torch.allclose(meaned[:, 0].sum(-1), torch.ones(3, 4))  # a mean of distributions is one
    assert not torch.equal(pattern, K.zero_head(0)(pattern, None))  # the hooks copy, never write in place
    assert torch.equal(pattern, softmax_pattern(3, 2, 4, 4, seed=1))


# ----------------------------------------------------------------- partners


def test_partners_pair_only_equal_lengths_and_different_tokens():
    canvas = torch.tensor([
        ids("BOS", "mul", "x1", "x2", "EOS"),
        ids("BOS", "x1", "EOS"),
        ids("BOS", "add", "x1", "x2", "EOS"),
        ids("BOS", "mul", "x1", "x2", "EOS"),  # a copy of 0: never its partner
        ids("BOS", "sin", "x1", "EOS"),  # alone at its length: no partner
    ])
    lengths = [5, 3, 5, 5, 4]
    pairs = K.partners(canvas, lengths)
    assert all(lengths[a] == lengths[b] and not torch.equal(canvas[a], canvas[b]) for a, b in pairs)
    assert pairs == [(0, 2), (2, 3), (3, 2)]  # 3 skips its copy 0 and takes the next one


# ----------------------------------------------------------------- patching


@pytest.fixture(scope="module")
def one_layer_model() -> PhysDiffuserPlus:
    torch.manual_seed(3)
    dec = DecoderConfig(d_model=32, n_heads=4, n_layers=1, d_ff=64, max_len=8)
    return PhysDiffuserPlus(SystemConfig(encoder=EncoderConfig(d_model=32, z_dim=64), diffuser=dec, ar=dec)).eval()


def test_patching_the_only_layer_moves_the_whole_way_to_b(one_layer_model):
    """With one layer, the memory reaches the output through that layer's cross-attention
    alone: patching it is running on B's memory, so its share of the move is 1."""
    canvas = torch.tensor([
        ids("BOS", "mul", "x1", "x2", "EOS"),
        ids("BOS", "add", "x2", "x1", "EOS"),
        ids("BOS", "div", "x1", "x2", "EOS"),
    ])
    obs = torch.rand(3, 20, 160, generator=torch.Generator().manual_seed(0)).round()
    with torch.no_grad():
        memory = one_layer_model.encode(obs)
    inp = K.CausalInputs(obs, canvas, [5, 5, 5], score=lambda i, toks: False)
    out = K.patching(one_layer_model, memory, inp, level=1.0, seed=0, n_boot=20, rng=np.random.default_rng(0))
    assert out["n_pairs"] == 3 and out["total_move"] != 0
    (layer,) = out["layers"]
    assert layer["value"] == pytest.approx(1.0, abs=1e-5)
    heads = [h["value"] for h in out["heads"]]
    assert len(heads) == 4 and not all(h == pytest.approx(1.0) for h in heads)  # one head is not the whole move


def test_mean_ablation_replaces_a_heads_output_not_its_pattern():
    points = {kind: point(2) for kind, point, _ in K._ABLATIONS}
    assert points == {"zero": "diffuser.layers.2.self_attn.hook_pattern", "mean": "diffuser.layers.2.self_attn.hook_z"}


def test_a_held_weight_is_not_renormalised():
    """Observations blocked with z's weight held: z keeps exactly its intact weight."""
    pattern = torch.softmax(torch.randn(2, 3, 4, 6), -1)
    held = K.block_keys(("obs",), renormalise=False)(pattern, None)
    assert torch.equal(held[..., -1], pattern[..., -1]) and (held[..., :-1] == 0).all()
    assert torch.allclose(K.block_keys(("obs",))(pattern, None)[..., -1], torch.ones(2, 3, 4))
