"""The equation pages' HTML heatmaps: labels line up with the image, text is escaped, bad maps fail."""

from __future__ import annotations

import base64
import io
import re

import numpy as np
import pytest

from physdocs.analysis import schema as S
from physdocs.report import figures as F
from physdocs.report import overview as O
from tests.report_fakes import FakeAnalysisConfig, synthetic_run

pytest.importorskip("matplotlib")


def _eq_and_arrays():
    results, arrays = synthetic_run(FakeAnalysisConfig(equation_ids=("feynman_001",)))
    return results["equations"][0], arrays


def test_maps_are_head_means_with_their_labels():
    from matplotlib.image import imread

    eq, arrays = _eq_and_arrays()
    maps = O.overview_maps(eq, arrays)
    assert [m.component for m in maps] == list(F.SEED_MAPS)
    for m in maps:
        a = np.asarray(arrays[S.array_key("trained", eq["id"], m.component)]).mean(axis=0)
        assert (len(m.query_labels), len(m.key_labels)) == a.shape
        assert m.vmax == pytest.approx(a.max())
        assert imread(io.BytesIO(m.png)).shape[:2] == a.shape
    cross = maps[1]
    assert cross.key_labels[:2] == ("z", "p1") and cross.key_labels[-1] == "p50"  # the pooled slot first
    from physdocs.plots.pixels import pixel_png

    a = np.asarray(arrays[S.array_key("trained", eq["id"], "diffuser.cross")]).mean(axis=0)
    moved = np.concatenate([a[:, -1:], a[:, :-1]], axis=1)  # the image's columns follow the labels
    assert cross.png == pixel_png(moved, cross.vmax)
    assert maps[0].query_labels == tuple(eq["tokens"])


def test_html_grid_matches_each_image():
    eq, arrays = _eq_and_arrays()
    block = O.overview_html(eq, arrays)
    assert block.startswith('<div class="attention-maps" data-search-exclude>') and block.count("\n") == 1
    figures = re.findall(r'<figure class="attention-map" style="--rows: (\d+); --cols: (\d+)">(.*?)</figure>', block)
    assert len(figures) == 4
    for rows, cols, body in figures:
        row_labels = re.search(r'attention-map-rows" aria-hidden="true">(.*?)</div>', body).group(1)
        col_labels = re.search(r'attention-map-cols" aria-hidden="true">(.*?)</div>', body).group(1)
        assert "<" not in row_labels + col_labels  # text only: one line per label
        assert len(row_labels.split("&#10;")) == int(rows) and len(col_labels.split("&#10;")) == int(cols)
        png = base64.b64decode(re.search(r'src="data:image/png;base64,([^"]+)"', body).group(1))
        from matplotlib.image import imread

        assert imread(io.BytesIO(png)).shape[:2] == (int(rows), int(cols))
        assert f'width="{int(cols) * O.CELL_PX}"' in body and 'alt="' in body


def test_labels_are_escaped_and_inert():
    m = O.OverviewMap("diffuser.self", "a <b> map", ("x*y", "[z]"), ("`k`", "|"), 0.5, b"\x89PNG")
    html = O.map_html(m, "feynman_001", ["#000000", "#ffffff"])
    assert "<b>" not in html and "&lt;b&gt;" in html
    for raw in ("x*y", "[z]", "`k`", ">|<"):
        assert raw not in html


def test_a_map_of_the_wrong_shape_is_named():
    eq, arrays = _eq_and_arrays()
    arrays = dict(arrays)
    arrays[S.array_key("trained", eq["id"], "decoder.self")] = np.zeros((2, 2, 2, 2))
    with pytest.raises(ValueError, match=r"feynman_001 decoder\.self: expected \[head, query, key\]"):
        O.overview_maps(eq, arrays)
    with pytest.raises(ValueError, match="labels"):
        O.OverviewMap("c", "n", (), ("k",), 1.0, b"")
