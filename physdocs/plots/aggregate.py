"""Aggregate figures: entropy and token-type attention by tier, head importance, training
curves, accuracy by tier, resolution order.

Inputs are the plain rows the analysis and evaluation layers write to JSON (lists of dicts);
a missing or nan value is left out of the plot rather than drawn as zero. These figures are
few, so they use matplotlib's constrained layout.
"""

from __future__ import annotations

import itertools
import math
import textwrap
from collections.abc import Iterable, Mapping, Sequence
from numbers import Real
from typing import Any

import numpy as np
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.colors import Normalize
from matplotlib.figure import Figure

from physdocs.analysis.schema import BY_ID, MODEL_LABELS, OPERATOR, OPERATOR_TYPES, TYPE_LABELS
from physdocs.methods import BY_KEY
from physdocs.plots.style import (
    MODEL_COLOURS,
    SERIES_COLOURS,
    TIERS,
    TYPE_COLOURS,
    mark_compared,
    new_figure,
    styled,
    wrapped,
)
from physdocs.plots.summary import BAND_COLOUR, OUTCOME_LOOK
from physdocs.results.analysis import LOG_LABELS, log_legs

Row = Mapping[str, Any]
SEED_LABEL = "reported in the seed (random weights)"
MODEL_ORDER: tuple[str, ...] = ("trained", "control", "uniform")
TYPE_ORDER: tuple[str, ...] = ("binary", "unary", "variable", "constant", "special")
_COMPONENT_STYLE = {"diffuser": ("-", "o"), "decoder": (":", "s")}
#: A component's decoder (its id's prefix) as a method key of :mod:`physdocs.methods`.
_DECODER_METHOD = {"diffuser": "diffusion", "decoder": "ar"}


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


def component_name(component: str) -> str:
    """A component's name as the report gives it (:data:`physdocs.analysis.schema.COMPONENTS`)."""
    return BY_ID[component].name if component in BY_ID else component


def _no_data(ax: Axes) -> None:
    ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes, color="0.4")


def _require(rows: Sequence[Row], name: str) -> None:
    if not rows:
        raise ValueError(f"{name}: no rows given")


# --------------------------------------------------------------------------- entropy
def series_label(model: str, component: str) -> str:
    """A model's line for one decoder in the reader's words: ``"trained model, PhysDiffuser"``."""
    return f"{MODEL_LABELS.get(model, model)}, {decoder_label(component)}"


def decoder_label(component: str) -> str:
    """The decoder a component belongs to, by its method's label (``"diffuser.self"`` -> PhysDiffuser)."""
    key = _DECODER_METHOD.get(component.split(".")[0])
    return BY_KEY[key].label if key else component


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
            label=series_label(model, comp),
        )
    return bool(series)


