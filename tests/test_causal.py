"""The causal interventions on hand-built tensors and a tiny model (physdocs.analysis.causal),
and their shipped artifact (physdocs.analysis.causal_artifact, physdocs.results.causal)."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from physdocs.analysis import causal as K
from physdocs.analysis.stats import mcnemar_p
from physdocs.grammar import PAD_ID, TOKEN_TO_ID
from physdocs.models import DecoderConfig, EncoderConfig, PhysDiffuserPlus, SystemConfig
from physdocs.models.system import Memory
from physdocs.results.causal import CausalArtifactError, CausalResults, read_causal

torch.set_num_threads(1)


def softmax_pattern(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed)).softmax(-1)


def ids(*tokens: str, length: int = 8) -> list[int]:
    return [TOKEN_TO_ID[t] for t in tokens] + [PAD_ID] * (length - len(tokens))


# ----------------------------------------------------------------- hooks


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


def test_a_held_weight_is_not_renormalised():
    """Observations blocked with z's weight held: z keeps exactly its intact weight."""
    pattern = torch.softmax(torch.randn(2, 3, 4, 6), -1)
    held = K.block_keys(("obs",), renormalise=False)(pattern, None)
    assert torch.equal(held[..., -1], pattern[..., -1]) and (held[..., :-1] == 0).all()
    assert torch.allclose(K.block_keys(("obs",))(pattern, None)[..., -1], torch.ones(2, 3, 4))


def test_mean_ablation_replaces_one_heads_output_and_copies():
    z = torch.randn(3, 4, 5, 8)  # [B, H, T, d_head]
    mean = torch.arange(8.0)
    out = K.replace_head(2, mean)(z, None)
    assert torch.equal(out[:, 2], mean.expand(3, 5, 8)) and torch.equal(out[:, [0, 1, 3]], z[:, [0, 1, 3]])
    assert not torch.equal(out, z)  # the input is not written in place


def test_the_random_perturbation_has_the_matched_norm_at_every_position():
    z = torch.randn(3, 4, 5, 8)
    norms = torch.tensor([0.0, 2.5, 0.0, 0.5])
    out = K.perturb_heads(norms, torch.Generator().manual_seed(0))(z, None)
    moved = (out - z).norm(dim=-1)  # [B, H, T]
    assert torch.allclose(moved, norms[None, :, None].expand_as(moved), atol=1e-5)
    again = K.perturb_heads(norms, torch.Generator().manual_seed(0))(z, None)
    assert torch.equal(out, again)  # seeded


def test_resampling_swaps_the_observation_keys_and_keeps_z():
    keys = torch.arange(3 * 4 * 2, dtype=torch.float32).view(3, 4, 2)  # 3 observation keys + z
    memory = Memory(keys, torch.ones(3, 4, dtype=torch.bool), torch.zeros(3, 5))
    out = K.resampled_memory(memory, [(0, 2), (2, 0)])
    assert torch.equal(out.keys[0, :-1], keys[2, :-1]) and torch.equal(out.keys[0, -1], keys[0, -1])
    assert torch.equal(out.keys[1], keys[1])  # no partner: as it was
    assert torch.equal(memory.keys, torch.arange(3 * 4 * 2, dtype=torch.float32).view(3, 4, 2))


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


# ----------------------------------------------------------------- behaviour statistics


def test_kept_and_gained_count_each_equation_against_itself():
    intact = np.array([1, 1, 1, 1, 0, 0, 0, 0, 0, 0], bool)
    changed = np.array([1, 0, 0, 0, 1, 0, 0, 0, 0, 0], bool)
    b = K.behaviour(intact, changed)
    assert (b.kept.k, b.kept.n, b.gained.k, b.gained.n) == (1, 4, 1, 6)
    assert (b.lost, b.net, b.changed) == (3, -2, 4)
    assert b.kept.low < 0.25 < b.kept.high  # a Wilson interval around 1/4
    assert b.p_value == pytest.approx(mcnemar_p(3, 1))


def test_mcnemar_tells_a_one_sided_change_from_a_balanced_one():
    assert mcnemar_p(12, 0) < 0.001  # planted: every change is a loss
    assert mcnemar_p(6, 6) == 1.0  # null: as many gained as lost
    assert mcnemar_p(0, 0) == 1.0
    assert mcnemar_p(3, 1) == pytest.approx(0.625)  # 2 * P(Bin(4, 1/2) <= 1)


