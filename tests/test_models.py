"""Models: shapes, hook names, capture API, manual vs fused attention."""

import pytest
import torch

from physdocs.grammar import BOS_ID, MASK_ID, PAD_ID
from physdocs.models import DecoderConfig, EncoderConfig, PhysDiffuserPlus, SystemConfig
from physdocs.models.attention import Attention

LAYER_HOOKS = ("hook_resid_pre", "self_attn.hook_pattern", "self_attn.hook_z", "cross_attn.hook_pattern",
               "cross_attn.hook_z")
GOLDEN_HOOKS = [
    *[f"encoder.{block}.attn.{hook}" for block in ("isabs.0.mab1", "isabs.0.mab2", "isabs.1.mab1", "isabs.1.mab2",
                                                    "pma.mab") for hook in ("hook_pattern", "hook_z")],
    *[f"diffuser.layers.{i}.{hook}" for i in range(4) for hook in LAYER_HOOKS],
    *[f"ar_decoder.layers.{i}.{hook}" for i in range(4) for hook in LAYER_HOOKS],
]


def small_config(memory="points+pooled") -> SystemConfig:
    dec = DecoderConfig(d_model=32, n_heads=4, n_layers=4, d_ff=64, max_len=24)
    return SystemConfig(encoder=EncoderConfig(d_model=32, z_dim=64), diffuser=dec, ar=dec, memory=memory)


def batch(B=3, N=50, T=12, seed=0):
    g = torch.Generator().manual_seed(seed)
    obs = torch.randint(0, 2, (B, N, 160), generator=g).float()
    tokens = torch.randint(6, 30, (B, T), generator=g)
    tokens[:, 0] = BOS_ID
    tokens[0, -3:] = PAD_ID
    diff = tokens.clone()
    diff[:, 2::2] = MASK_ID
    return obs, diff, torch.full((B,), 0.5), tokens


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(2026)
    return PhysDiffuserPlus(small_config()).eval()


def test_default_sizes_follow_the_seed():
    cfg = SystemConfig()
    assert (cfg.encoder.n_isab, cfg.encoder.n_inducing, cfg.encoder.n_seeds, cfg.encoder.z_dim) == (2, 16, 1, 256)
    assert cfg.encoder.input_dim == 160
    assert cfg.diffuser.n_layers == 4 and cfg.diffuser.n_heads == 4 and cfg.ar.n_heads == 4


def test_hook_names_match_golden_list(model):
    assert model.hook_names() == GOLDEN_HOOKS


def test_forward_from_a_layer_matches_the_full_pass(model):
    """Running from ``hook_resid_pre`` of any layer gives the full pass's logits, bit for bit."""
    obs, diff, t, tok = batch()
    cache = {}

    def save(x, point):
        cache[point.name] = x

    with torch.no_grad():
        mem = model.encode(obs)
        with model.hooks([(lambda n: n.endswith("hook_resid_pre"), save)]):
            diff_logits, _ = model.diffuser(diff, mem.keys, t, memory_mask=mem.mask)
            ar_logits, _ = model.ar_decoder(tok, mem.keys, memory_mask=mem.mask)
        for i in range(4):
            resid = cache[f"diffuser.layers.{i}.hook_resid_pre"]
            out = model.diffuser.forward_from(i, resid, mem.keys, memory_mask=mem.mask, self_mask=diff != PAD_ID)
            assert torch.equal(out, diff_logits)
            resid = cache[f"ar_decoder.layers.{i}.hook_resid_pre"]
            out = model.ar_decoder.forward_from(i, resid, mem.keys, memory_mask=mem.mask, self_mask=tok != PAD_ID)
            assert torch.equal(out, ar_logits)
    with pytest.raises(ValueError, match=r"layer must be in 0\.\.3"):
        model.diffuser.forward_from(4, resid, mem.keys)


def test_forward_shapes_and_losses(model):
    obs, diff, t, tok = batch()
    out = model(obs, diff, t, tok, diff_targets=tok, ar_targets=tok)
    assert out["diff_logits"].shape == (3, 12, model.cfg.diffuser.vocab_size)
    assert out["ar_logits"].shape == (3, 12, model.cfg.ar.vocab_size)
    assert torch.isfinite(out["diff_loss"]) and torch.isfinite(out["ar_loss"])


