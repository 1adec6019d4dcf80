"""What a figure must satisfy on the site: legible text inside the canvas, no text over other
text, a legend that matches its marks and names every category colour, and one scale for the
panels that compare models.

Pure checks over a drawn :class:`matplotlib.figure.Figure`, used by
``tests/test_figure_checks.py`` on every figure the report draws, and on figures with a
defect planted. Each returns a list of problems (empty when the figure is sound).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import matplotlib.colors
import matplotlib.text
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import Collection
from matplotlib.colors import ListedColormap
from matplotlib.container import Container
from matplotlib.figure import Figure
from matplotlib.image import AxesImage
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.transforms import Bbox

from physdocs.analysis.schema import MODEL_LABELS
from physdocs.plots.style import COMPARED, CONTENT_WIDTH_IN, MIN_TEXT_PT, figure_png, style_context


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


# ----------------------------------------------------------------- text inside the canvas, apart

#: Pixels (at :data:`CHECK_DPI`) a text may reach past the canvas or into another text: glyph
#: boxes carry a little empty space, which is not a defect.
SLACK_PX = 1.0
CHECK_DPI = 100


@dataclass(frozen=True)
class DrawnText:
    """A drawn text: its box on the canvas (``box``, axis-aligned) and the rectangle its glyphs
    fill before rotation (``width`` x ``height`` about the box's centre, turned by ``angle``)."""

    text: str
    box: Bbox
    width: float
    height: float
    angle: float  # degrees

    def corners(self) -> np.ndarray:
        """The rotated rectangle's four corners, ``[4, 2]`` pixels."""
        c = np.array([(self.box.x0 + self.box.x1) / 2, (self.box.y0 + self.box.y1) / 2])
        w, h = max(self.width / 2 - SLACK_PX, 0.0), max(self.height / 2 - SLACK_PX, 0.0)
        a = np.deg2rad(self.angle)
        rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
        return c + np.array([[-w, -h], [w, -h], [w, h], [-w, h]]) @ rot.T


def drawn_texts(fig: Figure) -> list[DrawnText]:
    """Every text the figure draws (non-empty, visible), measured in pixels at :data:`CHECK_DPI`.

    Recorded while the figure is drawn, so only what is drawn counts, and a layout engine has
    placed everything as the saved PNG shows it.
    """
    found: dict[int, DrawnText] = {}
    original = matplotlib.text.Text.draw

    def draw(self, renderer):
        out = original(self, renderer)
        if self.get_visible() and self.get_text().strip():
            box, angle = self.get_window_extent(renderer), float(self.get_rotation())
            if angle % 90:
                # the glyphs' own rectangle: the same text unrotated (rotation keeps the centre)
                self.set_rotation(0)
                flat = self.get_window_extent(renderer)
                self.set_rotation(angle)
                size = (flat.width, flat.height)
            else:
                size = (box.width, box.height)  # 0/90/180/270 degrees: the box is the rectangle
                angle = 0.0
            found[id(self)] = DrawnText(self.get_text(), box, *size, angle)
        return out

    matplotlib.text.Text.draw = draw
    try:
        with style_context():
            fig.set_dpi(CHECK_DPI)
            FigureCanvasAgg(fig).draw()
    finally:
        matplotlib.text.Text.draw = original
    return list(found.values())


def text_outside_canvas(fig: Figure) -> list[str]:
    """Texts (titles, labels, legend entries) drawn partly outside the canvas: cut off in the PNG."""
    width, height = fig.get_size_inches() * CHECK_DPI
    out = []
    for t in drawn_texts(fig):
        box = t.box
        if box.x0 < -SLACK_PX or box.y0 < -SLACK_PX or box.x1 > width + SLACK_PX or box.y1 > height + SLACK_PX:
            out.append(f"{t.text!r} reaches outside the canvas: x {box.x0:.0f}..{box.x1:.0f} of {width:.0f}, "
                       f"y {box.y0:.0f}..{box.y1:.0f} of {height:.0f} px")
    return out


def _separated(p: np.ndarray, q: np.ndarray) -> bool:
    """Whether two convex polygons (``[n, 2]`` corners) are apart: some edge normal separates them."""
    for poly in (p, q):
        for i in range(len(poly)):
            edge = poly[(i + 1) % len(poly)] - poly[i]
            axis = np.array([-edge[1], edge[0]])
            a, b = p @ axis, q @ axis
            if a.max() <= b.min() or b.max() <= a.min():
                return True
    return False


def overlapping_texts(fig: Figure) -> list[str]:
    """Pairs of drawn texts whose glyph rectangles overlap (a title over a title, a rotated tick
    label over its neighbour); rotated texts are compared as rotated rectangles."""
    texts = drawn_texts(fig)
    if len(texts) < 2:
        return []
    b = np.array([[t.box.x0, t.box.y0, t.box.x1, t.box.y1] for t in texts])
    b += [SLACK_PX, SLACK_PX, -SLACK_PX, -SLACK_PX]
    over = ((b[:, None, 0] < b[None, :, 2]) & (b[None, :, 0] < b[:, None, 2])
            & (b[:, None, 1] < b[None, :, 3]) & (b[None, :, 1] < b[:, None, 3]))
    out = []
    for i, j in zip(*np.nonzero(np.triu(over, 1)), strict=True):
        s, t = texts[int(i)], texts[int(j)]
        if (s.angle == 0 and t.angle == 0) or not _separated(s.corners(), t.corners()):
            out.append(f"{s.text!r} overlaps {t.text!r}")
    return out


# ----------------------------------------------------------------- compared panels, one scale


def _compared(fig: Figure) -> dict[str, dict[str, list]]:
    """quantity -> model -> the axes marked by :func:`physdocs.plots.style.mark_compared`."""
    groups: dict[str, dict[str, list]] = {}
    for ax in fig.get_axes():
        gid = ax.get_gid() or ""
        if gid.startswith(COMPARED + ":"):
            _, quantity, model = gid.split(":", 2)
            groups.setdefault(quantity, {}).setdefault(model, []).append(ax)
    return groups


def _scale(ax) -> tuple:
    """What a reader reads a panel's size from: its images' colour scales, else its y-limits."""
    images = [im for im in ax.get_images() if isinstance(im, AxesImage)]
    if images:
        return tuple((im.cmap.name, round(float(im.norm.vmin), 9), round(float(im.norm.vmax), 9)) for im in images)
    return tuple(round(float(v), 9) for v in ax.get_ylim())


def unshared_scales(fig: Figure) -> list[str]:
    """Panels of one quantity for different models (trained beside control) on different scales:
    a colour scale (map, limits) or a y range of their own makes a small effect look as large."""
    figure_png(fig, 20)  # limits and norms settle at draw time
    out = []
    for quantity, by_model in _compared(fig).items():
        scales = {(model, _scale(ax)) for model, axes in by_model.items() for ax in axes}
        if len({s for _, s in scales}) > 1:
            out.append(f"{quantity}: the compared panels do not share a scale: "
                       + "; ".join(f"{m} {s}" for m, s in sorted(scales)))
    return out


def unmarked_comparisons(fig: Figure) -> list[str]:
    """Panels whose title names a model (``MODEL_LABELS``) but that no comparison covers: their
    scale would go unchecked."""
    names = [MODEL_LABELS[m] for m in ("trained", "control")]
    out = []
    for ax in fig.get_axes():
        title = " ".join(ax.get_title(loc) for loc in ("left", "center", "right")).replace("\n", " ")
        if any(n in title for n in names) and not (ax.get_gid() or "").startswith(COMPARED + ":"):
            out.append(f"panel {title!r} shows a model but is not marked as compared")
    return out


# ----------------------------------------------------------------- category colours, all named


MAX_CATEGORIES = 16  # a listed colour map with more colours is a continuous scale


def unlabelled_colours(fig: Figure) -> list[str]:
    """Colours of a categorical map (a ``ListedColormap`` image: token types) that the figure
    draws but no legend entry shows: a reader cannot tell what they mean."""
    figure_png(fig, 20)
    legends = [a.get_legend() for a in fig.get_axes() if a.get_legend() is not None] + list(fig.legends)
    named = {_look(h).get("colour") for lg in legends for h in lg.legend_handles}
    out = []
    for ax in fig.get_axes():
        for im in ax.get_images():
            if not isinstance(im.cmap, ListedColormap) or im.cmap.N > MAX_CATEGORIES:
                continue  # a continuous map (viridis is listed too) has a colour bar, not a legend
            values = np.unique(np.ma.asarray(im.get_array()).compressed())
            for v in values.tolist():
                colour = matplotlib.colors.to_hex(im.to_rgba(v), keep_alpha=False)
                if colour not in named:
                    out.append(f"colour {colour} (category {v:g}) is drawn but no legend names it")
    return out


def every_problem(fig: Figure) -> list[str]:
    """All the checks of this module on one figure."""
    return list(itertools.chain(
        (f"text under {MIN_TEXT_PT} pt: {t!r} ({pt})" for t, pt in too_small(fig)[:3]),
        legend_mismatches(fig), text_outside_canvas(fig), overlapping_texts(fig),
        unshared_scales(fig), unmarked_comparisons(fig), unlabelled_colours(fig),
        [f"{fig.get_figwidth():.2f} in wide, over the content column"]
        if fig.get_figwidth() > CONTENT_WIDTH_IN + 1e-6 else [],
    ))
