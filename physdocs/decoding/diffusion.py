"""Confidence-based iterative unmasking for PhysDiffuser (MaskGIT-style), with the trajectory.

Canvas of ``L = cfg.diffuser.max_len`` positions: BOS at 0, MASK elsewhere (``N = L - 1``
positions to fill). At step ``s = 0 .. T-1``:

1. ``t`` = fraction of the N positions still masked (fed to the model as its noise level);
2. predict logits for every position; MASK and BOS (and, given ``n_vars``, the variables
   beyond the data's columns) get ``-inf`` (never predicted);
3. every masked position picks a token: argmax (``temperature == 0``) or a sample from
   ``softmax(logits / temperature)``; its confidence is the probability of that token under
   ``softmax(logits)`` (temperature 1). Fixed positions keep their token (rank ``+inf``);
4. ``ratio = (s + 1) / T``; ``n_still_masked = floor(N * cos(pi/2 * ratio))``, at least 1
   before the last step and 0 after it; the ``n_still_masked`` lowest-ranked positions are
   masked again, ranked by ``log p + tau * (1 - ratio) * Gumbel`` (``tau = remask_noise``,
   0 = deterministic, MaskGIT uses 4.5).

The schedule is followed exactly (unlike MaskGIT we do not force one new token per step,
so with ``T > N`` some steps may fix nothing). Fixed tokens are never revised.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from physdocs.decoding.repair import unused_variables
from physdocs.grammar import BOS_ID, MASK_ID, VOCAB
from physdocs.models.system import Memory

_EPS = 1e-20


@dataclass(frozen=True)
class DiffusionConfig:
    """Sampler settings.

    ``temperature``: 0 = argmax, > 0 = sample from ``softmax(logits / temperature)``.
    ``remask_noise``: tau of the Gumbel noise on the re-masking rank (0 = deterministic).
    ``greedy_first``: with ``n_samples > 1``, sample 0 of each memory row uses argmax and
    no noise whatever ``temperature`` / ``remask_noise`` say.
    ``seed``: seeds the sampler's own ``torch.Generator`` when none is passed.
    """

    steps: int = 20
    temperature: float = 0.0
    remask_noise: float = 0.0
    greedy_first: bool = False
    seed: int = 0

    def __post_init__(self) -> None:
        if self.steps < 1:
            raise ValueError(f"steps must be >= 1, got {self.steps}")
        if self.temperature < 0 or self.remask_noise < 0:
            raise ValueError("temperature and remask_noise must be >= 0")


@dataclass
class DiffusionResult:
    """One decoded canvas and its refinement trajectory (row 0 = the initial canvas).

    ``trajectory_tokens [T+1, L]``: token ids after each step (MASK where still masked).
    ``confidence [T+1, L]``: the model's max-softmax probability (over tokens other than
    MASK / BOS) at every position in the forward pass of that step; nan in row 0 (no
    prediction yet) and in column 0 (BOS is given, not predicted).
    ``chosen_confidence [T+1, L]``: probability, in that step's forward pass, of the token the
    position holds after the step (newly chosen or fixed earlier); nan where still masked, in
    row 0 and in column 0.
    ``mask_ratio [T]``: the ``t`` fed to the model at each step; ``n_masked [T+1]``: masked
    positions (of N) in each row.
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

    def trajectory(self) -> dict[str, list]:
        """JSON-able dict of lists (nan -> None; tokens as strings and as ids)."""

        def clean(a: np.ndarray) -> list:
            return [[None if not math.isfinite(v) else round(float(v), 6) for v in row] for row in a]

        return {
            "tokens": [[VOCAB[int(i)] for i in row] for row in self.trajectory_tokens],
            "token_ids": self.trajectory_tokens.tolist(),
            "confidence": clean(self.confidence),
            "chosen_confidence": clean(self.chosen_confidence),
            "mask_ratio": [float(t) for t in self.mask_ratio],
            "n_masked": [int(n) for n in self.n_masked],
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


@torch.inference_mode()
def diffusion_decode(
    model: torch.nn.Module,
    memory: Memory,
    cfg: DiffusionConfig = DiffusionConfig(),
    *,
    n_samples: int = 1,
    generator: torch.Generator | None = None,
    n_vars: int | None = None,
) -> list[DiffusionResult]:
    """Decode ``n_samples`` canvases per memory row, batched in one forward per step.

    ``memory`` comes from ``model.encode`` (keys ``[B, M, D]``). Returns ``B * n_samples``
    results ordered by (memory row, sample). Random numbers are drawn on the CPU from
    ``generator`` (or a fresh one seeded with ``cfg.seed``), so results do not depend on the
    device. ``n_vars`` (the data's variable count) bans the variables beyond it, like MASK.
    """
    was_training = model.training
    model.eval()
    gen = generator if generator is not None else torch.Generator().manual_seed(cfg.seed)
    dev = memory.keys.device
    keys = memory.keys.repeat_interleave(n_samples, dim=0)  # (B, M, D)
    mem_mask = None if memory.mask is None else memory.mask.repeat_interleave(n_samples, dim=0)
    B = keys.shape[0]
    L = model.cfg.diffuser.max_len
    N, T, V = L - 1, cfg.steps, len(VOCAB)

    temp = torch.full((B,), float(cfg.temperature), dtype=torch.float64)  # (B,)
    tau = torch.full((B,), float(cfg.remask_noise), dtype=torch.float64)  # (B,)
    if cfg.greedy_first:
        temp[::n_samples] = 0.0
        tau[::n_samples] = 0.0
    sampling = temp > 0  # (B,)

    canvas = torch.full((B, L), MASK_ID, dtype=torch.long)  # (B, L), kept on the CPU
    canvas[:, 0] = BOS_ID
    traj = torch.empty(T + 1, B, L, dtype=torch.long)
    conf = torch.full((T + 1, B, L), float("nan"), dtype=torch.float32)
    chosen = torch.full((T + 1, B, L), float("nan"), dtype=torch.float32)
    traj[0] = canvas
    ratios: list[torch.Tensor] = []
    banned = torch.zeros(V, dtype=torch.bool)
    banned[[MASK_ID, BOS_ID]] = True
    banned |= torch.from_numpy(unused_variables(n_vars))

    for s in range(T):
        masked = canvas == MASK_ID  # (B, L)
        t = masked[:, 1:].double().mean(dim=1)  # (B,) fraction of N still masked
        ratios.append(t)
        logits, _ = model.diffuser(canvas.to(dev), keys, t.to(dev, torch.float32), memory_mask=mem_mask)
        logits = logits.double().cpu().masked_fill(banned, float("-inf"))  # (B, L, V)
        logp = logits.log_softmax(dim=-1)  # (B, L, V)

        g_tok = _gumbel((B, L, V), gen)  # drawn every step, so streams stay aligned
        g_rank = _gumbel((B, L), gen)
        safe_temp = temp.clamp_min(1e-6)[:, None, None]
        sampled = (logits / safe_temp + g_tok).argmax(dim=-1)  # (B, L) Gumbel-max sample
        picked = torch.where(sampling[:, None], sampled, logits.argmax(dim=-1))  # (B, L)
        pred = torch.where(masked, picked, canvas)  # (B, L) fixed positions keep their token
        logp_pred = logp.gather(-1, pred[..., None]).squeeze(-1)  # (B, L)

        ratio = (s + 1) / T
        rank = logp_pred + tau[:, None] * (1 - ratio) * g_rank  # (B, L)
        rank = torch.where(masked, rank, torch.full_like(rank, float("inf")))
        k = n_still_masked(s, T, N)
        remask = torch.zeros(B, L, dtype=torch.bool)
        if k > 0:
            lowest = rank.argsort(dim=1, stable=True)[:, :k]  # (B, k)
            remask.scatter_(1, lowest, True)
        canvas = torch.where(remask, torch.full_like(pred, MASK_ID), pred)

        traj[s + 1] = canvas
        conf[s + 1] = logp.max(dim=-1).values.exp().float()
        chosen[s + 1] = torch.where(canvas == MASK_ID, float("nan"), logp_pred.exp()).float()
        conf[s + 1, :, 0] = float("nan")
        chosen[s + 1, :, 0] = float("nan")

    if was_training:
        model.train()
    mask_ratio = torch.stack(ratios, dim=1) if ratios else torch.zeros(B, 0)  # (B, T)
    n_masked = (traj[:, :, 1:] == MASK_ID).sum(dim=2)  # (T+1, B)
    return [
        DiffusionResult(
            tokens=[VOCAB[int(i)] for i in canvas[b]],
            token_ids=canvas[b].numpy().copy(),
            trajectory_tokens=traj[:, b].numpy().copy(),
            confidence=conf[:, b].numpy().copy(),
            chosen_confidence=chosen[:, b].numpy().copy(),
            mask_ratio=mask_ratio[b].tolist(),
            n_masked=n_masked[:, b].tolist(),
            sample_index=b % n_samples,
            temperature=float(temp[b]),
            remask_noise=float(tau[b]),
        )
        for b in range(B)
    ]


# ---------------------------------------------------------------- noising (training's forward process)


def cosine_mask_ratio(r: torch.Tensor) -> torch.Tensor:
    """MaskGIT's schedule gamma(r) = cos(pi r / 2): r in [0, 1) -> ratio in (0, 1]."""
    return torch.cos(math.pi / 2 * r)


def mask_share(tokens: torch.Tensor, t: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Mask ``ceil(t * (L - 1))`` random positions of each row (at least one); BOS never."""
    B, L = tokens.shape
    n_mask = torch.clamp(torch.ceil(t * (L - 1)), min=1).long()  # (B,)
    scores = torch.rand(B, L, generator=generator)
    scores[:, 0] = float("inf")  # never mask BOS
    rank = scores.argsort(dim=1).argsort(dim=1)  # (B, L) rank of each position
    noisy = tokens.masked_fill(rank < n_mask[:, None], MASK_ID)
    assert bool((noisy[:, 0] == BOS_ID).all())
    return noisy


def corrupt(tokens: torch.Tensor, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Training's noising: a cosine-schedule share of each canvas masked; returns (noisy, ratio t)."""
    t = cosine_mask_ratio(torch.rand(tokens.shape[0], generator=generator))  # (B,)
    return mask_share(tokens, t, generator), t
