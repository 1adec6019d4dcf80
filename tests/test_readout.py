"""Length-bucketed passes, the logit lens and path patching, on a tiny random model."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from physdocs.analysis import readout as R
from physdocs.analysis.passes import batches, logits, unembed
from physdocs.grammar import MASK_ID
from physdocs.models import PhysDiffuserPlus
from physdocs.results.readout import DECODERS, READOUT_TYPES, Readout
from tests.conftest import tiny_config, tiny_model_on

IDS = ("feynman_001", "feynman_046", "feynman_101", "feynman_020", "feynman_075")


@pytest.fixture(scope="module")
def setup():
    return tiny_model_on(IDS)


@pytest.mark.parametrize("part", DECODERS)
def test_buckets_change_no_real_position(setup, part):
    """Trimming a bucket to its longest equation leaves every scored logit as one full batch gives."""
    model, inp, keys = setup
    (whole,) = batches(part, inp.canvas, inp.lengths, keys, level=0.5, seed=1, bucket=len(IDS))
    small = batches(part, inp.canvas, inp.lengths, keys, level=0.5, seed=1, bucket=2)
    assert len(small) == 3 and sorted(np.concatenate([b.rows for b in small])) == list(range(len(IDS)))
    with torch.no_grad():
        full = logits(model, whole)
        for b in small:
            mine = logits(model, b)
            for j, row in enumerate(b.rows):
                at = int(np.flatnonzero(whole.rows == row)[0])
                where = b.scored[j]
                torch.testing.assert_close(mine[j][where], full[at, : b.tokens.shape[1]][where], atol=1e-5, rtol=1e-4)


def test_the_diffuser_scores_its_masked_equation_positions(setup):
    model, inp, keys = setup
    for b in batches("diffuser", inp.canvas, inp.lengths, keys, level=0.5, seed=1, bucket=2):
        assert ((b.tokens == MASK_ID) == b.scored).all()
        n_eq = (b.self_mask.sum(1) - 2).float()
        assert (b.scored.sum(1) == torch.ceil(0.5 * n_eq)).all() and torch.allclose(b.t, b.scored.sum(1) / n_eq)
    ar = batches("ar_decoder", inp.canvas, inp.lengths, keys, level=0.5, seed=1, bucket=len(IDS))[0]
    assert (ar.scored.sum(1) == torch.tensor([inp.lengths[i] - 1 for i in ar.rows])).all()


@pytest.mark.parametrize("part", DECODERS)
def test_the_stream_reads_out_the_output_and_splits_cross_attention(setup, part):
    model, inp, keys = setup
    b = batches(part, inp.canvas, inp.lengths, keys, level=0.5, seed=1, bucket=len(IDS))[0]
    s = R.stream(model, b)
    assert len(s.resid) == model.cfg.diffuser.n_layers + 1
    torch.testing.assert_close(unembed(model, part, s.resid[-1]), s.logits)
    attn = getattr(model, part).layers[0].cross_attn
    # the two parts, written into the stream, plus the bias are the block's output
    ln2 = getattr(model, part).layers[0].ln2
    x = s.resid[0] + getattr(model, part).layers[0].self_attn(
        getattr(model, part).layers[0].ln1(s.resid[0]), key_mask=b.self_mask, causal=part == "ar_decoder")
    whole = attn(ln2(x), b.keys)
    parts = R.in_residual(attn, s.z_heads[0]) + R.in_residual(attn, s.obs_heads[0]) + attn.out_proj.bias
    torch.testing.assert_close(parts, whole, atol=1e-5, rtol=1e-4)
    assert s.cross_mean.shape == (*b.tokens.shape, keys.shape[1])


def test_decision_layers():
    correct = np.array([[1, 0, 1, 0, 1],
                        [1, 1, 0, 0, 0],
                        [1, 1, 1, 0, 1]], dtype=bool)  # readouts x tokens; the last row is the output
    assert R.decision_layers(correct).tolist() == [0, 1, 2, -1, 2]


def test_decision_sums_leave_out_what_the_embedding_decides():
    tokens = R.LensTokens(equation=np.array([0, 0, 0, 1, 1]), type=np.array([0, 1, 2, 0, 1]),
                          correct=np.ones((3, 5), bool), decision=np.array([1, 2, 3, 0, -1]))
    sums = R.decision_sums(tokens, 2)
    assert sums.tolist() == [[1, 1, 5, 2], [0, 0, 0, 0]]  # op 1; leaves 2 + 3; the prior's and wrong left out


def test_partners_are_a_seeded_derangement():
    p = R.partners(9, 3)
    assert sorted(p) == list(range(9)) and (p != np.arange(9)).all()
    assert (R.partners(9, 3) == p).all() and not (R.partners(9, 4) == p).all()
    with pytest.raises(ValueError):
        R.partners(1, 0)


@pytest.mark.parametrize("part", DECODERS)
def test_patching_from_ones_own_memory_changes_nothing(setup, part):
    """The null: a partner that is the equation itself moves no loss; the last layer's direct
    and total effects are one patch."""
    model, inp, keys = setup
    bs = batches(part, inp.canvas, inp.lengths, keys, level=0.5, seed=1, bucket=2)
    cleans = [R.stream(model, b) for b in bs]
    own = R.patch_effects(model, bs, cleans, keys, np.arange(len(IDS)))
    for field in ("layer_direct", "layer_total", "layer_restored", "z_direct", "obs_direct", "z_total", "obs_total",
                  "all_memory"):
        np.testing.assert_allclose(getattr(own, field), 0.0, atol=1e-5)
    other = R.patch_effects(model, bs, cleans, keys, R.partners(len(IDS), 0))
    np.testing.assert_allclose(other.layer_direct[:, -1], other.layer_total[:, -1], atol=1e-6)
    assert np.abs(other.all_memory).max() > 0
    # The denoising direction (a clean layer output in the partner's run) moves the loss too.
    assert np.isfinite(other.layer_restored).all()
    assert np.abs(other.layer_restored).max() > 0


def test_the_analysis_makes_one_record_and_the_findings_evidence(setup):
    model, inp, keys = setup
    torch.manual_seed(1)
    control = PhysDiffuserPlus(tiny_config()).eval()
    record, evidence = R.readout_analysis({"trained": model, "control": control}, inp.obs, inp.canvas, inp.lengths,
                                          inp.support, level=0.5, seed=2026, n_boot=50)
    assert Readout.from_json(json.loads(json.dumps(record.to_json()))).to_json() == record.to_json()
    assert {r.decoder for r in record.lens} == set(DECODERS) and {r.type for r in record.lens} <= set(READOUT_TYPES)
    assert {(r.decoder, r.block, r.k) for r in record.knockouts} >= {("diffuser", "cross_attn", 5),
                                                                      ("ar_decoder", "self_attn", 1)}
    assert {c.model for c in record.favoured} == {"trained", "control"}
    assert len(record.patching) == 2 * model.cfg.diffuser.n_layers and len(record.parts) == 2
    for m in ("trained", "control"):
        e = evidence[m]
        assert e.knockout_cross.shape == (len(IDS), 3) and e.knockout_self.shape == (len(IDS), 3)
        assert e.decision_sums.shape == (len(IDS), 4) and e.indirect.shape == (len(IDS),)
