"""Model-guided refinement: the masked diffuser used as its own local-search operator.

A masked diffuser can revise any part of an equation given the rest. Starting from the
best fitted candidates, each round

1. takes the ``parents`` best distinct candidates (score: R^2 minus a length penalty);
2. re-masks a few body positions of each: half of the proposals pick positions the model
   is least sure of (leave-one-out confidence: each position masked alone), half pick them
   uniformly; every fourth proposal also inserts or removes a position, so the length can
   change (EOS itself is never masked: the canvas ends at it, as in training);
3. lets the diffuser refill them from the same observations, one position per forward
   pass, most confident first (the first proposal per parent by argmax, the rest sampled);
4. repairs, fits the constants (BFGS) and scores each proposal with the caller's fitter.

Every proposal joins the pool, so a change is kept exactly when it beats the parents on
score. The budget is counted in rounds and proposals, never in seconds, so a seed gives the
same result on any machine. A parent whose R^2 reaches ``stop_r2`` ends the search early
(deterministic: it depends on the fit, not on time).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from physdocs.decoding.diffusion import CONTENT_IDS, equation_positions
from physdocs.decoding.feasible import completable, feasible_tokens
from physdocs.decoding.repair import unused_variables
from physdocs.grammar import EOS_ID, MASK_ID, PAD_ID, TOKEN_TO_ID, VOCAB
from physdocs.models.system import Memory


@dataclass(frozen=True)
class RefineConfig:
    """Budget and scoring of the refinement search (counts, not seconds)."""

    rounds: int = 4
    parents: int = 3
    proposals: int = 8  # per parent and round
    max_masked: int = 3  # each proposal re-masks 1 .. max_masked positions
    restarts: int = 2  # BFGS starts per proposal (the first guesses get the caller's count)
    temperature: float = 1.0
    length_penalty: float = 1e-3  # score = R^2 - length_penalty * tokens
    stop_r2: float = 1.0 - 1e-9
    # Refill only with tokens that keep the proposal completable (decoding.feasible), so a
    # proposal is an equation rather than one made so by repair.
    grammar: bool = False

    def __post_init__(self) -> None:
        if min(self.rounds, self.parents, self.proposals, self.max_masked, self.restarts) < 1:
            raise ValueError(
                f"RefineConfig counts must be >= 1, got rounds={self.rounds}, parents={self.parents}, "
                f"proposals={self.proposals}, max_masked={self.max_masked}, restarts={self.restarts}"
            )
        if self.temperature <= 0 or self.length_penalty < 0:
            raise ValueError(
                f"RefineConfig needs temperature > 0 and length_penalty >= 0, got "
                f"{self.temperature} and {self.length_penalty}"
            )

    @property
    def budget(self) -> int:
        """Most proposals the search can make."""
        return self.rounds * self.parents * self.proposals


def score(r2: float, n_tokens: int, length_penalty: float) -> float:
    """Ranking score of a fitted candidate: R^2 with a small cost per token."""
    return r2 - length_penalty * n_tokens if math.isfinite(r2) else -math.inf


def canvas_of(tokens: tuple[str, ...], length: int) -> torch.Tensor | None:
    """``[length]`` ids: the sequence then PAD; None when it does not fit."""
    if len(tokens) > length:
        return None
    ids = [TOKEN_TO_ID[t] for t in tokens] + [PAD_ID] * (length - len(tokens))
    return torch.tensor(ids, dtype=torch.long)


@torch.inference_mode()
def leave_one_out_confidence(model, memory: Memory, canvas: torch.Tensor, positions: list[int]) -> np.ndarray:
    """Probability the diffuser gives each position's token when that position alone is masked."""
    rows = canvas.repeat(len(positions), 1)  # (P, L)
    rows[torch.arange(len(positions)), torch.tensor(positions)] = MASK_ID
    t = 1.0 / equation_positions(rows).sum(1).clamp_min(1).float()  # one of the equation's positions
    keys, mask = memory.keys, memory.mask  # one memory row [1, M, D], shared by every row
    dev = keys.device
    logits, _ = model.diffuser(rows.to(dev), keys, t.to(dev), memory_mask=mask)
    probs = logits.double().softmax(-1).cpu()  # (P, L, V)
    idx = torch.arange(len(positions))
    pos = torch.tensor(positions)
    return probs[idx, pos, canvas[pos]].numpy()


@torch.inference_mode()
def refill(
    model,
    memory: Memory,
    canvases: torch.Tensor,
    *,
    greedy: torch.Tensor,
    temperature: float,
    generator: torch.Generator,
    n_vars: int | None,
    grammar: bool = False,
) -> torch.Tensor:
    """Fill every MASK of ``canvases [P, L]``, one position per row and forward pass.

    Each masked position draws a token (argmax where ``greedy [P]``, else a sample at
    ``temperature``); the row fixes its most probable draw, the others stay masked. With
    ``grammar``, a row that can be completed draws only tokens that keep it so (a resized
    row that cannot is filled as before, and repaired by the caller).
    """
    canvases = canvases.clone()
    P, L = canvases.shape
    banned = torch.ones(len(VOCAB), dtype=torch.bool)  # an equation position holds content tokens only
    banned[CONTENT_IDS] = False
    banned |= torch.from_numpy(unused_variables(n_vars))
    keys, mask = memory.keys, memory.mask  # one memory row [1, M, D], shared by every row
    dev = keys.device
    n_eq = equation_positions(canvases).sum(1).clamp_min(1).float()  # (P,)
    keep_valid = torch.from_numpy(completable(canvases.numpy())) if grammar else torch.zeros(P, dtype=torch.bool)
    while True:
        masked = canvases == MASK_ID  # (P, L)
        if not bool(masked.any()):
            return canvases
        t = masked.sum(1).float() / n_eq
        logits, _ = model.diffuser(canvases.to(dev), keys, t.to(dev), memory_mask=mask)
        logits = logits.double().cpu().masked_fill(banned, -math.inf)  # (P, L, V)
        logp = logits.log_softmax(-1)
        if bool(keep_valid.any()):
            allowed = torch.from_numpy(feasible_tokens(canvases.numpy()))  # (P, L, V)
            logits = logits.masked_fill(keep_valid[:, None, None] & masked[..., None] & ~allowed, -math.inf)
        u = torch.rand(logits.shape, generator=generator, dtype=torch.float64).clamp(1e-20, 1 - 1e-12)
        sampled = (logits / temperature - torch.log(-torch.log(u))).argmax(-1)  # Gumbel-max
        pick = torch.where(greedy[:, None], logits.argmax(-1), sampled)  # (P, L)
        conf = logp.gather(-1, pick[..., None]).squeeze(-1).masked_fill(~masked, -math.inf)
        best = conf.argmax(1)  # (P,)
        live = masked.any(1)
        rows = torch.arange(P)[live]
        canvases[rows, best[live]] = pick[rows, best[live]]