def _verdict_panel(ax: Axes, verdicts: Sequence[Row]) -> None:
    """Each verdict's statistic: the trained model's value with its interval, the control's
    value, and the band the trained value must leave (control ± the minimum effect)."""
    ys = np.arange(len(verdicts))[::-1]
    xs: list[float] = [0.0]
    for y, v in zip(ys, verdicts, strict=True):
        control, m = v.get("control_value"), float(v.get("min_effect") or 0.0)
        if _finite(control) and m > 0:
            ax.barh(y, 2 * m, left=control - m, height=0.5, color=BAND_COLOUR, zorder=0,
                    label="control ± the minimum effect")
            xs += [control - m, control + m]
        if _finite(v.get("value")):
            lo, hi = _err(v["value"], (v.get("ci_low"), v.get("ci_high")))
            ax.errorbar([v["value"]], [y], xerr=[[lo], [hi]], fmt="o", color=MODEL_COLOURS["trained"],
                        markersize=6, elinewidth=1.6, capsize=0, zorder=3, label=MODEL_LABELS["trained"])
            xs += [v["value"] - lo, v["value"] + hi]
        if _finite(control):
            ax.plot([control], [y], marker="D", linestyle="none", color=MODEL_COLOURS["control"], markersize=6,
                    zorder=3, label=MODEL_LABELS["control"])
    ax.axvline(0.0, color="#333333", linewidth=0.8, zorder=1)
    labels = []
    for v in verdicts:
        text = f"{v['statistic_name']}: {OUTCOME_LOOK[v['outcome']][2]}"
        if all(_finite(v.get(k)) for k in ("diff", "diff_low", "diff_high")):
            text += (f" (trained − control {v['diff']:+.2g}, 95% paired CI {v['diff_low']:+.2g} to "
                     f"{v['diff_high']:+.2g})")
        labels.append(wrapped(text, 3.3, 8.0))
    ax.set_yticks(ys, labels)
    for tick, v in zip(ax.get_yticklabels(), verdicts, strict=True):
        tick.set_color(OUTCOME_LOOK[v["outcome"]][0])
    pad = 0.08 * (max(xs) - min(xs) or 1.0)
    ax.set_xlim(min(xs) - pad, max(xs) + pad)
    ax.set_ylim(-0.6, len(verdicts) - 0.4)
    ax.grid(axis="y", visible=False)
    ax.set_xlabel("the statistic each verdict rests on (trained: 95% bootstrap CI)")


@styled
def entropy_by_tier(rows: Sequence[Row], seed_reported: Mapping[str, float] | None = None,
                    verdicts: Sequence[Row] = ()) -> Figure:
    """Attention entropy by tier: (a) self-attention in nats, (b) normalised, (c) cross, normalised,
    and (d), when ``verdicts`` are given, the statistics the entropy findings rest on.

    ``rows``: ``{"tier", "model", "component", "nats", "normalised", "nats_ci", "normalised_ci"}``
    with ``component`` like ``"diffuser.self"``. Colour = model (trained / control / uniform),
    line style = decoder; error bars are the CIs. ``seed_reported`` (tier -> nats) is drawn
    in (a) as a dashed line labelled "reported in the seed (random weights)". ``verdicts``:
    the findings' JSON (``statistic_name``, ``value``, ``ci_low``, ``ci_high``,
    ``control_value``, ``min_effect``, ``outcome``, ``diff``, ``diff_low``, ``diff_high``):
    raw entropy rises with length, so a verdict stated at a given length needs its own panel.
    """
    _require(rows, "entropy_by_tier")
    tiers = _tiers(rows)
    fig = new_figure(8.8, 7.0 if verdicts else 4.6)
    # (d) in a subfigure of its own, so its long labels do not push the panels above aside
    top, bottom = fig.subfigures(2, 1, height_ratios=[3.0, 1.7]) if verdicts else (fig, None)
    axd = dict(zip("abc", top.subplots(1, 3), strict=True))
    if bottom is not None:
        axd["d"] = bottom.subplots()
    panels = (
        ("a", ".self", "nats", "(a) self-attention entropy", "entropy (nats)"),
        ("b", ".self", "normalised", "(b) self-attention, normalised", "entropy / ln(visible keys)"),
        ("c", ".cross", "normalised", "(c) cross-attention, normalised", "entropy / ln(visible keys)"),
    )
    for key, suffix, value, title, ylabel in panels:
        ax = axd[key]
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
        ax.set_title(wrapped(title, 2.4))
        ax.set_ylabel(ylabel)
        if not drawn:
            _no_data(ax)
    if verdicts:
        _verdict_panel(axd["d"], verdicts)
        axd["d"].set_title("(d) what the verdicts rest on: the trend with tier at a given sequence length",
                           loc="left")
    # one legend for the figure: the same line means the same model and decoder in every panel
    entries: dict[str, Any] = {}
    for ax in axd.values():
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            entries.setdefault(label, handle)
    fig.legend(list(entries.values()), list(entries), loc="outside lower center", ncol=3, frameon=False)
    fig.suptitle("Attention entropy by tier")
    return fig


