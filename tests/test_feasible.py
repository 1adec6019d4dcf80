"""The sequence grammar read in any order (decoding.feasible) against the left-to-right reader."""

from __future__ import annotations

import copy
import random

import numpy as np
import pytest
import torch

from physdocs.decoding import DiffusionConfig, diffusion_decode, validate_or_repair
from physdocs.decoding.feasible import CLASS_OF, completable, feasible_tokens, fill
from physdocs.decoding.repair import PrefixState
from physdocs.grammar import BOS_ID, EOS_ID, MASK_ID, PAD_ID, TOKEN_TO_ID, VOCAB, GrammarError
from physdocs.models import DecoderConfig, EncoderConfig, PhysDiffuserPlus, SystemConfig

# One token of each class the automaton tells apart (s4 can never stand: it needs a fifth step).
REPRESENTATIVES = ("x1", "sin", "add", "STEP", "END_STEP", "s1", "s2", "s3")


def valid_bodies(n: int) -> list[tuple[str, ...]]:
    """Every valid body of ``n`` representative tokens, by the AR decoder's left-to-right reader."""
    out: list[tuple[str, ...]] = []

    def walk(state: PrefixState, body: tuple[str, ...]) -> None:
        if len(body) == n:
            try:
                copy.copy(state).advance("EOS")
                out.append(body)
            except GrammarError:
                pass
            return
        for tok in REPRESENTATIVES:
            nxt = copy.copy(state)
            try:
                nxt.advance(tok)
            except GrammarError:
                continue
            walk(nxt, (*body, tok))

    walk(PrefixState(), ())
    return out


def fits(body: list[int], classes: tuple[int, ...]) -> bool:
    return all(b == MASK_ID or CLASS_OF[b] == c for b, c in zip(body, classes, strict=True))


@pytest.mark.parametrize("n", range(1, 8))
def test_feasibility_agrees_with_enumerating_every_valid_sequence(n):
    bodies = [tuple(int(CLASS_OF[TOKEN_TO_ID[t]]) for t in b) for b in valid_bodies(n)]
    rng = random.Random(n)
    for _ in range(60):
        base = list(rng.choice(valid_bodies(n))) if rng.random() < 0.6 else [rng.choice(REPRESENTATIVES)
                                                                             for _ in range(n)]
        body = [TOKEN_TO_ID[t] if rng.random() < 0.4 else MASK_ID for t in base]
        canvas = [BOS_ID, *body, EOS_ID, PAD_ID]
        assert bool(completable(canvas)[0]) == any(fits(body, b) for b in bodies)
        allowed = feasible_tokens(canvas)[0]
        for p, tok in enumerate(body):
            for rep in REPRESENTATIVES:
                c = CLASS_OF[TOKEN_TO_ID[rep]]
                want = tok == MASK_ID and any(b[p] == c and fits(body, b) for b in bodies)
                assert allowed[p + 1, TOKEN_TO_ID[rep]] == want, (body, p, rep)


def test_rows_of_different_lengths_are_read_alone_and_fill_makes_valid_sequences():
    rng = np.random.default_rng(2026)
    rows = []
    for _ in range(40):
        n = int(rng.integers(1, 20))
        body = rng.integers(4, len(VOCAB), size=n)
        body[rng.random(n) < 0.7] = MASK_ID
        rows.append([BOS_ID, *body, EOS_ID] + [PAD_ID] * (20 - n))
    canvas = np.array(rows)
    ok = completable(canvas)
    assert 0 < ok.sum() < len(rows)  # both kinds are in the sample
    together = feasible_tokens(canvas)
    for b in range(len(rows)):
        assert completable(canvas[b])[0] == ok[b]
        assert (feasible_tokens(canvas[b])[0] == together[b]).all()
    filled = fill(canvas[ok], rng.normal(size=canvas[ok].shape + (len(VOCAB),)))
    for before, after in zip(canvas[ok], filled, strict=True):
        assert ((before == MASK_ID) | (before == after)).all()
        assert validate_or_repair([VOCAB[i] for i in after]).status == "valid"
    with pytest.raises(ValueError, match="completed"):
        fill(canvas[~ok][:1], np.zeros(canvas[~ok][:1].shape + (len(VOCAB),)))


@pytest.fixture(scope="module")
def untrained():
    """A small untrained model and the memory of one random observation set."""
    torch.manual_seed(2026)
    dec = DecoderConfig(d_model=32, n_heads=4, n_layers=2, d_ff=64, max_len=24, length_head=True)
    model = PhysDiffuserPlus(SystemConfig(encoder=EncoderConfig(d_model=32, z_dim=64), diffuser=dec, ar=dec)).eval()
    with torch.inference_mode():
        memory = model.encode((torch.rand(1, 50, 160) > 0.5).float())
    return model, memory


def test_the_grammar_sampler_writes_only_valid_sequences_where_the_plain_one_does_not(untrained):
    model, memory = untrained
    statuses = {}
    for grammar in (False, True):
        cfg = DiffusionConfig(steps=6, temperature=1.0, remask_noise=4.5, greedy_first=True, revise=True,
                              grammar=grammar, seed=3)
        results = diffusion_decode(model, memory, cfg, n_samples=16)
        statuses[grammar] = [validate_or_repair(r.tokens).status for r in results]
        if grammar:
            assert all((r.trajectory_tokens[-1] != MASK_ID).all() for r in results)
    assert set(statuses[True]) == {"valid"}
    assert statuses[False].count("valid") < 16  # the same untrained model, unconstrained


def test_refill_with_the_grammar_keeps_a_completable_proposal_an_equation(untrained):
    from physdocs.decoding.refine import refill

    model, memory = untrained
    parent = ["BOS", "mul", "x1", "add", "x2", "sin", "x3", "EOS"] + ["PAD"] * 16
    rows = torch.tensor([[TOKEN_TO_ID[t] for t in parent]] * 12)
    g = torch.Generator().manual_seed(0)
    for r in range(12):  # three body positions masked in each proposal
        rows[r, torch.randperm(6, generator=g)[:3] + 1] = MASK_ID
    statuses = {}
    for grammar in (False, True):
        out = refill(model, memory, rows, greedy=torch.zeros(12, dtype=torch.bool), temperature=1.0,
                     generator=torch.Generator().manual_seed(1), n_vars=3, grammar=grammar)
        statuses[grammar] = [validate_or_repair([VOCAB[i] for i in row]).status for row in out]
    assert set(statuses[True]) == {"valid"} and statuses[False].count("valid") < 12
