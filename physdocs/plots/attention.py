"""Attention heatmaps: per-head maps and the encoder's ISAB/PMA maps.

Every function takes plain arrays (``[head, query, key]`` post-softmax attention, as the
analysis layer stores it) and returns a :class:`~matplotlib.figure.Figure`; render it with
:func:`physdocs.plots.style.figure_png`. Rendering is kept cheap: one ``imshow`` per map,
thinned tick labels, and panels placed by fixed margins instead of a layout engine.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.image import AxesImage

from physdocs.plots.style import (
    CONTENT_WIDTH_IN,
    HEATMAP_CMAP,
    TITLE_LINE_IN,
    check_labels,
    colorbar_axes,
    map_scale,
    panel_grid,
    styled,
    text_inches,
    thinned_ticks,
    wrapped,
)

_AXIS_LABEL = 0.22  # inches taken by an axis label ("key", "query")
_TITLE = 0.25  # a panel title
_CBAR = 0.08 + 0.1 + 0.38  # colour bar pad + bar + its tick labels
_NUMBERS = 0.22  # numeric tick labels (indices up to 2 digits)


def _as_heads(name: str, attn: np.ndarray) -> np.ndarray:
    a = np.asarray(attn, dtype=float)
    if a.ndim == 2:
        a = a[None]  # [1, q, k]
    if a.ndim != 3:
        raise ValueError(f"{name}: expected [head, query, key] attention, got shape {a.shape}")
    return a


def _head_mean(name: str, attn: np.ndarray) -> np.ndarray:
    return _as_heads(name, attn).mean(axis=0)  # [q, k]


def _tick_space(labels: Sequence[str] | None) -> float:
    """Inches that an axis's tick labels take (numbers when ``labels`` is None)."""
    if labels is None:
        return _NUMBERS
    return text_inches(thinned_ticks(labels)[1]) + 0.1


def _heatmap(
    ax: Axes,
    a: np.ndarray,
    *,
    query_labels: Sequence[str] | None = None,
    key_labels: Sequence[str] | None = None,
    query_name: str = "query",
    key_name: str = "key",
    vmax: float | None = None,
    ylabels: bool = True,
) -> AxesImage:
    """One ``[q, k]`` map on ``ax``: a single imshow, thinned tick labels, axis names."""
    im = ax.imshow(a, cmap=HEATMAP_CMAP, vmin=0.0, vmax=map_scale(a) if vmax is None else vmax, aspect="auto")
    ax.grid(False)
    if key_labels is not None:
        pos, lab = thinned_ticks(key_labels)
        ax.set_xticks(pos, lab, rotation=90)
    if query_labels is not None:
        pos, lab = thinned_ticks(query_labels)
        ax.set_yticks(pos, lab if ylabels else [])
    elif not ylabels:
        ax.set_yticklabels([])
    ax.set_xlabel(key_name)
    if ylabels:
        ax.set_ylabel(query_name)
    return im


def _panel_inches(n: int) -> float:
    return float(np.clip(0.16 * n + 0.9, 1.9, 3.6))


def _columns(n_panels: int, max_cols: int, panel_w: float, fixed: float, per_col: float) -> tuple[int, float]:
    """The most columns (up to ``max_cols``) whose row fits :data:`CONTENT_WIDTH_IN`, and the
    panel width; a single column that would not fit is narrowed to fit."""
    for ncols in range(min(n_panels, max_cols), 0, -1):
        if fixed + ncols * (panel_w + per_col) <= CONTENT_WIDTH_IN:
            return ncols, panel_w
    return 1, max(1.0, CONTENT_WIDTH_IN - fixed - per_col)