def test_agreement_finds_a_planted_ranking_and_none_in_noise():
    rng = np.random.default_rng(0)
    E, H = 60, 12
    strength = np.linspace(0, 1, H)
    loss = strength[None, :] + 0.05 * rng.standard_normal((E, H))
    lost = -(rng.random((E, H)) < 0.5 * strength[None, :]).astype(float)  # stronger heads lose more
    planted = K.agreement(loss, lost, 200, np.random.default_rng(1))
    assert planted.rho > 0.8 and planted.ci_low > 0.3 and planted.changed == H - 1
    noise = -(rng.random((E, H)) < 0.2).astype(float)
    null = K.agreement(loss, noise, 200, np.random.default_rng(1))
    assert null.ci_low < 0 < null.ci_high
    none = K.agreement(loss, np.zeros((E, H)), 50, np.random.default_rng(1))
    assert none.rho is None or not np.isfinite(none.rho)  # no head changes a derivation: no ranks


# ----------------------------------------------------------------- a tiny model end to end


@pytest.fixture(scope="module")
def tiny() -> tuple[PhysDiffuserPlus, K.CausalInputs, list]:
    torch.manual_seed(3)
    dec = DecoderConfig(d_model=32, n_heads=2, n_layers=2, d_ff=64, max_len=10, length_head=True)
    model = PhysDiffuserPlus(SystemConfig(encoder=EncoderConfig(d_model=32, z_dim=64), diffuser=dec, ar=dec)).eval()
    canvas = torch.tensor([
        ids("BOS", "mul", "x1", "x2", "EOS", length=10),
        ids("BOS", "add", "x2", "x1", "EOS", length=10),
        ids("BOS", "sin", "x1", "EOS", length=10),
    ])
    obs = torch.rand(3, 20, 160, generator=torch.Generator().manual_seed(0)).round()
    calls = []

    def derives(i, candidates):
        calls.append((i, [tuple(c) for c in candidates]))
        return i == 0  # planted: the first equation is derived whatever the decode gives

    return model, K.CausalInputs(obs, canvas, [5, 5, 4], [2, 2, 1], derives), calls


def test_the_decode_gives_each_equation_its_canvases_and_bans_unused_variables(tiny):
    model, inp, calls = tiny
    cfg = K.CausalConfig(argmax=2, samples=3, steps=4)
    with torch.no_grad():
        memory = model.encode(inp.obs)
    calls.clear()
    derived = K.derived_under(model, memory, inp, cfg, seed=5)
    assert derived.tolist() == [True, False, False]
    first = dict(calls)
    assert all(len(c) == cfg.argmax + cfg.samples for c in first.values())
    assert all("x2" not in tokens for tokens in first[2])  # one variable: x2 is never proposed
    calls.clear()
    K.derived_under(model, memory, inp, cfg, seed=5)
    assert dict(calls) == first  # a seed gives every intervention the same draws


def test_causal_model_measures_every_head_and_condition(tiny):
    model, inp, _ = tiny
    cfg = K.CausalConfig(argmax=1, samples=1, steps=3, n_boot=20, n_perm=20, random_heads=1, levels=(0.5,))
    record, per = K.causal_model("trained", model, inp, cfg, decode=True)
    assert record.derived.k == 1 and record.derived.n == 3
    assert [c.name for c in record.cross] == [*K.CONDITIONS, K.RESAMPLED]
    assert len(record.heads) == 2 * 2 * 2  # self and cross, 2 layers x 2 heads
    assert {h.label for h in record.heads} >= {"self L1H1", "cross L2H2"}
    assert all(h.ablation.behaviour is not None and h.ablation.behaviour.kept.n == 1 for h in record.heads)
    assert sum(h.ablation.random_behaviour is not None for h in record.heads) == 1
    assert record.reseed is not None and record.agreement is not None
    resampled = record.condition(K.RESAMPLED)
    assert resampled.n == 2  # the equation of length 4 has no partner
    assert np.isnan(per[K.RESAMPLED]["loss"][2]) and per["heads"]["loss"].shape == (3, 8)
    control, control_per = K.causal_model("control", model, inp, cfg, decode=False)
    assert control.reseed is None and control_per["heads"]["derived"] is None
    assert control.condition("z blocked").behaviour is None
    assert control.condition("observations blocked").behaviour is not None  # the findings compare it


