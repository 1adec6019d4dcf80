"""Attention maps as pixel images: one pixel per (query, key) cell, for HTML heatmaps.

A page can lay such an image on a CSS grid, scaled up without smoothing, with its axis
labels as HTML text (:mod:`physdocs.report.overview`). That costs about a millisecond per map,
where a matplotlib figure with axes, ticks and a colour bar costs about half a second, and
the labels stay sharp, selectable and readable at any zoom.
"""

from __future__ import annotations

import io

import numpy as np
from matplotlib import colormaps
from matplotlib.image import imsave

from physdocs.plots.style import HEATMAP_CMAP, map_scale


def pixel_png(a: np.ndarray, vmax: float | None = None, cmap: str = HEATMAP_CMAP) -> bytes:
    """PNG bytes of a ``[q, k]`` map: ``q`` rows by ``k`` columns of pixels coloured on ``[0, vmax]``.

    ``vmax`` defaults to :func:`physdocs.plots.style.map_scale`. Non-finite cells are transparent. The bytes are
    deterministic (no ``Software`` or date chunks).
    """
    a = np.asarray(a, dtype=float)
    if a.ndim != 2 or 0 in a.shape:
        raise ValueError(f"expected a non-empty [query, key] map, got shape {a.shape}")
    top = map_scale(a) if vmax is None else float(vmax)
    if not top > 0:
        raise ValueError(f"vmax must be positive, got {vmax!r}")
    finite = np.isfinite(a)
    rgba = colormaps[cmap](np.clip(np.where(finite, a, 0.0) / top, 0.0, 1.0), bytes=True)
    rgba[..., 3] = np.where(finite, 255, 0)
    buf = io.BytesIO()
    imsave(buf, rgba, format="png", metadata={"Software": None})
    return buf.getvalue()


def gradient_stops(n: int = 9, cmap: str = HEATMAP_CMAP) -> list[str]:
    """``n`` evenly spaced colours of ``cmap`` as ``#rrggbb``: a CSS colour scale's stops."""
    if n < 2:
        raise ValueError(f"a gradient needs at least 2 stops, got n={n}")
    rgba = colormaps[cmap](np.linspace(0.0, 1.0, n), bytes=True)
    return ["#{:02x}{:02x}{:02x}".format(*c[:3]) for c in rgba]
