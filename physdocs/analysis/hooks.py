"""The interventions' hook functions and hook-point names, each declared once (torch).

Names come from the schema's components (:class:`~physdocs.analysis.schema.Component`), so
a renamed module changes one string: a component's pattern hook is
``<part>.layers.{layer}.<block>.hook_pattern``; its per-head output (``hook_z``) sits beside
it, and the residual stream entering the layer is ``<part>.layers.{layer}.hook_resid_pre``.
"""

from __future__ import annotations

import torch

from physdocs.analysis.schema import component


def head_output(component_id: str, layer: int) -> str:
    """The per-head output hook (``hook_z``) of a layered attention component."""
    return component(component_id).hook_name(layer).rsplit(".", 1)[0] + ".hook_z"


def decoder_part(component_id: str) -> str:
    """The module that holds a layered component: ``"diffuser"`` or ``"ar_decoder"``."""
    return component(component_id).hook.split(".layers.", 1)[0]


def zero_head(head: int):
    """A hook that zeroes one head of an attention pattern or output ``[B, H, ...]`` (a copy)."""

    def hook(x: torch.Tensor, point) -> torch.Tensor:
        out = x.clone()
        out[:, head] = 0
        return out

    return hook


def mean_head(head: int):
    """A hook that replaces one head's pattern or output ``[B, H, ...]`` by its mean over the
    batch (equations), position by position."""

    def hook(x: torch.Tensor, point) -> torch.Tensor:
        out = x.clone()
        out[:, head] = x[:, head].mean(0, keepdim=True)
        return out

    return hook


class LayerRecorder(dict):
    """``{layer: tensor}`` at one per-layer hook point of a decoder, recorded during a pass.

    ``point``: ``"hook_resid_pre"`` (the residual stream entering each layer: an ablation in
    layer ``l`` re-runs the decoder from there) or a component's ``"hook_z"``.
    """

    def __init__(self, model, part: str, point: str = "hook_resid_pre"):
        super().__init__()
        self.model, self.prefix, self.point = model, f"{part}.layers.", point

    def recording(self):
        def save(x: torch.Tensor, hook) -> None:
            self[int(hook.name[len(self.prefix):].split(".", 1)[0])] = x

        return self.model.hooks([(lambda n: n.startswith(self.prefix) and n.endswith(self.point), save)])