def test_capture_does_not_change_outputs_and_has_per_head_patterns(model):
    obs, diff, t, tok = batch()
    plain = model(obs, diff, t, tok)
    captured, cache = model.run_with_cache(obs, diff, t, tok)
    for key in ("diff_logits", "ar_logits"):
        torch.testing.assert_close(plain[key], captured[key], rtol=1e-5, atol=1e-5)
    assert set(cache) == set(GOLDEN_HOOKS)
    assert cache["encoder.isabs.0.mab1.attn.hook_pattern"].shape == (3, 4, 16, 50)  # inducing <- points
    assert cache["encoder.isabs.0.mab2.attn.hook_pattern"].shape == (3, 4, 50, 16)
    assert cache["encoder.pma.mab.attn.hook_pattern"].shape == (3, 4, 1, 50)
    assert cache["diffuser.layers.0.cross_attn.hook_pattern"].shape == (3, 4, 12, 51)
    assert cache["diffuser.layers.2.hook_resid_pre"].shape == (3, 12, 32)
    for name, pattern in cache.items():
        if name.endswith("hook_pattern"):
            torch.testing.assert_close(pattern.sum(-1), torch.ones(pattern.shape[:-1]))


def test_causal_and_padding_masks_hold(model):
    obs, diff, t, tok = batch()
    _, cache = model.run_with_cache(obs, diff, t, tok, names_filter="ar_decoder.layers.0.self_attn.hook_pattern")
    pattern = cache["ar_decoder.layers.0.self_attn.hook_pattern"]
    upper = torch.ones(12, 12, dtype=torch.bool).triu(1)
    assert pattern[:, :, upper].abs().max() == 0
    assert pattern[0, :, :, -3:].abs().max() == 0  # padded keys of example 0


def test_manual_attention_matches_fused_sdpa():
    torch.manual_seed(0)
    cross = Attention(d_model=32, n_heads=4, d_context=16).eval()
    self_attn = Attention(d_model=32, n_heads=4).eval()
    x, ctx = torch.randn(2, 7, 32), torch.randn(2, 9, 16)
    key_mask = torch.ones(2, 9, dtype=torch.bool)
    key_mask[1, 6:] = False
    self_mask = torch.ones(2, 7, dtype=torch.bool)
    self_mask[0, 5:] = False
    for attn, causal, context, mask in ((cross, False, ctx, key_mask), (self_attn, True, None, self_mask)):
        fused = attn(x, context, key_mask=mask, causal=causal)
        attn.force_manual = True
        manual = attn(x, context, key_mask=mask, causal=causal)
        attn.force_manual = False
        torch.testing.assert_close(manual, fused, rtol=1e-5, atol=1e-6)


