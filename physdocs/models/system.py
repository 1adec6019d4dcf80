"""PhysDiffuser+: encoder -> cross-attention memory -> diffuser and AR decoder."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from physdocs.models.config import SystemConfig
from physdocs.models.decoders import AutoregressiveDecoder, PhysDiffuser
from physdocs.models.encoder import SetTransformerEncoder
from physdocs.models.hooks import HookedModule


@dataclass
class Memory:
    keys: torch.Tensor  # [batch, slot, d_model]: one slot per observation, then the pooled z
    mask: torch.Tensor | None  # [batch, slot] True for real slots
    z: torch.Tensor  # [batch, z_dim]


class PhysDiffuserPlus(HookedModule):
    """The whole system; every attention pattern is a named hook point."""

    def __init__(self, cfg: SystemConfig):
        super().__init__()
        if cfg.diffuser.d_model != cfg.ar.d_model:
            raise ValueError("diffuser and AR decoder share one memory: give them the same d_model")
        self.cfg = cfg
        d_enc, d_dec = cfg.encoder.d_model, cfg.diffuser.d_model
        self.encoder = SetTransformerEncoder(cfg.encoder)
        # The seed's 2-layer projection of z into the decoders' width.
        self.memory_proj = nn.Sequential(nn.Linear(cfg.encoder.z_dim, d_dec), nn.GELU(), nn.Linear(d_dec, d_dec))
        self.point_proj = nn.Linear(d_enc, d_dec)
        self.diffuser = PhysDiffuser(cfg.diffuser)
        self.ar_decoder = AutoregressiveDecoder(cfg.ar)
        self.setup_hooks()

    def encode(self, obs: torch.Tensor, point_mask: torch.Tensor | None = None) -> Memory:
        """``obs`` [B, N, 160] -> cross-attention memory."""
        enc = self.encoder(obs, point_mask)
        pooled = self.memory_proj(enc.z)[:, None, :]  # (B, 1, D)
        if self.cfg.memory == "pooled":
            return Memory(keys=pooled, mask=None, z=enc.z)
        keys = torch.cat([self.point_proj(enc.points), pooled], dim=1)  # (B, N + 1, D)
        mask = None
        if point_mask is not None:
            mask = torch.cat([point_mask.bool(), point_mask.new_ones(point_mask.shape[0], 1).bool()], dim=1)
        return Memory(keys=keys, mask=mask, z=enc.z)

    def forward(
        self,
        obs: torch.Tensor,
        diff_tokens: torch.Tensor,
        t: torch.Tensor,
        ar_tokens: torch.Tensor,
        *,
        diff_targets: torch.Tensor | None = None,
        ar_targets: torch.Tensor | None = None,
        point_mask: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor | None]:
        """One joint pass (training and capture): both decoders read the same memory."""
        mem = self.encode(obs, point_mask)
        diff_logits, diff_loss = self.diffuser(diff_tokens, mem.keys, t, memory_mask=mem.mask, targets=diff_targets)
        ar_logits, ar_loss = self.ar_decoder(ar_tokens, mem.keys, memory_mask=mem.mask, targets=ar_targets)
        length_logits = self.diffuser.length_logits(mem.keys, mem.mask) if self.diffuser.length_head is not None else None
        return {"diff_logits": diff_logits, "ar_logits": ar_logits, "diff_loss": diff_loss, "ar_loss": ar_loss,
                "length_logits": length_logits}


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
