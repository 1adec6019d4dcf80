"""Teacher-forced decoder passes over the benchmark, batched by length (torch).

The faithfulness knockouts (:mod:`.faithful`) and the logit lens and path patching
(:mod:`.readout`) read the same passes: the diffuser on the true canvas with one seeded share
of the equation masked, the AR decoder on its next-token positions. Equations go in length
buckets: a PAD position is never a key, so trimming a bucket to its longest equation changes
no real position's logits, and a pass costs about the benchmark's real tokens, not 120 full
canvases.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import torch
import torch.nn.functional as F

from physdocs.decoding.diffusion import mask_share
from physdocs.grammar import MASK_ID, PAD_ID
from physdocs.results.readout import DECODERS

#: Equations per length bucket (a bucket is as wide as its longest equation).
BUCKET = 16


@dataclass(frozen=True)
class Batch:
    """One decoder's teacher-forced inputs over a bucket of equations.

    ``scored`` marks the positions whose prediction is read: the diffuser's masked equation
    positions, the AR decoder's next-token positions up to EOS.
    """

    part: str  # "diffuser" or "ar_decoder": the decoder's module in the model
    rows: np.ndarray  # [B] the equations' indices
    tokens: torch.Tensor  # [B, T] what the decoder reads
    targets: torch.Tensor  # [B, T] the true token at each position
    scored: torch.Tensor  # [B, T] bool
    t: torch.Tensor | None  # [B] the diffuser's mask ratio; None for the AR decoder
    keys: torch.Tensor  # [B, M, D] encoder memory: one key per observation, then z

    @property
    def self_mask(self) -> torch.Tensor:
        return self.tokens != PAD_ID  # (B, T)

    def with_keys(self, keys: torch.Tensor) -> Batch:
        return replace(self, keys=keys)


def batches(part: str, canvas: torch.Tensor, lengths: Sequence[int], keys: torch.Tensor, *,
            level: float, seed: int, bucket: int = BUCKET) -> list[Batch]:
    """The decoder's inputs over every equation, in length buckets of ``bucket`` equations.

    ``canvas`` [E, L] holds ``BOS .. EOS PAD ..``; ``keys`` [E, M, D] the encoder memory. The
    diffuser's mask (a ``level`` share of each equation, drawn from ``seed``) is drawn on the
    whole canvas first, so the buckets do not change it.
    """
    if part not in DECODERS:
        raise ValueError(f"part must be one of {DECODERS}, got {part!r}")
    n = torch.as_tensor(list(lengths))
    real = torch.arange(canvas.shape[1])[None, :] < n[:, None]  # (E, L)
    if part == "diffuser":
        tokens = mask_share(canvas, torch.full((canvas.shape[0],), float(level)),
                            torch.Generator().manual_seed(seed))
        targets, scored, width = canvas, (tokens == MASK_ID) & real, n
        t = scored.sum(1) / (n - 2).clamp_min(1)  # (E,) the share masked, as training feeds it
    else:
        tokens, targets = canvas[:, :-1], canvas[:, 1:]
        scored, width, t = real[:, 1:], n - 1, None
    order = np.argsort(n.numpy(), kind="stable")
    out = []
    for start in range(0, len(order), bucket):
        rows = order[start:start + bucket]
        idx = torch.from_numpy(rows)
        w = int(width[idx].max())
        out.append(Batch(part, rows, tokens[idx, :w], targets[idx, :w], scored[idx, :w],
                         None if t is None else t[idx].float(), keys[idx]))
    return out


def decoder_of(model, part: str):
    return getattr(model, part)


def logits(model, b: Batch) -> torch.Tensor:
    """The decoder's logits ``[B, T, V]`` (hooks the caller attached run inside)."""
    dec = decoder_of(model, b.part)
    if b.part == "diffuser":
        return dec(b.tokens, b.keys, b.t)[0]
    return dec(b.tokens, b.keys)[0]


def unembed(model, part: str, resid: torch.Tensor) -> torch.Tensor:
    """The logit lens: ``resid`` [..., D] through the decoder's final norm and unembedding."""
    dec = decoder_of(model, part)
    return dec.head(dec.ln_f(resid))


def run_from(model, b: Batch, layer: int, resid: torch.Tensor) -> torch.Tensor:
    """Logits from ``resid``, the residual stream entering ``layer``; ``layer == n_layers``
    reads ``resid`` as the final stream (the final norm and unembedding only)."""
    dec = decoder_of(model, b.part)
    if layer == len(dec.layers):
        return unembed(model, b.part, resid)
    return dec.forward_from(layer, resid, b.keys, self_mask=b.self_mask)


def token_loss(lg: torch.Tensor, b: Batch) -> torch.Tensor:
    """Cross-entropy of the true token at every position, ``[B, T]``."""
    return F.cross_entropy(lg.transpose(1, 2), b.targets, reduction="none")


def per_equation(x: torch.Tensor, where: torch.Tensor) -> np.ndarray:
    """Mean of ``x`` [B, T] over the positions ``where`` [B, T] of each row (nan for none)."""
    w = where.float()
    n = w.sum(1)
    return torch.where(n > 0, (x * w).sum(1) / n.clamp_min(1), torch.nan).double().numpy()