# --------------------------------------------------------------------------- token types
@styled
def token_type_attention(rows: Sequence[Row]) -> Figure:
    """Attention received per token type over its uniform share, per tier (1 = uniform).

    ``rows``: ``{"tier", "model", "component", "type", "received", "uniform_share", "ratio"}``.
    One panel per (component, model): the trained model beside the control, on one scale.
    Rows of type ``"operator"`` (binary and unary together, as the findings group them) are
    drawn as a black line across the binary and unary bars of their tier.
    """
    _require(rows, "token_type_attention")
    tiers = _tiers(rows)
    components = _ordered((str(r["component"]) for r in rows), ())
    models = _ordered((str(r["model"]) for r in rows), MODEL_ORDER)
    types = [t for t in _ordered((str(r["type"]) for r in rows), TYPE_ORDER) if t != OPERATOR]
    fig = new_figure(8.8, 3.3 * len(components) + 1.0)
    axes = fig.subplots(len(components), len(models), squeeze=False, sharey=True)
    width = 0.8 / len(types)
    offset = {t: (i - (len(types) - 1) / 2) * width for i, t in enumerate(types)}
    for r_i, comp in enumerate(components):
        for m_i, model in enumerate(models):
            ax = axes[r_i, m_i]
            mark_compared(ax, model, f"received by token type, {comp}")
            sel = {
                (str(r["tier"]), str(r["type"])): r["ratio"]
                for r in rows
                if r["component"] == comp and r["model"] == model and _finite(r.get("ratio"))
            }
            for t_i, typ in enumerate(types):
                xs = [i for i, tier in enumerate(tiers) if (tier, typ) in sel]
                heights = [sel[(tiers[i], typ)] for i in xs]
                ax.bar(
                    np.asarray(xs) + offset[typ],
                    heights,
                    width=width,
                    color=TYPE_COLOURS.get(typ, SERIES_COLOURS[t_i % len(SERIES_COLOURS)]),
                    label=TYPE_LABELS.get(typ, typ),
                )
            if all(t in offset for t in OPERATOR_TYPES):
                span = (min(offset[t] for t in OPERATOR_TYPES) - width / 2,
                        max(offset[t] for t in OPERATOR_TYPES) + width / 2)
                drawn = [i for i, tier in enumerate(tiers) if (tier, OPERATOR) in sel]
                for n, i in enumerate(drawn):
                    y = sel[(tiers[i], OPERATOR)]
                    ax.plot([i + span[0], i + span[1]], [y, y], color="black", linewidth=2.2,
                            solid_capstyle="butt", label=TYPE_LABELS[OPERATOR] if n == 0 else "_")
            ax.axhline(1.0, color="0.3", linestyle="--", linewidth=1.0, label="uniform share (ratio 1)")
            ax.set_xticks(range(len(tiers)), [t.replace("_", "-") for t in tiers])
            ax.set_title(wrapped(f"{component_name(comp)}, {MODEL_LABELS.get(model, model)}", 4.0))
            if m_i == 0:
                ax.set_ylabel("received / uniform share")
            if not sel:
                _no_data(ax)
    entries: dict[str, Any] = {}
    for ax in axes.ravel():
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            entries.setdefault(label, handle)
    fig.legend(list(entries.values()), list(entries), loc="outside lower center", ncol=3, frameon=False)
    fig.suptitle("Attention received by token type, relative to a uniform share")
    return fig


# --------------------------------------------------------------------------- heads
def _text_colour(rgba: Sequence[float]) -> str:
    r, g, b = rgba[:3]
    return "white" if 0.2126 * r + 0.7152 * g + 0.0722 * b < 0.45 else "black"


