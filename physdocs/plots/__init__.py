"""Figures from results: pure functions, plain data (numpy arrays, lists of dicts) in,
:class:`matplotlib.figure.Figure` out. Nothing here touches a model or torch.

Render with :func:`figure_png` at :data:`DPI_PRINT` (the seed's 300 DPI); the bytes are
deterministic.

* :mod:`physdocs.plots.attention` -- per-head maps, encoder ISAB/PMA maps.
* :mod:`physdocs.plots.pixels` -- maps as pixel images, for the equation pages' HTML heatmaps.
* :mod:`physdocs.plots.trajectory` -- the diffusion refinement trajectory (two panels).
* :mod:`physdocs.plots.aggregate` -- entropy and token-type attention by tier, head
  importance, training curves, accuracy by tier, resolution order.
* :mod:`physdocs.plots.accuracy` -- the evaluation page's figures.
* :mod:`physdocs.plots.summary` -- the home page's figure: the findings' forest plot and the
  pipeline against Operon alone, paired.
* :mod:`physdocs.plots.style` -- style, colours, resolution, PNG output.
"""

from physdocs.plots.aggregate import (
    SEED_LABEL,
    entropy_by_tier,
    head_importance,
    token_type_attention,
    training_curves,
)
from physdocs.plots.attention import attention_heads, encoder_maps
from physdocs.plots.style import DPI_PRINT, TYPE_COLOURS, figure_png, style_context
from physdocs.plots.trajectory import trajectory

__all__ = [
    "DPI_PRINT",
    "SEED_LABEL",
    "TYPE_COLOURS",
    "attention_heads",
    "encoder_maps",
    "entropy_by_tier",
    "figure_png",
    "head_importance",
    "style_context",
    "token_type_attention",
    "training_curves",
    "trajectory",
]
