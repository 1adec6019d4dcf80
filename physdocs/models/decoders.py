"""PhysDiffuser (bidirectional, masked diffusion) and the autoregressive decoder.

Both share one transformer layer (pre-LN): self-attention, cross-attention to the
encoder memory, GELU feed-forward; and both follow ``forward(tokens, memory, ...,
targets=None) -> (logits, loss)``. ``memory`` is ``[B, M, D]``, or ``[1, M, D]`` shared by
all ``B`` sequences (decoding: its keys and values are then projected once).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from physdocs.grammar import MASK_ID, PAD_ID
from physdocs.models.attention import Attention
from physdocs.models.config import DecoderConfig
from physdocs.models.hooks import HookPoint


class DecoderLayer(nn.Module):
    def __init__(self, cfg: DecoderConfig):
        super().__init__()
        kw = dict(d_model=cfg.d_model, n_heads=cfg.n_heads, dropout=cfg.dropout)
        self.hook_resid_pre = HookPoint()  # the residual stream entering the layer [B, T, D]
        self.ln1 = nn.LayerNorm(cfg.d_model)
        self.self_attn = Attention(**kw)
        self.ln2 = nn.LayerNorm(cfg.d_model)
        self.cross_attn = Attention(**kw)
        self.ln3 = nn.LayerNorm(cfg.d_model)
        self.ff = nn.Sequential(
            nn.Linear(cfg.d_model, cfg.d_ff), nn.GELU(), nn.Linear(cfg.d_ff, cfg.d_model), nn.Dropout(cfg.dropout)
        )

    def forward(self, x, memory, *, self_mask=None, memory_mask=None, causal=False) -> torch.Tensor:
        x = self.hook_resid_pre(x)
        x = x + self.self_attn(self.ln1(x), key_mask=self_mask, causal=causal)
        x = x + self.cross_attn(self.ln2(x), memory, key_mask=memory_mask)
        return x + self.ff(self.ln3(x))


class _TokenTransformer(nn.Module):
    causal = False

    def __init__(self, cfg: DecoderConfig):
        super().__init__()
        self.cfg = cfg
        self.tok_emb = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.pos_emb = nn.Parameter(torch.zeros(cfg.max_len, cfg.d_model))
        nn.init.normal_(self.pos_emb, std=0.02)
        self.layers = nn.ModuleList(DecoderLayer(cfg) for _ in range(cfg.n_layers))
        self.ln_f = nn.LayerNorm(cfg.d_model)
        self.head = nn.Linear(cfg.d_model, cfg.vocab_size)

    def _embed(self, tokens: torch.Tensor) -> torch.Tensor:
        T = tokens.shape[1]
        if T > self.cfg.max_len:
            raise ValueError(f"sequence of {T} tokens exceeds max_len={self.cfg.max_len}")
        return self.tok_emb(tokens) + self.pos_emb[:T]  # (B, T, D)

    def _run(self, x, memory, memory_mask, self_mask, start_layer: int = 0) -> torch.Tensor:
        for layer in self.layers[start_layer:]:
            x = layer(x, memory, self_mask=self_mask, memory_mask=memory_mask, causal=self.causal)
        return self.head(self.ln_f(x))  # (B, T, V)

    def forward_from(
        self,
        layer: int,
        resid: torch.Tensor,
        memory: torch.Tensor,
        *,
        memory_mask: torch.Tensor | None = None,
        self_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Logits [B, T, V] from ``resid``, the residual stream entering layer ``layer`` (0-based;
        what ``layers.{layer}.hook_resid_pre`` sees in a full pass).

        An intervention on layer ``layer`` or later changes nothing before it: ablations run
        from here instead of from the tokens. ``self_mask`` is the key mask the full pass used
        (both decoders: ``tokens != PAD_ID``).
        """
        if not 0 <= layer < len(self.layers):
            raise ValueError(f"layer must be in 0..{len(self.layers) - 1}, got {layer}")
        return self._run(resid, memory, memory_mask, self_mask, start_layer=layer)