def test_one_memory_row_shared_by_a_batch_gives_the_repeated_memorys_logits(model):
    """Decoding many canvases against one memory passes it once ([1, M, D]); its keys and
    values are projected once, and every logit equals that of the memory repeated, bit for
    bit (one thread, as the evaluation runs), through the fused and the manual attention."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    obs, diff, t, tok = batch(B=1)
    point_mask = torch.ones(1, 50, dtype=torch.bool)
    point_mask[0, 40:] = False
    memory = model.encode(obs, point_mask)
    B = 6
    diff, tok, t = diff.expand(B, -1).clone(), tok.expand(B, -1).clone(), torch.linspace(0.1, 0.9, B)
    diff[1:, 3] = MASK_ID
    tok[2:, 5] = 7
    keys, mask = memory.keys.expand(B, -1, -1).contiguous(), memory.mask.expand(B, -1).contiguous()
    for manual in (False, True):
        for m in model.modules():
            if isinstance(m, Attention):
                m.force_manual = manual
        assert torch.equal(model.diffuser(diff, memory.keys, t, memory_mask=memory.mask)[0],
                           model.diffuser(diff, keys, t, memory_mask=mask)[0])
        assert torch.equal(model.ar_decoder(tok, memory.keys, memory_mask=memory.mask)[0],
                           model.ar_decoder(tok, keys, memory_mask=mask)[0])
    for m in model.modules():
        if isinstance(m, Attention):
            m.force_manual = False
    torch.set_num_threads(threads)
    with pytest.raises(ValueError, match="context batch 2"):
        model.ar_decoder(tok, keys[:2], memory_mask=mask[:2])


def test_hooks_are_removed_after_an_exception(model):
    obs, diff, t, tok = batch()

    def boom(x, point):
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        with model.hooks([("diffuser.layers.0.self_attn.hook_pattern", boom)]):
            assert model.hook_points()["diffuser.layers.0.self_attn.hook_pattern"].has_hooks
            model(obs, diff, t, tok)
    assert not any(p.has_hooks for p in model.hook_points().values())
    with pytest.raises(RuntimeError, match="boom"):
        model.run_with_cache(obs, diff, t, tok, names_filter=lambda n: (_ for _ in ()).throw(RuntimeError("boom")))
    assert not any(p.has_hooks for p in model.hook_points().values())


def test_unknown_hook_name_is_a_clear_error(model):
    with pytest.raises(KeyError, match="no hook point matches"):
        with model.hooks([("encoder.nope", lambda x, p: None)]):
            pass
    assert not any(p.has_hooks for p in model.hook_points().values())


def test_hook_can_ablate_a_head(model):
    obs, diff, t, tok = batch()
    name = "diffuser.layers.0.self_attn.hook_pattern"

    def zero_head(x, point):
        x = x.clone()
        x[:, 1] = 0
        return x

    base = model(obs, diff, t, tok)["diff_logits"]
    with model.hooks([(name, zero_head)]):
        ablated = model(obs, diff, t, tok)["diff_logits"]
    assert not torch.allclose(base, ablated)


def test_single_slot_memory_gives_constant_cross_attention():
    torch.manual_seed(1)
    seed_model = PhysDiffuserPlus(small_config(memory="pooled")).eval()
    obs, diff, t, tok = batch()
    _, cache = seed_model.run_with_cache(obs, diff, t, tok, names_filter=lambda n: "cross" in n and n.endswith("hook_pattern"))
    for pattern in cache.values():
        assert pattern.shape[-1] == 1
        assert torch.all(pattern == 1.0)


def test_the_pooled_length_read_starts_as_the_slot_alone_and_ignores_missing_points():
    """``length_pool`` adds an attention read of every key with a zero output projection:
    weights trained without it load unchanged, and a masked-out point never moves it."""
    torch.manual_seed(2026)
    dec = DecoderConfig(d_model=32, n_heads=4, n_layers=2, d_ff=64, max_len=24, length_head=True)
    plain = PhysDiffuserPlus(SystemConfig(encoder=EncoderConfig(d_model=32, z_dim=64), diffuser=dec, ar=dec)).eval()
    pooled_dec = DecoderConfig(**{**dec.__dict__, "length_pool": True})
    pooled = PhysDiffuserPlus(SystemConfig(encoder=EncoderConfig(d_model=32, z_dim=64), diffuser=pooled_dec,
                                           ar=dec)).eval()
    missing, unexpected = pooled.load_state_dict(plain.state_dict(), strict=False)
    assert not unexpected and all(k.startswith("diffuser.length_") for k in missing)
    obs = batch()[0]
    mask = torch.ones(obs.shape[:2], dtype=torch.bool)
    mask[:, 40:] = False
    with torch.no_grad():
        a, b = plain.encode(obs, mask), pooled.encode(obs, mask)
        assert torch.equal(plain.diffuser.length_logits(a.keys, a.mask), pooled.diffuser.length_logits(b.keys, b.mask))
        torch.nn.init.normal_(pooled.diffuser.length_pool.out_proj.weight)
        moved = pooled.diffuser.length_logits(b.keys, b.mask)
        assert not torch.allclose(moved[:, 2:], plain.diffuser.length_logits(a.keys, a.mask)[:, 2:])
        other = b.keys.clone()
        other[:, 40:-1] = torch.randn_like(other[:, 40:-1])  # points the mask leaves out
        assert torch.allclose(pooled.diffuser.length_logits(other, b.mask), moved)
    with pytest.raises(ValueError, match="length_pool needs length_head"):
        DecoderConfig(length_pool=True)
