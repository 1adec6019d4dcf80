"""Each equation page's attention overview, as HTML heatmaps that need neither JavaScript nor a figure.

Four maps (diffuser self- and cross-attention, decoder self- and cross-attention: the trained
model's last layer, averaged over heads), each drawn as:

* the map as a pixel image (one pixel per cell, :func:`physdocs.plots.pixels.pixel_png`),
  embedded as a ``data:`` URL and scaled up by CSS without smoothing;
* cross-attention maps with the pooled slot ``z`` as their first key column (it carries the
  most weight, and a phone shows the map's left part without scrolling);
* its query and key labels as HTML text on a CSS grid that lines up with the image's rows
  and columns (``docs/assets/attention-maps.css``);
* a colour scale from 0 to the map's largest weight.

Drawing an overview this way takes milliseconds where a matplotlib figure took about half a
second of the cold build per equation. The block is excluded from the site search (its labels
are tokens and point names, not prose).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from physdocs.analysis import schema as S
from physdocs.report import figures as F
from physdocs.report.explorer import inert

#: Pixel edge of one cell when CSS is not applied (``width``/``height`` attributes).
CELL_PX = 12


@dataclass(frozen=True)
class OverviewMap:
    """One head-averaged ``[q, k]`` map with its labels and colour-scale top."""

    component: str
    name: str
    query_labels: tuple[str, ...]
    key_labels: tuple[str, ...]
    vmax: float
    png: bytes

    def __post_init__(self) -> None:
        if not self.query_labels or not self.key_labels:
            raise ValueError(f"{self.name}: a map needs query and key labels")


def overview_maps(eq: Mapping[str, Any], arrays: Mapping[str, np.ndarray]) -> list[OverviewMap]:
    """The trained model's head-averaged last-layer maps of the four decoder-side components."""
    from physdocs.plots.pixels import pixel_png  # matplotlib: only when drawn
    from physdocs.plots.style import map_scale

    out = []
    for comp in F.SEED_MAPS:
        name = S.component(comp).name
        attn = np.asarray(arrays[S.array_key("trained", eq["id"], comp)], dtype=float)
        a = attn.mean(axis=0) if attn.ndim == 3 else attn
        if a.ndim != 2:
            raise ValueError(f"{eq['id']} {comp}: expected [head, query, key] attention, got shape {attn.shape}")
        q, k = F.map_labels(comp, eq["tokens"], a.shape)
        if k and k[-1] == "z":  # the pooled slot first: on a phone it is in view without scrolling
            a, k = np.concatenate([a[:, -1:], a[:, :-1]], axis=1), [k[-1], *k[:-1]]
        vmax = map_scale(a)
        out.append(OverviewMap(comp, name, tuple(q), tuple(k), vmax, pixel_png(a, vmax)))
    return out


def _labels(cls: str, labels: Sequence[str]) -> str:
    # One text line per label (CSS ``white-space: pre``, line height = cell): no element per
    # label, which keeps the pages light for the browser and for the search indexer.
    text = "&#10;".join(inert(label) for label in labels)
    return f'<div class="{cls}" aria-hidden="true">{text}</div>'


def map_html(m: OverviewMap, eq_id: str, stops: Sequence[str]) -> str:
    """One map's ``<figure>``: caption with colour scale, query labels, image, key labels."""
    n_q, n_k = len(m.query_labels), len(m.key_labels)
    src = "data:image/png;base64," + base64.b64encode(m.png).decode("ascii")
    alt = (f"{m.name} of {eq_id}, trained model, last layer, mean of heads: {n_q} queries (rows) "
           f"by {n_k} keys (columns); brighter cells carry more weight")
    gradient = "linear-gradient(to right, " + ", ".join(stops) + ")"
    return (
        f'<figure class="attention-map" style="--rows: {n_q}; --cols: {n_k}">'
        f"<figcaption>{inert(m.name)} "
        f'<span class="attention-map-scale">0 <span class="attention-map-bar" style="background: {gradient}">'
        f"</span> {m.vmax:.3g}</span></figcaption>"
        f'<div class="attention-map-grid">'
        f'<span class="attention-map-axis attention-map-query">query</span>'
        + _labels("attention-map-rows", m.query_labels)
        + f'<img src="{src}" alt="{inert(alt)}" width="{n_k * CELL_PX}" height="{n_q * CELL_PX}">'
        + _labels("attention-map-cols", m.key_labels)
        + '<span class="attention-map-axis attention-map-key">key</span>'
        "</div></figure>"
    )


def overview_html(eq: Mapping[str, Any], arrays: Mapping[str, np.ndarray]) -> str:
    """The overview block for an equation page: one line of raw HTML, to stand on its own."""
    from physdocs.plots.pixels import gradient_stops

    stops = gradient_stops()
    maps = "".join(map_html(m, eq["id"], stops) for m in overview_maps(eq, arrays))
    return f'<div class="attention-maps" data-search-exclude>{maps}</div>\n'
