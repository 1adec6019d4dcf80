"""Figures of the evaluation page: does the model read its data, and which shapes it tells apart.

Inputs are the rows the training log and the evaluation write to JSON; nothing here
computes a statistic beyond drawing the given numbers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from physdocs.methods import BY_KEY, REGISTRY
from physdocs.plots.style import new_figure, styled, wrapped
from physdocs.results.analysis import LOG_LABELS

Row = Mapping[str, Any]

#: (decoder's method key, loss on the true observations, loss on another equation's observations)
_GAP_PAIRS = (
    ("ar", "ar_loss", "ar_loss_shuffled"),
    ("diffusion", "diff_real_loss", "diff_real_loss_shuffled"),
)


@styled
def data_dependence(records: Sequence[Row]) -> Figure:
    """Validation loss with the true observations against swapped ones, per decoder, by step."""
    val = [r for r in records if r.get("kind") == "val" and "ar_loss_shuffled" in r]
    if not val:
        raise ValueError("data_dependence: no validation record carries the shuffled losses")
    fig = new_figure(8.8, 3.6)
    axes = fig.subplots(1, 2)
    steps = np.array([r["step"] for r in val])
    for ax, (method, true_key, wrong_key) in zip(axes, _GAP_PAIRS, strict=True):
        colour = BY_KEY[method].colour  # the decoder's colour; the line style tells the data apart
        ax.plot(steps, [r[true_key] for r in val], color=colour, marker="o", markersize=3,
                label="own observations")
        ax.plot(steps, [r[wrong_key] for r in val], color=colour, marker="s", markersize=3,
                linestyle="--", label="another equation's observations")
        ax.fill_between(steps, [r[true_key] for r in val], [r[wrong_key] for r in val],
                        color=colour, alpha=0.15, linewidth=0)
        ax.set_title(wrapped(LOG_LABELS[true_key], 4.0))
        ax.set_xlabel("step")
        ax.set_ylabel("validation loss (nats)")
        ax.legend(frameon=False)
    fig.suptitle("Data dependence: the shaded gap is what the observations are worth")
    return fig


@styled
def capability_grid(confusion: Mapping[str, Mapping[str, Any]], title: str) -> Figure:
    """One heatmap per family (variable count), two a row: the true shape (rows) against the
    shape derived up to a constant factor (columns); each cell gives its count, shaded by the
    row's share. The diagonal is a correct derivation."""
    keys = sorted(confusion, key=int)
    if not keys:
        raise ValueError("capability_grid: no families")
    ncols = min(2, len(keys))
    nrows = -(-len(keys) // ncols)
    fig = new_figure(8.8, 3.6 * nrows + 0.5)
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
    for ax, k in zip(axes, keys, strict=False):
        table = confusion[k]
        counts = np.asarray(table["counts"], dtype=float)
        totals = counts.sum(1, keepdims=True)
        share = np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)
        ax.imshow(share, cmap="Blues", vmin=0, vmax=1, aspect="auto")
        for i in range(counts.shape[0]):
            for j in range(counts.shape[1]):
                if counts[i, j]:
                    ax.text(j, i, f"{int(counts[i, j])}", ha="center", va="center",
                            color="white" if share[i, j] > 0.6 else "black")
        ax.set_xticks(range(len(table["labels"])), table["labels"], rotation=60, ha="right")
        ax.set_yticks(range(len(table["shapes"])), table["shapes"])
        n = sorted({int(t) for t in totals.ravel()})
        ax.set_title(f"{k} variable{'s' if int(k) > 1 else ''} (n = {'/'.join(map(str, n))} a row)")
        ax.set_xlabel("derived (up to a constant factor)")
        ax.set_ylabel("true shape")
        ax.grid(False)
    for ax in axes[len(keys):]:
        ax.set_axis_off()
    fig.suptitle(title)
    return fig


# --------------------------------------------------------------------------- accuracy by method

#: A colour and a marker per method (the registry's), the same on every page.
METHOD_LOOK: dict[str, tuple[str, str]] = {m.label: (m.colour, m.marker) for m in REGISTRY}
_OTHER_LOOK = ("#333333", "*")

def _accuracy_panel(ax, rows: Sequence[Row], tiers: Sequence[str], measure: str) -> list[str]:
    """Each method's share per tier as a point with its Wilson interval; returns the methods drawn."""
    sel = [r for r in rows if r["measure"] == measure]
    width = 0.8 / max(1, len(sel))
    drawn = []
    for i, r in enumerate(sel):
        colour, marker = METHOD_LOOK.get(r["method"], _OTHER_LOOK)
        xs, ys, lo, hi = [], [], [], []
        for j, cell in enumerate(r["cells"]):
            if cell is None:
                continue
            xs.append(j + (i - (len(sel) - 1) / 2) * width)
            ys.append(cell["rate"])
            lo.append(cell["rate"] - cell["low"])
            hi.append(cell["high"] - cell["rate"])
        if not xs:
            continue
        ax.errorbar(xs, ys, yerr=[lo, hi], fmt=marker, color=colour, markersize=5, elinewidth=1.2,
                    capsize=0, label=r["method"])
        drawn.append(r["method"])
    n = []
    for j, t in enumerate(tiers):
        ns = {c["n"] for r in sel if (c := r["cells"][j]) is not None}
        n.append(f"{t.replace('_', '-')}\nn={ns.pop()}" if len(ns) == 1 else t.replace("_", "-"))
    ax.set_xticks(range(len(tiers)), n)
    for j in range(len(tiers) - 1):
        ax.axvline(j + 0.5, color="#DDDDDD", linewidth=0.8)
    ax.set_xlim(-0.5, len(tiers) - 0.5)
    ax.set_ylim(-0.03, 1.03)
    ax.set_ylabel(f"share, {measure}")
    ax.grid(axis="x", visible=False)
    return drawn


@styled
def accuracy_by_method(rows: Sequence[Row], tiers: Sequence[str]) -> Figure:
    """Exact recovery (top) and R² > 0.99 (bottom) per tier, one marker per method, with
    Wilson 95% intervals (:func:`physdocs.report.evaluation_page.method_tier_rows`)."""
    measures = list(dict.fromkeys(r["measure"] for r in rows))
    if not rows or not tiers:
        raise ValueError("accuracy_by_method: no rows")
    fig = new_figure(8.8, 2.7 * len(measures) + 0.9)
    axes = np.atleast_1d(fig.subplots(len(measures), 1, sharex=True))
    for ax, measure in zip(axes, measures, strict=True):
        _accuracy_panel(ax, rows, tiers, measure)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=4, frameon=False)
    return fig