@styled
def head_importance(importance: Mapping[str, Mapping[str, Sequence[Sequence[float]]]], title: str) -> Figure:
    """Per-head ablation effect: one ``[layer, head]`` heatmap per model (rows) and component
    (columns), values written in, on one colour scale for every panel.

    ``importance[model][component][layer][head]`` is the loss increase when that head is
    ablated. The trained model and its control share the scale, so a control whose effects are
    twenty times smaller looks twenty times paler. A diverging colour map centred on 0 is used
    when both signs occur.
    """
    if not importance or not any(importance.values()):
        raise ValueError(f"{title}: no components given")
    arrays: dict[tuple[str, str], np.ndarray] = {}
    for model in _ordered(importance, MODEL_ORDER):
        for comp, values in importance[model].items():
            a = np.asarray(values, dtype=float)
            if a.ndim != 2:
                raise ValueError(f"{model} {comp}: expected [layer][head] values, got shape {a.shape}")
            arrays[(model, comp)] = a
    everything = np.concatenate([a.ravel() for a in arrays.values()])
    finite = everything[np.isfinite(everything)]
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    if lo < 0.0 < hi:
        bound = max(-lo, hi)
        cmap, norm = colormaps["PuOr_r"], Normalize(-bound, bound)
    else:
        cmap, norm = colormaps["viridis"], Normalize(lo, hi if hi > lo else lo + 1.0)
    models = list(dict.fromkeys(m for m, _ in arrays))
    components = list(dict.fromkeys(c for _, c in arrays))
    fig = new_figure(8.8, 2.9 * len(models) + 0.6)
    axes = fig.subplots(len(models), len(components), squeeze=False)
    im = None
    for (r, model), (c, comp) in itertools.product(enumerate(models), enumerate(components)):
        ax = axes[r, c]
        a = arrays.get((model, comp))
        if a is None:
            ax.set_axis_off()
            continue
        mark_compared(ax, model, f"head importance, {comp}")
        im = ax.imshow(a, cmap=cmap, norm=norm, aspect="auto")
        ax.grid(False)
        for (layer, head), v in np.ndenumerate(a):
            if math.isfinite(v):
                ax.text(head, layer, f"{v:.3g}", ha="center", va="center", fontsize=8,
                        color=_text_colour(cmap(norm(v))))
        ax.set_xticks(range(a.shape[1]), [str(h + 1) for h in range(a.shape[1])])
        ax.set_yticks(range(a.shape[0]), [str(layer + 1) for layer in range(a.shape[0])])
        ax.set_xlabel("head")
        ax.set_ylabel("layer")
        ax.set_title(wrapped(f"{component_name(comp)}, {MODEL_LABELS.get(model, model)}", 3.4))
    assert im is not None
    fig.colorbar(im, ax=list(axes.ravel()), shrink=0.9, label="loss increase when the head is ablated")
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


#: The decoder whose colour a training-log quantity takes (its key's prefix), by method key.
_LOG_DECODER = {"ar": "ar", "diff": "diffusion", "length": "diffusion"}
_LOG_MARKERS = ("o", "s", "^", "v", "D")


def _log_colour(key: str) -> str:
    method = _LOG_DECODER.get(key.split("_")[0])
    return BY_KEY[method].colour if method else SERIES_COLOURS[0]