def test_patching_the_only_layer_moves_the_whole_way_to_b():
    """With one layer, the memory reaches the output through that layer's cross-attention
    alone: patching it is running on B's memory, so its move is the whole move."""
    torch.manual_seed(3)
    dec = DecoderConfig(d_model=32, n_heads=4, n_layers=1, d_ff=64, max_len=8)
    model = PhysDiffuserPlus(SystemConfig(encoder=EncoderConfig(d_model=32, z_dim=64), diffuser=dec, ar=dec)).eval()
    canvas = torch.tensor([
        ids("BOS", "mul", "x1", "x2", "EOS"),
        ids("BOS", "add", "x2", "x1", "EOS"),
        ids("BOS", "div", "x1", "x2", "EOS"),
    ])
    obs = torch.rand(3, 20, 160, generator=torch.Generator().manual_seed(0)).round()
    with torch.no_grad():
        memory = model.encode(obs)
    inp = K.CausalInputs(obs, canvas, [5, 5, 5], [2, 2, 2], lambda i, c: False)
    out = K.patching(model, memory, inp, K.partners(canvas, [5, 5, 5]), level=1.0, seed=0, n_boot=20,
                     rng=np.random.default_rng(0))
    assert out.n_pairs == 3 and out.total_move.value != 0
    (layer,) = out.layers
    assert layer.share.value == pytest.approx(1.0, abs=1e-5)
    assert layer.move.value == pytest.approx(out.total_move.value, abs=1e-5)  # the move itself, in nats
    assert len(out.heads) == 4 and not all(h.share.value == pytest.approx(1.0) for h in out.heads)


# ----------------------------------------------------------------- the artifact


def _artifact(tmp_path, tiny_weights, ids_=("feynman_001", "feynman_046")):
    from physdocs.analysis.causal_artifact import compute_causal, write_causal

    cfg = K.CausalConfig(weights=str(tiny_weights), argmax=1, samples=1, steps=3, n_boot=20, n_perm=20,
                         random_heads=1, levels=(0.5,))
    return write_causal(compute_causal(cfg, equation_ids=ids_, progress=lambda line: None), tmp_path / "causal.json")


def test_the_artifact_names_its_weights_and_reads_back_only_for_them(tmp_path, tiny_weights):
    from physdocs.benchmark import benchmark_sha256
    from physdocs.models.checkpoint import sha256

    path = _artifact(tmp_path, tiny_weights)
    doc = json.loads(path.read_text())
    assert doc["meta"]["weights_sha256"] == sha256(tiny_weights)
    assert set(doc["per_equation"]) == {"trained", "control"}
    ours = dict(weights_sha256=sha256(tiny_weights), benchmark_sha256=benchmark_sha256(None),
                equations=("feynman_001", "feynman_046"))
    result = read_causal(path, **ours)
    assert CausalResults.from_json(result.to_json()) == result  # the record writes back what it reads
    with pytest.raises(CausalArtifactError, match=r"other weights.*`physdocs causal --weights w\.safetensors"):
        read_causal(path, **{**ours, "weights_sha256": "0" * 64}, weights="w.safetensors")
    with pytest.raises(CausalArtifactError, match="covers 2 equations"):
        read_causal(path, **{**ours, "equations": ("feynman_001",)})
    path.write_text("{}")
    with pytest.raises(CausalArtifactError, match="not a causal artifact"):
        read_causal(path, **ours)


def test_a_build_given_an_artifact_for_other_weights_stops_in_one_line(tmp_path, tiny_weights):
    """The site never shows interventions made on other weights: a fake artifact whose SHA-256
    is wrong stops the build before any compute, naming the command that makes the right one."""
    from physdocs.analysis.schema import AnalysisConfig
    from physdocs.report import build

    path = _artifact(tmp_path, tiny_weights)
    doc = json.loads(path.read_text())
    doc["meta"]["weights_sha256"] = "f" * 64
    path.write_text(json.dumps(doc))
    analysis = AnalysisConfig(equation_ids=("feynman_001", "feynman_046"), weights=str(tiny_weights))
    cfg = build.BuildConfig(analysis=analysis, cache_dir=tmp_path / "cache", evaluation_path=None,
                            equal_time_path=None, causal_path=path)
    with pytest.raises(build.BuildError) as err:
        build.build_site(cfg)
    message = str(err.value)
    assert "\n" not in message and "other weights" in message and "physdocs causal --weights" in message
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").iterdir())  # nothing cached


def test_other_weights_get_their_own_artifact_once(tmp_path, tiny_weights):
    """`physdocs report --weights` computes the interventions for its weights (cached)."""
    from physdocs.analysis.causal_artifact import cached_causal
    from physdocs.models.checkpoint import sha256

    eqs = tmp_path / "mine.toml"
    from tests.test_cli import CUSTOM

    eqs.write_text(CUSTOM)
    cfg = K.CausalConfig(weights=str(tiny_weights), benchmark=str(eqs), argmax=1, samples=1, steps=3, n_boot=20,
                         n_perm=20, random_heads=1, levels=(0.5,))
    path = cached_causal(cfg, tmp_path / "cache")
    doc = json.loads(path.read_text())
    assert doc["meta"]["weights_sha256"] == sha256(tiny_weights) and doc["meta"]["equations"] == ["feynman_001"]
    stamp = path.stat().st_mtime_ns
    assert cached_causal(cfg, tmp_path / "cache") == path and path.stat().st_mtime_ns == stamp
    assert cached_causal(replace(cfg, seed=1), tmp_path / "cache") != path
