"""Set Transformer encoder (Lee et al. 2019): ISAB blocks and PMA pooling."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from physdocs.models.attention import Attention
from physdocs.models.config import EncoderConfig


class MAB(nn.Module):
    """MAB(X, Y) = LN(H + rFF(H)), H = LN(X + Attention(X, Y))."""

    def __init__(self, *, d_model: int, n_heads: int, dropout: float = 0.0):
        super().__init__()
        self.attn = Attention(d_model=d_model, n_heads=n_heads, dropout=dropout)
        self.ln1 = nn.LayerNorm(d_model)
        self.ln2 = nn.LayerNorm(d_model)
        self.ff = nn.Sequential(nn.Linear(d_model, d_model), nn.GELU(), nn.Linear(d_model, d_model))

    def forward(self, x: torch.Tensor, y: torch.Tensor, key_mask: torch.Tensor | None = None) -> torch.Tensor:
        h = self.ln1(x + self.attn(x, y, key_mask=key_mask))
        return self.ln2(h + self.ff(h))


class ISAB(nn.Module):
    """ISAB_m(X) = MAB2(X, H), H = MAB1(I, X): m inducing points read the set, the set reads them back."""

    def __init__(self, *, d_model: int, n_heads: int, n_inducing: int, dropout: float = 0.0):
        super().__init__()
        self.inducing = nn.Parameter(torch.randn(n_inducing, d_model) * d_model**-0.5)
        self.mab1 = MAB(d_model=d_model, n_heads=n_heads, dropout=dropout)  # inducing <- points
        self.mab2 = MAB(d_model=d_model, n_heads=n_heads, dropout=dropout)  # points <- inducing

    def forward(self, x: torch.Tensor, point_mask: torch.Tensor | None = None) -> torch.Tensor:
        inducing = self.inducing.expand(x.shape[0], -1, -1)  # (B, m, D)
        h = self.mab1(inducing, x, key_mask=point_mask)  # (B, m, D)
        return self.mab2(x, h)  # (B, N, D)


class PMA(nn.Module):
    """PMA_k(Z) = MAB(S, rFF(Z)): k learned seeds pool the set."""

    def __init__(self, *, d_model: int, n_heads: int, n_seeds: int, dropout: float = 0.0):
        super().__init__()
        self.seeds = nn.Parameter(torch.randn(n_seeds, d_model) * d_model**-0.5)
        self.ff = nn.Sequential(nn.Linear(d_model, d_model), nn.GELU())
        self.mab = MAB(d_model=d_model, n_heads=n_heads, dropout=dropout)

    def forward(self, z: torch.Tensor, point_mask: torch.Tensor | None = None) -> torch.Tensor:
        seeds = self.seeds.expand(z.shape[0], -1, -1)  # (B, k, D)
        return self.mab(seeds, self.ff(z), key_mask=point_mask)  # (B, k, D)


@dataclass
class Encoding:
    points: torch.Tensor  # [batch, point, d_model] per-point features
    z: torch.Tensor  # [batch, z_dim] pooled summary


class SetTransformerEncoder(nn.Module):
    """Encodes 50 multi-hot observation points into per-point features and z."""

    def __init__(self, cfg: EncoderConfig):
        super().__init__()
        self.cfg = cfg
        self.embed = nn.Linear(cfg.input_dim, cfg.d_model)
        self.isabs = nn.ModuleList(
            ISAB(d_model=cfg.d_model, n_heads=cfg.n_heads, n_inducing=cfg.n_inducing, dropout=cfg.dropout)
            for _ in range(cfg.n_isab)
        )
        self.pma = PMA(d_model=cfg.d_model, n_heads=cfg.n_heads, n_seeds=cfg.n_seeds, dropout=cfg.dropout)
        self.to_z = nn.Linear(cfg.n_seeds * cfg.d_model, cfg.z_dim)

    def forward(self, obs: torch.Tensor, point_mask: torch.Tensor | None = None) -> Encoding:
        """``obs`` [B, N, 160] multi-hot; ``point_mask`` [B, N] True for real points."""
        h = self.embed(obs)  # (B, N, D)
        for isab in self.isabs:
            h = isab(h, point_mask)
        pooled = self.pma(h, point_mask)  # (B, k, D)
        return Encoding(points=h, z=self.to_z(pooled.flatten(1)))
