"""Aggregate figures: entropy and token-type attention by tier, head importance, training
curves, accuracy by tier, resolution order.

Inputs are the plain rows the analysis and evaluation layers write to JSON (lists of dicts);
a missing or nan value is left out of the plot rather than drawn as zero. These figures are
few, so they use matplotlib's constrained layout.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from numbers import Real
from typing import Any

import numpy as np
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.colors import Normalize
from matplotlib.figure import Figure

from physdocs.plots.style import (
    MODEL_COLOURS,
    SERIES_COLOURS,
    TIERS,
    TYPE_COLOURS,
    new_figure,
    styled,
)

Row = Mapping[str, Any]
SEED_LABEL = "reported in the seed (random weights)"
MODEL_ORDER: tuple[str, ...] = ("trained", "control", "uniform")
TYPE_ORDER: tuple[str, ...] = ("binary", "unary", "variable", "constant", "special")
_COMPONENT_STYLE = {"diffuser": ("-", "o"), "decoder": (":", "s")}


# --------------------------------------------------------------------------- helpers
def _ordered(values: Iterable[str], order: Sequence[str]) -> list[str]:
    """Distinct ``values``: those in ``order`` first, in that order, then the rest as met."""
    seen = list(dict.fromkeys(values))
    return [v for v in order if v in seen] + [v for v in seen if v not in order]


def _tiers(rows: Iterable[Row]) -> list[str]:
    return _ordered((str(r["tier"]) for r in rows), (*TIERS, "all"))


def _finite(x: Any) -> bool:
    return isinstance(x, Real) and math.isfinite(x)


def _err(value: float, ci: Sequence[float] | None) -> tuple[float, float]:
    """Error-bar lengths below and above ``value`` from a ``[lo, hi]`` interval (0 if none)."""
    if ci is None or len(ci) != 2 or not (_finite(ci[0]) and _finite(ci[1])):
        return 0.0, 0.0
    return max(value - float(ci[0]), 0.0), max(float(ci[1]) - value, 0.0)


def _colour(model: str, i: int) -> str:
    return MODEL_COLOURS.get(model, SERIES_COLOURS[i % len(SERIES_COLOURS)])


def _no_data(ax: Axes) -> None:
    ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes, color="0.4")


def _require(rows: Sequence[Row], name: str) -> None:
    if not rows:
        raise ValueError(f"{name}: no rows given")


# --------------------------------------------------------------------------- entropy
def _entropy_panel(ax: Axes, rows: Sequence[Row], tiers: Sequence[str], suffix: str, value: str) -> bool:
    """Lines of ``value`` per tier for every (model, component) whose component ends ``suffix``."""
    sel = [r for r in rows if str(r["component"]).endswith(suffix) and _finite(r.get(value))]
    models = _ordered((str(r["model"]) for r in sel), MODEL_ORDER)
    components = _ordered((str(r["component"]) for r in sel), ())
    series = [(m, c) for c in components for m in models]
    offsets = np.linspace(-0.12, 0.12, len(series)) if len(series) > 1 else [0.0]
    for (model, comp), dx in zip(series, offsets, strict=True):
        by_tier = {str(r["tier"]): r for r in sel if r["model"] == model and r["component"] == comp}
        xs = [i for i, t in enumerate(tiers) if t in by_tier]
        if not xs:
            continue
        ys = [float(by_tier[tiers[i]][value]) for i in xs]
        errs = np.array(
            [_err(y, by_tier[tiers[i]].get(f"{value}_ci")) for i, y in zip(xs, ys, strict=True)]
        ).T
        linestyle, marker = _COMPONENT_STYLE.get(comp.split(".")[0], ("-.", "^"))
        ax.errorbar(
            np.asarray(xs) + dx,
            ys,
            yerr=errs,
            color=_colour(model, models.index(model)),
            linestyle=linestyle,
            marker=marker,
            markersize=4,
            capsize=2,
            linewidth=1.2,
            label=f"{model}, {comp}",
        )
    return bool(series)


@styled
def entropy_by_tier(rows: Sequence[Row], seed_reported: Mapping[str, float] | None = None) -> Figure:
    """Attention entropy by tier: (a) self-attention in nats, (b) normalised, (c) cross, normalised.

    ``rows``: ``{"tier", "model", "component", "nats", "normalised", "nats_ci", "normalised_ci"}``
    with ``component`` like ``"diffuser.self"``. Colour = model (trained / control / uniform),
    line style = component; error bars are the CIs. ``seed_reported`` (tier -> nats) is drawn
    in (a) as a dashed line labelled "reported in the seed (random weights)".
    """
    _require(rows, "entropy_by_tier")
    tiers = _tiers(rows)
    fig = new_figure(8.8, 5.6)
    axes = fig.subplots(1, 3)
    panels = (
        (".self", "nats", "(a) self-attention entropy", "entropy (nats)"),
        (".self", "normalised", "(b) self-attention, normalised", "entropy / ln(visible keys)"),
        (".cross", "normalised", "(c) cross-attention, normalised", "entropy / ln(visible keys)"),
    )
    for ax, (suffix, value, title, ylabel) in zip(axes, panels, strict=True):
        drawn = _entropy_panel(ax, rows, tiers, suffix, value)
        if value == "nats" and seed_reported:
            xs = [i for i, t in enumerate(tiers) if _finite(seed_reported.get(t))]
            ax.plot(
                xs,
                [seed_reported[tiers[i]] for i in xs],
                color="black",
                linestyle="--",
                marker="x",
                linewidth=1.0,
                label=SEED_LABEL,
            )
            drawn = True
        if value == "normalised":
            ax.set_ylim(0.0, 1.05)
        ax.set_xticks(range(len(tiers)), [t.replace("_", "-") for t in tiers], rotation=40, ha="right")
        ax.set_xlim(-0.5, len(tiers) - 0.5)
        ax.set_title(title)
        ax.set_ylabel(ylabel)
        if drawn:
            ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.28), ncol=1, frameon=False)
        else:
            _no_data(ax)
    fig.suptitle("Attention entropy by tier")
    return fig


# --------------------------------------------------------------------------- token types
@styled
def token_type_attention(rows: Sequence[Row]) -> Figure:
    """Attention received per token type over its uniform share, per tier (1 = uniform).

    ``rows``: ``{"tier", "model", "component", "type", "received", "uniform_share", "ratio"}``.
    One panel per (component, model): the trained model beside the control.
    """
    _require(rows, "token_type_attention")
    tiers = _tiers(rows)
    components = _ordered((str(r["component"]) for r in rows), ())
    models = _ordered((str(r["model"]) for r in rows), MODEL_ORDER)
    types = _ordered((str(r["type"]) for r in rows), TYPE_ORDER)
    fig = new_figure(8.8, 3.2 * len(components) + 1.0)
    axes = fig.subplots(len(components), len(models), squeeze=False, sharey=True)
    width = 0.8 / len(types)
    for r_i, comp in enumerate(components):
        for m_i, model in enumerate(models):
            ax = axes[r_i, m_i]
            sel = {
                (str(r["tier"]), str(r["type"])): r["ratio"]
                for r in rows
                if r["component"] == comp and r["model"] == model and _finite(r.get("ratio"))
            }
            for t_i, typ in enumerate(types):
                xs = [i for i, tier in enumerate(tiers) if (tier, typ) in sel]
                heights = [sel[(tiers[i], typ)] for i in xs]
                ax.bar(
                    np.asarray(xs) + (t_i - (len(types) - 1) / 2) * width,
                    heights,
                    width=width,
                    color=TYPE_COLOURS.get(typ, SERIES_COLOURS[t_i % len(SERIES_COLOURS)]),
                    label=typ,
                )
            ax.axhline(1.0, color="0.3", linestyle="--", linewidth=1.0, label="uniform share (ratio 1)")
            ax.set_xticks(range(len(tiers)), [t.replace("_", "-") for t in tiers])
            ax.set_title(f"{model}: {comp}")
            if m_i == 0:
                ax.set_ylabel("received / uniform share")
            if not sel:
                _no_data(ax)
    handles, labels = axes[0, -1].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=3, frameon=False)
    fig.suptitle("Attention received by token type, relative to a uniform share")
    return fig


# --------------------------------------------------------------------------- heads
def _text_colour(rgba: Sequence[float]) -> str:
    r, g, b = rgba[:3]
    return "white" if 0.2126 * r + 0.7152 * g + 0.0722 * b < 0.45 else "black"


@styled
def head_importance(importance: Mapping[str, Sequence[Sequence[float]]], title: str) -> Figure:
    """Per-head ablation effect: one ``[layer, head]`` heatmap per component, values written in.

    ``importance[component][layer][head]`` is the loss increase when that head is ablated.
    A diverging colour map centred on 0 is used when both signs occur.
    """
    if not importance:
        raise ValueError(f"{title}: no components given")
    arrays = {}
    for comp, values in importance.items():
        a = np.asarray(values, dtype=float)
        if a.ndim != 2:
            raise ValueError(f"{comp}: expected [layer][head] values, got shape {a.shape}")
        arrays[comp] = a
    everything = np.concatenate([a.ravel() for a in arrays.values()])
    finite = everything[np.isfinite(everything)]
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    if lo < 0.0 < hi:
        bound = max(-lo, hi)
        cmap, norm = colormaps["PuOr_r"], Normalize(-bound, bound)
    else:
        cmap, norm = colormaps["viridis"], Normalize(lo, hi if hi > lo else lo + 1.0)
    fig = new_figure(3.0 * len(arrays) + 1.0, 3.2)
    axes = fig.subplots(1, len(arrays), squeeze=False)[0]
    im = None
    for ax, (comp, a) in zip(axes, arrays.items(), strict=True):
        im = ax.imshow(a, cmap=cmap, norm=norm, aspect="auto")
        ax.grid(False)
        for (layer, head), v in np.ndenumerate(a):
            if math.isfinite(v):
                ax.text(
                    head,
                    layer,
                    f"{v:.3g}",
                    ha="center",
                    va="center",
                    fontsize=8,
                    color=_text_colour(cmap(norm(v))),
                )
        ax.set_xticks(range(a.shape[1]), [str(h + 1) for h in range(a.shape[1])])
        ax.set_yticks(range(a.shape[0]), [str(layer + 1) for layer in range(a.shape[0])])
        ax.set_xlabel("head")
        ax.set_ylabel("layer")
        ax.set_title(comp)
    assert im is not None
    fig.colorbar(im, ax=list(axes), shrink=0.9, label="loss increase when ablated")
    fig.suptitle(title)
    return fig


# --------------------------------------------------------------------------- training
def _series(records: Sequence[Row], key: str, positive: bool = False) -> tuple[np.ndarray, np.ndarray]:
    pts = sorted(
        (float(r["step"]), float(r[key]))
        for r in records
        if _finite(r.get(key)) and _finite(r.get("step")) and (not positive or r[key] > 0)
    )
    if not pts:
        return np.empty(0), np.empty(0)
    steps, values = zip(*pts, strict=True)
    return np.asarray(steps), np.asarray(values)


@styled
def training_curves(records: Sequence[Row]) -> Figure:
    """Training log: losses (train and validation, log scale), validation accuracies, learning rate.

    ``records`` are JSONL rows ``{"kind": "train" | "val", "step", "ar_loss", "diff_loss",
    "ar_token_acc", "diff_token_acc", "ar_seq_acc", "lr", ...}``; absent keys are skipped.
    """
    _require(records, "training_curves")
    train = [r for r in records if r.get("kind") == "train"]
    val = [r for r in records if r.get("kind") == "val"]
    fig = new_figure(8.8, 6.4)
    (ax_loss, ax_acc), (ax_lr, ax_off) = fig.subplots(2, 2)
    ax_off.set_axis_off()

    drawn = False
    for i, key in enumerate(("ar_loss", "diff_loss")):
        colour = SERIES_COLOURS[i]
        for kind, recs, style in (
            ("train", train, dict(linewidth=0.8, alpha=0.6)),
            ("val", val, dict(linewidth=1.5, marker="o", markersize=3)),
        ):
            x, y = _series(recs, key, positive=True)
            if x.size:
                ax_loss.plot(x, y, color=colour, label=f"{key} ({kind})", **style)
                drawn = True
    if drawn:
        ax_loss.set_yscale("log")
        ax_loss.legend(frameon=False)
    else:
        _no_data(ax_loss)
    ax_loss.set_title("loss")

    acc_keys = _ordered(
        (k for r in val for k in r if k.endswith("_acc")),
        ("ar_token_acc", "diff_token_acc", "ar_seq_acc", "diff_seq_acc"),
    )
    drawn = False
    for i, key in enumerate(acc_keys):
        x, y = _series(val, key)
        if x.size:
            ax_acc.plot(
                x, y, color=SERIES_COLOURS[i % len(SERIES_COLOURS)], marker="o", markersize=3, label=key
            )
            drawn = True
    ax_acc.set_ylim(0.0, 1.02)
    if drawn:
        ax_acc.legend(frameon=False)
    else:
        _no_data(ax_acc)
    ax_acc.set_title("validation accuracy")

    x, y = _series(train or records, "lr")
    if x.size:
        ax_lr.plot(x, y, color=SERIES_COLOURS[0])
    else:
        _no_data(ax_lr)
    ax_lr.set_title("learning rate")
    for ax in (ax_loss, ax_acc, ax_lr):
        ax.set_xlabel("step")
    fig.suptitle("Training")
    return fig