def _broken(x: np.ndarray, y: np.ndarray, cuts: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """``x``, ``y`` with a gap (nan) at each cut: a line is not drawn across a leg's restart."""
    at = np.searchsorted(x, np.asarray(cuts, dtype=float), side="right")
    return np.insert(x.astype(float), at, np.nan), np.insert(y.astype(float), at, np.nan)


@styled
def training_curves(records: Sequence[Row]) -> Figure:
    """Training log: losses (training batches and validation, log scale), validation accuracies,
    learning rate; the legends in the fourth panel. Each decoder's lines take its method's colour.

    ``records`` are JSONL rows ``{"kind": "train" | "val", "step", "ar_loss", "diff_loss",
    "ar_token_acc", "diff_token_acc", "ar_seq_acc", "lr", ...}``; absent keys are skipped.
    """
    _require(records, "training_curves")
    train = [r for r in records if r.get("kind") == "train"]
    val = [r for r in records if r.get("kind") == "val"]
    fig = new_figure(8.8, 6.4)
    (ax_loss, ax_acc), (ax_lr, ax_key) = fig.subplots(2, 2)
    ax_key.set_axis_off()
    # The run's legs (each from the previous one's weights, a fresh optimiser and schedule):
    # a dotted line where one starts, and no curve drawn across it.
    legs = log_legs(records)
    cuts = [leg.start for leg in legs[1:]]

    def series(recs, key, positive=False):
        return _broken(*_series(recs, key, positive=positive), cuts)

    drawn = False
    for key in ("ar_loss", "diff_loss"):
        for kind, recs, style in (
            ("training batches", train, dict(linewidth=0.8, alpha=0.6)),
            ("validation", val, dict(linewidth=1.5, marker="o", markersize=3)),
        ):
            x, y = series(recs, key, positive=True)
            if x.size:
                ax_loss.plot(x, y, color=_log_colour(key), label=f"{LOG_LABELS.get(key, key)}, {kind}", **style)
                drawn = True
    if drawn:
        ax_loss.set_yscale("log")
    else:
        _no_data(ax_loss)
    ax_loss.set_title("loss")

    acc_keys = _ordered(
        (k for r in val for k in r if k.endswith("_acc")),
        ("ar_token_acc", "diff_token_acc", "ar_seq_acc", "diff_seq_acc"),
    )
    drawn = False
    seen: dict[str, int] = {}
    for key in acc_keys:
        x, y = series(val, key)
        if x.size:
            colour = _log_colour(key)
            n = seen[colour] = seen.get(colour, -1) + 1  # a decoder's lines differ by marker
            ax_acc.plot(x, y, color=colour, marker=_LOG_MARKERS[n % len(_LOG_MARKERS)], markersize=3,
                        linestyle=("-", "--", ":", "-.")[n % 4], label=LOG_LABELS.get(key, key))
            drawn = True
    ax_acc.set_ylim(0.0, 1.02)
    if not drawn:
        _no_data(ax_acc)
    ax_acc.set_title("validation accuracy")

    x, y = series(train or records, "lr")
    if x.size:
        ax_lr.plot(x, y, color="#333333")
    else:
        _no_data(ax_lr)
    ax_lr.set_title(LOG_LABELS["lr"], pad=16)  # room for the legs' names above the panel
    for ax in (ax_loss, ax_acc, ax_lr):
        ax.set_xlabel("step")
        for cut in cuts:
            ax.axvline(cut, color="#666666", linestyle=":", linewidth=1)
    if len(legs) > 1:  # each leg numbered at the top of the learning-rate panel, in its own span
        for i, leg in enumerate(legs, 1):  # a name would not fit the span of a short leg
            ax_lr.text((leg.start + leg.end) / 2, 1.01, str(i), transform=ax_lr.get_xaxis_transform(),
                       ha="center", va="bottom", color="#444444", fontsize=8)
    # the legends in the empty panel, where they cover no line; the legs' names under them
    handles, labels = [], []
    for ax in (ax_loss, ax_acc):
        h, lab = ax.get_legend_handles_labels()
        handles += h
        labels += lab
    if handles:
        ax_key.legend(handles, labels, loc="upper left", frameon=False)
    if len(legs) > 1:
        names = ", ".join(f"{i}\u00a0{leg.name}" for i, leg in enumerate(legs, 1))  # no break inside
        ax_key.text(0.0, 0.0, textwrap.fill(f"legs: {names}", 48), transform=ax_key.transAxes,
                    ha="left", va="bottom", color="#444444", fontsize=8)
    fig.suptitle("Training" if len(legs) < 2 else f"Training: one run in {len(legs)} legs")
    return fig