def _positions(tokens: tuple[str, ...]) -> list[int]:
    """Positions that may be re-masked: every body token (EOS and the length stay; a length
    change is a proposal of its own, :func:`_resized`)."""
    end = tokens.index("EOS") if "EOS" in tokens else len(tokens)
    return list(range(1, max(end, 2)))


def _resized(canvas: torch.Tensor, at: int, grow: bool) -> torch.Tensor | None:
    """The canvas one position longer (a MASK inserted at ``at``) or shorter (the token at
    ``at`` removed and its new occupant masked); None when the length would leave the
    model's range or the body would be empty."""
    ids = canvas.tolist()
    end = ids.index(EOS_ID) if EOS_ID in ids else len(ids)
    if grow:
        if end + 1 >= len(ids):
            return None
        ids = ids[:at] + [MASK_ID] + ids[at:-1]
    else:
        if end <= 2:
            return None
        ids = ids[:at] + ids[at + 1:] + [PAD_ID]
        ids[at if ids[at] != EOS_ID else at - 1] = MASK_ID  # the last body token went: mask its neighbour
    return torch.tensor(ids, dtype=torch.long)


Fitter = Callable[..., dict]  # fit(source, raw_tokens, extra=None, restarts=None) -> candidate dict


def refine(
    model,
    memory: Memory,
    pool: list[dict],
    fit: Fitter,
    cfg: RefineConfig,
    rng: np.random.Generator,
    n_vars: int | None,
) -> list[dict]:
    """Run the search; returns the new candidates (``pool`` is not changed).

    ``pool`` holds fitted candidate dicts (``repaired_tokens``, ``r2``, ``fitted``);
    ``fit(source, raw_tokens)`` repairs, fits and scores one proposal and returns its dict.
    """
    L = model.cfg.diffuser.max_len
    gen = torch.Generator().manual_seed(int(rng.integers(2**31)))
    everything = [c for c in pool if c.get("fitted")]
    new: list[dict] = []
    tried: set[tuple[str, ...]] = {tuple(c["repaired_tokens"]) for c in everything}

    def key(c: dict) -> float:
        return score(c["r2"], len(c["repaired_tokens"]), cfg.length_penalty)

    for round_ in range(cfg.rounds):
        ranked = sorted(everything, key=key, reverse=True)
        distinct: dict[tuple[str, ...], dict] = {}
        for c in ranked:  # the best of each distinct sequence, best first
            distinct.setdefault(tuple(c["repaired_tokens"]), c)
        parents = list(distinct.values())[: cfg.parents]
        if not parents or parents[0]["r2"] >= cfg.stop_r2:
            break
        rows, greedy, origin = [], [], []
        for p_i, parent in enumerate(parents):
            toks = tuple(parent["repaired_tokens"])
            canvas = canvas_of(toks, L)
            if canvas is None:
                continue
            where = _positions(toks)
            conf = leave_one_out_confidence(model, memory, canvas, where)
            doubt = (1.0 - conf) + 1e-3
            for j in range(cfg.proposals):
                k = min(1 + j % cfg.max_masked, len(where))
                if j % 2 == 0:
                    chosen = rng.choice(len(where), size=k, replace=False, p=doubt / doubt.sum())
                else:
                    chosen = rng.choice(len(where), size=k, replace=False)
                row = canvas.clone()
                row[[where[c] for c in chosen]] = MASK_ID
                if j % 4 == 3:  # every fourth proposal also changes the length by one
                    resized = _resized(row, where[int(chosen[0])], grow=bool(j % 8 == 3))
                    row = resized if resized is not None else row
                rows.append(row)
                greedy.append(j == 0)
                origin.append(p_i)
        if not rows:
            break
        filled = refill(
            model, memory, torch.stack(rows), greedy=torch.tensor(greedy), temperature=cfg.temperature,
            generator=gen, n_vars=n_vars, grammar=cfg.grammar,
        )
        for row, p_i in zip(filled, origin, strict=True):
            raw = tuple(VOCAB[int(i)] for i in row)
            cand = fit(f"refine {round_ + 1} of parent {p_i}", raw, None, cfg.restarts)
            cand["round"] = round_ + 1
            new.append(cand)
            rt = cand.get("repaired_tokens")
            if cand.get("fitted") and rt is not None and tuple(rt) not in tried:
                tried.add(tuple(rt))
                everything.append(cand)
    return new
