"""Figures of the evaluation page: does the model read its data, and which shapes it tells apart.

Inputs are the rows the training log and the evaluation write to JSON; nothing here
computes a statistic beyond drawing the given numbers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from physdocs.plots.style import SERIES_COLOURS, new_figure, styled

Row = Mapping[str, Any]

#: (title, loss on the true observations, loss on another equation's observations)
_GAP_PAIRS = (
    ("AR decoder (next-token loss)", "ar_loss", "ar_loss_shuffled"),
    ("PhysDiffuser (masked real-token loss)", "diff_real_loss", "diff_real_loss_shuffled"),
)


@styled
def data_dependence(records: Sequence[Row]) -> Figure:
    """Validation loss with the true observations against swapped ones, per decoder, by step."""
    val = [r for r in records if r.get("kind") == "val" and "ar_loss_shuffled" in r]
    if not val:
        raise ValueError("data_dependence: no validation record carries the shuffled losses")
    fig = new_figure(10.0, 3.4)
    axes = fig.subplots(1, 2)
    steps = np.array([r["step"] for r in val])
    for ax, (title, true_key, wrong_key) in zip(axes, _GAP_PAIRS, strict=True):
        ax.plot(steps, [r[true_key] for r in val], color=SERIES_COLOURS[0], marker="o", markersize=3,
                label="own observations")
        ax.plot(steps, [r[wrong_key] for r in val], color=SERIES_COLOURS[1], marker="s", markersize=3,
                linestyle="--", label="another equation's observations")
        ax.fill_between(steps, [r[true_key] for r in val], [r[wrong_key] for r in val],
                        color=SERIES_COLOURS[1], alpha=0.15, linewidth=0)
        ax.set_title(title)
        ax.set_xlabel("step")
        ax.set_ylabel("validation loss (nats)")
        ax.legend(frameon=False)
    fig.suptitle("Data dependence: the shaded gap is what the observations are worth")
    return fig


@styled
def capability_grid(confusion: Mapping[str, Mapping[str, Any]], title: str) -> Figure:
    """One confusion table per variable count: true shape (rows) against derived shape."""
    keys = sorted(confusion, key=int)
    if not keys:
        raise ValueError("capability_grid: no families")
    widths = [len(confusion[k]["labels"]) for k in keys]
    fig = new_figure(3.0 + 1.1 * sum(widths), 4.2)
    axes = fig.subplots(1, len(keys), width_ratios=widths)
    for ax, k in zip(np.atleast_1d(axes), keys, strict=True):
        table = confusion[k]
        counts = np.asarray(table["counts"], dtype=float)
        totals = counts.sum(1, keepdims=True)
        share = np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)
        ax.imshow(share, cmap="Blues", vmin=0, vmax=1, aspect="auto")
        for i in range(counts.shape[0]):
            for j in range(counts.shape[1]):
                if counts[i, j]:
                    ax.text(j, i, f"{int(counts[i, j])}", ha="center", va="center", fontsize=8,
                            color="white" if share[i, j] > 0.6 else "black")
        ax.set_xticks(range(len(table["labels"])), table["labels"], rotation=60, ha="right", fontsize=7)
        ax.set_yticks(range(len(table["shapes"])), table["shapes"], fontsize=7)
        ax.set_title(f"{k} variable{'s' if int(k) > 1 else ''}")
        ax.set_xlabel("derived (up to a constant factor)")
        ax.grid(False)
    fig.suptitle(title)
    return fig
