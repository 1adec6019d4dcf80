"""Shared look of every figure: style, colours, resolution and deterministic PNG output.

Figures are built as :class:`matplotlib.figure.Figure` objects without pyplot, so no global
figure registry or backend state leaks between calls; PNG output goes through the Agg
renderer. Build a figure inside :func:`style_context` (every public plotting function does)
so the seed's ``seaborn-v0_8-whitegrid`` style applies.
"""

from __future__ import annotations

import io
import textwrap
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import wraps
from typing import ParamSpec, TypeVar

import matplotlib
import matplotlib.style
import numpy as np
from matplotlib.axes import Axes
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure

from physdocs.grammar import token_type
from physdocs.methods import MODEL_COLOURS as MODEL_COLOURS  # declared with the methods, drawn here

STYLE = "seaborn-v0_8-whitegrid"
DPI_PRINT = 300  # every figure, as the seed's

#: The report's content column at a 1400 px window, in inches at 96 CSS px an inch (the site's
#: CSS gives the column about 870 px: docs/assets/report.css). A figure drawn at most this wide
#: is shown at its own size or larger, so its text keeps the point size it was drawn at.
CONTENT_WIDTH_IN = 8.9
#: The smallest text a figure may show on the site, in points, after the browser's scaling.
MIN_TEXT_PT = 8.0

# Okabe-Ito palette (colour-blind safe), mapped onto the seed's token-type colours.
TYPE_COLOURS: dict[str, str] = {
    "binary": "#D55E00",  # red (vermillion)
    "unary": "#E69F00",  # orange
    "variable": "#009E73",  # green (bluish green)
    "constant": "#56B4E9",  # blue (sky blue)
    "special": "#1B2A6B",  # dark blue: BOS, EOS, STEP, END_STEP
    "mask": "#404040",  # dark grey: MASK
    "pad": "#F2F2F2",  # near white: PAD
}
#: Order of the categories in :data:`TYPE_CMAP` (index = category code).
TYPE_ORDER: tuple[str, ...] = tuple(TYPE_COLOURS)
TYPE_CMAP = ListedColormap([TYPE_COLOURS[t] for t in TYPE_ORDER], name="token_type")

#: Colours for categorical series that are neither a model nor a method (Okabe-Ito); the
#: models' colours (:data:`MODEL_COLOURS`) and the methods' are declared in :mod:`physdocs.methods`.
SERIES_COLOURS: tuple[str, ...] = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9")

TIERS: tuple[str, ...] = ("trivial", "simple", "moderate", "complex", "multi_step")

HEATMAP_CMAP = "viridis"
MAX_TICK_LABELS = 24  # above this many labels an axis shows every k-th one (8 pt labels, 3.6 in panels)

P = ParamSpec("P")
R = TypeVar("R")


@contextmanager
def style_context() -> Iterator[None]:
    """The seed's style plus the few settings every physdocs figure shares."""
    with (
        matplotlib.style.context(STYLE),
        matplotlib.rc_context(
            {
                # nothing under MIN_TEXT_PT: figures are drawn for the content column
                "font.size": 9,
                "axes.titlesize": 10,
                "axes.labelsize": 9,
                "xtick.labelsize": 8,
                "ytick.labelsize": 8,
                "legend.fontsize": 8,
                "figure.titlesize": 10,
                "image.interpolation": "nearest",
            }
        ),
    ):
        yield


def styled(func: Callable[P, R]) -> Callable[P, R]:
    """Decorator: run a figure builder inside :func:`style_context`."""

    @wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with style_context():
            return func(*args, **kwargs)

    return wrapper


def new_figure(width: float, height: float, *, constrained: bool = True) -> Figure:
    """A pyplot-free figure of ``width x height`` inches."""
    return Figure(figsize=(width, height), layout="constrained" if constrained else None)


SUPTITLE_IN = 0.32  # a figure title's line and its margin (10 pt)
TITLE_LINE_IN = 0.17  # each further line of a wrapped 10 pt title


def wrapped(text: str, width_in: float, fontsize: float = 10.0) -> str:
    """``text`` broken into lines that fit ``width_in`` inches at ``fontsize`` (see
    :func:`text_inches`); a parenthesis that fits on its own line starts one."""
    chars = max(8, int(width_in * 72.0 / (fontsize * 0.62)))
    if len(text) <= chars:
        return text
    head, sep, tail = text.partition(" (")
    if sep and "\n" not in text and len(head) <= chars and len(tail) + 1 <= chars:
        return f"{head}\n({tail}"
    return "\n".join(textwrap.wrap(text, chars, break_on_hyphens=False)) or text


#: Prefix of an axes' gid that names the model a panel shows and the quantity it is compared on.
COMPARED = "compared"


