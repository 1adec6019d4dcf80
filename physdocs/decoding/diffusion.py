"""Confidence-based iterative unmasking for PhysDiffuser (Mask-Predict / MaskGIT), with the trajectory.

The canvas length is the model's decision, so no step is spent on padding:

0. the EOS position of each canvas comes from the diffuser's length head (checkpoints
   without one: from the EOS column of a first pass over an all-MASK canvas). Argmax rows
   take the most likely position, sampled rows draw one from
   ``softmax(length_logits / length_temperature)``. The canvas is ``BOS, MASK x n, EOS``
   and PAD after it, given from the start (PAD is never a key, never predicted).

Then, at step ``s = 0 .. T-1`` over the ``n`` equation positions of each canvas:

1. ``t`` = fraction of the n positions still masked (the model's noise level);
2. predict logits for every position; MASK, BOS, EOS, PAD (and, given ``n_vars``, the
   variables beyond the data's columns) get ``-inf`` at equation positions;
3. every masked position picks a token: argmax (``temperature == 0``) or a sample from
   ``softmax(logits / temperature)``; its confidence is the probability of that token under
   ``softmax(logits)`` (temperature 1). Without ``revise``, fixed positions keep their token
   (rank ``+inf``). With ``revise`` (a model trained to correct wrong visible tokens), every
   fixed position takes the model's argmax again and is ranked by its probability, so a
   later step can change or re-mask an earlier token;
4. ``ratio = (s + 1) / T``; ``k = floor(n * cos(pi/2 * ratio))``, at least 1 before the last
   step and 0 after it; the ``k`` lowest-ranked positions are masked again, ranked by
   ``log p + tau * (1 - ratio) * Gumbel`` (``tau = remask_noise``; MaskGIT uses 4.5).

The schedule is followed exactly: with ``T > n`` some steps fix nothing new.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

from physdocs.decoding.feasible import completable, feasible_tokens, fill
from physdocs.decoding.repair import unused_variables
from physdocs.grammar import BOS_ID, EOS_ID, MASK_ID, PAD_ID, SPECIALS, VOCAB
from physdocs.models.attention import context_kept
from physdocs.models.system import Memory
from physdocs.results import finite

_EPS = 1e-20
#: Tokens an equation position may hold (everything but PAD, BOS, EOS and MASK).
CONTENT_IDS = torch.tensor([i for i, tok in enumerate(VOCAB) if tok not in SPECIALS[:4]])


@dataclass(frozen=True)
class DiffusionConfig:
    """Sampler settings.

    ``temperature``: 0 = argmax, > 0 = sample from ``softmax(logits / temperature)``.
    ``remask_noise``: tau of the Gumbel noise on the re-masking rank (0 = deterministic).
    ``greedy_first``: with ``n_samples > 1``, sample 0 of each memory row uses argmax (token
    and length) and no noise whatever ``temperature`` / ``remask_noise`` say.
    ``revise``: fixed tokens are predicted again at every step and can be changed or
    re-masked (Mask-Predict's re-masking over all positions).
    ``length_temperature``: sampled rows (``temperature > 0``) draw their length from the
    length distribution at this temperature; argmax rows, and every row at 0, take the most
    likely length.
    ``length_beam``: with ``greedy_first``, the first ``length_beam`` canvases of each memory
    row are argmax decodes at its most likely lengths, one length each (Mask-Predict's
    length candidates); the rest are sampled.
    ``grammar``: every canvas stays completable into a valid sequence of its length (the
    grammar the AR decoder follows, :mod:`.feasible`): a step whose kept tokens no longer fit
    one keeps its longest run of them in rank order that does, and the last step fills the
    remaining positions left to right with the best token that keeps the canvas completable.
    So every canvas is an equation and none needs repair. Off in derive: on held-out
    synthetic skeletons 100-124 (the evaluation's diffusion budget, refinement with the
    grammar too) it made 97% of candidates valid against 61%, but derived 13 of 25 at
    R^2 > 0.99 against 15 (exact: 0 and 0). A repaired canvas's fitted ``C`` in a hole is a
    free parameter the fit uses; a valid canvas must commit to a structure.
    ``seed``: seeds the sampler's own ``torch.Generator`` when none is passed.
    """

    steps: int = 20
    temperature: float = 0.0
    remask_noise: float = 0.0
    greedy_first: bool = False
    revise: bool = False
    length_temperature: float = 1.0
    length_beam: int = 1
    grammar: bool = False
    seed: int = 0

    def __post_init__(self) -> None:
        if self.steps < 1:
            raise ValueError(f"steps must be >= 1, got {self.steps}")
        if self.temperature < 0 or self.remask_noise < 0 or self.length_temperature < 0:
            raise ValueError("temperature, remask_noise and length_temperature must be >= 0")
        if self.length_beam < 1:
            raise ValueError(f"length_beam must be >= 1, got {self.length_beam}")


def argmax_config(steps: int = 20, seed: int = 0) -> DiffusionConfig:
    """The shipped sampler's single decode (derive's first canvas, the evaluation's argmax
    row): argmax tokens at the most likely length, with revision."""
    return DiffusionConfig(steps=steps, revise=True, seed=seed)


@dataclass
class DiffusionResult:
    """One decoded canvas and its refinement trajectory (row 0 = the initial canvas).

    Arrays span the model's ``max_len`` positions whatever the canvas length: after EOS
    they hold PAD (given, never predicted) and nan.
    ``trajectory_tokens [T+1, L]``: token ids after each step (MASK where still masked).
    ``confidence [T+1, L]``: the model's max-softmax probability (over the tokens an
    equation position may hold) at every equation position in that step's forward pass;
    nan in row 0 (no prediction yet) and at BOS, EOS and PAD (given, not predicted).
    ``chosen_confidence [T+1, L]``: probability, in that step's forward pass, of the token the
    position holds after the step; nan where still masked, in row 0 and where given.
    ``mask_ratio [T]``: the ``t`` fed to the model at each step; ``n_masked [T+1]``: masked
    equation positions in each row. ``eos_position``: where the length put EOS (the canvas
    has ``eos_position - 1`` equation positions); ``length_logprob``: its log-probability.
    """

    tokens: list[str]  # [L] final canvas, BOS first
    token_ids: np.ndarray  # [L] int64
    trajectory_tokens: np.ndarray  # [T+1, L] int64
    confidence: np.ndarray  # [T+1, L] float32
    chosen_confidence: np.ndarray  # [T+1, L] float32
    mask_ratio: list[float]  # [T]
    n_masked: list[int]  # [T+1]
    sample_index: int
    temperature: float
    remask_noise: float
    eos_position: int = 0
    length_logprob: float = 0.0

    def trajectory(self) -> dict[str, list]:
        """JSON-able dict of lists (nan -> None; tokens as strings and as ids)."""

        def clean(a: np.ndarray) -> list:
            return [[finite(v, 6) for v in row] for row in a]

        return {
            "tokens": [[VOCAB[int(i)] for i in row] for row in self.trajectory_tokens],
            "token_ids": self.trajectory_tokens.tolist(),
            "confidence": clean(self.confidence),
            "chosen_confidence": clean(self.chosen_confidence),
            "mask_ratio": [float(t) for t in self.mask_ratio],
            "n_masked": [int(n) for n in self.n_masked],
            "eos_position": int(self.eos_position),
        }


def n_still_masked(step: int, steps: int, n_positions: int) -> int:
    """Positions left masked after step ``step`` (0-based) of ``steps``: the cosine schedule."""
    if step >= steps - 1:
        return 0
    ratio = (step + 1) / steps
    return max(1, math.floor(n_positions * math.cos(math.pi / 2 * ratio)))


def _gumbel(shape: tuple[int, ...], generator: torch.Generator) -> torch.Tensor:
    u = torch.rand(shape, generator=generator, dtype=torch.float64).clamp(_EPS, 1 - 1e-12)
    return -torch.log(-torch.log(u))


@torch.no_grad()
def length_logprobs(model: torch.nn.Module, memory: Memory) -> torch.Tensor:
    """Log-probabilities ``[B, max_len]`` of the EOS position for each memory row.

    From the length head where the diffuser has one; otherwise from a first pass over an
    all-MASK canvas (the EOS column, normalised over positions 2 .. max_len - 1).
    """
    diffuser = model.diffuser
    L = model.cfg.diffuser.max_len
    if diffuser.length_head is not None:
        logits = diffuser.length_logits(memory.keys, memory.mask).double().cpu()
    else:
        B = memory.keys.shape[0]
        canvas = torch.full((B, L), MASK_ID, dtype=torch.long, device=memory.keys.device)
        canvas[:, 0] = BOS_ID
        out, _ = diffuser(canvas, memory.keys, torch.ones(B, device=memory.keys.device), memory_mask=memory.mask)
        logits = out.double().cpu().log_softmax(-1)[:, :, EOS_ID]  # (B, L)
        logits[:, :2] = float("-inf")
    return logits.log_softmax(-1)


def _memory_kept(decode):
    """The sampler reads one memory tensor at every step: within a call its keys and values
    are projected once (:func:`~physdocs.models.attention.context_kept`), with the same results."""

    @functools.wraps(decode)
    def wrapper(model, *args, **kwargs):
        with context_kept(model.diffuser):
            return decode(model, *args, **kwargs)

    return wrapper


@_memory_kept
@torch.inference_mode()
def diffusion_decode(
    model: torch.nn.Module,
    memory: Memory,
    cfg: DiffusionConfig = DiffusionConfig(),
    *,
    n_samples: int = 1,
    generator: torch.Generator | None = None,
    n_vars: int | Sequence[int] | None = None,
    lengths: Sequence[int] | None = None,
) -> list[DiffusionResult]:
    """Decode ``n_samples`` canvases per memory row, batched in one forward per step.

    ``memory`` comes from ``model.encode`` (keys ``[B, M, D]``). Returns ``B * n_samples``
    results ordered by (memory row, sample). Random numbers are drawn on the CPU from
    ``generator`` (or a fresh one seeded with ``cfg.seed``), so results do not depend on the
    device. ``n_vars`` (the data's variable count, or one per memory row) bans the variables beyond it.
    ``lengths`` (one per memory row: tokens from BOS to EOS) replaces the model's length.
    """
    was_training = model.training
    model.eval()
    gen = generator if generator is not None else torch.Generator().manual_seed(cfg.seed)
    dev = memory.keys.device
    L = model.cfg.diffuser.max_len
    B0 = memory.keys.shape[0]
    T, V = cfg.steps, len(VOCAB)

    temp = torch.full((B0 * n_samples,), float(cfg.temperature), dtype=torch.float64)  # (B,)
    tau = torch.full((B0 * n_samples,), float(cfg.remask_noise), dtype=torch.float64)  # (B,)
    len_temp = torch.full((B0 * n_samples,), float(cfg.length_temperature), dtype=torch.float64)  # (B,)
    beam = min(cfg.length_beam, n_samples) if cfg.greedy_first else 0
    rank_of = torch.arange(B0 * n_samples) % n_samples  # (B,) the canvas's index within its memory row
    if beam:
        temp[rank_of < beam] = 0.0
        tau[rank_of < beam] = 0.0
    sampling = temp > 0  # (B,)
    len_temp = torch.where(sampling, len_temp, 0.0)  # an argmax row takes the most likely length

    # 0. the length of each canvas
    len_logp = length_logprobs(model, memory).repeat_interleave(n_samples, dim=0)  # (B, L)
    if lengths is not None:
        if len(lengths) != B0 or min(lengths) < 3 or max(lengths) > L:
            raise ValueError(f"lengths must give one length in 3..{L} per memory row ({B0}), got {list(lengths)}")
        eos = torch.tensor(list(lengths), dtype=torch.long).repeat_interleave(n_samples) - 1  # (B,)
    else:
        g_len = _gumbel(tuple(len_logp.shape), gen)
        drawn = (len_logp / len_temp.clamp_min(1e-6)[:, None] + g_len).argmax(-1)
        ranked = len_logp.argsort(dim=-1, descending=True, stable=True)  # (B, L)
        greedy_len = ranked.gather(1, torch.where(rank_of < beam, rank_of, 0)[:, None]).squeeze(1)
        eos = torch.where(len_temp > 0, drawn, greedy_len)  # (B,)
    B = eos.shape[0]
    W = int(eos.max()) + 1  # canvas width: the longest canvas of the batch
    pos = torch.arange(W)[None, :]  # (1, W)
    equation = (pos >= 1) & (pos < eos[:, None])  # (B, W) positions the sampler fills
    n_eq = equation.sum(1)  # (B,)
    canvas = torch.full((B, W), PAD_ID, dtype=torch.long)  # (B, W), kept on the CPU
    canvas[equation] = MASK_ID
    canvas[:, 0] = BOS_ID
    canvas.scatter_(1, eos[:, None], EOS_ID)

    keys, mem_mask = memory.keys, memory.mask  # one memory row is shared by its canvases (projected once)
    if B0 > 1:
        keys = memory.keys.repeat_interleave(n_samples, dim=0)  # (B, M, D)
        mem_mask = None if memory.mask is None else memory.mask.repeat_interleave(n_samples, dim=0)
    traj = torch.full((T + 1, B, L), PAD_ID, dtype=torch.long)
    conf = torch.full((T + 1, B, L), float("nan"), dtype=torch.float32)
    chosen = torch.full((T + 1, B, L), float("nan"), dtype=torch.float32)
    traj[0, :, :W] = canvas
    ratios: list[torch.Tensor] = []
    banned = torch.ones(V, dtype=torch.bool)
    banned[CONTENT_IDS] = False
    if n_vars is None or isinstance(n_vars, int):
        banned = banned | torch.from_numpy(unused_variables(n_vars))  # (V,)
    else:  # one count per memory row
        if len(n_vars) != B0:
            raise ValueError(f"n_vars must give one count per memory row ({B0}), got {len(n_vars)}")
        rows = np.stack([unused_variables(int(k)) for k in n_vars]).repeat(n_samples, axis=0)
        banned = (banned | torch.from_numpy(rows))[:, None, :]  # (B, 1, V)

    for s in range(T):
        masked = canvas == MASK_ID  # (B, W)
        t = masked.sum(1).double() / n_eq  # (B,) fraction of the equation still masked
        ratios.append(t)
        logits, _ = model.diffuser(canvas.to(dev), keys, t.to(dev, torch.float32), memory_mask=mem_mask)
        logits = logits.double().cpu().masked_fill(banned, float("-inf"))  # (B, W, V)
        logp = logits.log_softmax(dim=-1)  # (B, W, V)

        g_tok = _gumbel((B, W, V), gen)  # drawn every step, so streams stay aligned
        g_rank = _gumbel((B, W), gen)
        safe_temp = temp.clamp_min(1e-6)[:, None, None]
        argmax = logits.argmax(dim=-1)  # (B, W)
        sampled = (logits / safe_temp + g_tok).argmax(dim=-1)  # (B, W) Gumbel-max sample
        picked = torch.where(sampling[:, None], sampled, argmax)  # (B, W)
        if cfg.revise:
            pred = torch.where(masked, picked, torch.where(equation, argmax, canvas))  # (B, W)
        else:
            pred = torch.where(masked, picked, canvas)  # (B, W) fixed positions keep their token
        logp_pred = logp.gather(-1, pred[..., None]).squeeze(-1)  # (B, W)

        ratio = (s + 1) / T
        rank = logp_pred + tau[:, None] * (1 - ratio) * g_rank  # (B, W)
        candidates = equation if cfg.revise else masked
        rank = torch.where(candidates, rank, torch.full_like(rank, float("inf")))
        remask = torch.zeros(B, W, dtype=torch.bool)
        for n in n_eq.unique().tolist():  # the schedule runs over each canvas's own length
            rows = (n_eq == n).nonzero().squeeze(1)
            k = n_still_masked(s, T, n)
            if k > 0:
                lowest = rank[rows].argsort(dim=1, stable=True)[:, :k]  # (rows, k)
                remask[rows[:, None], lowest] = True
        canvas = torch.where(remask, torch.full_like(pred, MASK_ID), pred)
        if cfg.grammar:
            canvas = _completable(canvas, rank, equation)
            if s == T - 1:  # the schedule's last step: nothing stays masked
                scores = torch.where(sampling[:, None, None], logits / safe_temp + g_tok, logits)
                canvas = torch.from_numpy(fill(canvas.numpy(), scores.numpy()))
            logp_pred = logp.gather(-1, canvas[..., None]).squeeze(-1)

        traj[s + 1, :, :W] = canvas
        conf[s + 1, :, :W] = torch.where(equation, logp.max(dim=-1).values.exp(), float("nan")).float()
        chosen[s + 1, :, :W] = torch.where(equation & (canvas != MASK_ID), logp_pred.exp(), float("nan")).float()

    if was_training:
        model.train()
    mask_ratio = torch.stack(ratios, dim=1)  # (B, T)
    n_masked = (traj == MASK_ID).sum(dim=2)  # (T+1, B)
    final = traj[T]
    eos_logp = len_logp.gather(1, eos[:, None]).squeeze(1)  # (B,)
    return [
        DiffusionResult(
            tokens=[VOCAB[int(i)] for i in final[b]],
            token_ids=final[b].numpy().copy(),
            trajectory_tokens=traj[:, b].numpy().copy(),
            confidence=conf[:, b].numpy().copy(),
            chosen_confidence=chosen[:, b].numpy().copy(),
            mask_ratio=mask_ratio[b].tolist(),
            n_masked=n_masked[:, b].tolist(),
            sample_index=b % n_samples,
            temperature=float(temp[b]),
            remask_noise=float(tau[b]),
            eos_position=int(eos[b]),
            length_logprob=float(eos_logp[b]),
        )
        for b in range(B)
    ]


@dataclass(frozen=True)
class BeamConfig:
    """Beam search over the diffuser's own conditionals (:func:`diffusion_beam`).

    ``lengths``: the likeliest lengths of the length head searched, each with ``width`` beams;
    ``expand``: tokens tried at each beam's next position; ``share``: the part of derive's
    diffusion canvases that the beam supplies (its best-scoring canvases over all lengths),
    the rest coming from :func:`diffusion_decode`.
    ``order``: which masked position a beam fills next: ``"left"`` (the leftmost, so the
    prefix grammar is read in order) or ``"confidence"`` (the one the model is surest of, as
    the sampler does). Left was chosen on held-out synthetic skeletons 30-56 of the
    evaluation's probe (exact: 7 of 27 against 5; the sampler alone, 4).
    """

    lengths: int = 3
    width: int = 16
    expand: int = 4
    share: float = 0.5
    order: Literal["left", "confidence"] = "left"

    def __post_init__(self) -> None:
        if min(self.lengths, self.width, self.expand) < 1 or not 0 <= self.share <= 1:
            raise ValueError(f"BeamConfig needs lengths, width, expand >= 1 and share in [0, 1]; got {self}")
        if self.order not in ("left", "confidence"):
            raise ValueError(f"BeamConfig.order must be 'left' or 'confidence', got {self.order!r}")


@dataclass(frozen=True)
class BeamCanvas:
    """One finished beam: ``tokens`` (BOS .. EOS, PAD up to ``max_len``), where EOS stands, and
    its log-probability (the length's plus each token's when it was placed)."""

    tokens: list[str]
    eos_position: int
    logprob: float


@_memory_kept
@torch.inference_mode()
def diffusion_beam(
    model: torch.nn.Module, memory: Memory, cfg: BeamConfig = BeamConfig(), *, n_vars: int | None = None
) -> list[BeamCanvas]:
    """Beam search with the diffuser as an any-order model, best first (one memory row).

    At each of the ``cfg.lengths`` likeliest lengths a canvas ``BOS, MASK x n, EOS`` is filled
    one position per forward pass: every beam fills its next position (``cfg.order``) with
    each of its ``cfg.expand`` likeliest tokens among those that keep the canvas completable
    (:mod:`.feasible`), so every finished canvas is a valid sequence; the ``cfg.width`` best
    partial canvases by summed log-probability go on (identical canvases reached in another
    order count once). The noise level fed to the model is the share still masked, as in the
    sampler. Deterministic: no random numbers.

    The sampler's parallel steps choose each token from its marginal; the beam keeps the
    alternatives a wrong early choice would have cut off, as the AR decoder's beam does.
    """
    if memory.keys.shape[0] != 1:
        raise ValueError(f"diffusion_beam decodes one memory row, got {memory.keys.shape[0]}")
    was_training = model.training
    model.eval()
    dev = memory.keys.device
    banned = torch.ones(len(VOCAB), dtype=torch.bool)
    banned[CONTENT_IDS] = False
    banned |= torch.from_numpy(unused_variables(n_vars))
    len_logp = length_logprobs(model, memory)[0]  # (L,)
    ranked = len_logp.argsort(descending=True, stable=True)[: cfg.lengths].tolist()
    L = model.cfg.diffuser.max_len
    out: list[BeamCanvas] = []
    for eos in ranked:
        n = eos - 1  # equation positions
        if n < 1 or not math.isfinite(float(len_logp[eos])):
            continue
        start = torch.full((1, eos + 1), MASK_ID, dtype=torch.long)
        start[0, 0], start[0, eos] = BOS_ID, EOS_ID
        canvas, score = start, torch.tensor([float(len_logp[eos])], dtype=torch.float64)
        for _ in range(n):
            B = canvas.shape[0]
            masked = canvas == MASK_ID  # (B, W)
            t = masked.sum(1).float() / n  # (B,)
            keys = memory.keys.expand(B, -1, -1)
            mask = None if memory.mask is None else memory.mask.expand(B, -1)
            logits, _ = model.diffuser(canvas.to(dev), keys, t.to(dev), memory_mask=mask)
            logp = logits.double().cpu().masked_fill(banned, float("-inf")).log_softmax(-1)  # (B, W, V)
            logp = logp.masked_fill(~torch.from_numpy(feasible_tokens(canvas.numpy())), float("-inf"))
            if cfg.order == "left":
                pos = masked.int().argmax(1)  # (B,) the leftmost masked position
            else:  # the position whose likeliest feasible token is likeliest
                pos = logp.max(-1).values.argmax(1)
            top = logp[torch.arange(B), pos].topk(min(cfg.expand, logp.shape[-1]), dim=-1)  # (B, k)
            cand = score[:, None] + top.values  # (B, k)
            keep = torch.isfinite(cand)
            if not keep.any():
                canvas = canvas[:0]
                break
            b_idx, k_idx = keep.nonzero(as_tuple=True)
            grown = canvas[b_idx].clone()
            grown[torch.arange(len(b_idx)), pos[b_idx]] = top.indices[b_idx, k_idx]
            scores = cand[b_idx, k_idx]
            order = scores.argsort(descending=True, stable=True)
            seen: set[bytes] = set()
            chosen = []
            for i in order.tolist():  # best first: a canvas reached twice keeps its best score
                key = grown[i].numpy().tobytes()
                if key not in seen:
                    seen.add(key)
                    chosen.append(i)
                if len(chosen) == cfg.width:
                    break
            canvas, score = grown[chosen], scores[chosen]
        for row, s in zip(canvas.tolist(), score.tolist(), strict=True):
            out.append(BeamCanvas([VOCAB[i] for i in row] + [VOCAB[PAD_ID]] * (L - len(row)), eos, float(s)))
    if was_training:
        model.train()
    return sorted(out, key=lambda c: -c.logprob)


def _completable(canvas: torch.Tensor, rank: torch.Tensor, equation: torch.Tensor) -> torch.Tensor:
    """``canvas`` [B, W], where each row that can no longer be completed keeps only its longest
    completable run of placed tokens in ``rank`` order (highest first; a previous step's
    canvas, which was completable, ranks ``+inf``), the rest masked again (binary search)."""
    ids = canvas.numpy()
    bad = np.nonzero(~completable(ids))[0]
    if len(bad) == 0:
        return canvas
    sub, eq = ids[bad], equation.numpy()[bad]
    placed = eq & (sub != MASK_ID)
    r = np.where(placed, rank.numpy()[bad], -np.inf)
    order = np.argsort(-r, axis=1, kind="stable")
    place = np.empty_like(order)
    np.put_along_axis(place, order, np.arange(order.shape[1])[None, :].repeat(len(bad), 0), axis=1)
    lo = (placed & np.isposinf(r)).sum(1)  # a completable canvas's tokens always fit
    hi = placed.sum(1)  # this many do not

    def keep(m: np.ndarray) -> np.ndarray:
        return np.where(eq & ~(placed & (place < m[:, None])), MASK_ID, sub)

    while (hi - lo > 1).any():
        mid = (lo + hi) // 2
        ok = completable(keep(mid))
        lo, hi = np.where(ok, mid, lo), np.where(ok, hi, mid)
    out = canvas.clone()
    out[torch.from_numpy(bad)] = torch.from_numpy(keep(lo))
    return out


# ---------------------------------------------------------------- noising (training's forward process)


def cosine_mask_ratio(r: torch.Tensor) -> torch.Tensor:
    """MaskGIT's schedule gamma(r) = cos(pi r / 2): r in [0, 1) -> ratio in (0, 1]."""
    return torch.cos(math.pi / 2 * r)


def equation_positions(tokens: torch.Tensor) -> torch.Tensor:
    """``[B, L]`` bool: the positions strictly between BOS and the (first) EOS."""
    pos = torch.arange(tokens.shape[1])[None, :]
    is_eos = tokens == EOS_ID
    eos = torch.where(is_eos.any(1), is_eos.int().argmax(1), (tokens != PAD_ID).sum(1))  # (B,)
    return (pos >= 1) & (pos < eos[:, None])


def mask_share(tokens: torch.Tensor, t: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Mask ``ceil(t * n)`` random equation positions of each row (at least one), ``n`` the
    row's equation positions; BOS, EOS and PAD never (the sampler gives them)."""
    eq = equation_positions(tokens)  # (B, L)
    n_mask = torch.clamp(torch.ceil(t * eq.sum(1)), min=1).long()  # (B,)
    scores = torch.rand(tokens.shape, generator=generator)
    scores[~eq] = float("inf")
    rank = scores.argsort(dim=1).argsort(dim=1)  # (B, L) rank of each position
    noisy = tokens.masked_fill((rank < n_mask[:, None]) & eq, MASK_ID)
    assert bool((noisy[:, 0] == BOS_ID).all())
    return noisy


@dataclass
class Noised:
    """A training canvas: ``noisy`` [B, L], the noise level ``t`` [B] fed to the model (share
    of equation positions masked), and ``replaced`` [B, L] (visible tokens made wrong)."""

    noisy: torch.Tensor
    t: torch.Tensor
    replaced: torch.Tensor


def corrupt(tokens: torch.Tensor, generator: torch.Generator | None = None, *, replace: float = 0.0) -> Noised:
    """Training's noising: a cosine-schedule share of each equation masked; then each visible
    equation token is replaced with probability ``replace`` by a wrong one (half the time a
    token of the same equation, as parallel decoding repeats one, else any content token),
    so the model learns to correct as well as to fill."""
    t = cosine_mask_ratio(torch.rand(tokens.shape[0], generator=generator))  # (B,)
    noisy = mask_share(tokens, t, generator)
    eq = equation_positions(tokens)
    n_eq = eq.sum(1).clamp_min(1)
    t_eff = ((noisy == MASK_ID) & eq).sum(1).float() / n_eq  # (B,)
    replaced = torch.zeros_like(eq)
    if replace > 0:
        visible = eq & (noisy != MASK_ID)
        pick = (torch.rand(tokens.shape, generator=generator) < replace) & visible
        any_tok = CONTENT_IDS[torch.randint(len(CONTENT_IDS), tokens.shape, generator=generator)]
        # a token from another position of the same equation
        src = (torch.rand(tokens.shape, generator=generator) * n_eq[:, None]).long() + 1  # (B, L) in 1..n
        same = tokens.gather(1, src.clamp_max(tokens.shape[1] - 1))
        use_same = torch.rand(tokens.shape, generator=generator) < 0.5
        wrong = torch.where(use_same, same, any_tok)
        pick &= wrong != tokens  # a replacement is always a different token
        noisy = torch.where(pick, wrong, noisy)
        replaced = pick
    return Noised(noisy=noisy, t=t_eff, replaced=replaced)