class PhysDiffuser(_TokenTransformer):
    """Masked discrete diffusion over a canvas ``BOS x1 .. xn EOS`` (PAD after it is never a key).

    A learned mask embedding scaled by the current mask ratio ``t`` is added to every
    position, so the model knows the global noise level. With ``cfg.length_head`` a small
    head on the pooled memory slot predicts the EOS position (the canvas length), so
    refinement never spends a step on padding.
    """

    def __init__(self, cfg: DecoderConfig):
        super().__init__(cfg)
        self.mask_level = nn.Parameter(torch.zeros(cfg.d_model))
        self.length_head = None
        if cfg.length_head:
            self.length_head = nn.Sequential(
                nn.Linear(cfg.d_model, cfg.d_model), nn.GELU(), nn.Linear(cfg.d_model, cfg.max_len)
            )
        self.length_pool = None
        if cfg.length_pool:
            self.length_query = nn.Parameter(torch.randn(1, 1, cfg.d_model) * cfg.d_model**-0.5)
            self.length_pool = nn.MultiheadAttention(cfg.d_model, cfg.n_heads, batch_first=True)
            nn.init.zeros_(self.length_pool.out_proj.weight)
            nn.init.zeros_(self.length_pool.out_proj.bias)

    def length_logits(self, memory: torch.Tensor, memory_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Logits [B, max_len] over the EOS position, read from the pooled slot (the last key)
        and, with ``cfg.length_pool``, from every key (``memory_mask`` [B, M]: True = a key)."""
        if self.length_head is None:
            raise ValueError("this diffuser has no length head (DecoderConfig.length_head=False)")
        h = memory[:, -1]  # (B, D)
        if self.length_pool is not None:
            query = self.length_query.expand(memory.shape[0], -1, -1)
            pad = None if memory_mask is None else ~memory_mask.bool()
            pooled, _ = self.length_pool(query, memory, memory, key_padding_mask=pad, need_weights=False)
            h = h + pooled[:, 0]
        logits = self.length_head(h)  # (B, max_len)
        # EOS stands at position 2 at the earliest: BOS, one token, EOS.
        return logits.masked_fill(torch.arange(logits.shape[1], device=logits.device) < 2, float("-inf"))

    def forward(
        self,
        tokens: torch.Tensor,
        memory: torch.Tensor,
        t: torch.Tensor,
        *,
        memory_mask: torch.Tensor | None = None,
        targets: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``tokens`` [B, T] with MASK where unknown; ``t`` [B] mask ratio in [0, 1].

        PAD positions are masked out as keys: the canvas ends at EOS, and a batch of
        different lengths gives each row the same result as alone. ``targets`` [B, T] is the
        clean sequence; the loss is cross-entropy on the masked positions only.
        """
        x = self._embed(tokens) + t[:, None, None] * self.mask_level  # (B, T, D)
        logits = self._run(x, memory, memory_mask, tokens != PAD_ID)
        loss = None
        if targets is not None:
            masked = tokens == MASK_ID  # (B, T)
            loss = F.cross_entropy(logits[masked], targets[masked]) if masked.any() else logits.sum() * 0
        return logits, loss


class AutoregressiveDecoder(_TokenTransformer):
    """Causal self-attention + cross-attention; next-token prediction."""

    causal = True

    def forward(
        self,
        tokens: torch.Tensor,
        memory: torch.Tensor,
        *,
        memory_mask: torch.Tensor | None = None,
        targets: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``tokens`` [B, T] inputs (BOS ...); ``targets`` [B, T] the next tokens, PAD ignored."""
        self_mask = tokens != PAD_ID  # (B, T)
        logits = self._run(self._embed(tokens), memory, memory_mask, self_mask)
        loss = None
        if targets is not None:
            loss = F.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=PAD_ID)
        return logits, loss