def mark_compared(ax: Axes, model: str, quantity: str) -> None:
    """Record on ``ax`` that it shows ``model``'s ``quantity`` beside other models' panels of the
    same quantity: such panels must share one scale (checked by ``tests/figure_checks.py``).
    The gid is metadata only: a PNG does not change."""
    ax.set_gid(f"{COMPARED}:{quantity}:{model}")


def text_inches(labels: Sequence[str], fontsize: float = 8.0) -> float:
    """Rough width in inches of the widest label (DejaVu Sans averages ~0.6 em a character)."""
    longest = max((len(str(s)) for s in labels), default=0)
    return longest * fontsize * 0.62 / 72.0


def panel_grid(
    nrows: int,
    ncols: int,
    panel_w: float,
    panel_h: float,
    *,
    left: float,
    right: float,
    bottom: float,
    top: float,
    wgap: float,
    hgap: float,
    title: str | None = None,
) -> tuple[Figure, list[Axes]]:
    """A figure of ``nrows x ncols`` panels placed by fixed margins (all sizes in inches).

    The layout is computed from the sizes alone -- no text is measured and no layout engine
    runs -- which halves render time against ``layout="constrained"`` for label-heavy maps.
    Callers size the margins from their tick labels with :func:`text_inches`. ``title`` is
    the figure's title, broken into lines that fit its width, above ``top``.
    """
    width = left + ncols * panel_w + (ncols - 1) * wgap + right
    text = wrapped(title, width - 0.2) if title else None
    if text:
        top += SUPTITLE_IN + TITLE_LINE_IN * text.count("\n")
    height = bottom + nrows * panel_h + (nrows - 1) * hgap + top
    fig = Figure(figsize=(width, height))
    if text:
        fig.suptitle(text, y=1.0 - 0.06 / height, va="top")
    axes = []
    for r in range(nrows):
        for c in range(ncols):
            x0 = left + c * (panel_w + wgap)
            y0 = height - top - (r + 1) * panel_h - r * hgap
            axes.append(fig.add_axes((x0 / width, y0 / height, panel_w / width, panel_h / height)))
    return fig, axes


def colorbar_axes(fig: Figure, ax: Axes | Sequence[Axes], *, pad: float = 0.08, width: float = 0.1) -> Axes:
    """An axes for a colour bar ``pad`` inches right of ``ax`` (or of a group), as tall as it."""
    group = [ax] if isinstance(ax, Axes) else list(ax)
    fw, fh = fig.get_size_inches()
    boxes = [a.get_position() for a in group]
    x1 = max(b.x1 for b in boxes)
    y0, y1 = min(b.y0 for b in boxes), max(b.y1 for b in boxes)
    return fig.add_axes((x1 + pad / fw, y0, width / fw, y1 - y0))


def map_scale(a: np.ndarray) -> float:
    """The top of a map's colour scale: its largest finite weight (1 when there is none > 0)."""
    finite = np.asarray(a, dtype=float)
    finite = finite[np.isfinite(finite)]
    top = float(finite.max()) if finite.size else 1.0
    return top if top > 0 else 1.0


def figure_png(fig: Figure, dpi: int) -> bytes:
    """Render ``fig`` to PNG bytes at ``dpi``; identical figures give identical bytes.

    The ``Software`` text chunk (matplotlib's version) is dropped and PNG carries no date, so
    the bytes depend only on the figure.
    """
    buf = io.BytesIO()
    with style_context():
        fig.savefig(buf, format="png", dpi=dpi, metadata={"Software": None})
    return buf.getvalue()


def type_category(symbol: str) -> str:
    """Colour category of a token: a token type, or ``"mask"`` / ``"pad"``."""
    if symbol == "MASK":
        return "mask"
    if symbol == "PAD":
        return "pad"
    return token_type(symbol)


def thinned_ticks(labels: Sequence[str], max_labels: int = MAX_TICK_LABELS) -> tuple[list[int], list[str]]:
    """Tick positions and labels: all of them up to ``max_labels``, else every k-th plus the last."""
    n = len(labels)
    if n <= max_labels:
        return list(range(n)), [str(s) for s in labels]
    step = int(np.ceil(n / (max_labels // 2)))
    pos = list(range(0, n, step))
    if pos[-1] != n - 1:
        if n - 1 - pos[-1] < step / 2:
            pos[-1] = n - 1
        else:
            pos.append(n - 1)
    return pos, [str(labels[i]) for i in pos]


def check_labels(name: str, labels: Sequence[str], n: int) -> None:
    """Raise ``ValueError`` naming the axis when ``len(labels) != n``."""
    if len(labels) != n:
        raise ValueError(f"{name}: {len(labels)} labels for {n} positions")
