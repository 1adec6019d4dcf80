"""The one attention block: self-, cross-, ISAB and PMA attention all use it."""

from __future__ import annotations

from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import nn

from physdocs.models.hooks import HookPoint


class Attention(nn.Module):
    """Multi-head attention with a key mask, optional causal mask and a hook point.

    The pattern is exposed after softmax and before dropout, per head, as
    ``[batch, head, query, key]``. When no hook is attached the fused
    ``scaled_dot_product_attention`` kernel runs instead (same maths, faster).
    """

    def __init__(self, *, d_model: int, n_heads: int, d_context: int | None = None, dropout: float = 0.0):
        super().__init__()
        assert d_model % n_heads == 0, "d_model must divide into heads"
        d_context = d_context or d_model
        self.n_heads = n_heads
        self.d_head = d_model // n_heads
        self.scale = self.d_head**-0.5  # per head, not the full width
        self.q_proj = nn.Linear(d_model, d_model)
        self.k_proj = nn.Linear(d_context, d_model)
        self.v_proj = nn.Linear(d_context, d_model)
        self.out_proj = nn.Linear(d_model, d_model)
        self.dropout = dropout
        self.hook_pattern = HookPoint()
        self.hook_z = HookPoint()  # each head's output before the out projection [batch, head, query, d_head]
        self.force_manual = False
        # While a sampler reuses one context over many steps (:func:`context_kept`): that
        # context and its key and value projections, computed once instead of every step.
        self._kept: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None
        self._keeping = False

    def forward(
        self,
        x: torch.Tensor,
        context: torch.Tensor | None = None,
        *,
        key_mask: torch.Tensor | None = None,
        causal: bool = False,
    ) -> torch.Tensor:
        """``x`` [B, Tq, D] attends to ``context`` [B, Tk, Dc] (``x`` itself if None).

        A ``context`` of batch 1 is shared by all ``B`` query rows: its keys and values are
        projected once (decoding many canvases or beams against one memory), giving the
        same numbers as a context repeated ``B`` times. ``key_mask`` [B or 1, Tk] is True
        for keys that may be attended to.
        """
        context = x if context is None else context
        B, Tq, _ = x.shape
        Bc, Tk = context.shape[:2]
        if Bc not in (1, B):
            raise ValueError(f"context batch {Bc} is neither 1 nor the queries' batch {B}")
        H, hd = self.n_heads, self.d_head
        q = self.q_proj(x).view(B, Tq, H, hd).transpose(1, 2)  # (B, H, Tq, hd)
        if self._kept is not None and self._kept[0] is context:
            k, v = self._kept[1:]
        else:
            k = self.k_proj(context).view(Bc, Tk, H, hd).transpose(1, 2)  # (Bc, H, Tk, hd)
            v = self.v_proj(context).view(Bc, Tk, H, hd).transpose(1, 2)  # (Bc, H, Tk, hd)
            if self._keeping and context is not x:
                self._kept = (context, k, v)
        k, v = k.expand(B, -1, -1, -1), v.expand(B, -1, -1, -1)  # (B, H, Tk, hd)
        allowed = self._allowed(B, Tq, Tk, key_mask, causal, x.device)  # (B, 1, Tq, Tk) or None
        p_drop = self.dropout if self.training else 0.0
        if self.force_manual or self.hook_pattern.has_hooks:
            scores = (q @ k.transpose(-2, -1)) * self.scale  # (B, H, Tq, Tk)
            if allowed is not None:
                scores = scores.masked_fill(~allowed, float("-inf"))
            pattern = scores.softmax(dim=-1)
            pattern = self.hook_pattern(pattern)  # [batch, head, query, key]
            y = F.dropout(pattern, p_drop, self.training) @ v  # (B, H, Tq, hd)
        else:
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed, dropout_p=p_drop)
        y = self.hook_z(y)  # (B, H, Tq, hd): activation patching swaps one head's output here
        y = y.transpose(1, 2).reshape(B, Tq, H * hd)  # (B, Tq, D)
        return self.out_proj(y)

    @staticmethod
    def _allowed(B, Tq, Tk, key_mask, causal, device) -> torch.Tensor | None:
        if key_mask is None and not causal:
            return None
        allowed = torch.ones(B, 1, Tq, Tk, dtype=torch.bool, device=device)
        if key_mask is not None:
            allowed = allowed & key_mask[:, None, None, :].bool()
        if causal:
            allowed = allowed & torch.ones(Tq, Tk, dtype=torch.bool, device=device).tril()
        return allowed


@contextmanager
def context_kept(module: nn.Module):
    """Within the block, each cross-attention of ``module`` projects a context it has seen
    before only once: a sampler that reads the same memory tensor at every step (the same
    object) skips recomputing its keys and values. The same arithmetic, so the same results."""
    blocks = [m for m in module.modules() if isinstance(m, Attention)]
    for m in blocks:
        m._keeping = True
    try:
        yield
    finally:
        for m in blocks:
            m._keeping, m._kept = False, None
