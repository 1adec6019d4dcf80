"""Diffusion refinement trajectory: token identity and confidence per position and step.

The seed's two-panel figure: the upper panel colours each cell by token type (MASK dark
grey) and writes the token at the milestone steps (0, 25, 50, 75 and 100 % of the steps);
the lower panel is the confidence (max softmax probability) at each cell.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib import colormaps
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from physdocs.analysis.schema import TYPE_LABELS
from physdocs.plots.style import (
    CONTENT_WIDTH_IN,
    HEATMAP_CMAP,
    MIN_TEXT_PT,
    TYPE_CMAP,
    TYPE_COLOURS,
    TYPE_ORDER,
    colorbar_axes,
    panel_grid,
    styled,
    text_inches,
    thinned_ticks,
    type_category,
)

MILESTONES: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75, 1.0)
_LEGEND_HANDLE = 0.55  # inches a legend entry takes beside its text: patch, gaps, column spacing
_LEGEND_ROW = 0.2  # inches a row of the legend (8 pt) takes


def milestone_steps(n_steps: int) -> list[int]:
    """Rows annotated with token text: 0, 25, 50, 75 and 100 % of ``n_steps`` (deduplicated)."""
    return sorted({round(p * n_steps) for p in MILESTONES})


def _visible_width(tokens: Sequence[Sequence[str]]) -> int:
    """Columns up to the last non-PAD token of the final row (of any row if that is all PAD)."""
    for row in (tokens[-1], *tokens):
        real = [i for i, t in enumerate(row) if t != "PAD"]
        if real:
            return real[-1] + 1
    return len(tokens[-1])


def _text_colour(hex_colour: str) -> str:
    r, g, b = to_rgb(hex_colour)
    return "white" if 0.2126 * r + 0.7152 * g + 0.0722 * b < 0.45 else "black"


_TEXT_COLOURS = {cat: _text_colour(c) for cat, c in TYPE_COLOURS.items()}
_CONF_CMAP = colormaps[HEATMAP_CMAP].with_extremes(bad="#DDDDDD")  # nan: no prediction yet


@styled
def trajectory(tokens: Sequence[Sequence[str]], confidence: np.ndarray, title: str) -> Figure:
    """Two panels over (position, step): token identity by type, and confidence.

    ``tokens[step][position]`` holds token strings for steps ``0..T`` (MASK where masked,
    PAD after EOS); ``confidence [T + 1, L]`` is in [0, 1], nan where undefined (row 0).
    The canvas is cropped to the last non-PAD column of the final row.
    """
    n_rows = len(tokens)
    if n_rows == 0:
        raise ValueError(f"{title}: empty trajectory")
    n_pos = len(tokens[0])
    for step, row in enumerate(tokens):
        if len(row) != n_pos:
            raise ValueError(f"{title}: step {step} has {len(row)} tokens, step 0 has {n_pos}")
    conf = np.asarray(confidence, dtype=float)
    if conf.shape != (n_rows, n_pos):
        raise ValueError(f"{title}: confidence shape {conf.shape} != tokens shape {(n_rows, n_pos)}")
    width = _visible_width(tokens)
    cats = [[type_category(t) for t in row[:width]] for row in tokens]
    codes = np.array([[TYPE_ORDER.index(c) for c in row] for row in cats])  # [T + 1, width]
    conf = np.ma.masked_invalid(conf[:, :width])

    left, right = 0.6, 0.9
    cell_w = float(min(0.55, (CONTENT_WIDTH_IN - left - right) / width))
    panel_w = cell_w * width
    panel_h = float(np.clip(0.14 * n_rows, 1.6, 4.0))
    # the legend names only what is drawn, in as many columns as the figure's width holds
    shown = [c for c in TYPE_ORDER if (codes == TYPE_ORDER.index(c)).any()]
    labels = [TYPE_LABELS.get(c, c) for c in shown]
    entry = _LEGEND_HANDLE + text_inches(labels)
    ncol = max(1, min(len(shown), int((left + panel_w + right - 0.2) // entry)))
    legend_rows = -(-len(shown) // ncol)
    fig, (ax_tok, ax_conf) = panel_grid(
        2, 1, panel_w, panel_h, left=left, right=right, bottom=0.8 + _LEGEND_ROW * legend_rows, top=0.28,
        wgap=0.0, hgap=0.65, title=title,
    )

    ax_tok.imshow(codes, cmap=TYPE_CMAP, vmin=-0.5, vmax=len(TYPE_ORDER) - 0.5, aspect="auto")
    longest = max(len(t) for row in tokens for t in row[:width])
    fontsize = float(np.clip(cell_w * 72 / (0.62 * max(longest, 3)), MIN_TEXT_PT, 9.0))
    for step in milestone_steps(n_rows - 1):
        for pos, (tok, cat) in enumerate(zip(tokens[step][:width], cats[step], strict=True)):
            if cat != "pad":
                ax_tok.text(
                    pos, step, tok, ha="center", va="center", fontsize=fontsize, color=_TEXT_COLOURS[cat]
                )
    handles = [Patch(facecolor=TYPE_COLOURS[c], label=label) for c, label in zip(shown, labels, strict=True)]
    fig.legend(handles=handles, loc="lower center", ncol=ncol, frameon=False)
    ax_tok.set_title("token identity by type (text at 0, 25, 50, 75, 100 % of steps)")

    im = ax_conf.imshow(conf, cmap=_CONF_CMAP, vmin=0.0, vmax=1.0, aspect="auto")
    fig.colorbar(im, cax=colorbar_axes(fig, ax_conf), label="confidence (max softmax)")
    ax_conf.set_title("model confidence per position")

    ypos, ylab = thinned_ticks([str(s) for s in range(n_rows)], max_labels=24)
    xpos, xlab = thinned_ticks([str(p) for p in range(width)])
    for ax in (ax_tok, ax_conf):
        ax.grid(False)
        ax.set_yticks(ypos, ylab)
        ax.set_xticks(xpos, xlab)
        ax.set_ylabel("refinement step")
        ax.set_xlabel("position")
    return fig
