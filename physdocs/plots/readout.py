"""The per-layer readout (logit lens) of both decoders: where the true token comes on top.

Input: the :class:`physdocs.results.readout.LensRow` records as JSON rows. One panel per
decoder; per token type, the share of scored tokens whose true token is the top readout at
the embedding, after each layer and at the output (solid), and the share of those the output
gets right that are decided there or earlier (dashed).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from physdocs.plots.style import TYPE_COLOURS, new_figure, styled

#: Readout types drawn in the token-type colours (an operator in the binary operators' colour).
LENS_COLOURS = {"operator": TYPE_COLOURS["binary"], "variable": TYPE_COLOURS["variable"],
                "constant": TYPE_COLOURS["constant"], "special": TYPE_COLOURS["special"]}


def readout_labels(n_readouts: int) -> list[str]:
    """``emb``, then ``L1`` .. the last layer (whose readout is the model's output)."""
    return ["emb", *(f"L{i}" for i in range(1, n_readouts))]


@styled
def logit_lens(rows: Sequence[Mapping[str, Any]], decoders: Mapping[str, str]) -> Figure:
    """``rows``: LensRow JSON; ``decoders``: ``{decoder: panel title}``, in panel order."""
    if not rows:
        raise ValueError("logit_lens: no rows")
    fig = new_figure(3.9 * len(decoders) + 0.6, 3.4)
    axes = fig.subplots(1, len(decoders), squeeze=False, sharey=True)[0]
    for ax, (decoder, title) in zip(axes, decoders.items(), strict=True):
        mine = [r for r in rows if r["decoder"] == decoder]
        if not mine:
            raise ValueError(f"logit_lens: no rows for {decoder!r}")
        n = len(mine[0]["correct"])
        x = np.arange(n)
        for r in mine:
            colour = LENS_COLOURS[r["type"]]
            ax.plot(x, r["correct"], color=colour, marker="o", markersize=4, label=f"{r['type']} (n = {r['n']})")
            # of the tokens the output gets right: decided at this readout or earlier
            right_share = r["correct"][-1]
            ax.plot(x, np.cumsum(r["decided"]) * right_share, color=colour, linestyle="--", linewidth=1.0)
        ax.set_xticks(x, readout_labels(n))
        ax.set_xlabel("residual stream read after layer (emb: the embedding)")
        ax.set_title(title)
        ax.set_ylim(0, 1)
        ax.legend(loc="upper left", frameon=True)
    axes[0].set_ylabel("share of scored tokens, true token on top")
    return fig
