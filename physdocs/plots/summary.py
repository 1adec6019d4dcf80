"""The home page's figure: every finding's paired effect (a forest plot) and, below it, what
the model adds to Operon per tier, paired on the same equations.

Inputs are JSON rows the report computes (:func:`physdocs.report.summary.paired_by_tier`
and the findings' verdicts); nothing here computes a statistic beyond drawing them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.transforms import blended_transform_factory

from physdocs.constants import ALPHA, R2_THRESHOLD
from physdocs.plots.style import SERIES_COLOURS, new_figure, styled

Row = Mapping[str, Any]

#: Verdict colours and markers: holds, does not hold, the opposite holds.
OUTCOME_LOOK: dict[str, tuple[str, str, str]] = {
    "holds": ("#009E73", "o", "holds"),
    "does not hold": ("#7F7F7F", "X", "does not hold"),
    "opposite": ("#D55E00", "D", "the opposite holds"),
}
BAND_COLOUR = "#DDDDDD"
#: The paired panel's measures: (key, label, colour, marker).
MEASURE_LOOK = (("exact", "exact recovery", SERIES_COLOURS[0], "o"),
                ("r2_gt_099", f"R² > {R2_THRESHOLD}", SERIES_COLOURS[2], "s"))


def scaled_effect(row: Row) -> tuple[float, float, float] | None:
    """``(diff, low, high)`` in multiples of the finding's minimum effect; None when the finding
    has no paired interval or no minimum effect to scale by (it is judged against a threshold)."""
    scale = row.get("min_effect") or 0.0
    values = [row.get(k) for k in ("diff", "diff_low", "diff_high")]
    if scale <= 0 or any(v is None for v in values):
        return None
    return tuple(float(v) / scale for v in values)  # type: ignore[return-value]


def _forest(ax, findings: Sequence[Row]) -> None:
    """One row per finding, top to bottom in the given order: the paired interval coloured by
    verdict, the band of effects smaller than the minimum, and zero."""
    ys = np.arange(len(findings))[::-1]
    scaled = [scaled_effect(f) for f in findings]
    low = min([-1.5] + [s[1] for s in scaled if s])
    high = max([1.5] + [s[2] for s in scaled if s])
    pad = 0.06 * (high - low)
    ax.axvspan(-1, 1, color=BAND_COLOUR, zorder=0, label="smaller than the minimum effect")
    ax.axvline(0, color="#333333", linewidth=0.8, zorder=1)
    for outcome, (colour, marker, label) in OUTCOME_LOOK.items():
        sel = [(y, s) for y, s, f in zip(ys, scaled, findings, strict=True) if s and f["outcome"] == outcome]
        if sel:
            x = np.array([s[0] for _, s in sel])
            err = np.array([[s[0] - s[1] for _, s in sel], [s[2] - s[0] for _, s in sel]])
            ax.errorbar(x, [y for y, _ in sel], xerr=err, fmt=marker, color=colour, markersize=6,
                        elinewidth=1.6, capsize=0, label=label, zorder=3)
    right = blended_transform_factory(ax.transAxes, ax.transData)
    for y, s, f in zip(ys, scaled, findings, strict=True):
        colour = OUTCOME_LOOK[f["outcome"]][0]
        if s is None:
            ax.text(0.5, y, f"{OUTCOME_LOOK[f['outcome']][2]}: no paired control, judged against its threshold",
                    transform=right, ha="center", va="center", color=colour, style="italic")
        else:
            ax.text(1.02, y, f"Δ {f['diff']:.3g} (min {f['min_effect']:.3g})", transform=right, ha="left",
                    va="center", color=colour)
    ax.set_yticks(ys, [f["title"] for f in findings])
    ax.set_ylim(-0.6, len(findings) - 0.4)
    ax.set_xlim(low - pad, high + pad)
    ax.set_xlabel("trained − control, in multiples of the finding's minimum effect\n(95% paired bootstrap)")
    ax.grid(axis="y", visible=False)
    ax.set_title("Each attention finding: the effect its verdict rests on", loc="left")


def _paired_panel(ax, paired: Sequence[Row]) -> None:
    """Per tier and over all: first minus second in points, each measure with its interval."""
    tiers = list(dict.fromkeys(r["tier"] for r in paired))
    for i, (key, label, colour, marker) in enumerate(MEASURE_LOOK):
        sel = [r for r in paired if r["measure"] == key]
        if not sel:
            continue
        x = np.array([tiers.index(r["tier"]) for r in sel]) + (i - 0.5) * 0.24
        y = np.array([100 * r["diff"] for r in sel])
        err = np.array([[y[j] - 100 * r["low"] for j, r in enumerate(sel)],
                        [100 * r["high"] - y[j] for j, r in enumerate(sel)]])
        ax.errorbar(x, y, yerr=err, fmt=marker, color=colour, markersize=5, elinewidth=1.4, capsize=0,
                    label=label)
    ax.axhline(0, color="#333333", linewidth=0.8)
    n = {r["tier"]: r["n"] for r in paired}
    ax.set_xticks(range(len(tiers)), [f"{t.replace('_', '-')}\nn={n[t]}" for t in tiers])
    for j in range(len(tiers) - 1):
        ax.axvline(j + 0.5, color="#DDDDDD", linewidth=0.8)
    ax.set_xlim(-0.5, len(tiers) - 0.5)
    ax.set_ylabel("difference (points)")
    ax.grid(axis="x", visible=False)


@styled
def summary_figure(findings: Sequence[Row], paired: Sequence[Row] = (), first: str = "model + Operon",
                   second: str = "Operon alone") -> Figure:
    """The forest plot of ``findings`` (``{"title", "outcome", "diff", "diff_low", "diff_high",
    "min_effect"}``, top to bottom) and, when ``paired`` rows are given (``{"tier", "measure",
    "n", "diff", "low", "high"}``), ``first`` minus ``second`` per tier below it."""
    if not findings:
        raise ValueError("summary_figure: no findings")
    forest_h = 0.27 * len(findings) + 1.4
    paired_h = 2.4 if paired else 0.0
    fig = new_figure(8.8, forest_h + paired_h)
    if paired:
        top, bottom = fig.subfigures(2, 1, height_ratios=[forest_h, paired_h])
    else:
        top, bottom = fig, None
    ax = top.subplots()
    _forest(ax, findings)
    handles, labels = ax.get_legend_handles_labels()
    top.legend(handles, labels, loc="outside lower center", ncol=len(labels), frameon=False)
    if bottom is not None:
        ax2 = bottom.subplots()
        _paired_panel(ax2, paired)
        ax2.set_title(f"{first} minus {second} on the same equations ({1 - ALPHA:.0%} Newcombe intervals)",
                      loc="left")
        ax2.legend(loc="upper left", frameon=True, framealpha=0.9)
    return fig
