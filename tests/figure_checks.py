"""What a figure must satisfy on the site: legible text and a legend that matches its marks.

Pure checks over a drawn :class:`matplotlib.figure.Figure`, used by ``tests/test_plots.py``
on every figure the report draws, and on figures with a defect planted.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import matplotlib.colors
import matplotlib.text
import numpy as np
from matplotlib.collections import Collection
from matplotlib.container import Container
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from physdocs.plots.style import CONTENT_WIDTH_IN, MIN_TEXT_PT, figure_png


@contextmanager
def _recording(drawn: dict[int, tuple[str, float]]) -> Iterator[None]:
    original = matplotlib.text.Text.draw

    def draw(self, renderer):
        if self.get_visible() and self.get_text().strip():
            drawn[id(self)] = (self.get_text(), float(self.get_fontsize()))  # a layout pass may draw twice
        return original(self, renderer)

    matplotlib.text.Text.draw = draw
    try:
        yield
    finally:
        matplotlib.text.Text.draw = original


def text_on_page(fig: Figure) -> list[tuple[str, float]]:
    """Every text the figure draws, with its size in points as the site shows it.

    The site shows a figure at most :data:`CONTENT_WIDTH_IN` wide: a wider one is scaled down,
    and its text with it. Only text that is drawn counts (tick labels out of view do not).
    """
    drawn: dict[int, tuple[str, float]] = {}
    with _recording(drawn):
        figure_png(fig, 40)
    scale = min(1.0, CONTENT_WIDTH_IN / float(fig.get_figwidth()))
    return [(text, size * scale) for text, size in drawn.values()]


def too_small(fig: Figure) -> list[tuple[str, float]]:
    """The texts shown under :data:`MIN_TEXT_PT` on the site (empty when the figure is legible)."""
    return [(t, round(pt, 2)) for t, pt in text_on_page(fig) if pt < MIN_TEXT_PT - 1e-6]


def _look(artist) -> dict[str, object]:
    """Colour (face or line), marker and hatch of a plotted artist or a legend handle."""
    if isinstance(artist, Container):
        artist = artist[0] if len(artist) else None
        if artist is None:
            return {}
    if isinstance(artist, Line2D):
        marker = artist.get_marker()
        colour = artist.get_markerfacecolor() if marker not in (None, "None", "", " ") else artist.get_color()
        return {"colour": matplotlib.colors.to_hex(colour, keep_alpha=False), "marker": str(marker),
                "linestyle": artist.get_linestyle() if marker in (None, "None", "", " ") else None}
    if isinstance(artist, Patch):
        return {"colour": matplotlib.colors.to_hex(artist.get_facecolor(), keep_alpha=False),
                "hatch": artist.get_hatch() or None}
    if isinstance(artist, Collection):
        faces = artist.get_facecolor()
        colour = faces[0] if len(faces) else artist.get_edgecolor()[0]
        return {"colour": matplotlib.colors.to_hex(colour, keep_alpha=False)}
    return {}


def legend_mismatches(fig: Figure) -> list[str]:
    """Legend entries whose handle does not look like any plotted artist of the same label.

    Every legend of the figure (axes' and the figure's own) is read; an entry matches when an
    artist drawn in the figure carries its label and the same colour, marker, line style and
    hatch. A legend built from proxy handles (patches for colour categories) must still name
    artists that exist: a category colour that appears nowhere in the figure is a mismatch.
    """
    figure_png(fig, 20)  # legends and containers settle at draw time
    legends = [a.get_legend() for a in fig.get_axes() if a.get_legend() is not None] + list(fig.legends)
    plotted: list[tuple[str, dict[str, object]]] = []
    looks: list[dict[str, object]] = []  # everything drawn, labelled or not
    for ax in fig.get_axes():
        for artist in [*ax.containers, *ax.lines, *ax.patches, *ax.collections, *ax.images]:
            label = artist.get_label() if hasattr(artist, "get_label") else ""
            look = _look(artist)
            looks.append(look)
            if hasattr(artist, "get_array") and artist.get_array() is not None and hasattr(artist, "cmap"):
                arr = np.ma.asarray(artist.get_array())
                values = set(map(float, arr.compressed()))
                looks += [{"colour": matplotlib.colors.to_hex(artist.to_rgba(v), keep_alpha=False)} for v in values]
            if label and not label.startswith("_"):
                plotted.append((label, look))

    def matches(look: dict[str, object], drawn: dict[str, object]) -> bool:
        return all(drawn.get(k) == v for k, v in look.items() if v is not None)

    out = []
    for legend in legends:
        for handle, text in zip(legend.legend_handles, legend.get_texts(), strict=True):
            label, look = text.get_text(), _look(handle)
            same = [p for lab, p in plotted if lab == label]
            if same:
                if not any(matches(look, p) for p in same):
                    out.append(f"legend entry {label!r} looks like {look}, its artists like {same}")
            elif not any(matches(look, d) for d in looks):
                out.append(f"legend entry {label!r} ({look}) looks like nothing drawn in the figure")
    return out