@styled
def attention_heads(
    attn: np.ndarray, query_labels: Sequence[str], key_labels: Sequence[str], title: str
) -> Figure:
    """One panel per head of ``attn [H, q, k]`` on a shared colour scale, with tick labels.

    Up to four heads sit in one row when there are at most 30 keys; wider maps (the 51
    observation keys) go two panels a row. Above 30 labels an axis shows every k-th label
    and the last one. Only the first column repeats the query labels.
    """
    a = _as_heads(title, attn)  # [H, q, k]
    n_heads, n_q, n_k = a.shape
    check_labels(f"{title}: query labels", query_labels, n_q)
    check_labels(f"{title}: key labels", key_labels, n_k)
    x_ticks = _tick_space(key_labels) + _AXIS_LABEL
    left, right = _tick_space(query_labels) + _AXIS_LABEL + 0.1, _CBAR + 0.3
    ncols, panel_w = _columns(n_heads, 4, _panel_inches(n_k), left + right - 0.15, 0.15)
    nrows = math.ceil(n_heads / ncols)
    fig, axes = panel_grid(
        nrows,
        ncols,
        panel_w,
        _panel_inches(n_q),
        left=left,
        right=right,
        bottom=x_ticks + 0.05,
        top=_TITLE,
        wgap=0.15,
        hgap=x_ticks + _TITLE,
        title=title,
    )
    vmax = map_scale(a)
    im = None
    for i, ax in enumerate(axes):
        if i >= n_heads:
            ax.set_axis_off()
            continue
        im = _heatmap(
            ax, a[i], query_labels=query_labels, key_labels=key_labels, vmax=vmax, ylabels=i % ncols == 0
        )
        ax.set_title(f"head {i + 1}")
    assert im is not None
    fig.colorbar(im, cax=colorbar_axes(fig, axes[ncols - 1 :: ncols]), label="attention weight")
    return fig


def _small_multiples(
    panels: Sequence[tuple[str, np.ndarray, Sequence[str] | None, Sequence[str] | None, str, str]],
    title: str,
    *,
    max_cols: int,
    panel_w: float,
    panel_h: float,
) -> Figure:
    """Panels ``(name, [q, k] map, query labels, key labels, query name, key name)``, each
    with its own colour scale and colour bar."""
    y_ticks = max(_tick_space(p[2]) for p in panels) + _AXIS_LABEL
    x_ticks = max(_tick_space(p[3]) for p in panels) + _AXIS_LABEL
    gap = _CBAR + y_ticks + 0.15
    ncols, panel_w = _columns(len(panels), max_cols, panel_w, y_ticks + 0.1 + _CBAR + 0.1 - gap, gap)
    nrows = math.ceil(len(panels) / ncols)
    # a title wider than its panel is broken into lines, and the space above each row grows to hold them
    names = [wrapped(p[0], panel_w) for p in panels]
    title_h = _TITLE + TITLE_LINE_IN * (max(t.count("\n") for t in names))
    fig, axes = panel_grid(
        nrows,
        ncols,
        panel_w,
        panel_h,
        left=y_ticks + 0.1,
        right=_CBAR + 0.1,
        bottom=x_ticks + 0.05,
        top=title_h,
        wgap=gap,
        hgap=x_ticks + title_h + 0.05,
        title=title,
    )
    for ax, name, (_, a, q_labels, k_labels, q_name, k_name) in zip(axes, names, panels, strict=False):
        im = _heatmap(ax, a, query_labels=q_labels, key_labels=k_labels, query_name=q_name, key_name=k_name)
        if q_labels is None and a.shape[0] <= 2:
            ax.set_yticks(range(a.shape[0]))
        ax.set_title(name)
        fig.colorbar(im, cax=colorbar_axes(fig, ax))
    for ax in axes[len(panels) :]:
        ax.set_axis_off()
    return fig


@styled
def encoder_maps(panels: Sequence[tuple[str, np.ndarray, str, str]], title: str) -> Figure:
    """Head-averaged encoder maps, each with its own scale.

    ``panels``: ``(name, [H, q, k] or [q, k] map, query axis name, key axis name)`` in
    display order, e.g. the ISAB and PMA maps and the point-to-point map ISAB 1 induces
    (computed by the analysis: :func:`physdocs.analysis.metrics.induced_map`).
    """
    if not panels:
        raise ValueError(f"{title}: no encoder maps given")
    rows = [(name, _head_mean(name, attn), None, None, q_name, k_name) for name, attn, q_name, k_name in panels]
    return _small_multiples(rows, title, max_cols=3, panel_w=2.7, panel_h=2.3)
